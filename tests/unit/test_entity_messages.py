"""Validation of the git.pull_requests, git.repositories, jira.issues and jira.sprints
messages, and what the agents make of them."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from agents.intake import Parsed, Rejection, parse_message
from models.git_activity import PullRequestMessage, RepositoryMessage
from models.jira import IssueMessage, SprintMessage
from tables.instants import from_micros
from tables.issue_state import Issue, Transition


def event(event_type: str, key_field: str, key_value: str, **data: Any) -> dict[str, Any]:
    return {"event_type": event_type, "timestamp": "2025-10-01T12:00:00+02:00", key_field: key_value, "data": data}


def parse(value: dict[str, Any], model: type[Any], mode: str = "strict") -> Any:
    parsed = parse_message(orjson.dumps(value), model, mode)  # type: ignore[arg-type]
    return parsed.event if isinstance(parsed, Parsed) else parsed


def test_pull_request_opened_normalizes_times_and_keeps_people_verbatim() -> None:
    parsed = parse(
        event(
            "pull_request_opened",
            "repository_id",
            "r1",
            number=7,
            author=" Bob ",
            created_at="2025-10-01T10:00:00+02:00",
        ),
        PullRequestMessage,
    )
    assert isinstance(parsed, PullRequestMessage)
    assert parsed.data.author == " Bob "  # compared with reviewers as exact strings
    assert parsed.moment.isoformat() == "2025-10-01T08:00:00+00:00"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param({"number": 0}, "data.number", id="number-zero"),
        pytest.param({"number": "7"}, "data.number", id="number-as-string"),
        pytest.param(
            {"number": 7, "reviewer": "a", "state": "lgtm"}, "data.state", id="unknown-review-state"
        ),
        pytest.param({"number": 7, "state": "approved"}, "needs data.reviewer", id="review-without-reviewer"),
    ],
)
def test_pull_request_review_invalid_is_rejected(data: dict[str, Any], reason: str) -> None:
    parsed = parse(
        event("pull_request_review_submitted", "repository_id", "r1", **data), PullRequestMessage
    )
    assert isinstance(parsed, Rejection) and reason in parsed.message


def test_model_rule_in_warn_mode_rejects_instead_of_crashing() -> None:
    # A rule over the whole message has no field to drop: warn mode must reject, not raise.
    value = event("pull_request_review_submitted", "repository_id", "r1", number=7)
    parsed = parse(value, PullRequestMessage, "warn")
    assert isinstance(parsed, Rejection) and "needs data.reviewer" in parsed.message


def test_pull_request_event_type_time_defaults_to_envelope() -> None:
    from agents.git_activity import pull_request_change_of

    merged = parse(
        event("pull_request_merged", "repository_id", "r1", number=3, merge_commit_sha="m"),
        PullRequestMessage,
    )
    change = pull_request_change_of(merged)
    assert from_micros(change.merged_at).isoformat() == "2025-10-01T10:00:00+00:00"  # type: ignore[arg-type]
    assert change.created_at is None and change.review is None
    review = parse(
        event(
            "pull_request_review_submitted", "repository_id", "r1", number=3, reviewer="a", state="approved"
        ),
        PullRequestMessage,
    )
    assert pull_request_change_of(review).review is not None


def test_repository_event_team_and_archived_strict() -> None:
    parsed = parse(
        event("repository_updated", "repository_id", "r1", team=" core ", archived=False), RepositoryMessage
    )
    assert isinstance(parsed, RepositoryMessage) and parsed.data.team == "core"
    bad = parse(event("repository_updated", "repository_id", "r1", archived="no"), RepositoryMessage)
    assert isinstance(bad, Rejection)


def test_issue_seed_example_parses_with_numeric_points_and_sprint_as_string() -> None:
    parsed = parse(
        event(
            "issue_updated",
            "project_key",
            "PROJ",
            key="PROJ-123",
            status="Done",
            story_points=5,
            sprint_id=12,
            created="2025-09-25T10:00:00Z",
            resolved="2025-10-01T12:00:00Z",
        ),
        IssueMessage,
    )
    assert isinstance(parsed, IssueMessage)
    assert (parsed.data.story_points, parsed.data.sprint_id) == (5.0, "12")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param(
            event("issue_created", "project_key", "PROJ", key="OTHER-1"),
            "not an issue of project",
            id="foreign-key",
        ),
        pytest.param(
            event("issue_transitioned", "project_key", "PROJ", key="PROJ-1"),
            "needs data.to_status",
            id="transition-without-status",
        ),
        pytest.param(
            event("issue_created", "project_key", "PROJ", key="PROJ-1", story_points=-1),
            "data.story_points",
            id="negative-points",
        ),
        pytest.param(
            event("issue_created", "project_key", "PROJ", key="PROJ-1", story_points=True),
            "data.story_points",
            id="bool-points",
        ),
        pytest.param(
            event("issue_created", "project_key", "PROJ", key="PROJ-1", status_category="doing"),
            "data.status_category",
            id="unknown-category",
        ),
    ],
)
def test_issue_invalid_is_rejected(value: dict[str, Any], reason: str) -> None:
    parsed = parse(value, IssueMessage)
    assert isinstance(parsed, Rejection) and reason in parsed.message


def test_issue_change_of_snapshot_and_transition() -> None:
    from agents.jira import issue_change_of

    transition = issue_change_of(
        parse(
            event(
                "issue_transitioned",
                "project_key",
                "P",
                key="P-1",
                to_status="Done",
                transitioned_at="2025-10-02T00:00:00Z",
            ),
            IssueMessage,
        )
    )
    assert (
        isinstance(transition, Transition)
        and transition.to_status == "Done"
        and transition.from_status is None
    )
    snapshot = issue_change_of(
        parse(event("issue_created", "project_key", "P", key="P-1", sprint_id="s9"), IssueMessage)
    )
    assert isinstance(snapshot, Issue) and snapshot.sprint_id == "s9"


def test_incident_message_only_for_incident_issues_with_a_repository() -> None:
    from agents.jira import incident_message
    from models.cicd import IncidentMessage

    issue = Issue(
        "P-1", 10**15, summary="down", issue_type="Incident", created=10**15, repository_id="repo-1"
    )
    key, value = incident_message(issue)  # type: ignore[misc]
    assert key == b"repo-1"
    incident = parse(orjson.loads(value), IncidentMessage)  # what ops.incidents accepts
    assert isinstance(incident, IncidentMessage)
    assert (incident.event_type, incident.data.id, incident.data.title) == ("incident_opened", "P-1", "down")
    assert incident_message(Issue("P-2", 1, issue_type="Incident")) is None
    assert incident_message(Issue("P-3", 1, issue_type="Bug", repository_id="repo-1")) is None
    # The same snapshot forwards the same bytes: a redelivery is an exact duplicate.
    assert incident_message(issue) == (key, value)


def test_sprint_state_defaults_from_event_type() -> None:
    closed = parse(event("sprint_closed", "project_key", "P", id=4), SprintMessage)
    assert isinstance(closed, SprintMessage) and (closed.state, closed.data.id) == ("closed", "4")
    started = parse(event("sprint_started", "project_key", "P", id="s-1", committed_points=13.5), SprintMessage)
    assert isinstance(started, SprintMessage) and started.state == "active"
