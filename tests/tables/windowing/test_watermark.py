from __future__ import annotations

import json

import pytest

from tables.windowing.units import seconds
from tables.windowing.watermark import InputClock, Marker, OperatorWatermark, input_name

GRACE = seconds(300)
IDLE_AFTER_S = 30.0
A, B, C = (input_name("user-activity-events", p) for p in range(3))


def marker(name: str, max_time_s: float | None, idle: bool = False) -> Marker:
    return Marker(name, None if max_time_s is None else seconds(max_time_s) - GRACE, idle)


def operator(*markers: Marker, inputs: tuple[str, ...] = (A, B)) -> OperatorWatermark:
    state = OperatorWatermark.expecting(inputs)
    for m in markers:
        state = state.merge(m)
    return state


def test_input_name_is_topic_and_partition() -> None:
    assert input_name("events.ingest", 7) == "events.ingest/7"


def test_input_clock_watermark_is_largest_time_read_minus_grace() -> None:
    clock = InputClock(A)
    assert clock.watermark(GRACE) is None
    clock = clock.read(seconds(1000)).read(seconds(400)).read(None)
    assert clock.max_event_time == seconds(1000)
    assert clock.watermark(GRACE) == seconds(700)


@pytest.mark.parametrize(
    ("clock", "now", "idle"),
    [
        pytest.param(InputClock(A).read(seconds(10)), 100.0, False, id="behind-by-default"),
        pytest.param(InputClock(A).at_end(0.0), 29.9, False, id="at-end-29.9s"),
        pytest.param(InputClock(A).at_end(0.0), 30.0, True, id="at-end-30s"),
        pytest.param(InputClock(A).at_end(0.0).at_end(20.0), 30.0, True, id="at-end-again-keeps-since"),
        pytest.param(InputClock(A).at_end(0.0).read(seconds(1)).at_end(20.0), 30.0, False, id="record-restarts"),
        pytest.param(InputClock(A).at_end(0.0).behind().at_end(20.0), 30.0, False, id="behind-restarts"),
        pytest.param(InputClock(A).at_end(0.0).behind(), 100.0, False, id="behind"),
    ],
)
def test_input_clock_is_idle_only_after_idle_time_at_end(clock: InputClock, now: float, idle: bool) -> None:
    assert clock.is_idle(now, IDLE_AFTER_S) is idle
    assert clock.marker(GRACE, IDLE_AFTER_S, now).idle is idle


def test_input_clock_record_keeps_the_time_and_forgets_idleness() -> None:
    clock = InputClock(A).read(seconds(5)).at_end(0.0)
    restored = InputClock.from_record(json.loads(json.dumps(clock.to_record())))
    assert restored == InputClock(A, seconds(5))
    assert not restored.is_idle(1_000.0, IDLE_AFTER_S)


def test_operator_waits_for_every_expected_input() -> None:
    assert operator(marker(A, 1000)).watermark is None
    assert operator(marker(A, 1000), marker(B, None)).watermark is None
    assert operator(marker(A, 1000), marker(B, 900)).watermark == seconds(600)


def test_operator_watermark_is_the_minimum_over_inputs() -> None:
    state = operator(marker(A, 1000), marker(B, 2000), marker(C, 1500), inputs=(A, B, C))
    assert state.watermark == seconds(700)


def test_a_lagging_input_never_makes_another_inputs_events_late() -> None:
    # B is a partition catching up after a restart: A's events within grace of A stay on time.
    state = operator(marker(A, 5000), marker(B, 100))
    assert state.watermark == seconds(100) - GRACE
    assert not state.is_late(seconds(4701))
    assert not state.is_late(seconds(100) - GRACE)
    assert state.is_late(seconds(100) - GRACE - 1)


def test_an_idle_input_stops_holding_the_watermark_back() -> None:
    state = operator(marker(A, 5000), marker(B, 100, idle=True))
    assert state.watermark == seconds(4700)


def test_an_idle_input_without_events_stops_holding_the_watermark_back() -> None:
    assert operator(marker(A, 5000), marker(B, None, idle=True)).watermark == seconds(4700)


def test_when_every_input_is_idle_the_watermark_is_the_largest_of_theirs() -> None:
    assert operator(marker(A, 5000, idle=True), marker(B, 100, idle=True)).watermark == seconds(4700)
    assert operator(marker(A, None, idle=True), marker(B, None, idle=True)).watermark is None


def test_the_watermark_never_decreases_when_an_idle_input_resumes() -> None:
    state = operator(marker(A, 5000), marker(B, 100, idle=True))
    resumed = state.merge(marker(B, 200))
    assert resumed.watermark == seconds(4700)
    assert resumed.is_late(seconds(200))  # the documented cost of idleness


def test_an_older_marker_of_an_input_does_not_move_its_watermark_back() -> None:
    state = operator(marker(A, 1000), marker(B, 3000), marker(B, 2000))
    assert state.inputs[B] == (seconds(2700), False)
    assert state.merge(marker(A, 4000)).watermark == seconds(2700)


def test_a_marker_from_an_unexpected_input_is_merged() -> None:
    state = operator(marker(A, 1000), marker(B, 2000), marker(C, 500))
    assert set(state.inputs) == {A, B, C}
    assert state.watermark == seconds(700)  # reached before C appeared: never decreases


def test_expect_adds_inputs_that_then_hold_the_watermark() -> None:
    state = operator(marker(A, 1000)).expect([B, C])
    assert state.merge(marker(B, 2000)).watermark is None
    assert state.merge(marker(B, 2000)).merge(marker(C, 900)).watermark == seconds(600)


def test_a_join_takes_the_minimum_across_both_streams() -> None:
    error_input = input_name("events.ingest", 0)
    state = OperatorWatermark.expecting([A, error_input]).merge(marker(A, 9000)).merge(marker(error_input, 1000))
    assert state.watermark == seconds(700)


def test_markers_from_every_source_partition_reach_every_operator_partition() -> None:
    # The re-keying agent sends each source partition's marker to every internal partition:
    # each operator partition reaches the minimum over all source partitions.
    clocks = [InputClock(name).read(seconds(t)) for name, t in ((A, 1000), (B, 3000), (C, 2000))]
    operators = [OperatorWatermark.expecting([A, B, C]) for _ in range(4)]
    for clock in clocks:
        sent = clock.marker(GRACE, IDLE_AFTER_S, now=0.0)
        operators = [op.merge(Marker.from_record(json.loads(json.dumps(sent.to_record())))) for op in operators]
    assert [op.watermark for op in operators] == [seconds(700)] * 4


def test_operator_record_round_trips_and_stays_small() -> None:
    names = [input_name("user-activity-events", p) for p in range(64)]
    state = OperatorWatermark.expecting(names)
    for index, name in enumerate(names):
        state = state.merge(Marker(name, seconds(1_800_000_000 + index), index % 2 == 0, 10**9 + index))
    record = json.dumps(state.to_record())
    assert OperatorWatermark.from_record(json.loads(record)) == state
    assert len(record) < 8_192


def test_a_record_below_a_merged_markers_offset_is_a_resent_copy() -> None:
    # A marker covering offset 120 of A follows every record of A before 120 that was
    # forwarded: one of those arriving after it was sent again by a restarted reader.
    state = operator(Marker(A, seconds(1000), offset=120), marker(B, 2000))
    assert state.is_resent(A, 119) and not state.is_resent(A, 120)
    assert not state.is_resent(B, 0)  # B's marker covered no offset (a reader just started)
    assert state.merge(Marker(A, seconds(900), offset=40)).forwarded[A] == 120  # never back
    assert state.merge(Marker(A, seconds(900), offset=None)).forwarded[A] == 120
    assert state.merge(Marker(A, seconds(1100), offset=300)).is_resent(A, 299)


def test_marker_and_operator_records_keep_the_offsets_and_read_those_without() -> None:
    sent = Marker(A, seconds(10), idle=True, offset=77)
    assert Marker.from_record(json.loads(json.dumps(sent.to_record()))) == sent
    assert Marker.from_record([A, seconds(10), False]) == Marker(A, seconds(10), False, None)
    state = operator(Marker(A, seconds(10), offset=77), marker(B, 20))
    assert OperatorWatermark.from_record(json.loads(json.dumps(state.to_record()))) == state
    older = {k: v for k, v in state.to_record().items() if k != "forwarded"}
    assert OperatorWatermark.from_record(older).forwarded == {}
