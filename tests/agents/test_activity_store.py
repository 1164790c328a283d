"""The activity rows on a real PostgreSQL: sessions from the windowing module's fields come
back as written, every upsert is idempotent (an unchanged row is not rewritten), a minute's
partials add up across partitions and a replayed partial replaces instead of adding, and the
top pages sum partitions and minutes over [start, end), ties by URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from stores.activity import (
    ActivityMinuteRow,
    ActivityPageMinuteRow,
    read_top_pages,
    read_user_sessions,
    upsert_activity_minutes,
    upsert_activity_page_minutes,
    upsert_user_sessions,
    user_session_row,
)
from tables.instants import to_micros
from tables.windowing.sessions import SessionEvent, SessionRules, UserSessions
from tables.windowing.units import seconds

USER = "activity-store-user"
# Far from other tests' rows: the minute tables are read by time range.
T0 = datetime(2031, 3, 4, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
async def conn(agent_database: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(agent_database)

    async def clean() -> None:
        await connection.execute("DELETE FROM user_sessions WHERE user_id LIKE 'activity-store-%'")
        for table in ("activity_minutes", "activity_page_minutes"):
            await connection.execute(
                f"DELETE FROM {table} WHERE bucket >= $1 AND bucket < $2",
                T0 - timedelta(days=1),
                T0 + timedelta(days=1),
            )

    await clean()
    try:
        yield connection
    finally:
        await clean()
        await connection.close()


def sessions_of(events: list[SessionEvent]) -> list[dict[str, object]]:
    """The closed sessions' fields of ``events``, as the operator would write them."""
    rules = SessionRules(gap=seconds(1800), max_pages=3)
    state = UserSessions()
    for event in events:
        state = state.add(event, rules)
    closed, _ = state.close(to_micros(T0) + seconds(100_000), rules)
    return [s.fields() for s in closed]


def at(minutes: float) -> int:
    return to_micros(T0) + round(minutes * 60_000_000)


async def updated_at(conn: asyncpg.Connection) -> list[datetime]:
    return [
        r[0]
        for r in await conn.fetch("SELECT updated_at FROM user_sessions WHERE user_id = $1 ORDER BY 1", USER)
    ]


async def test_sessions_come_back_as_written_and_a_rewrite_changes_nothing(conn: asyncpg.Connection) -> None:
    odd_url = "/a\x1fb"  # the typed-array path's separator: the JSON path keeps it verbatim
    fields = sessions_of(
        [
            SessionEvent("e1", at(0) + 123_456, "page_view", "/home", "c-1"),
            SessionEvent("e2", at(5), "click", None, "c-2"),
            SessionEvent("e3", at(10), "page_view", odd_url, "c-1"),
            SessionEvent("e4", at(11), "page_view", "", None),
            SessionEvent("e5", at(12), "page_view", "/more", None),  # beyond max_pages=3
            SessionEvent("e6", at(200), "error", None, None),  # a second session: a bounce
        ]
    )
    rows = [user_session_row(USER, f) for f in fields]
    first, second = rows
    assert first.session_start == T0 + timedelta(microseconds=123_456)
    assert first.session_start.tzinfo is not None
    assert (first.events, first.page_views, first.bounce) == (5, 4, False)
    assert first.pages == ("/home", odd_url, "") and first.pages_truncated
    assert (first.entry_page, first.exit_page) == ("/home", "/more")
    assert first.client_session_ids == ("c-1", "c-2")
    assert second.bounce and second.pages == () and second.entry_page is None

    await upsert_user_sessions(conn, rows)
    assert await read_user_sessions(conn, USER, 10) == [second, first]  # newest first
    assert await read_user_sessions(conn, USER, 1) == [second]
    assert await read_user_sessions(conn, "activity-store-nobody", 10) == []

    written = await updated_at(conn)
    await upsert_user_sessions(conn, rows)  # a replay: same values, rows untouched
    assert await updated_at(conn) == written
    await upsert_user_sessions(conn, [])
    assert await read_user_sessions(conn, USER, 10) == [second, first]


async def test_minute_partials_add_up_over_partitions_and_a_replay_replaces_its_own(
    conn: asyncpg.Connection,
) -> None:
    partials = [
        ActivityMinuteRow(bucket=T0, event_type="page_view", partition=0, events=5, users=2),
        ActivityMinuteRow(bucket=T0, event_type="page_view", partition=3, events=4, users=3),
        ActivityMinuteRow(bucket=T0, event_type="click", partition=0, events=1, users=1),
    ]
    await upsert_activity_minutes(conn, partials)
    await upsert_activity_minutes(conn, partials)  # a replay of the same partials adds nothing
    total = "SELECT event_type, events, users FROM activity_minutes_total WHERE bucket = $1 ORDER BY 1"
    assert [tuple(r) for r in await conn.fetch(total, T0)] == [("click", 1, 1), ("page_view", 9, 5)]

    xmins = "SELECT xmin::text FROM activity_minutes WHERE bucket = $1 ORDER BY event_type, partition"
    before = [r[0] for r in await conn.fetch(xmins, T0)]
    await upsert_activity_minutes(conn, partials[:1])
    assert [r[0] for r in await conn.fetch(xmins, T0)] == before  # unchanged rows are not rewritten

    corrected = ActivityMinuteRow(bucket=T0, event_type="page_view", partition=3, events=6, users=3)
    await upsert_activity_minutes(conn, [corrected])
    assert [tuple(r) for r in await conn.fetch(total, T0)] == [("click", 1, 1), ("page_view", 11, 5)]


async def test_top_pages_sum_partitions_and_minutes_within_start_end(conn: asyncpg.Connection) -> None:
    def views(minute: int, url: str, partition: int, count: int) -> ActivityPageMinuteRow:
        return ActivityPageMinuteRow(
            bucket=T0 + minute * MINUTE, page_url=url, partition=partition, views=count
        )

    rows = [
        views(-1, "/before", 0, 100),  # before start: left out
        views(0, "/b", 0, 2),
        views(0, "/b", 1, 1),
        views(1, "/a", 2, 3),  # ties /b at 3: URL order
        views(1, "/B", 0, 3),  # upper case sorts first in code points (a collation might not)
        views(1, "/c", 0, 4),
        views(2, "/zero", 0, 0),  # no views: never listed
        views(3, "/at-end", 0, 50),  # at end: left out
    ]
    await upsert_activity_page_minutes(conn, rows)
    await upsert_activity_page_minutes(conn, rows)
    assert await read_top_pages(conn, T0, T0 + 3 * MINUTE, 10) == [("/c", 4), ("/B", 3), ("/a", 3), ("/b", 3)]
    assert await read_top_pages(conn, T0, T0 + 3 * MINUTE, 2) == [("/c", 4), ("/B", 3)]
    assert await read_top_pages(conn, T0, T0 + MINUTE, 10) == [("/b", 3)]
    assert await read_top_pages(conn, T0 - MINUTE, T0 + 4 * MINUTE, 1) == [("/before", 100)]
    assert await read_top_pages(conn, T0 + 10 * MINUTE, T0 + 20 * MINUTE, 5) == []

    total = "SELECT views FROM activity_page_minutes_total WHERE bucket = $1 AND page_url = '/b'"
    assert await conn.fetchval(total, T0) == 3
