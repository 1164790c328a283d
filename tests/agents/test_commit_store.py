"""Commit rows written by CommitStore on a real PostgreSQL: what goes in comes back
verbatim, whichever of the two statements carried it, and a batch's single statement
writes all of it or nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from stores.columns import json_rows
from stores.commits import COMMIT_COLUMNS, CommitRow, CommitStore, daily_stats_row
from tables.commit_state import DailyTotals

REPO = "sink-repo"


def row(sha: str, message: str | None, **numbers: int | None) -> CommitRow:
    return CommitRow(
        repository_id=REPO,
        sha=sha,
        committed_at=datetime(2025, 10, 1, 12, 0, 0, 123456, tzinfo=UTC) + timedelta(microseconds=len(sha)),
        author_email="dev@example.com",
        message=message,
        files_changed=numbers.get("files_changed", 3),
        additions=numbers.get("additions", 2**31 - 1),
        deletions=numbers.get("deletions", 0),
        pull_request_number=numbers.get("pull_request_number"),
        source="github",
    )


async def stored(conn: asyncpg.Connection) -> list[CommitRow]:
    records = await conn.fetch(f"{COMMIT_COLUMNS.select()} WHERE repository_id = $1 ORDER BY sha", REPO)
    return [COMMIT_COLUMNS.row_of(record) for record in records]


TRICKY = [
    "'; DROP TABLE commits; --",
    'quotes " and \\ backslashes, a tab\t and a newline\n',
    "unicode: žluťoučký kůň 🐎 \u2028 \ufffd",
    None,
    "",
]


@pytest.mark.parametrize(
    ("messages", "as_json"),
    [
        pytest.param(TRICKY, True, id="json"),
        # Text that only looks like a NUL once in JSON: written through the arrays.
        pytest.param([*TRICKY, "a literal \\u0000 is text, not a NUL"], False, id="arrays"),
    ],
)
async def test_rows_come_back_verbatim(agent_database: str, messages: list[str | None], as_json: bool) -> None:
    rows = [row(f"sha-{i:02d}", message, pull_request_number=i or None) for i, message in enumerate(messages)]
    assert (json_rows(rows) is not None) == as_json
    conn = await asyncpg.connect(agent_database)
    try:
        await conn.execute("DELETE FROM commits WHERE repository_id = $1", REPO)
        sink = CommitStore()
        await sink.upsert_commits(conn, rows)
        assert await stored(conn) == rows
        # Idempotent, and a changed row is rewritten.
        await sink.upsert_commits(conn, rows)
        changed = [row("sha-00", "amended", additions=7)]
        await sink.upsert_commits(conn, changed)
        assert await stored(conn) == changed + rows[1:]
    finally:
        await conn.close()


def test_json_is_not_used_for_what_it_cannot_carry() -> None:
    assert json_rows([row("a", "fine")]) is not None
    assert json_rows([row("a", "nul \x00 inside")]) is None  # PostgreSQL's JSON refuses \u0000 as text
    assert json_rows([row("a", "lone \ud800 surrogate")]) is None  # not UTF-8


async def daily_of(conn: asyncpg.Connection) -> dict[date, tuple[int, int | None, int | None]]:
    records = await conn.fetch(
        "SELECT day, commit_count, total_additions, total_deletions FROM commits_daily_stats WHERE repository_id = $1",
        REPO,
    )
    return {r["day"].astimezone(UTC).date(): tuple(r.values())[1:] for r in records}


async def test_a_batch_is_written_by_one_statement_or_not_at_all(agent_database: str) -> None:
    """upsert_batch: rows, daily totals and an emptied day in one round trip, atomically
    (what lets Database.statement skip BEGIN and COMMIT)."""
    first, emptied = date(2025, 10, 1), date(2025, 10, 2)
    rows = [row("sha-a", "one", additions=5, deletions=1), row("sha-b", "two", additions=7, deletions=2)]
    daily = [
        daily_stats_row(REPO, first, DailyTotals(2, 12, 3)),
        daily_stats_row(REPO, emptied, DailyTotals(0, None, None)),  # its last commit moved away
    ]
    conn = await asyncpg.connect(agent_database)
    try:
        await conn.execute("DELETE FROM commits WHERE repository_id = $1", REPO)
        await conn.execute("DELETE FROM commits_daily_stats WHERE repository_id = $1", REPO)
        await conn.execute(
            "INSERT INTO commits_daily_stats VALUES ($1, $2, 1, 1, 1), ($1, $3, 1, 1, 1)",
            REPO,
            datetime(2025, 10, 1, tzinfo=UTC),
            datetime(2025, 10, 2, tzinfo=UTC),
        )
        sink = CommitStore()
        await sink.upsert_batch(conn, [], [])  # learns the daily relation's kind

        # A value refused in either part fails the whole statement: nothing lands.
        with pytest.raises(asyncpg.NumericValueOutOfRangeError):
            await sink.upsert_batch(conn, [*rows, row("sha-c", "too big", additions=2**31)], daily)
        refused_day = daily_stats_row(REPO, date(2025, 10, 3), DailyTotals(2**63, 1, 1))  # over bigint
        with pytest.raises(asyncpg.NumericValueOutOfRangeError):
            await sink.upsert_batch(conn, rows, [*daily, refused_day])
        assert await stored(conn) == []
        assert await daily_of(conn) == {first: (1, 1, 1), emptied: (1, 1, 1)}

        sent = conn._protocol.queries_count  # type: ignore[attr-defined]
        assert await sink.upsert_batch(conn, rows, daily)
        assert conn._protocol.queries_count == sent + 1  # type: ignore[attr-defined]
        assert await stored(conn) == rows
        assert await daily_of(conn) == {first: (2, 12, 3)}

        # Rows JSON cannot carry are left to the caller's transaction, nothing written.
        sent = conn._protocol.queries_count  # type: ignore[attr-defined]
        assert not await sink.upsert_batch(conn, [row("sha-n", "nul \x00")], daily)
        assert not await sink.upsert_batch(conn, rows, [daily_stats_row("nul \x00", first, DailyTotals(1, 1, 1))])
        assert conn._protocol.queries_count == sent  # type: ignore[attr-defined]
        assert await stored(conn) == rows
    finally:
        await conn.close()


async def test_where_the_daily_stats_are_a_view_only_the_rows_are_written(agent_database: str) -> None:
    """On TimescaleDB commits_daily_stats is a continuous aggregate the database maintains
    from `commits`: upsert_batch writes the rows alone (a plain view stands in for it)."""
    setup = await asyncpg.connect(agent_database)
    try:
        await setup.execute("DROP SCHEMA IF EXISTS sink_aggregate CASCADE; CREATE SCHEMA sink_aggregate")
        await setup.execute("CREATE TABLE sink_aggregate.commits (LIKE public.commits INCLUDING ALL)")
        await setup.execute(
            "CREATE VIEW sink_aggregate.commits_daily_stats AS SELECT repository_id, "
            "date_trunc('day', committed_at, 'UTC') AS day, count(*) AS commit_count, "
            "sum(additions) AS total_additions, sum(deletions) AS total_deletions "
            "FROM sink_aggregate.commits GROUP BY 1, 2"
        )
        conn = await asyncpg.connect(agent_database, server_settings={"search_path": "sink_aggregate"})
        try:
            rows = [row("sha-a", "one", additions=5, deletions=1), row("sha-b", "two", additions=7, deletions=2)]
            daily = [daily_stats_row(REPO, date(2025, 10, 1), DailyTotals(2, 12, 3))]
            assert await CommitStore().upsert_batch(conn, rows, daily)
            assert await stored(conn) == rows
            assert await daily_of(conn) == {date(2025, 10, 1): (2, 12, 3)}
        finally:
            await conn.close()
    finally:
        await setup.execute("DROP SCHEMA IF EXISTS sink_aggregate CASCADE")
        await setup.close()
