"""`commits` and `commits_daily_stats` rows: their mapping by column name, their batched
upserts on natural keys (one transaction, or one statement, per batch) and their reads.

Every statement is idempotent: re-running a batch (after a crash, a replay or a retry)
leaves the database as it was. Rows go in through ``unnest`` of typed arrays, or commit
rows and day totals as JSON documents (one round trip per statement, bound parameters
only), and unchanged rows are not rewritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Annotated

import asyncpg

from models.commits import CommitMessage
from stores.columns import Columns, json_rows
from tables.commit_state import Commit, DailyTotals
from tables.instants import to_micros

__all__ = [
    "CommitRow",
    "DailyStatsRow",
    "COMMIT_COLUMNS",
    "DAILY_STATS_COLUMNS",
    "CommitStore",
    "commit_row",
    "daily_stats_row",
    "read_commits",
    "DayTotals",
    "count_days",
    "read_daily_stats",
]


# Not frozen: one is built per commit, and a frozen dataclass's __init__ costs ~8x (2.7 vs
# 0.3 µs for these ten fields). Treated as immutable all the same.
@dataclass(slots=True, kw_only=True)
class CommitRow:
    repository_id: str
    sha: str
    committed_at: datetime
    author_email: str | None
    message: str | None
    files_changed: int | None
    additions: int | None
    deletions: int | None
    pull_request_number: int | None
    source: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyStatsRow:
    repository_id: str
    day: datetime  # the UTC day's midnight
    commit_count: Annotated[int, "bigint"]
    total_additions: Annotated[int | None, "bigint"]
    total_deletions: Annotated[int | None, "bigint"]


COMMIT_COLUMNS = Columns("commits", CommitRow, key=("repository_id", "sha", "committed_at"))
DAILY_STATS_COLUMNS = Columns("commits_daily_stats", DailyStatsRow, key=("repository_id", "day"))


def commit_row(message: CommitMessage) -> CommitRow:
    data = message.data
    return CommitRow(
        repository_id=message.repository_id,
        sha=data.sha,
        committed_at=message.committed_at,
        author_email=data.author,
        message=data.message,
        files_changed=data.files_changed,
        additions=data.additions,
        deletions=data.deletions,
        pull_request_number=data.pull_request_number,
        source=message.source,
    )


def daily_stats_row(repository_id: str, day: date, totals: DailyTotals) -> DailyStatsRow:
    return DailyStatsRow(
        repository_id=repository_id,
        day=datetime.combine(day, time.min, tzinfo=UTC),
        commit_count=totals.commit_count,
        total_additions=totals.total_additions,
        total_deletions=totals.total_deletions,
    )


# The rows go in as one JSON document: asyncpg encodes typed arrays element by element,
# about 8 µs of the worker's CPU per row; orjson writes the whole batch in C and the
# statement costs the worker about 4 µs per row (the server, on another core, parses it).
_UPSERT_COMMITS_JSON = f"""{COMMIT_COLUMNS.insert()}
SELECT {COMMIT_COLUMNS.listed(prefix="r.")} FROM json_to_recordset($1::json) AS r({COMMIT_COLUMNS.recordset()})
{COMMIT_COLUMNS.on_conflict()}"""
# For a batch JSON cannot carry verbatim: the database's own text codec then decides.
_UPSERT_COMMITS_ARRAYS = COMMIT_COLUMNS.upsert()

_UPSERT_DAILY = DAILY_STATS_COLUMNS.upsert()
_DELETE_EMPTY_DAYS = """
DELETE FROM commits_daily_stats d
USING unnest($1::text[], $2::timestamptz[]) AS e(repository_id, day)
WHERE d.repository_id = e.repository_id AND d.day = e.day
"""

# A batch's commit rows ($1) and daily totals ($2, DailyStatsRow documents: the days left
# with no commit are deleted, the others upserted) in one statement: data-modifying CTEs
# all run, to completion, in the statement's one snapshot and transaction (PostgreSQL's
# WITH), so no BEGIN/COMMIT round trips are needed. They touch different rows: a batch has
# one daily row per (repository, day). JSON rather than typed arrays for the totals too:
# asyncpg's array encoding cost the worker about 5 µs per daily row.
_UPSERT_BATCH = f"""WITH written AS (
{_UPSERT_COMMITS_JSON}
), daily AS (
SELECT * FROM json_to_recordset($2::json) AS r({DAILY_STATS_COLUMNS.recordset()})
), emptied AS (
DELETE FROM commits_daily_stats d USING daily e
WHERE e.commit_count <= 0 AND d.repository_id = e.repository_id AND d.day = e.day
)
{DAILY_STATS_COLUMNS.insert()}
SELECT {DAILY_STATS_COLUMNS.listed(prefix="daily.")} FROM daily WHERE daily.commit_count > 0
{DAILY_STATS_COLUMNS.on_conflict()}"""

# The columns a team's commits are read for (the metrics' Commit): a team's commits are
# the bulk of its rows, and their messages are not needed.
_READ_COMMITS = (
    COMMIT_COLUMNS.select(("repository_id", "sha", "committed_at", "pull_request_number"))
    + ' WHERE "repository_id" = ANY($1::text[])'
)
_READ_COMMITS_SINCE = _READ_COMMITS + ' AND "committed_at" >= $2'

# The days' totals as the rows give them, and as commits_daily_stats holds them (reconcile).
_COUNT_DAYS = """
SELECT repository_id, (committed_at AT TIME ZONE 'UTC')::date AS day, count(*) AS commit_count,
       sum(additions) AS total_additions, sum(deletions) AS total_deletions
FROM commits
WHERE committed_at >= $1 AND committed_at < $2 AND ($3::text[] IS NULL OR repository_id = ANY($3::text[]))
GROUP BY 1, 2
"""
_READ_DAILY_STATS = (
    DAILY_STATS_COLUMNS.select()
    + ' WHERE "day" >= $1 AND "day" < $2 AND ($3::text[] IS NULL OR "repository_id" = ANY($3::text[]))'
)

_DAILY_STATS_KIND = """
SELECT c.relkind::text FROM pg_class c
WHERE c.oid = to_regclass('commits_daily_stats')
"""


class CommitStore:
    """Writes commit rows and the daily totals projection."""

    def __init__(self) -> None:
        # None until asked: on TimescaleDB commits_daily_stats is a continuous aggregate
        # (a view the database maintains from `commits`), on PostgreSQL a table we upsert.
        self._daily_is_table: bool | None = None

    async def upsert_commits(self, conn: asyncpg.Connection, rows: Sequence[CommitRow]) -> None:
        if not rows:
            return
        document = json_rows(rows)
        if document is not None:
            await conn.execute(_UPSERT_COMMITS_JSON, document)
            return
        await conn.execute(_UPSERT_COMMITS_ARRAYS, *COMMIT_COLUMNS.arrays(rows))

    async def upsert_batch(
        self, conn: asyncpg.Connection, rows: Sequence[CommitRow], daily: Sequence[DailyStatsRow]
    ) -> bool:
        """``upsert_commits`` and ``upsert_daily`` with one writing statement (for
        ``Database.statement``); False, with nothing written, when JSON cannot carry the
        rows (``json_rows``): the two methods' arrays then do."""
        if not await self._daily_stats_is_table(conn) or not daily:
            await self.upsert_commits(conn, rows)  # one statement, JSON or arrays
            return True
        document, daily_document = json_rows(rows), json_rows(daily)
        if document is None or daily_document is None:
            return False
        await conn.execute(_UPSERT_BATCH, document, daily_document)
        return True

    async def upsert_daily(self, conn: asyncpg.Connection, rows: Sequence[DailyStatsRow]) -> None:
        if not rows or not await self._daily_stats_is_table(conn):
            return
        present = [r for r in rows if r.commit_count > 0]
        empty = [r for r in rows if r.commit_count <= 0]
        if present:
            await conn.execute(_UPSERT_DAILY, *DAILY_STATS_COLUMNS.arrays(present))
        if empty:
            await conn.execute(_DELETE_EMPTY_DAYS, [r.repository_id for r in empty], [r.day for r in empty])

    async def _daily_stats_is_table(self, conn: asyncpg.Connection) -> bool:
        if self._daily_is_table is None:
            kind = await conn.fetchval(_DAILY_STATS_KIND)
            if kind is None:
                raise asyncpg.UndefinedTableError(
                    'relation "commits_daily_stats" does not exist: run `alembic upgrade head`'
                )
            self._daily_is_table = kind in ("r", "p")
        return self._daily_is_table


async def read_commits(
    conn: asyncpg.Connection, repositories: Sequence[str], since: datetime | None = None
) -> list[Commit]:
    """Every commit of ``repositories``, as the metrics read it (``since``: those committed
    from then on)."""
    query, arguments = (_READ_COMMITS, ()) if since is None else (_READ_COMMITS_SINCE, (since,))
    return [
        Commit(
            repository_id=r["repository_id"],
            sha=r["sha"],
            committed_at=to_micros(r["committed_at"]),
            pull_request_number=r["pull_request_number"],
        )
        for r in await conn.fetch(query, list(repositories), *arguments)
    ]


DayTotals = dict[tuple[str, date], DailyTotals]  # (repository_id, UTC day) -> totals


def _day_totals(records: Iterable[asyncpg.Record]) -> DayTotals:
    return {
        (r["repository_id"], r["day"]): DailyTotals(
            commit_count=r["commit_count"],
            total_additions=r["total_additions"],
            total_deletions=r["total_deletions"],
        )
        for r in records
    }


async def count_days(
    conn: asyncpg.Connection, start: datetime, end: datetime, repositories: Sequence[str] | None
) -> DayTotals:
    """The totals of each day in [start, end) that has rows in `commits` (all repositories,
    or ``repositories``), counted from the rows."""
    return _day_totals(await conn.fetch(_COUNT_DAYS, start, end, repositories))


async def read_daily_stats(
    conn: asyncpg.Connection, start: datetime, end: datetime, repositories: Sequence[str] | None
) -> DayTotals:
    """The `commits_daily_stats` rows of the days in [start, end)."""
    return {
        (row.repository_id, row.day.astimezone(UTC).date()): DailyTotals(
            commit_count=row.commit_count,
            total_additions=row.total_additions,
            total_deletions=row.total_deletions,
        )
        for row in map(
            DAILY_STATS_COLUMNS.row_of, await conn.fetch(_READ_DAILY_STATS, start, end, repositories)
        )
    }
