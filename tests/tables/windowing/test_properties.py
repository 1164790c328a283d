"""End-to-end properties of the windowing module, composed as the activity agents compose it
(tests/tables/windowing/replay.py): sources read in any order within grace, interleaved with
delivery to several operator partitions, give the sessions, counts and top pages of the
events sorted; duplicates change nothing; events late beyond grace are reported and change
nothing written."""

from __future__ import annotations

import json
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from tables.windowing.sessions import PAGE_VIEW, SessionRules
from tables.windowing.topk import top_k
from tables.windowing.tumbling import WindowSpec
from tables.windowing.units import MICROS_PER_MINUTE, seconds
from tests.tables.windowing.replay import (
    PAGE_MINUTES,
    Event,
    replay,
    session_fields,
    true_sessions,
    true_top_pages,
    true_type_tallies,
)

GRACE = seconds(120)
RULES = SessionRules(gap=seconds(300), max_pages=3, max_client_sessions=2, max_list_chars=9, recent_closed=2)
SPECS = [WindowSpec.tumbling(MICROS_PER_MINUTE), WindowSpec.hopping(3 * MICROS_PER_MINUTE, MICROS_PER_MINUTE)]
USERS = ["ann", "bob", "cat", "dan"]
PAGES = ["/a", "/ab", "/ba", "/cart", "/home"]
HORIZON_S = 40 * 60


@dataclass(frozen=True)
class History:
    events: list[Event]  # distinct ids
    sources: list[list[Event]]  # arrival order per source partition, copies included
    operators: int
    schedule: list[int]
    spec: WindowSpec


@st.composite
def events(draw: st.DrawFn, count: int, prefix: str = "e") -> list[Event]:
    found = []
    for index in range(count):
        event_type = draw(st.sampled_from([PAGE_VIEW, PAGE_VIEW, "click"]))
        found.append(
            Event(
                event_id=f"{prefix}{index}",
                # whole seconds plus a few sub-second instants, so ties happen
                time=draw(st.integers(0, HORIZON_S)) * 1_000_000 + draw(st.sampled_from([0, 0, 1, 999_999])),
                user=draw(st.sampled_from(USERS)),
                event_type=event_type,
                page_url=draw(st.sampled_from(PAGES)) if event_type == PAGE_VIEW else None,
                client_session_id=draw(st.sampled_from(["c1", "c2", "c3", None])),
            )
        )
    return found


@st.composite
def histories(draw: st.DrawFn) -> History:
    """Events, their copies, each in a source partition, arriving out of order within grace."""
    originals = draw(events(draw(st.integers(1, 30))))
    copies = [e for e in originals if draw(st.integers(0, 4)) == 0]
    source_count = draw(st.integers(1, 3))
    sources: list[list[tuple[int, int, Event]]] = [[] for _ in range(source_count)]
    for order, event in enumerate([*originals, *copies]):
        jitter = draw(st.integers(0, GRACE - 1))  # arrival key time + jitter: never beyond grace
        sources[draw(st.integers(0, source_count - 1))].append((event.time + jitter, order, event))
    return History(
        events=originals,
        sources=[[event for _, _, event in sorted(source)] for source in sources],
        operators=draw(st.integers(1, 3)),
        schedule=draw(st.lists(st.integers(0, 1_000), max_size=150)),
        spec=draw(st.sampled_from(SPECS)),
    )


@settings(max_examples=120, deadline=None)
@given(histories(), st.integers(0, HORIZON_S // 60), st.integers(0, 10), st.integers(1, 6))
def test_any_order_within_grace_gives_the_sorted_results(
    history: History, from_minute: int, minutes: int, k: int
) -> None:
    outcome = replay(history.sources, history.schedule, history.operators, RULES, history.spec, GRACE)

    assert outcome.late() == []
    assert outcome.sessions() == true_sessions(history.events, RULES)
    # Written (closed): exactly the sessions the final watermark passed; the rest are open.
    watermark = outcome.watermark()
    assert watermark is not None  # every source went idle at the end
    closed = {(user, json.dumps(s.fields(), sort_keys=True)) for user, s in outcome.closed_sessions()}
    assert closed == {
        (user, fields)
        for user, fields in true_sessions(history.events, RULES)
        if json.loads(fields)["session_end"] + RULES.gap <= watermark
    }
    assert outcome.type_tallies() == true_type_tallies(history.events, history.spec)
    start, end = from_minute * MICROS_PER_MINUTE, (from_minute + minutes) * MICROS_PER_MINUTE
    pages = outcome.page_counts(PAGE_MINUTES.starts_within(start, end))
    assert top_k(pages, k) == true_top_pages(history.events, start, end, k)


@st.composite
def histories_with_late(draw: st.DrawFn) -> tuple[History, list[Event]]:
    """A history with events far older than every other, inserted anywhere in a source."""
    history = draw(histories())
    late = draw(events(draw(st.integers(1, 5)), prefix="late"))
    late = [Event(e.event_id, e.time - HORIZON_S * 1_000_000 - GRACE - 1, e.user, e.event_type, e.page_url) for e in late]
    sources = [list(source) for source in history.sources]
    for event in late:
        source = sources[draw(st.integers(0, len(sources) - 1))]
        source.insert(draw(st.integers(0, len(source))), event)
    return History(history.events, sources, history.operators, history.schedule, history.spec), late


@settings(max_examples=60, deadline=None)
@given(histories_with_late())
def test_events_late_beyond_grace_are_reported_and_change_nothing(case: tuple[History, list[Event]]) -> None:
    history, late = case
    outcome = replay(history.sources, history.schedule, history.operators, RULES, history.spec, GRACE)

    reported = {e.event_id for e in outcome.late()}
    assert reported <= {e.event_id for e in late}
    # Those that came before the watermark existed were on time: they count like any other.
    applied = [*history.events, *(e for e in late if e.event_id not in reported)]
    assert outcome.sessions() == true_sessions(applied, RULES)
    assert outcome.type_tallies() == true_type_tallies(applied, history.spec)


def test_a_late_event_once_every_input_has_a_watermark_is_reported() -> None:
    on_time = [Event("e1", seconds(1000), "ann", PAGE_VIEW, "/a"), Event("e2", seconds(2000), "ann", PAGE_VIEW, "/b")]
    late = Event("old", seconds(10), "ann", PAGE_VIEW, "/z")
    outcome = replay([[*on_time, late]], [], 1, RULES, SPECS[0], GRACE)

    assert outcome.late() == [late]
    assert outcome.sessions() == true_sessions(on_time, RULES)
    assert {page for page, _ in top_k(outcome.page_counts(range(0, seconds(3000), MICROS_PER_MINUTE)), 10)} == {
        "/a",
        "/b",
    }


def test_duplicates_in_two_source_partitions_count_once() -> None:
    first = Event("e1", seconds(100), "ann", PAGE_VIEW, "/a", "c1")
    second = Event("e2", seconds(160), "ann", "click", None, "c1")
    outcome = replay([[first, second], [first, second, first]], [0, 1] * 10, 2, RULES, SPECS[0], GRACE)

    assert outcome.late() == []
    assert outcome.sessions() == {("ann", json.dumps(session_fields([first, second], RULES), sort_keys=True))}
    assert outcome.type_tallies() == true_type_tallies([first, second], SPECS[0])
