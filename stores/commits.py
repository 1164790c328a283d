"""`commits` and `commits_daily_stats` rows: their mapping and batched upserts on natural
keys, one transaction (or one statement) per batch.

Every statement is idempotent: re-running a batch (after a crash, a replay or a retry)
leaves the database as it was. Rows go in through ``unnest`` of typed arrays, or commit
rows and day totals as JSON documents (one round trip per statement, bound parameters
only), and unchanged rows are not rewritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import asyncpg
import orjson

from tables.commit_state import DailyTotals

__all__ = [
    "CommitRow",
    "DailyStatsRow",
    "CommitStore",
]

# Not frozen: one is built per commit, and a frozen dataclass's __init__ costs ~8x (2.7 vs
# 0.3 µs for these ten fields). Treated as immutable all the same.
@dataclass(slots=True)
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


@dataclass(frozen=True, slots=True)
class DailyStatsRow:
    repository_id: str
    day: date
    totals: DailyTotals


_COMMIT_CONFLICT = """
ON CONFLICT (repository_id, sha, committed_at) DO UPDATE SET
    author_email = EXCLUDED.author_email, message = EXCLUDED.message,
    files_changed = EXCLUDED.files_changed, additions = EXCLUDED.additions,
    deletions = EXCLUDED.deletions, pull_request_number = EXCLUDED.pull_request_number,
    source = EXCLUDED.source
WHERE (c.author_email, c.message, c.files_changed, c.additions, c.deletions,
       c.pull_request_number, c.source)
      IS DISTINCT FROM
      (EXCLUDED.author_email, EXCLUDED.message, EXCLUDED.files_changed, EXCLUDED.additions,
       EXCLUDED.deletions, EXCLUDED.pull_request_number, EXCLUDED.source)
"""
_INSERT_COMMITS = """
INSERT INTO commits AS c (repository_id, sha, committed_at, author_email, message,
                          files_changed, additions, deletions, pull_request_number, source)
"""
# The rows go in as one JSON document: asyncpg encodes typed arrays element by element,
# about 8 µs of the worker's CPU per row; orjson writes the whole batch in C and the
# statement costs the worker about 4 µs per row (the server, on another core, parses it).
_UPSERT_COMMITS_JSON = (
    _INSERT_COMMITS
    + """SELECT * FROM json_to_recordset($1::json) AS r(
    repository_id text, sha text, committed_at timestamptz, author_email text, message text,
    files_changed int, additions int, deletions int, pull_request_number int, source text)"""
    + _COMMIT_CONFLICT
)
# For a batch JSON cannot carry verbatim: the database's own text codec then decides.
_UPSERT_COMMITS_ARRAYS = (
    _INSERT_COMMITS
    + """SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
                     $6::int[], $7::int[], $8::int[], $9::int[], $10::text[])"""
    + _COMMIT_CONFLICT
)

_INSERT_DAILY = """
INSERT INTO commits_daily_stats AS d (repository_id, day, commit_count, total_additions, total_deletions)
"""
_DAILY_CONFLICT = """
ON CONFLICT (repository_id, day) DO UPDATE SET
    commit_count = EXCLUDED.commit_count,
    total_additions = EXCLUDED.total_additions,
    total_deletions = EXCLUDED.total_deletions
WHERE (d.commit_count, d.total_additions, d.total_deletions)
      IS DISTINCT FROM (EXCLUDED.commit_count, EXCLUDED.total_additions, EXCLUDED.total_deletions)
"""
_UPSERT_DAILY = (
    _INSERT_DAILY
    + "SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::bigint[], $5::bigint[])"
    + _DAILY_CONFLICT
)

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
_UPSERT_BATCH = (
    "WITH written AS ("
    + _UPSERT_COMMITS_JSON
    + """), daily AS (
SELECT r.repository_id, r.day::timestamp AT TIME ZONE 'UTC' AS day,
       (r.totals->>'commit_count')::bigint AS commit_count,
       (r.totals->>'total_additions')::bigint AS total_additions,
       (r.totals->>'total_deletions')::bigint AS total_deletions
FROM json_to_recordset($2::json) AS r(repository_id text, day date, totals json)
), emptied AS (
DELETE FROM commits_daily_stats d USING daily e
WHERE e.commit_count <= 0 AND d.repository_id = e.repository_id AND d.day = e.day
)"""
    + _INSERT_DAILY
    + "SELECT * FROM daily WHERE commit_count > 0"
    + _DAILY_CONFLICT
)

_DAILY_STATS_KIND = """
SELECT c.relkind::text FROM pg_class c
WHERE c.oid = to_regclass('commits_daily_stats')
"""


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _json_rows(rows: Sequence[object]) -> str | None:
    """Dataclass rows as a JSON array of objects named like their fields; None when JSON
    cannot carry them as they are: a lone surrogate (not UTF-8) or a NUL (PostgreSQL's
    JSON refuses ``\\u0000`` as text), both refused by the array path's codec too."""
    try:
        document = orjson.dumps(rows)
    except TypeError:  # orjson's refusal (JSONEncodeError is one)
        return None
    if b"\\u0000" in document:
        return None
    return document.decode()


class CommitStore:
    """Writes commit rows and the daily totals projection."""

    def __init__(self) -> None:
        # None until asked: on TimescaleDB commits_daily_stats is a continuous aggregate
        # (a view the database maintains from `commits`), on PostgreSQL a table we upsert.
        self._daily_is_table: bool | None = None

    async def upsert_commits(self, conn: asyncpg.Connection, rows: Sequence[CommitRow]) -> None:
        if not rows:
            return
        document = _json_rows(rows)
        if document is not None:
            await conn.execute(_UPSERT_COMMITS_JSON, document)
            return
        await conn.execute(
            _UPSERT_COMMITS_ARRAYS,
            [r.repository_id for r in rows],
            [r.sha for r in rows],
            [r.committed_at for r in rows],
            [r.author_email for r in rows],
            [r.message for r in rows],
            [r.files_changed for r in rows],
            [r.additions for r in rows],
            [r.deletions for r in rows],
            [r.pull_request_number for r in rows],
            [r.source for r in rows],
        )

    async def upsert_batch(
        self, conn: asyncpg.Connection, rows: Sequence[CommitRow], daily: Sequence[DailyStatsRow]
    ) -> bool:
        """``upsert_commits`` and ``upsert_daily`` with one writing statement (for
        ``Database.statement``); False, with nothing written, when JSON cannot carry the
        rows (``_json_rows``): the two methods' arrays then do."""
        if not await self._daily_stats_is_table(conn) or not daily:
            await self.upsert_commits(conn, rows)  # one statement, JSON or arrays
            return True
        document, daily_document = _json_rows(rows), _json_rows(daily)
        if document is None or daily_document is None:
            return False
        await conn.execute(_UPSERT_BATCH, document, daily_document)
        return True

    async def upsert_daily(self, conn: asyncpg.Connection, rows: Sequence[DailyStatsRow]) -> None:
        if not rows or not await self._daily_stats_is_table(conn):
            return
        present = [r for r in rows if r.totals.commit_count > 0]
        empty = [r for r in rows if r.totals.commit_count <= 0]
        if present:
            await conn.execute(
                _UPSERT_DAILY,
                [r.repository_id for r in present],
                [_midnight(r.day) for r in present],
                [r.totals.commit_count for r in present],
                [r.totals.total_additions for r in present],
                [r.totals.total_deletions for r in present],
            )
        if empty:
            await conn.execute(
                _DELETE_EMPTY_DAYS, [r.repository_id for r in empty], [_midnight(r.day) for r in empty]
            )

    async def _daily_stats_is_table(self, conn: asyncpg.Connection) -> bool:
        if self._daily_is_table is None:
            kind = await conn.fetchval(_DAILY_STATS_KIND)
            if kind is None:
                raise asyncpg.UndefinedTableError(
                    'relation "commits_daily_stats" does not exist: run `alembic upgrade head`'
                )
            self._daily_is_table = kind in ("r", "p")
        return self._daily_is_table
