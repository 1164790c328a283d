"""The sample history's additions for the demo: its expected rows, its malformed messages,
and deployments that ship only what reached the default branch."""

from __future__ import annotations

from datetime import datetime

import orjson

from devtools.org_history import SEI_TOPICS, expected_rows, generate_sei_history, malformed_messages
from tests.org_truth import truth_of


def test_expected_rows_equal_the_truths_entities() -> None:
    history = generate_sei_history(repositories=6, teams=2, days=30, seed=11)
    truth = truth_of(history.events)

    rows = expected_rows(history)

    assert rows == {
        "commits": len({(c.repository_id, c.sha) for cs in truth.commits.values() for c in cs}),
        "deployments": len({(d.repository_id, d.id) for ds in truth.deployments.values() for d in ds}),
        "incidents": sum(len(truth.incidents(r)) for r in history.repositories),
        "issues": len(truth.issues),
        "pull_requests": len(truth.pull_request_states),
        "repositories": len(truth.teams),
        "sprints": len(truth.sprint_states),
    }
    assert rows["incidents"] > len(truth.incident_states)  # Incident-type issues count too


def test_malformed_messages_one_per_topic_under_the_historys_keys() -> None:
    history = generate_sei_history(repositories=4, teams=2, days=20, seed=2)
    keys = {*history.repositories, *history.projects}

    broken = malformed_messages(history)

    assert sorted(broken) == sorted(SEI_TOPICS)
    for messages in broken.values():
        assert len(messages) == 1 and messages[0][0].decode() in keys
    assert len({value for messages in broken.values() for _, value in messages}) == len(SEI_TOPICS)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_ship_merged_only_deployments_list_exactly_the_commits_landed_before_them() -> None:
    history = generate_sei_history(repositories=4, teams=2, days=30, seed=9, ship_merged_only=True)
    events = [
        (topic, event["repository_id"], event)
        for topic, event in history.events
        if topic[:4] in ("git.", "cicd")
    ]
    merged = {
        (repo, e["data"]["number"]): _at(e["data"]["merged_at"])
        for topic, repo, e in events
        if e["event_type"] == "pull_request_merged"
    }
    landed: dict[tuple[str, str], datetime | None] = {}  # None: a PR commit never merged
    for topic, repo, e in events:
        data = e["data"]
        if topic == "git.commits":
            number = data.get("pull_request_number")
            landed[(repo, data["sha"])] = merged.get((repo, number)) if number else _at(e["timestamp"])
        elif e["event_type"] == "pull_request_merged":
            landed[(repo, data["merge_commit_sha"])] = merged[(repo, data["number"])]
    shipped_by: dict[tuple[str, str], str] = {}
    for topic, repo, e in events:
        data = e["data"]
        if (
            topic == "cicd.deployments"
            and data["environment"] == "production"
            and data["status"] == "success"
        ):
            for sha in data["commit_shas"]:
                at = landed[(repo, sha)]
                assert at is not None and at <= _at(data["finished_at"]), (repo, sha)
                assert shipped_by.setdefault((repo, sha), data["id"]) == data["id"]  # shipped once
    assert len(shipped_by) > 100
    default = generate_sei_history(repositories=4, teams=2, days=30, seed=9)
    assert orjson.dumps(default.events) != orjson.dumps(history.events)
