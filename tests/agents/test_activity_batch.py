"""agents.activity's batch under Faust's test_context, a memory store and a real PostgreSQL:
what a failed database write leaves behind for its retry (sessions, and the errors-by-page
join's results)."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
import pytest
from faust.types import EventT
from faust.types.tuples import Message

GAP_S = 1800
T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds


def activity(user: str, event_id: str, seconds: int, page: str) -> bytes:
    moment = (T0 + seconds * 1_000_000) // 1_000_000
    return orjson.dumps(
        {
            "event_id": event_id,
            "event_type": "page_view",
            "timestamp": f"2026-01-01T{moment // 3600 % 24:02d}:{moment // 60 % 60:02d}:{moment % 60:02d}Z",
            "user_id": user,
            "page_url": page,
        }
    )


def batch(app: Any, topic: str, partition: int, user: str, values: list[bytes], markers: list[bytes]) -> list[EventT]:
    """``values`` keyed by ``user``, then ``markers`` (no key), on one internal partition."""
    events = []
    for offset, (key, value) in enumerate([*((user.encode(), v) for v in values), *((None, m) for m in markers)]):
        message = Message(topic, partition, offset, 0.0, 0, [], key, value, None)
        events.append(app.create_event(key, value, [], message))
    return events


async def session_rows(url: str, user: str) -> list[tuple[int, int]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT events, page_views FROM user_sessions WHERE user_id = $1", user)
    finally:
        await conn.close()
    return [(r["events"], r["page_views"]) for r in rows]


async def test_a_failed_write_closes_nothing_its_retry_writes_the_closed_session(
    app: Any, agent_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retry of a batch whose database write failed finds the values as they were
    before it: the session its watermark closed is written then, not lost."""
    import agents.activity as activity_agent
    from app.main import settings
    from app.topics import user_activity_by_user
    from runtime.partitioner import partition_of
    from tables.windowing.watermark import Marker, input_name

    user = "retry-user"
    partition = partition_of(user.encode(), settings.topic_partitions)
    closing = T0 + (GAP_S + 3600) * 1_000_000  # past the session's end plus the gap
    markers = [
        orjson.dumps(Marker(input_name(settings.activity_topic, p), closing).to_record())
        for p in range(settings.topic_partitions)
    ]
    events = batch(
        app,
        user_activity_by_user.get_topic_name(),
        partition,
        user,
        [activity(user, "e1", 0, "/home"), activity(user, "e2", 20, "/pricing")],
        markers,
    )

    original = activity_agent.upsert_user_sessions
    failures = []

    async def refused(conn: asyncpg.Connection, rows: Any) -> None:
        failures.append(len(rows))
        raise asyncpg.exceptions.CheckViolationError("the write fails once")

    monkeypatch.setattr(activity_agent, "upsert_user_sessions", refused)
    with pytest.raises(asyncpg.exceptions.CheckViolationError):
        await activity_agent.handle_activity_batch(events)
    assert failures == [1] and await session_rows(agent_database, user) == []

    monkeypatch.setattr(activity_agent, "upsert_user_sessions", original)
    await activity_agent.handle_activity_batch(events)  # the retry, as the agent loop does it
    assert await session_rows(agent_database, user) == [(2, 2)]


async def error_rows(url: str, user: str) -> list[tuple[str, str | None]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT error_id, page_url FROM activity_error_pages WHERE user_id = $1", user)
    finally:
        await conn.close()
    return [(r["error_id"], r["page_url"]) for r in rows]


async def test_a_failed_write_loses_no_joined_error_its_retry_writes_it(
    app: Any, agent_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The errors-by-page join stores its values after the rows too: the retry of a batch
    whose write failed finds the error still pending, not already made final, and writes
    its row."""
    import agents.activity as activity_agent
    from agents.activity_join import ERROR_HEADER
    from agents.activity_source import source_header
    from app.main import settings
    from app.topics import user_activity_by_user
    from runtime.partitioner import partition_of
    from tables.windowing.watermark import Marker, input_name

    user = "join-retry-user"
    topic = user_activity_by_user.get_topic_name()
    partition = partition_of(user.encode(), settings.topic_partitions)
    closing = T0 + 3600 * 1_000_000
    inputs = [
        input_name(name, p)
        for name in (settings.activity_topic, settings.ingest_topic)
        for p in range(settings.topic_partitions)
    ]
    error = orjson.dumps({"id": "x1", "payload": {"event_type": "error", "source": "web", "user_id": user}})
    values: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = [
        (user.encode(), activity(user, "v1", 0, "/checkout"), []),
        (
            user.encode(),
            error,
            [(ERROR_HEADER, orjson.dumps(["x1", T0 + 30 * 1_000_000, user])), source_header(2, 7)],
        ),
        *((None, orjson.dumps(Marker(name, closing).to_record()), []) for name in inputs),
    ]
    events = []
    for offset, (key, value, headers) in enumerate(values):
        message = Message(topic, partition, offset, 0.0, 0, headers, key, value, None)
        events.append(app.create_event(key, value, headers, message))

    original = activity_agent.upsert_error_pages

    async def refused(conn: asyncpg.Connection, rows: Any) -> None:
        raise asyncpg.exceptions.CheckViolationError("the write fails once")

    monkeypatch.setattr(activity_agent, "upsert_error_pages", refused)
    with pytest.raises(asyncpg.exceptions.CheckViolationError):
        await activity_agent.handle_activity_batch(events)
    assert await error_rows(agent_database, user) == []

    monkeypatch.setattr(activity_agent, "upsert_error_pages", original)
    await activity_agent.handle_activity_batch(events)
    assert await error_rows(agent_database, user) == [("x1", "/checkout")]


async def test_only_users_whose_value_changed_are_written_back(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user read and left as it was (a visit of a stale session-index entry that closes
    and prunes nothing) is not written again: no encode, put or changelog record for it."""
    from agents.activity_partition import RULES, PartitionWork
    from app.topics import user_activity_by_user
    from runtime.coalesced import CoalescedTable
    from tables.activity import activity_users
    from tables.activity_state import ActivityChange, apply_change

    anchor = batch(app, user_activity_by_user.get_topic_name(), 0, "busy", [b"{}"], [])[0]
    work = PartitionWork.load(anchor)
    quiet = work.user("quiet")
    before = work.user("busy")
    _, after, closed, _ = apply_change(before, ActivityChange("e1", T0, "page_view", "busy", "/home"), None, RULES)
    work.put_user("busy", before, after, closed)
    work.put_user("quiet", quiet, quiet, ())
    written: list[tuple[str, Any]] = []
    original = CoalescedTable.__setitem__

    def spy(table: CoalescedTable, key: Any, value: Any) -> None:
        written.append((table.name, key))
        original(table, key, value)

    monkeypatch.setattr(CoalescedTable, "__setitem__", spy)
    work.store()
    assert [key for name, key in written if name == activity_users.name] == ["busy"]
