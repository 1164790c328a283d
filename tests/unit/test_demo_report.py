"""The demo's text: a band on every DORA metric (also without data), rows against what
was expected, open PRs by their wait."""

from __future__ import annotations

from typing import Any

from devtools.demo_report import count_lines, dora_row, open_pr_lines, verdict

EMPTY: dict[str, Any] = {
    "deployment_frequency": {"deploy_days_per_week": None, "band": None},
    "lead_time": {"p50_hours": None, "band": None},
    "change_failure_rate": {"rate": None, "failed_deployments": None, "deployments": None, "band": None},
    "time_to_restore": {"p50_hours": None, "band": None},
}


def test_dora_row_shows_each_metric_with_its_band() -> None:
    answer = {
        "deployment_frequency": {"deploy_days_per_week": 5.0, "band": "elite"},
        "lead_time": {"p50_hours": 30.25, "band": "high"},
        "change_failure_rate": {"rate": 0.125, "failed_deployments": 2, "deployments": 16, "band": "medium"},
        "time_to_restore": {"p50_hours": 200.0, "band": "low"},
    }

    row = dora_row("repo-1", answer).split()

    assert row == ["repo-1", "5.0", "days/wk", "elite", "30.2", "h", "high", "12%", "(2/16)", "medium"] + [
        "200.0",
        "h",
        "low",
    ]


def test_dora_row_without_data_says_so_per_metric() -> None:
    assert dora_row("quiet", EMPTY).split()[1:] == ["-", "days/wk", "no", "data"] + ["-", "no", "data"] * 3


def test_count_lines_mark_mismatches_and_unknown_expectations() -> None:
    lines = count_lines({"commits": 10, "sprints": 2, "metrics_daily": 7}, {"commits": 10, "sprints": 3})

    assert lines[1].split() == ["commits", "10", "10", "ok"]
    assert lines[2].split() == ["sprints", "2", "3", "MISMATCH"]
    assert lines[3].split() == ["metrics_daily", "7", "-"]


def test_open_pr_lines_list_waiting_prs_longest_wait_first() -> None:
    def pr(number: int, state: str, waiting: float | None) -> dict[str, Any]:
        return {
            "repository_id": "r",
            "number": number,
            "title": f"t{number}",
            "author": "a",
            "state": state,
            "waiting_for_review_hours": waiting,
        }

    answer = {
        "open_prs": [
            pr(1, "waiting_for_review", 2.0),
            pr(2, "in_review", None),
            pr(3, "waiting_for_review", 9.0),
        ]
    }

    lines = open_pr_lines(answer)

    assert lines[0] == "  3 open: 1 in review, 2 waiting for review"
    assert [line.split()[0] for line in lines[1:]] == ["r#3", "r#1"]


MALFORMED = {("git.commits", b"{oops"), ("jira.sprints", b"[]")}


def _letters(*pairs: tuple[str, bytes]) -> list[dict[str, Any]]:
    return [{"topic": topic, "original": original} for topic, original in pairs]


def test_verdict_ok_when_rows_expected_and_dead_letters_exactly_the_malformed() -> None:
    ok, line = verdict(110, 100, MALFORMED, {"commits": 40}, {"commits": 40}, _letters(*sorted(MALFORMED)))

    assert ok
    assert line.startswith("OK: 110 messages sent (100 unique events, 8 redeliveries, 2 malformed)")


def test_verdict_fails_on_a_missing_row_or_a_dead_letter_that_was_not_malformed() -> None:
    letters = _letters(*sorted(MALFORMED))
    short, short_line = verdict(110, 100, MALFORMED, {"commits": 39}, {"commits": 40}, letters)
    extra, extra_line = verdict(
        110, 100, MALFORMED, {"commits": 40}, {"commits": 40}, letters + _letters(("git.commits", b"{}"))
    )
    lost, _ = verdict(110, 100, MALFORMED, {"commits": 40}, {"commits": 40}, letters[:1])

    assert not short and "commits 39 rows, expected 40" in short_line
    assert not extra and extra_line.startswith("FAIL: ") and "dead letters 3" in extra_line
    assert not lost
