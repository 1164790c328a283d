"""The errors-by-page join's pure state (tables.activity_join_state): the watermark over
both topics' inputs, probe admission, the due index; and, simulated as the operator runs
it, any arrival order within grace with duplicates gives the join of the sorted events."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tables.activity_join_state import (
    JOIN,
    ErrorChange,
    JoinRules,
    PartitionJoinState,
    add_candidate,
    add_probe,
    advance_user,
    is_empty,
    next_due,
)
from tables.windowing.dedupe import Admission, SeenEvents, admit
from tables.windowing.join import Candidate, JoinState, Probe
from tables.windowing.units import MICROS_PER_MINUTE, seconds
from tables.windowing.watermark import Marker, OperatorWatermark, input_name, joint_watermark

ACTIVITY = [input_name("act", p) for p in range(2)]
INGEST = [input_name("ing", p) for p in range(2)]
GRACE = seconds(300)
RULES = JoinRules()


def activity_watermark(*marks: tuple[int, int | None, bool]) -> OperatorWatermark:
    state = OperatorWatermark.expecting(ACTIVITY)
    for partition, mark, idle in marks:
        state = state.merge(Marker(ACTIVITY[partition], mark, idle))
    return state


def join_state(*marks: tuple[int, int | None, bool]) -> PartitionJoinState:
    state = PartitionJoinState.expecting(INGEST)
    for partition, mark, idle in marks:
        state = state.merge(Marker(INGEST[partition], mark, idle))
    return state


def test_error_change_round_trips_and_refuses_a_malformed_record() -> None:
    change = ErrorChange("e1", 1_000_000, "u1")
    assert ErrorChange.from_record(json.loads(json.dumps(change.to_record()))) == change
    assert change.probe == Probe(1_000_000, "e1")
    for bad in (["e1", "1000", "u1"], ["e1", True, "u1"], [1, 1000, "u1"], ["e1", 1000]):
        with pytest.raises((TypeError, ValueError)):
            ErrorChange.from_record(bad)


def test_the_join_watermark_is_the_minimum_over_both_topics_inputs_capped_by_the_activity_one() -> None:
    activity = activity_watermark((0, 500, False), (1, 700, False))
    assert join_state().settle(activity).reached is None  # the ingest inputs have no time yet
    assert join_state((0, 300, False), (1, 900, False)).settle(activity).reached == 300
    assert join_state((0, 800, False), (1, 900, False)).settle(activity).reached == 500
    # Idle ingest inputs stop holding it back, also one that never had an event.
    assert join_state((0, 100, True), (1, None, True)).settle(activity).reached == 500
    # Every activity input idle: the activity watermark (their largest) still caps the join.
    idle_activity = activity_watermark((0, 500, True), (1, 700, True))
    assert idle_activity.watermark == 700
    assert join_state((0, 900, False), (1, 950, False)).settle(idle_activity).reached == 700
    # Never decreases: a stale ingest marker from before a restart moves nothing back.
    state = join_state((0, 800, False), (1, 900, False)).settle(activity)
    state = state.merge(Marker(INGEST[0], None, False)).settle(activity)
    assert state.reached == 500
    assert joint_watermark(activity, state.errors) == 500


def test_an_error_is_late_below_the_watermark_a_pending_copy_is_a_duplicate() -> None:
    state = JoinState()
    verdict, results, state = add_probe(state, Probe(seconds(100), "x"), seconds(100), RULES)
    assert verdict is Admission.NEW and results == ()
    verdict, _, state = add_probe(state, Probe(seconds(100), "x"), seconds(100), RULES)
    assert verdict is Admission.DUPLICATE and len(state.pending) == 1
    verdict, results, state = add_probe(state, Probe(seconds(50), "y"), seconds(100) + 1, RULES)
    assert verdict is Admission.LATE
    assert [r.probe.event_id for r in results] == ["x"]  # made final on the way, once
    assert state.pending == ()


def test_next_due_and_the_due_index_visit_a_user_once_its_state_can_change() -> None:
    state = JoinState()
    assert next_due(state) is None and is_empty(state)
    _, state = add_candidate(state, Candidate(seconds(100), "v", "/a"), None)
    assert next_due(state) == seconds(160) + 1  # all its page views too old for any error after
    _, _, state = add_probe(state, Probe(seconds(130), "x"), None)
    assert next_due(state) == seconds(130) + 1
    results, state = advance_user(state, seconds(130) + 1)
    assert [(r.probe.event_id, r.match and r.match.event_id) for r in results] == [("x", "v")]
    results, state = advance_user(state, seconds(160) + 1)
    assert results == () and is_empty(state)

    partition = PartitionJoinState(OperatorWatermark.expecting([]), reached=seconds(59))
    bucket = RULES.due_bucket_of(seconds(130) + 1)
    partition = partition.with_due((bucket, bucket + 5))
    assert partition.due_reached()[0] == ()
    reached, rest = PartitionJoinState(
        partition.errors, (bucket + 1) * MICROS_PER_MINUTE, partition.due
    ).due_reached()
    assert reached == (bucket,) and rest.due == (bucket + 5,)
    assert PartitionJoinState.from_record(json.loads(json.dumps(rest.to_record()))) == rest


# The operator, simulated: sources of two topics read out of order within grace, markers
# after every record, the activity admission of page views, the join's, its due index.


@dataclass(frozen=True)
class Event:
    event_id: str
    user: str
    time: int
    kind: str  # "view" or "error"
    page: str = ""


class Operator:
    def __init__(self) -> None:
        self.activity = OperatorWatermark.expecting(ACTIVITY)
        self.join = PartitionJoinState.expecting(INGEST)
        self.seen: dict[str, SeenEvents] = defaultdict(SeenEvents)
        self.users: dict[str, JoinState] = {}
        self.index: dict[int, set[str]] = defaultdict(set)
        self.written: list[tuple[str, str, str | None]] = []
        self.late: list[str] = []

    def _put(self, user: str, before: JoinState, after: JoinState, results: tuple) -> None:
        # Through JSON, as the tables store it.
        self.users[user] = JoinState.from_record(json.loads(json.dumps(after.to_record())))
        self.written += [(user, r.probe.event_id, r.match and r.match.value) for r in results]
        due = next_due(after)
        if due is not None and due != next_due(before):
            self.index[RULES.due_bucket_of(due)].add(user)
            self.join = self.join.with_due((RULES.due_bucket_of(due),))

    def marker(self, marker: Marker) -> None:
        if marker.input in INGEST:
            self.join = self.join.merge(marker)
        else:
            self.activity = self.activity.merge(marker)
        settled = self.join.settle(self.activity)
        if settled is self.join:
            return
        reached, self.join = settled.due_reached()
        for bucket in reached:
            for user in sorted(self.index.pop(bucket, set())):
                before = self.users.get(user, JoinState())
                results, after = advance_user(before, self.join.reached)
                self._put(user, before, after, results)

    def event(self, event: Event) -> None:
        before = self.users.get(event.user, JoinState())
        if event.kind == "view":
            verdict, self.seen[event.user] = admit(
                self.seen[event.user], event.event_id, event.time, self.activity.watermark
            )
            if verdict is not Admission.NEW:
                return
            results, after = add_candidate(
                before, Candidate(event.time, event.event_id, event.page), self.join.reached
            )
        else:
            verdict, results, after = add_probe(before, Probe(event.time, event.event_id), self.join.reached)
            if verdict is Admission.LATE:
                self.late.append(event.event_id)
        self._put(event.user, before, after, results)


def run(arrivals: list[tuple[str, Event]]) -> Operator:
    """``arrivals``: (input, event) in arrival order; a marker after each."""
    operator = Operator()
    clocks: dict[str, int] = {}
    for name in ACTIVITY + INGEST:
        operator.marker(Marker(name, None, False))
    for name, event in arrivals:
        operator.event(event)
        clocks[name] = max(clocks.get(name, event.time), event.time)
        operator.marker(Marker(name, clocks[name] - GRACE, False))
    end = max(e.time for _, e in arrivals) + GRACE + seconds(3600)
    for name in ACTIVITY + INGEST:  # closing: every input far past the history
        operator.marker(Marker(name, end, False))
    return operator


def truth(events: list[Event]) -> list[tuple[str, str, str | None]]:
    unique = {e.event_id: e for e in events}.values()
    views = sorted((e for e in unique if e.kind == "view"), key=lambda e: (e.time, e.event_id))
    rows = []
    for error in (e for e in unique if e.kind == "error"):
        within = [
            v for v in views if v.user == error.user and error.time - JOIN.bound <= v.time <= error.time
        ]
        rows.append((error.user, error.event_id, within[-1].page if within else None))
    return sorted(rows, key=lambda r: (r[0], r[1]))


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Event], list[tuple[str, Event]]]:
    count = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = random.Random(seed)
    events = []
    for n in range(count):
        kind = rng.choice(["view", "view", "error"])
        time = seconds(rng.randint(0, 900)) + rng.choice([0, 1, 999_999])
        events.append(
            Event(f"{kind}{n}", rng.choice(["u1", "u2", "u3"]), time, kind, rng.choice(["/a", "/b", "/c"]))
        )
    # Each event on a partition of its topic; read in the order of time plus up to the
    # grace (so none is late), duplicates right after their original.
    arrivals: list[tuple[float, str, Event]] = []
    for event in events:
        topic = ACTIVITY if event.kind == "view" else INGEST
        name = rng.choice(topic)
        key = event.time + rng.uniform(0, GRACE)
        arrivals.append((key, name, event))
        if rng.random() < 0.2:
            arrivals.append((key, name, event))
    arrivals.sort(key=lambda a: a[0])
    return events, [(name, event) for _, name, event in arrivals]


@settings(max_examples=300, deadline=None)
@given(histories())
def test_any_arrival_order_within_grace_with_duplicates_gives_the_sorted_join(
    history: tuple[list[Event], list[tuple[str, Event]]],
) -> None:
    events, arrivals = history
    shuffled = run(arrivals)
    in_order = run(sorted(dict.fromkeys(arrivals), key=lambda a: (a[1].time, a[1].event_id)))
    assert shuffled.late == [] and in_order.late == []
    assert sorted(shuffled.written) == truth(events) == sorted(in_order.written)
    # Each error written once, and nothing kept once the watermark passed everything.
    assert len({(u, e) for u, e, _ in shuffled.written}) == len(shuffled.written)
    assert all(is_empty(state) for state in shuffled.users.values())


@settings(max_examples=100, deadline=None)
@given(histories(), st.integers(1, 5))
def test_errors_late_beyond_grace_are_reported_and_change_nothing(
    history: tuple[list[Event], list[tuple[str, Event]]], late: int
) -> None:
    events, arrivals = history
    latest = max(e.time for e in events)
    # Sent after an activity event far ahead moved every watermark past them.
    ahead = Event("ahead", "u9", latest + GRACE + seconds(120), "view", "/z")
    stale = [Event(f"stale{n}", "u1", latest - seconds(1) - n, "error") for n in range(late)]
    ingest_ahead = Event("ahead-error", "u9", latest + GRACE + seconds(120), "error")
    order = [*arrivals, *((name, ahead) for name in ACTIVITY), *((name, ingest_ahead) for name in INGEST)]
    order += [(INGEST[0], e) for e in stale]
    operator = run(order)
    assert sorted(operator.late) == sorted(e.event_id for e in stale)
    written = [r for r in operator.written if r[0] != "u9"]
    assert sorted(written) == truth(events)


def test_a_busy_users_join_state_stays_bounded_by_the_watermarks_lag() -> None:
    """Two hours of a page view a second and an error every ten, the watermark 300 s
    behind: the state holds the events within the lag plus the bound, never the history."""
    state, written, largest = JoinState(), 0, 0
    for second in range(2 * 3600):
        now = seconds(second)
        watermark = now - GRACE
        results, state = add_candidate(state, Candidate(now, f"v{second}", f"/p/{second % 7}"), watermark)
        written += len(results)
        if second % 10 == 5:
            verdict, results, state = add_probe(state, Probe(now, f"x{second}"), watermark)
            assert verdict is Admission.NEW
            written += len(results)
        if second % 60 == 0:
            largest = max(largest, len(json.dumps(state.to_record())))
    assert len(state.pending) <= GRACE // seconds(10) + 1
    assert len(state.candidates) <= (GRACE + JOIN.bound) // seconds(1) + 2
    assert largest < 40_000  # well under a changelog record's limit
    assert written >= 2 * 360 - 31  # every error made final once the watermark passed it
