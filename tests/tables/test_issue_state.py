from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tables.instants import to_micros
from tables.issue_state import (
    Issue,
    IssueState,
    Transition,
    cycle_time_days,
    issue_report,
    merge_snapshot,
    merge_transition,
    time_in_status,
)

HOUR = 3600.0
HOUR_MICROS = 3_600_000_000


def at(text: str) -> int:
    return to_micros(datetime.fromisoformat(text))


def snapshot(
    created: str | None, resolved: str | None, timestamp: int = 1, status: str | None = None
) -> Issue:
    return Issue(
        "PROJ-123",
        timestamp,
        status=status,
        created=at(created) if created else None,
        resolved=at(resolved) if resolved else None,
    )


@pytest.mark.parametrize(
    ("created", "resolved", "days"),
    [
        pytest.param("2025-09-25T10:00Z", "2025-10-01T12:00Z", 6.08, id="seed-proj-123"),
        pytest.param("2025-09-25T10:00Z", "2025-09-26T22:00Z", 1.5, id="day-and-a-half"),
        pytest.param("2025-09-25T10:00Z", "2025-09-25T10:00Z", 0.0, id="same-moment-zero"),
        pytest.param("2025-09-25T10:00+02:00", "2025-09-25T10:00Z", 0.08, id="offsets-compared-in-utc"),
        pytest.param("2025-09-25T10:00Z", None, None, id="unresolved-null"),
        pytest.param(None, "2025-09-25T10:00Z", None, id="no-created-null"),
    ],
)
def test_cycle_time_days_rounded_to_two_decimals(
    created: str | None, resolved: str | None, days: float | None
) -> None:
    assert cycle_time_days(snapshot(created, resolved)) == days


def test_cycle_time_days_no_snapshot_null() -> None:
    assert cycle_time_days(None) is None


T0 = at("2025-10-01T09:00Z")
REOPENED = [
    Transition(T0, "In Progress", "To Do"),
    Transition(T0 + 2 * HOUR_MICROS, "In Review", "In Progress"),
    Transition(T0 + 3 * HOUR_MICROS, "Done", "In Review"),
    Transition(T0 + 5 * HOUR_MICROS, "In Progress", "Done"),  # reopened
    Transition(T0 + 6 * HOUR_MICROS, "Done", "In Progress"),
]


def test_time_in_status_reentered_status_adds_up() -> None:
    assert time_in_status(reversed(REOPENED)) == {
        "In Progress": 3 * HOUR,
        "In Review": HOUR,
        "Done": 2 * HOUR,
    }


@pytest.mark.parametrize(
    ("transitions", "expected"),
    [
        pytest.param([], {}, id="none"),
        pytest.param(REOPENED[:1], {}, id="single-transition-no-span"),
        pytest.param(REOPENED[:2], {"In Progress": 2 * HOUR}, id="two-transitions-one-span"),
    ],
)
def test_time_in_status_counts_spans_between_transitions_only(
    transitions: list[Transition], expected: dict[str, float]
) -> None:
    assert time_in_status(transitions) == expected


def test_merge_snapshot_latest_envelope_timestamp_wins() -> None:
    old = snapshot("2025-09-25T10:00Z", None, timestamp=10, status="In Progress")
    new = snapshot("2025-09-25T10:00Z", "2025-10-01T12:00Z", timestamp=20, status="Done")
    for order in ([old, new], [new, old], [new, old, new]):
        state: IssueState | None = None
        for item in order:
            state = merge_snapshot(state, item)
        assert state == IssueState("PROJ-123", new)


def test_merge_snapshot_reopened_issue_loses_resolution() -> None:
    done = snapshot("2025-09-25T10:00Z", "2025-10-01T12:00Z", timestamp=10, status="Done")
    reopened = snapshot("2025-09-25T10:00Z", None, timestamp=20, status="In Progress")
    state = merge_snapshot(merge_snapshot(None, reopened), done)
    assert cycle_time_days(state.snapshot) is None


def test_merge_transition_duplicates_kept_once() -> None:
    state: IssueState | None = None
    for transition in [*REOPENED, *REOPENED[::2]]:
        state = merge_transition(state, "PROJ-123", transition)
    assert state is not None
    assert state.transitions == tuple(REOPENED)


def test_merge_transition_conflicting_from_status_prefers_known() -> None:
    bare = Transition(T0, "Done", None)
    state = merge_transition(
        merge_transition(None, "PROJ-123", Transition(T0, "Done", "In Review")), "PROJ-123", bare
    )
    assert state.transitions == (Transition(T0, "Done", "In Review"),)


def test_merge_other_issue_raises() -> None:
    with pytest.raises(ValueError, match="cannot merge issue"):
        merge_transition(IssueState("PROJ-1"), "PROJ-2", REOPENED[0])


def test_issue_report_hand_computed() -> None:
    state = merge_snapshot(None, snapshot("2025-09-25T10:00Z", "2025-10-01T12:00Z", status="Done"))
    for transition in REOPENED:
        state = merge_transition(state, "PROJ-123", transition)
    report = issue_report(state)
    assert report["key"] == "PROJ-123"
    assert report["status"] == "Done"
    assert report["created"] == "2025-09-25T10:00:00+00:00"
    assert report["resolved"] == "2025-10-01T12:00:00+00:00"
    assert report["cycle_time_days"] == 6.08
    assert report["time_in_status"] == {"In Progress": 3 * HOUR, "In Review": HOUR, "Done": 2 * HOUR}


def test_issue_report_transitions_only_fields_null() -> None:
    report = issue_report(merge_transition(None, "PROJ-9", REOPENED[0]))
    assert report["status"] is None
    assert report["cycle_time_days"] is None
    assert report["time_in_status"] == {}


def test_issue_state_record_json_round_trip_equal() -> None:
    state = merge_snapshot(None, Issue("PROJ-1", 5, story_points=2.5, sprint_id="7", created=1))
    state = merge_transition(state, "PROJ-1", REOPENED[0])
    assert IssueState.from_record(json.loads(json.dumps(state.to_record()))) == state
    assert IssueState.from_record(json.loads(json.dumps(IssueState("PROJ-2").to_record()))) == IssueState(
        "PROJ-2"
    )


snapshots = st.builds(
    Issue,
    key=st.just("PROJ-1"),
    timestamp=st.integers(0, 5),
    status=st.sampled_from(["To Do", "Done"]),
    story_points=st.none() | st.sampled_from([1.0, 2.5]),
    created=st.none() | st.integers(0, 100),
    resolved=st.none() | st.integers(0, 100),
)
transitions = st.builds(
    Transition,
    transitioned_at=st.integers(0, 10),
    to_status=st.sampled_from(["To Do", "In Progress", "Done"]),
    from_status=st.none() | st.sampled_from(["To Do", "In Progress", "Done"]),
)


@given(
    st.lists(st.one_of(snapshots, transitions), max_size=20),
    st.randoms(use_true_random=False),
)
def test_merge_issue_any_order_and_duplicates_same_state(
    events: list[Issue | Transition], rng: object
) -> None:
    def replay(history: list[Issue | Transition]) -> IssueState:
        state = IssueState("PROJ-1")
        for event in history:
            if isinstance(event, Issue):
                state = merge_snapshot(state, event)
            else:
                state = merge_transition(state, "PROJ-1", event)
        return state

    replayed = events + events[::2]
    rng.shuffle(replayed)  # type: ignore[attr-defined]
    reference = replay(events)
    assert replay(replayed) == reference
    assert issue_report(replay(replayed)) == issue_report(reference)
