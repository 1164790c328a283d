from __future__ import annotations

import pytest

from app.topic_gate import TopicGate
from app.topic_plan import TopicSpec, check_topics, mismatch_fix, topic_config, verdict

SPECS = [
    TopicSpec("git.commits", 8, "source"),
    TopicSpec("cicd.deployments", 8, "source"),
    TopicSpec("dlq-events", 8, "output"),
    TopicSpec("g-commit_days-changelog", 8, "changelog", {"cleanup.policy": "compact"}, table="commit_days"),
]
ALL_EIGHT = {s.name: 8 for s in SPECS}


def test_check_topics_states_ok_missing_mismatch() -> None:
    found = {**ALL_EIGHT, "git.commits": 4}
    del found["dlq-events"]
    states = {c.spec.name: (c.state, c.found) for c in check_topics(SPECS, found)}
    assert states == {
        "git.commits": ("mismatch", 4),
        "cicd.deployments": ("ok", 8),
        "dlq-events": ("missing", None),
        "g-commit_days-changelog": ("ok", 8),
    }


@pytest.mark.parametrize(
    ("found", "may_consume", "all_verified", "excluded", "blocking"),
    [
        pytest.param(ALL_EIGHT, True, True, set(), [], id="all-ok"),
        pytest.param({**ALL_EIGHT, "git.commits": 4}, True, False, {"git.commits"}, [], id="source-left-out"),
        pytest.param({**ALL_EIGHT, "dlq-events": 4}, True, False, set(), [], id="output-only-reported"),
        pytest.param(
            {**ALL_EIGHT, "g-commit_days-changelog": 4}, False, False, set(), ["g-commit_days-changelog"],
            id="changelog-blocks-all",
        ),
        pytest.param({k: v for k, v in ALL_EIGHT.items() if k != "git.commits"}, False, False, set(), [], id="missing"),
    ],
)
def test_verdict_consequence_of_each_role(
    found: dict[str, int], may_consume: bool, all_verified: bool, excluded: set[str], blocking: list[str]
) -> None:
    result = verdict(check_topics(SPECS, found))
    assert result.may_consume is may_consume
    assert result.all_verified is all_verified
    assert result.excluded == excluded
    assert [c.spec.name for c in result.blocking] == blocking


def test_mismatch_problem_names_topic_counts_and_fix() -> None:
    (check,) = [c for c in check_topics(SPECS, {**ALL_EIGHT, "git.commits": 4}) if c.state == "mismatch"]
    problem = check.problem()
    assert (problem["topic"], problem["partitions_found"], problem["partitions_needed"]) == ("git.commits", 4, 8)
    fix = str(problem["fix"])
    assert "'git.commits' with 8 partitions" in fix and "faust -A app topics create" in fix
    assert "TOPIC_PARTITIONS=4" in fix and "CONSUMER_GROUP_ID" in fix


def test_changelog_fix_names_table_and_new_group() -> None:
    fix = mismatch_fix(SPECS[3], 4)
    assert "'commit_days'" in fix and "4 partitions" in fix and "TOPIC_PARTITIONS=8" in fix
    assert "CONSUMER_GROUP_ID" in fix


def test_gate_refuses_until_verified_then_only_the_mismatched_topic() -> None:
    gate = TopicGate()
    assert gate.state == "declaring"
    assert "not verified yet" in str(gate.refusal("events.ingest"))
    gate.verdict = verdict(check_topics(SPECS, {**ALL_EIGHT, "git.commits": 4}))
    assert gate.state == "mismatch"
    assert gate.refusal("cicd.deployments") is None
    refusal = str(gate.refusal("git.commits"))
    assert "4 partitions, not 8" in refusal and "recreate" in refusal
    assert [p["topic"] for p in gate.report()["problems"]] == ["git.commits"]


def test_gate_blocked_by_changelog_refuses_every_topic() -> None:
    gate = TopicGate()
    gate.verdict = verdict(check_topics(SPECS, {**ALL_EIGHT, "g-commit_days-changelog": 2}))
    assert gate.state == "blocked"
    assert "g-commit_days-changelog" in str(gate.refusal("cicd.deployments"))
    gate.verdict = verdict(check_topics(SPECS, ALL_EIGHT))
    assert (gate.state, gate.refusal("cicd.deployments"), gate.report()) == ("verified", None, {"state": "verified"})


@pytest.mark.parametrize(
    ("compacting", "deleting", "retention_s", "extra", "expected"),
    [
        pytest.param(True, None, None, {}, {"cleanup.policy": "compact"}, id="changelog"),
        pytest.param(
            True, True, 3600.0, {"segment.ms": 60000},
            {"cleanup.policy": "compact,delete", "retention.ms": "3600000", "segment.ms": "60000"},
            id="windowed-with-extra",
        ),
        pytest.param(None, None, None, {}, {}, id="plain"),
    ],
)
def test_topic_config_as_faust_creates_it(
    compacting: bool | None, deleting: bool | None, retention_s: float | None, extra: dict[str, object],
    expected: dict[str, str],
) -> None:
    assert topic_config(compacting=compacting, deleting=deleting, retention_s=retention_s, extra=extra) == expected
