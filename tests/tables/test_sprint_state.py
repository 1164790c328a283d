from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tables.instants import to_micros
from tables.issue_state import Issue
from tables.sprint_state import (
    Sprint,
    SprintChange,
    SprintMetrics,
    SprintState,
    merge_sprint,
    sprint_metrics,
    sprints_report,
    velocity_trend,
)


def at(text: str) -> int:
    return to_micros(datetime.fromisoformat(text))


def closed(
    ident: str,
    complete: str | None,
    committed: float | None,
    completed: float | None = None,
    start: str | None = None,
) -> Sprint:
    return Sprint(
        "PROJ",
        ident,
        name=f"Sprint {ident}",
        state="closed",
        start_date=at(start) if start else None,
        complete_date=at(complete) if complete else None,
        committed_points=committed,
        completed_points=completed,
    )


def issue(key: str, sprint_id: str | None, points: float | None, resolved: str | None) -> Issue:
    return Issue(
        key, 1, story_points=points, sprint_id=sprint_id, resolved=at(resolved) if resolved else None
    )


COMPLETE = "2025-10-14T17:00Z"
ISSUES = [
    issue("PROJ-1", "2", 5, "2025-10-10T12:00Z"),
    issue("PROJ-2", "2", 3, "2025-10-15T09:00Z"),  # resolved after the sprint closed
    issue("PROJ-3", "2", None, "2025-10-11T12:00Z"),  # no story points: counts 0
    issue("PROJ-4", "2", 8, None),  # unresolved
    issue("PROJ-5", "1", 13, "2025-10-01T12:00Z"),  # another sprint's
    issue("PROJ-6", "2", 2, COMPLETE),  # resolved exactly at complete_date
    issue("PROJ-7", None, 1, "2025-10-01T12:00Z"),
]


@pytest.mark.parametrize(
    ("sprint", "completed", "rate"),
    [
        pytest.param(closed("1", COMPLETE, 10, completed=8), 8, 0.8, id="completed-points-given"),
        pytest.param(closed("2", COMPLETE, 12), 7, 7 / 12, id="without-completed-points-computed"),
        pytest.param(closed("2", COMPLETE, 0, completed=4), 4, None, id="zero-committed-no-rate"),
        pytest.param(closed("2", COMPLETE, None), 7, None, id="unknown-committed-no-rate"),
        pytest.param(closed("3", COMPLETE, 5), 0, 0.0, id="no-issues-zero"),
        pytest.param(closed("2", None, 5), None, None, id="no-complete-date-unknown"),
    ],
)
def test_sprint_metrics_closed_sprint(sprint: Sprint, completed: float | None, rate: float | None) -> None:
    assert sprint_metrics(sprint, ISSUES) == SprintMetrics(sprint, completed, rate, completed)


def test_sprint_metrics_active_sprint_all_null() -> None:
    active = Sprint("PROJ", "9", state="active", committed_points=9, completed_points=3)
    assert sprint_metrics(active, ISSUES) == SprintMetrics(active, None, None, None)


@pytest.mark.parametrize(
    ("velocities", "trend"),
    [
        pytest.param([], None, id="no-closed-sprint"),
        pytest.param([6.0], 6.0, id="one-sprint"),
        pytest.param([6.0, 9.0], 7.5, id="two-sprints"),
        pytest.param([100.0, 3.0, 6.0, 9.0], 6.0, id="last-three-only"),
    ],
)
def test_velocity_trend_last_three_closed(velocities: list[float], trend: float | None) -> None:
    metrics = [
        SprintMetrics(closed(str(i), f"2025-10-{10 + i:02d}T00:00Z", 10), v, v / 10, v)
        for i, v in enumerate(velocities)
    ]
    assert velocity_trend(reversed(metrics)) == trend


def test_velocity_trend_orders_by_complete_date_not_id() -> None:
    metrics = [
        SprintMetrics(closed("a", "2025-10-30T00:00Z", 1), 1.0, None, 1.0),
        SprintMetrics(closed("b", "2025-10-01T00:00Z", 1), 100.0, None, 100.0),  # the oldest: left out
        SprintMetrics(closed("c", "2025-10-20T00:00Z", 1), 2.0, None, 2.0),
        SprintMetrics(closed("d", "2025-10-10T00:00Z", 1), 3.0, None, 3.0),
    ]
    assert velocity_trend(metrics) == 2.0


def test_sprints_report_hand_computed() -> None:
    sprints = [
        closed("2", COMPLETE, 12, start="2025-10-01T09:00Z"),
        closed("1", "2025-09-30T17:00Z", 10, completed=8, start="2025-09-17T09:00Z"),
        Sprint(
            "PROJ",
            "3",
            name="Sprint 3",
            state="active",
            start_date=at("2025-10-15T09:00Z"),
            committed_points=11,
        ),
    ]
    report = sprints_report(sprints, ISSUES)
    assert [s["id"] for s in report["sprints"]] == ["1", "2", "3"]
    assert report["sprints"][1] == {
        "id": "2",
        "name": "Sprint 2",
        "state": "closed",
        "start_date": "2025-10-01T09:00:00+00:00",
        "end_date": None,
        "complete_date": "2025-10-14T17:00:00+00:00",
        "committed_points": 12,
        "completed_points": 7,
        "completion_rate": pytest.approx(7 / 12),
        "velocity": 7,
    }
    assert report["sprints"][2]["velocity"] is None
    assert report["velocity_trend"] == 7.5


def test_merge_sprint_started_then_closed_merges_fields() -> None:
    started = SprintChange(
        "PROJ", "1", 10, name="S1", state="active", start_date=1, end_date=9, committed_points=10
    )
    closing = SprintChange("PROJ", "1", 20, state="closed", complete_date=8)
    for order in ([started, closing], [closing, started], [closing, started, closing]):
        state: SprintState | None = None
        for event in order:
            state = merge_sprint(state, event)
        assert state is not None
        assert state.view() == Sprint("PROJ", "1", "S1", "closed", 1, 9, 8, 10, None)


def test_merge_sprint_other_identity_raises() -> None:
    with pytest.raises(ValueError, match="cannot merge sprint"):
        merge_sprint(merge_sprint(None, SprintChange("PROJ", "1", 1)), SprintChange("PROJ", "2", 1))


def test_sprint_state_record_json_round_trip_equal() -> None:
    state = merge_sprint(None, SprintChange("PROJ", "1", 10, name="S1", state="active", committed_points=10.5))
    assert SprintState.from_record(json.loads(json.dumps(state.to_record()))) == state


sprint_events = st.builds(
    SprintChange,
    project_key=st.just("PROJ"),
    id=st.sampled_from(["1", "2", "3"]),
    timestamp=st.integers(0, 5),
    state=st.none() | st.sampled_from(["active", "closed"]),
    complete_date=st.none() | st.integers(0, 50),
    committed_points=st.none() | st.sampled_from([0.0, 5.0, 8.0]),
    completed_points=st.none() | st.sampled_from([3.0, 5.0]),
)
issue_snapshots = st.builds(
    Issue,
    key=st.sampled_from(["PROJ-1", "PROJ-2", "PROJ-3"]),
    timestamp=st.just(1),
    story_points=st.none() | st.sampled_from([1.0, 2.5]),
    sprint_id=st.none() | st.sampled_from(["1", "2", "3"]),
    resolved=st.none() | st.integers(0, 50),
)


@given(
    st.lists(sprint_events, max_size=15),
    st.lists(issue_snapshots, max_size=6, unique_by=lambda i: i.key),
    st.randoms(use_true_random=False),
)
def test_merge_sprint_any_order_and_duplicates_same_report(
    events: list[SprintChange], issues: list[Issue], rng: object
) -> None:
    def replay(history: list[SprintChange]) -> dict[str, SprintState]:
        states: dict[str, SprintState] = {}
        for event in history:
            states[event.id] = merge_sprint(states.get(event.id), event)
        return states

    replayed = events + events[::2]
    shuffled_issues = list(issues)
    rng.shuffle(replayed)  # type: ignore[attr-defined]
    rng.shuffle(shuffled_issues)  # type: ignore[attr-defined]
    reference = replay(events)
    states = replay(replayed)
    assert states == reference
    assert sprints_report([s.view() for s in states.values()], shuffled_issues) == sprints_report(
        [s.view() for s in reference.values()], issues
    )
