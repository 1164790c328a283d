from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tables.deployment_state import Deployment
from tables.incident_state import (
    Incident,
    IncidentChange,
    IncidentState,
    attribute_incidents,
    incident_from_issue,
    merge_incident,
)
from tables.instants import to_micros
from tables.issue_state import Issue


def at(text: str) -> int:
    return to_micros(datetime.fromisoformat(text))


def deploy(ident: str, finished: str, status: str = "success", environment: str = "production") -> Deployment:
    return Deployment("r1", ident, environment, status, at(finished))


def incident(
    ident: str, opened: str | None, deployment_id: str | None = None, repository_id: str = "r1"
) -> Incident:
    return Incident(repository_id, ident, at(opened) if opened else None, None, deployment_id)


def replay(events: list[IncidentChange]) -> IncidentState | None:
    state: IncidentState | None = None
    for event in events:
        state = merge_incident(state, event)
    return state


def test_merge_incident_opened_then_resolved_has_both_times() -> None:
    opened = IncidentChange(
        "r1", "i1", at("2025-10-01T10:00Z"), opened_at=at("2025-10-01T10:00Z"), title="down"
    )
    resolved = IncidentChange("r1", "i1", at("2025-10-01T12:00Z"), resolved_at=at("2025-10-01T12:00Z"))
    for order in ([opened, resolved], [resolved, opened], [resolved, opened, resolved]):
        state = replay(order)
        assert state is not None
        assert state.view() == Incident(
            "r1", "i1", at("2025-10-01T10:00Z"), at("2025-10-01T12:00Z"), title="down"
        )


def test_merge_incident_latest_non_null_wins_per_field() -> None:
    first = IncidentChange("r1", "i1", 10, opened_at=1, severity="sev2", deployment_id="d1")
    second = IncidentChange("r1", "i1", 20, severity="sev1", deployment_id=None)
    state = replay([second, first])
    assert state is not None
    view = state.view()
    assert (view.severity, view.deployment_id, view.opened_at) == ("sev1", "d1", 1)


def test_merge_incident_other_identity_raises() -> None:
    state = merge_incident(None, IncidentChange("r1", "i1", 1))
    with pytest.raises(ValueError, match="cannot merge incident"):
        merge_incident(state, IncidentChange("r2", "i1", 1))


def test_incident_state_record_json_round_trip_equal() -> None:
    state = replay(
        [IncidentChange("r1", "i1", 10, opened_at=1, title="t"), IncidentChange("r1", "i1", 20, resolved_at=5)]
    )
    assert state is not None
    assert IncidentState.from_record(json.loads(json.dumps(state.to_record()))) == state


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        pytest.param(at("2025-10-01T09:00Z"), False, id="before-opened"),
        pytest.param(at("2025-10-01T10:00Z"), True, id="at-opened"),
        pytest.param(at("2025-10-01T11:59Z"), True, id="before-resolved"),
        pytest.param(at("2025-10-01T12:00Z"), False, id="at-resolved"),
    ],
)
def test_incident_is_open_at_between_opened_and_resolved(moment: int, is_open: bool) -> None:
    subject = Incident("r1", "i1", at("2025-10-01T10:00Z"), at("2025-10-01T12:00Z"))
    assert subject.is_open_at(moment) is is_open


DEPLOYMENTS = [
    deploy("d1", "2025-10-01T10:00Z"),
    deploy("d2", "2025-10-02T10:00Z"),
    deploy("failed", "2025-10-02T12:00Z", status="failure"),
    deploy("staging", "2025-10-02T13:00Z", environment="staging"),
]


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        pytest.param(incident("i", "2025-10-02T15:00Z"), ("r1", "d2"), id="no-id-latest-before-opened"),
        pytest.param(incident("i", "2025-10-02T10:00Z"), ("r1", "d2"), id="no-id-finished-at-opened"),
        pytest.param(incident("i", "2025-10-01T12:00Z"), ("r1", "d1"), id="no-id-between-deployments"),
        pytest.param(incident("i", "2025-09-30T12:00Z"), None, id="before-any-deployment"),
        pytest.param(incident("i", "2025-10-02T15:00Z", "d1"), ("r1", "d1"), id="deployment-id-wins"),
        pytest.param(
            incident("i", "2025-10-01T09:00Z", "d2"), ("r1", "d2"), id="deployment-id-even-if-later"
        ),
        pytest.param(incident("i", "2025-10-02T15:00Z", "failed"), None, id="deployment-id-names-failure"),
        pytest.param(incident("i", "2025-10-02T15:00Z", "staging"), None, id="deployment-id-names-staging"),
        pytest.param(incident("i", "2025-10-02T15:00Z", "nope"), None, id="deployment-id-unknown"),
        pytest.param(incident("i", "2025-10-02T15:00Z", repository_id="r2"), None, id="other-repository"),
        pytest.param(incident("i", None), None, id="no-opened-at"),
    ],
)
def test_attribute_incidents_rules(subject: Incident, expected: tuple[str, str] | None) -> None:
    assert attribute_incidents([subject], DEPLOYMENTS) == {subject.key: expected}


def test_attribute_incidents_late_deployment_reattributes() -> None:
    subject = incident("i", "2025-10-01T15:00Z")
    assert attribute_incidents([subject], DEPLOYMENTS[:1]) == {subject.key: ("r1", "d1")}
    late = deploy("d0", "2025-10-01T14:00Z")
    assert attribute_incidents([subject], [*DEPLOYMENTS[:1], late]) == {subject.key: ("r1", "d0")}


def test_attribute_incidents_redeployed_id_uses_latest_event() -> None:
    # d1's later event is a failure: it is a failed attempt, so the incident falls back to nothing.
    events = [deploy("d1", "2025-10-01T10:00Z"), deploy("d1", "2025-10-01T11:00Z", status="failure")]
    subject = incident("i", "2025-10-01T15:00Z")
    assert attribute_incidents([subject], events) == {subject.key: None}


@pytest.mark.parametrize(
    ("issue_type", "repository_id", "expected"),
    [
        pytest.param(
            "Incident", "r1", Incident("r1", "OPS-1", 10, 20, title="outage"), id="incident-with-repo"
        ),
        pytest.param("Incident", None, None, id="incident-without-repo"),
        pytest.param("Bug", "r1", None, id="bug-with-repo"),
    ],
)
def test_incident_from_issue_needs_type_and_repository(
    issue_type: str, repository_id: str | None, expected: Incident | None
) -> None:
    issue = Issue(
        "OPS-1",
        5,
        summary="outage",
        issue_type=issue_type,
        created=10,
        resolved=20,
        repository_id=repository_id,
    )
    assert incident_from_issue(issue) == expected


incident_events = st.builds(
    IncidentChange,
    repository_id=st.just("r1"),
    id=st.sampled_from(["i1", "i2", "i3"]),
    timestamp=st.integers(0, 10),
    opened_at=st.none() | st.integers(0, 50),
    resolved_at=st.none() | st.integers(0, 50),
    deployment_id=st.none() | st.sampled_from(["d1", "d2"]),
    severity=st.none() | st.sampled_from(["sev1", "sev2"]),
)
deployment_events = st.builds(
    Deployment,
    repository_id=st.just("r1"),
    id=st.sampled_from(["d1", "d2", "d3"]),
    environment=st.just("production"),
    status=st.sampled_from(["success", "failure"]),
    finished_at=st.integers(0, 50),
)


def merged(events: list[IncidentChange]) -> dict[tuple[str, str], IncidentState]:
    states: dict[tuple[str, str], IncidentState] = {}
    for event in events:
        key = (event.repository_id, event.id)
        states[key] = merge_incident(states.get(key), event)
    return states


@given(
    st.lists(incident_events, max_size=20),
    st.lists(deployment_events, max_size=10),
    st.randoms(use_true_random=False),
)
def test_merge_incident_any_order_and_duplicates_same_state_and_attribution(
    events: list[IncidentChange], deployments: list[Deployment], rng: object
) -> None:
    replayed = events + events[::3]
    replayed_deployments = deployments + deployments[::2]
    rng.shuffle(replayed)  # type: ignore[attr-defined]
    rng.shuffle(replayed_deployments)  # type: ignore[attr-defined]
    reference = merged(events)
    states = merged(replayed)
    assert states == reference
    views = [s.view() for s in states.values()]
    reference_views = [s.view() for s in reference.values()]
    assert attribute_incidents(views, replayed_deployments) == attribute_incidents(
        reference_views, deployments
    )
