"""models.data_quality: each check passes and fails where its threshold says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.data_quality import Finding, Thresholds, TopicFigures, evaluate, exit_status, render_table

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def statuses(findings: list[Finding]) -> dict[str, str]:
    return {f.check: f.status for f in findings}


def test_a_healthy_topic_passes_every_check() -> None:
    figures = TopicFigures(
        "git.commits",
        stored=100,
        baseline=90.0,
        newest_event_at=NOW - timedelta(minutes=5),
        null_rates={"author_email": 0.01},
        dead_letters=1,
    )
    found = evaluate(figures, NOW)
    assert statuses(found) == {
        "volume": "ok",
        "freshness": "ok",
        "nulls.author_email": "ok",
        "invalid": "ok",
        "duplicates": "ok",
    }
    assert exit_status(found) == 0


def test_each_check_fails_past_its_threshold() -> None:
    figures = TopicFigures(
        "git.commits",
        stored=10,
        baseline=100.0,
        newest_event_at=NOW - timedelta(days=2),
        null_rates={"author_email": 0.5, "message": 0.0},
        dead_letters=5,
        duplicates=2,
    )
    found = statuses(evaluate(figures, NOW))
    assert found == {
        "volume": "fail",
        "freshness": "fail",
        "nulls.author_email": "fail",
        "nulls.message": "ok",
        "invalid": "fail",
        "duplicates": "fail",
    }
    surge = TopicFigures("git.commits", stored=400, baseline=100.0, newest_event_at=NOW)
    assert statuses(evaluate(surge, NOW))["volume"] == "fail"
    tolerant = Thresholds(volume_high=5.0)
    assert statuses(evaluate(surge, NOW, tolerant))["volume"] == "ok"


def test_no_history_and_no_data_are_skipped_not_failed() -> None:
    empty = evaluate(TopicFigures("jira.sprints", stored=0, baseline=None, newest_event_at=None), NOW)
    assert [f.status for f in empty] == ["skip"] and exit_status(empty) == 0
    young = statuses(evaluate(TopicFigures("git.commits", stored=5, baseline=None, newest_event_at=NOW), NOW))
    assert young["volume"] == "skip" and young["freshness"] == "ok"


def test_table_lists_every_finding() -> None:
    found = evaluate(TopicFigures("git.commits", stored=10, baseline=100.0, newest_event_at=NOW), NOW)
    lines = render_table(found).splitlines()
    assert lines[0].split() == ["TOPIC", "CHECK", "STATUS", "VALUE", "DETAIL"]
    assert len(lines) == len(found) + 1
    assert "FAIL" in lines[1] and "0.10x the usual 100.0" in lines[1]
