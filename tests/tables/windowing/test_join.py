from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tables.windowing.dedupe import Admission, SeenEvents, admit
from tables.windowing.join import Candidate, IntervalJoin, JoinResult, JoinState, Probe
from tables.windowing.units import seconds
from tables.windowing.watermark import InputClock, OperatorWatermark, input_name

BOUND = seconds(60)
INNER = IntervalJoin(BOUND, "inner")
LEFT = IntervalJoin(BOUND, "left")


def view(ident: str, time_s: float, page: str = "/p") -> Candidate:
    return Candidate(seconds(time_s), ident, page)


def error(ident: str, time_s: float) -> Probe:
    return Probe(seconds(time_s), ident)


def state_of(*events: Candidate | Probe) -> JoinState:
    state = JoinState()
    for event in events:
        state = state.add_candidate(event) if isinstance(event, Candidate) else state.add_probe(event)
    return state


@pytest.mark.parametrize(
    ("views", "match"),
    [
        pytest.param([view("v1", 940)], "v1", id="exactly-60s-before-matches"),
        pytest.param([view("v1", 940 - 0.000001)], None, id="60s-and-1us-before-does-not"),
        pytest.param([view("v1", 1000)], "v1", id="same-instant-matches"),
        pytest.param([view("v1", 1000.000001)], None, id="after-the-error-does-not"),
        pytest.param([view("v1", 950), view("v2", 990), view("v3", 1010)], "v2", id="latest-before-wins"),
        pytest.param([view("b", 990), view("a", 990)], "b", id="same-time-latest-id-wins"),
        pytest.param([], None, id="no-views"),
    ],
)
def test_an_error_joins_the_latest_page_view_within_60s_before(views: list[Candidate], match: str | None) -> None:
    probe = error("x", 1000)
    results, _ = state_of(*views, probe).advance(LEFT, seconds(2000))
    assert results == (JoinResult(probe, next((v for v in views if v.event_id == match), None)),)


def test_inner_join_drops_unmatched_errors_and_left_join_keeps_them() -> None:
    state = state_of(view("v1", 100, "/a"), error("x1", 130), error("x2", 500))
    inner, _ = state.advance(INNER, seconds(1000))
    left, _ = state.advance(LEFT, seconds(1000))
    assert inner == (JoinResult(error("x1", 130), view("v1", 100, "/a")),)
    assert left == (*inner, JoinResult(error("x2", 500), None))


def test_an_error_is_pending_until_the_watermark_passes_its_time() -> None:
    state = state_of(error("x", 1000))
    results, state = state.advance(LEFT, seconds(1000))
    assert results == () and state.pending == (error("x", 1000),)
    assert state.peek(LEFT) == (JoinResult(error("x", 1000), None),)
    state = state.add_candidate(view("v", 1000))  # still on time: at the watermark
    results, state = state.advance(LEFT, seconds(1000) + 1)
    assert results == (JoinResult(error("x", 1000), view("v", 1000)),)
    assert state.pending == ()


def test_state_older_than_watermark_minus_bound_is_dropped() -> None:
    state = state_of(view("v1", 100), view("v2", 500), view("v3", 930), view("v4", 990), view("v5", 1005), error("x", 1010))
    _, state = state.advance(LEFT, seconds(1000))
    # v4 is the latest before the watermark: it beats v1..v3 for any error not late.
    assert [c.event_id for c in state.candidates] == ["v4", "v5"]
    _, state = state.advance(LEFT, seconds(1100))
    assert [c.event_id for c in state.candidates] == []  # v5 is more than 60 s before the watermark
    assert state == JoinState()


def test_no_watermark_emits_nothing_and_drops_nothing() -> None:
    state = state_of(view("v1", 0), error("x", 10))
    assert state.advance(LEFT, None) == ((), state)


def test_duplicates_are_ignored() -> None:
    state = state_of(view("v1", 10), view("v1", 10), error("x", 20), error("x", 20))
    assert len(state.candidates) == 1 and len(state.pending) == 1


def test_join_state_record_round_trips() -> None:
    state = state_of(view("v1", 10, "/a"), error("x", 20))
    assert JoinState.from_record(json.loads(json.dumps(state.to_record()))) == state


def test_a_negative_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="join bound of -1"):
        IntervalJoin(-1)


# Any arrival order within grace, across the two streams, gives the join of the sorted events.

GRACE = seconds(120)
VIEWS, ERRORS = input_name("user-activity-events", 0), input_name("events.ingest", 0)


@dataclass(frozen=True)
class Arrival:
    user: str
    event: Candidate | Probe


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[Arrival], list[Arrival], list[int]]:
    def stream(kind: str) -> list[Arrival]:
        arrivals = []
        for index in range(draw(st.integers(0, 15))):
            time = draw(st.integers(0, 600)) * 1_000_000
            ident = f"{kind}{index}"
            event = Candidate(time, ident, draw(st.sampled_from(["/a", "/b", "/c"]))) if kind == "v" else Probe(time, ident)
            arrival = Arrival(draw(st.sampled_from(["ann", "bob"])), event)
            copies = 2 if draw(st.integers(0, 5)) == 0 else 1
            arrivals += [(time + draw(st.integers(0, GRACE - 1)), index, arrival) for _ in range(copies)]
        return [arrival for _, _, arrival in sorted(arrivals)]

    return stream("v"), stream("x"), draw(st.lists(st.integers(0, 1), max_size=40))


@settings(max_examples=150, deadline=None)
@given(streams())
def test_any_order_within_grace_joins_as_sorted(case: tuple[list[Arrival], list[Arrival], list[int]]) -> None:
    views, errors, schedule = case
    clocks = {VIEWS: InputClock(VIEWS), ERRORS: InputClock(ERRORS)}
    queues = {VIEWS: deque(views), ERRORS: deque(errors)}
    watermark = OperatorWatermark.expecting(clocks)
    users: dict[str, tuple[SeenEvents, JoinState]] = {}
    emitted: list[JoinResult] = []

    def read(name: str, now: float = 0.0) -> None:
        nonlocal watermark
        if queues[name]:
            arrival = queues[name].popleft()
            clocks[name] = clocks[name].read(arrival.event.time)
            seen, state = users.get(arrival.user, (SeenEvents(), JoinState()))
            verdict, seen = admit(seen, arrival.event.event_id, arrival.event.time, watermark.watermark)
            assert verdict is not Admission.LATE
            if verdict is Admission.NEW:
                event = arrival.event
                state = state.add_candidate(event) if isinstance(event, Candidate) else state.add_probe(event)
            users[arrival.user] = (seen, state)
        else:
            clocks[name] = clocks[name].at_end(0.0)
        watermark = watermark.merge(clocks[name].marker(GRACE, 30.0, now))
        for user, (seen, state) in users.items():
            results, state = state.advance(LEFT, watermark.watermark)
            emitted.extend(results)
            users[user] = (seen.prune(watermark.watermark), JoinState.from_record(json.loads(json.dumps(state.to_record()))))

    for choice in schedule:
        read([VIEWS, ERRORS][choice])
    while queues[VIEWS] or queues[ERRORS]:
        read(VIEWS)
        read(ERRORS)
    for name in (VIEWS, ERRORS):
        read(name)
        read(name, now=30.0)
    pending = [result for _, state in users.values() for result in state.peek(LEFT)]

    page_views = {a.event.event_id: a for a in views}
    expected = []
    for arrival in {a.event.event_id: a for a in errors}.values():
        probe = arrival.event
        matches = [
            a.event
            for a in page_views.values()
            if a.user == arrival.user and probe.time - BOUND <= a.event.time <= probe.time
        ]
        expected.append(JoinResult(probe, max(matches) if matches else None))  # type: ignore[arg-type,type-var]
    assert sorted(emitted + pending, key=lambda r: r.probe) == sorted(expected, key=lambda r: r.probe)
    assert len(emitted) == len({r.probe.event_id for r in emitted})  # each error written once


def _advance_in_full(state: JoinState, join: IntervalJoin, watermark: int) -> JoinState:
    """What ``advance`` keeps, by its definition (module doc), without its quick path."""
    before = [c for c in state.candidates if c.time < watermark]
    kept = tuple(c for c in before[-1:] if c.time >= watermark - join.bound)
    return JoinState(
        kept + tuple(c for c in state.candidates if c.time >= watermark),
        tuple(p for p in state.pending if p.time >= watermark),
    )


@given(
    st.lists(st.tuples(st.integers(0, 300), st.sampled_from("abcdef"), st.booleans()), max_size=8),
    st.integers(0, 400),
)
def test_advance_and_add_candidate_quick_paths_equal_the_definition(
    events: list[tuple[int, str, bool]], watermark_s: int
) -> None:
    state = JoinState()
    for time_s, ident, is_view in events:
        if is_view:
            state = state.add_candidate(view(ident, time_s))
        else:
            state = state.add_probe(error(ident, time_s))
    ids = [c.event_id for c in state.candidates]
    assert list(state.candidates) == sorted(state.candidates) and len(ids) == len(set(ids))
    _, after = state.advance(LEFT, seconds(watermark_s))
    assert after == _advance_in_full(state, LEFT, seconds(watermark_s))
