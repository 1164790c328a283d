from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tables.windowing.sessions import PAGE_VIEW, PageVisit, Session, SessionEvent, SessionRules, UserSessions
from tables.windowing.units import seconds

GAP = seconds(1800)
RULES = SessionRules(gap=GAP, max_pages=3, max_client_sessions=2, recent_closed=2)


def view(ident: str, time_s: float, page: str = "/home", client: str | None = "c1") -> SessionEvent:
    return SessionEvent(ident, seconds(time_s), PAGE_VIEW, page, client)


def click(ident: str, time_s: float, client: str | None = "c1") -> SessionEvent:
    return SessionEvent(ident, seconds(time_s), "click", None, client)


def fold(events: list[SessionEvent], rules: SessionRules = RULES) -> UserSessions:
    state = UserSessions()
    for event in events:
        state = state.add(event, rules)
    return state


def spans(state: UserSessions) -> list[tuple[float, float, int]]:
    return [(s.start / 1e6, s.end / 1e6, s.events) for s in state.open]


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        pytest.param([0, 1799], [(0, 1799, 2)], id="just-under-gap-joins"),
        pytest.param([0, 1800], [(0, 0, 1), (1800, 1800, 1)], id="exactly-gap-splits"),
        pytest.param([0, 1000, 2000, 3000], [(0, 3000, 4)], id="chain-of-short-gaps"),
        pytest.param([0, 3000, 1500], [(0, 3000, 3)], id="late-event-bridges-two-sessions"),
        pytest.param([0, 3600, 1800], [(0, 0, 1), (1800, 1800, 1), (3600, 3600, 1)], id="no-bridge-at-gap"),
        pytest.param([3000, 1201], [(1201, 3000, 2)], id="earlier-event-extends-start"),
        pytest.param([3000, 1200], [(1200, 1200, 1), (3000, 3000, 1)], id="earlier-event-at-gap-is-new"),
        pytest.param([0, 3000, 6000, 1500, 4500], [(0, 6000, 5)], id="two-bridges-merge-three"),
        pytest.param([500, 500], [(500, 500, 2)], id="same-instant"),
    ],
)
def test_sessions_merge_and_split(times: list[float], expected: list[tuple[float, float, int]]) -> None:
    state = fold([click(f"e{i}", t) for i, t in enumerate(times)])
    assert spans(state) == expected


def test_session_fields_follow_page_views_by_event_time() -> None:
    state = fold(
        [
            view("e3", 300, "/exit", "c2"),
            click("e2", 200),
            view("e1", 100, "/entry"),
            view("e4", 250, "/entry", "c1"),
            SessionEvent("e5", seconds(260), PAGE_VIEW, None, None),  # a page view without a URL
        ]
    )
    (session,) = state.open
    assert session.fields() == {
        "session_start": seconds(100),
        "session_end": seconds(300),
        "duration_s": 200.0,
        "events": 5,
        "page_views": 4,
        "pages": ["/entry", "/exit"],
        "pages_truncated": False,
        "entry_page": "/entry",
        "exit_page": "/exit",
        "bounce": False,
        "client_session_ids": ["c1", "c2"],
        "client_sessions_truncated": False,
    }


def test_entry_and_exit_at_the_same_instant_are_ordered_by_event_id() -> None:
    (session,) = fold([view("b", 10, "/b"), view("a", 10, "/a"), view("c", 10, "/c")]).open
    assert (session.entry_page, session.exit_page) == ("/a", "/c")
    assert session.entry == PageVisit(seconds(10), "a", "/a")


def test_a_single_event_is_a_bounce_without_pages_when_not_a_view() -> None:
    (session,) = fold([click("e1", 10, client=None)]).open
    assert session.bounce and session.duration_s == 0.0
    assert (session.pages, session.entry_page, session.exit_page, session.client_session_ids) == ((), None, None, ())


def test_pages_keep_the_first_distinct_up_to_the_cap_and_say_so() -> None:
    events = [view(f"e{i}", i, page) for i, page in enumerate(["/d", "/a", "/d", "/c", "/b", "/e"])]
    (session,) = fold(events).open
    assert session.pages == ("/d", "/a", "/c")
    assert session.pages_truncated
    assert session.page_views == 6
    (exact,) = fold(events[:4]).open
    assert exact.pages == ("/d", "/a", "/c") and not exact.pages_truncated


def test_pages_keep_the_first_distinct_within_the_character_budget() -> None:
    rules = SessionRules(gap=GAP, max_pages=10, max_list_chars=10)
    (session,) = fold([view("e1", 1, "/1234"), view("e2", 2, "/1234567"), view("e3", 3, "/12")], rules).open
    assert session.pages == ("/1234",) and session.pages_truncated
    (long_url,) = fold([view("e1", 1, "/" + "x" * 10)], rules).open
    assert long_url.pages == () and long_url.pages_truncated
    assert long_url.entry_page == "/" + "x" * 10


def test_client_session_ids_keep_the_first_distinct_up_to_the_cap() -> None:
    (session,) = fold([click("e1", 3, "z"), click("e2", 1, "y"), click("e3", 2, "x"), click("e4", 0, "y")]).open
    assert session.client_session_ids == ("y", "x")
    assert session.client_sessions_truncated


@pytest.mark.parametrize(
    ("watermark_s", "closed"),
    [
        pytest.param(None, 0, id="no-watermark"),
        pytest.param(1900 - 0.000001, 0, id="just-before-end-plus-gap"),
        pytest.param(1900, 1, id="at-end-plus-gap"),
        pytest.param(10_000, 2, id="past-both"),
    ],
)
def test_a_session_closes_when_the_watermark_reaches_its_end_plus_gap(watermark_s: float | None, closed: int) -> None:
    state = fold([click("e1", 0), click("e2", 100), click("e3", 5000)])
    watermark = None if watermark_s is None else seconds(watermark_s)
    ended, remaining = state.close(watermark, RULES)
    assert len(ended) == closed
    assert len(remaining.open) == 2 - closed
    assert [s.start for s in ended] == sorted(s.start for s in ended)


def test_closed_sessions_are_kept_newest_first_up_to_the_limit() -> None:
    state = fold([click(f"e{i}", i * 10_000) for i in range(4)])
    _, state = state.close(seconds(15_000), RULES)
    assert [s.start for s in state.recent_sessions()] == [seconds(10_000), 0]
    _, state = state.close(seconds(100_000), RULES)
    assert [s.start for s in state.recent_sessions()] == [seconds(30_000), seconds(20_000)]
    assert state.open == () and state.current is None


def test_closed_sessions_read_back_from_storage_are_the_sessions_that_closed() -> None:
    events = [click("a", 0), view("b", 10_000, "/b"), view("c", 10_060, "/c", "c2"), view("d", 20_000, "/d")]
    state = fold(events)
    closed, state = state.close(seconds(100_000), RULES)
    stored = UserSessions.from_record(json.loads(json.dumps(state.to_record())))
    assert stored.recent_sessions() == state.recent_sessions() == tuple(reversed(closed))[: RULES.recent_closed]
    newest, oldest = stored.recent_sessions()
    assert (newest.start, newest.entry_page) == (seconds(20_000), "/d")
    assert (oldest.pages, oldest.client_session_ids) == (("/b", "/c"), ("c1", "c2"))


def test_next_close_and_current_session() -> None:
    state = fold([click("e1", 0), click("e2", 5000)])
    assert state.next_close(RULES) == GAP
    assert state.current is not None and state.current.start == seconds(5000)
    assert UserSessions().next_close(RULES) is None


def test_user_sessions_record_round_trips() -> None:
    state = fold([view("e1", 0, "/a"), click("e2", 10, None), view("e3", 9000, "/b", "c9")])
    _, state = state.close(seconds(5000), RULES)
    assert UserSessions.from_record(json.loads(json.dumps(state.to_record()))) == state


def test_rules_reject_a_gap_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="session gap of 0"):
        SessionRules(gap=0)


@st.composite
def user_events(draw: st.DrawFn) -> list[SessionEvent]:
    count = draw(st.integers(1, 12))
    return [
        SessionEvent(
            f"e{i}",
            draw(st.integers(0, 4 * 3600)) * 1_000_000,
            draw(st.sampled_from([PAGE_VIEW, "click"])),
            draw(st.sampled_from(["/a", "/b", "/c", "/d", "/e"])),
            draw(st.sampled_from(["c1", "c2", "c3", None])),
        )
        for i in range(count)
    ]


@settings(max_examples=200, deadline=None)
@given(user_events(), st.randoms(use_true_random=False))
def test_any_order_gives_the_sessions_of_the_sorted_events(events: list[SessionEvent], random: object) -> None:
    shuffled = list(events)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    in_order = fold(sorted(events, key=lambda e: e.time))
    assert [s.fields() for s in fold(shuffled).open] == [s.fields() for s in in_order.open]


def test_merge_is_commutative_and_associative_on_three_sessions() -> None:
    events = [view("a", 0, "/x", "c1"), view("b", 5, "/y", "c2"), click("c", 9, "c3")]
    sessions = [Session.of(event, RULES) for event in events]
    results = {
        json.dumps(a.merge(b, RULES).merge(c, RULES).to_record()) for a, b, c in itertools.permutations(sessions)
    }
    assert len(results) == 1


@settings(max_examples=200, deadline=None)
@given(user_events(), st.integers(0, 5 * 3600))
def test_close_and_next_close_rely_on_ends_ascending_as_a_filter_would_find(
    events: list[SessionEvent], watermark_s: int
) -> None:
    """``close`` takes a prefix and ``next_close`` the first session: the same as looking at
    every open session, because the open sessions' ends ascend whatever the events' order."""
    state = fold(events)
    assert [s.end for s in state.open] == sorted(s.end for s in state.open)
    watermark = seconds(watermark_s)
    closed, rest = state.close(watermark, RULES)
    assert closed == tuple(s for s in state.open if s.close_time(GAP) <= watermark)
    assert rest.open == tuple(s for s in state.open if s.close_time(GAP) > watermark)
    assert state.next_close(RULES) == min((s.close_time(GAP) for s in state.open), default=None)


@settings(max_examples=200, deadline=None)
@given(user_events(), st.integers(0, 11), st.sampled_from(["", "c1", "c4", None]))
def test_a_session_with_one_more_event_is_the_merge_with_its_own_session(
    events: list[SessionEvent], at: int, client: str | None
) -> None:
    """``with_event`` (the quick path of ``add``) equals ``Session.of(event).merge(session)``."""
    tight = SessionRules(gap=GAP, max_pages=2, max_client_sessions=1, max_list_chars=4)
    (session, *_) = fold(events, tight).open
    base = events[at % len(events)]
    event = SessionEvent("new", base.time + 1, base.event_type, base.page_url, client)
    assert session.with_event(event, tight) == Session.of(event, tight).merge(session, tight)
