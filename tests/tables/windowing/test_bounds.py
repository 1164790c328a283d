"""State stays bounded: no value grows with a key's history, and values at the default
limits stay far below the 64 KiB a changelog record may hold (docs/state.md)."""

from __future__ import annotations

import json

from tables.windowing.dedupe import SeenEvents
from tables.windowing.join import Candidate, IntervalJoin, JoinState, Probe
from tables.windowing.sessions import PAGE_VIEW, SessionEvent, SessionRules, UserSessions
from tables.windowing.tumbling import MemberWindows, WindowSpec
from tables.windowing.units import MICROS_PER_MINUTE, seconds
from tables.windowing.watermark import InputClock
from tests.tables.windowing.replay import SOURCE_TOPIC, Event, Operator, input_name

RECORD_LIMIT = 64 * 1024
DAY_S = 86_400


def size(record: object) -> int:
    return len(json.dumps(record, separators=(",", ":")).encode())


def test_a_users_state_does_not_grow_with_their_history() -> None:
    # 12 days of a busy user: 8 hours a day, an event every 5 minutes on 40 pages.
    name = input_name(SOURCE_TOPIC, 0)
    operator = Operator([name], SessionRules(gap=seconds(1800)), WindowSpec.tumbling(MICROS_PER_MINUTE))
    clock = InputClock(name)
    largest_per_day = []
    for day in range(12):
        largest = 0
        for step in range(8 * 12):
            time = seconds(day * DAY_S + step * 300)
            operator.on_event(Event(f"e{day}-{step}", time, "ann", PAGE_VIEW, f"/page/{(day * 7 + step) % 40}", f"c{day}"))
            clock = clock.read(time)
            operator.on_marker(clock.marker(seconds(300), 30.0, now=0.0))
            largest = max(largest, size(operator.users["ann"]), size(operator.clock), size(operator.types.starts))
        largest_per_day.append(largest)
    assert len(operator.closed_sessions) == 11
    # It grows until the closed sessions kept for the view are full (day 4), then stays.
    assert all(day > max(largest_per_day) * 0.98 for day in largest_per_day[4:]), largest_per_day
    assert largest_per_day[3] < largest_per_day[4]
    assert max(largest_per_day) < 8 * 1024
    assert len(operator.types.open) <= 6  # the minutes within grace, not the history's


def test_a_users_value_at_the_default_limits_stays_under_three_quarters_of_a_record() -> None:
    # Worst case: URLs of 256 characters, client session ids of 64, every list at its limit,
    # two open sessions and the closed ones kept for the view, an event a second over the
    # grace period (300 ids), and the minute windows of 10 event types within grace.
    rules = SessionRules(gap=seconds(1800))
    sessions = UserSessions()
    for index in range(rules.recent_closed + 2):
        base = seconds(index * 10_000)
        for page in range(rules.max_pages + 5):
            url = f"/{index}/{page}/" + "x" * 250
            sessions = sessions.add(SessionEvent(f"v{index}-{page}", base + seconds(page), PAGE_VIEW, url, f"{page:064d}"), rules)
    _, sessions = sessions.close(seconds(30_000), rules)
    assert (len(sessions.open), len(sessions.recent)) == (2, rules.recent_closed)
    seen = SeenEvents({f"{index:036d}": seconds(index) for index in range(300)})
    windows = MemberWindows(frozenset((minute * MICROS_PER_MINUTE, f"type-{t}") for minute in range(6) for t in range(10)))
    value = {"seen": seen.to_record(), "sessions": sessions.to_record(), "windows": windows.to_record()}
    # About 20 KB of sessions (4 KB each) and 15 KB of ids: docs/windowing.md, state bounds.
    assert size(value["sessions"]) < 24 * 1024
    assert size(value) < RECORD_LIMIT * 3 // 4, size(value)


def test_join_state_keeps_only_what_a_probe_can_still_match() -> None:
    state = JoinState()
    for second in range(0, 3_600, 5):
        state = state.add_candidate(Candidate(seconds(second), f"v{second}", f"/page/{second % 30}"))
        if second % 60 == 0:
            state = state.add_probe(Probe(seconds(second), f"x{second}"))
        _, state = state.advance(IntervalJoin(seconds(60)), seconds(second - 120))
    # Candidates from the watermark on (grace of 120 s at one per 5 s) and the latest before it.
    assert len(state.candidates) <= 120 // 5 + 2
    assert len(state.pending) <= 3
