"""`user_sessions`, `activity_minutes` and `activity_page_minutes` rows: their mapping by
column name, their upserts (one statement per batch, idempotent) and the reads the
activity views make.

- A session row is written when its session closes (tables.windowing.sessions); a closed
  session never changes, so a replay rewrites the same values, which the upsert skips.
- The minute rows are per-partition partials (docs/windowing.md, "Windows"): each operator
  partition writes the tallies it counted under its own partition number, and a minute's
  totals are the sums over partitions (exact: the operator is keyed by user, so a user is
  counted on one partition only). A replay of a partition's minute rewrites its partial
  with the same values; it never adds to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any

import asyncpg

from stores.columns import Columns, json_rows
from tables.instants import from_micros

__all__ = [
    "UserSessionRow",
    "ActivityMinuteRow",
    "ActivityPageMinuteRow",
    "USER_SESSION_COLUMNS",
    "ACTIVITY_MINUTE_COLUMNS",
    "ACTIVITY_PAGE_MINUTE_COLUMNS",
    "user_session_row",
    "upsert_user_sessions",
    "upsert_activity_minutes",
    "upsert_activity_page_minutes",
    "read_user_sessions",
    "read_top_pages",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class UserSessionRow:
    user_id: str
    session_start: datetime
    session_end: datetime  # the last event's time
    duration_s: float
    events: int
    page_views: int
    pages: Annotated[Sequence[str], "text[]"]  # distinct, in order of first view
    entry_page: str | None
    exit_page: str | None
    bounce: bool
    client_session_ids: Annotated[Sequence[str], "text[]"]
    pages_truncated: bool
    client_sessions_truncated: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityMinuteRow:
    bucket: datetime  # the event-time minute's start
    event_type: str
    partition: int  # the operator partition that counted this partial
    events: int
    users: int  # distinct users among this partition's events


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityPageMinuteRow:
    bucket: datetime
    page_url: str
    partition: int
    views: int


USER_SESSION_COLUMNS = Columns(
    "user_sessions", UserSessionRow, key=("user_id", "session_start"), touched="updated_at"
)
ACTIVITY_MINUTE_COLUMNS = Columns(
    "activity_minutes", ActivityMinuteRow, key=("bucket", "event_type", "partition")
)
ACTIVITY_PAGE_MINUTE_COLUMNS = Columns(
    "activity_page_minutes", ActivityPageMinuteRow, key=("bucket", "page_url", "partition")
)

# Sessions go in as one JSON document: a page URL may hold any character but NUL (the
# event model replaces it), including the separator the typed-array path joins lists with.
_UPSERT_USER_SESSIONS = f"""{USER_SESSION_COLUMNS.insert()}
SELECT {USER_SESSION_COLUMNS.listed(prefix="r.")}
FROM json_to_recordset($1::json) AS r({USER_SESSION_COLUMNS.recordset()})
{USER_SESSION_COLUMNS.on_conflict()}"""
_UPSERT_ACTIVITY_MINUTES = ACTIVITY_MINUTE_COLUMNS.upsert()
_UPSERT_ACTIVITY_PAGE_MINUTES = ACTIVITY_PAGE_MINUTE_COLUMNS.upsert()

_READ_USER_SESSIONS = (
    USER_SESSION_COLUMNS.select() + ' WHERE "user_id" = $1 ORDER BY "session_start" DESC LIMIT $2'
)

# Ties in code-point order (COLLATE "C"), as tables.windowing.topk orders them in Python,
# so a list merged with the open minutes' counts ranks the same whatever the database's
# collation.
_READ_TOP_PAGES = """
SELECT page_url, SUM(views)::bigint AS views
FROM activity_page_minutes
WHERE bucket >= $1 AND bucket < $2
GROUP BY page_url
HAVING SUM(views) > 0
ORDER BY views DESC, page_url COLLATE "C"
LIMIT $3
"""


def user_session_row(user_id: str, fields: Mapping[str, Any]) -> UserSessionRow:
    """The row of one session from ``Session.fields()`` (times in microseconds)."""
    return UserSessionRow(
        user_id=user_id,
        session_start=from_micros(int(fields["session_start"])),
        session_end=from_micros(int(fields["session_end"])),
        duration_s=float(fields["duration_s"]),
        events=int(fields["events"]),
        page_views=int(fields["page_views"]),
        pages=tuple(fields["pages"]),
        entry_page=fields["entry_page"],
        exit_page=fields["exit_page"],
        bounce=bool(fields["bounce"]),
        client_session_ids=tuple(fields["client_session_ids"]),
        pages_truncated=bool(fields["pages_truncated"]),
        client_sessions_truncated=bool(fields["client_sessions_truncated"]),
    )


async def upsert_user_sessions(conn: asyncpg.Connection, rows: Sequence[UserSessionRow]) -> None:
    """Write closed sessions; a session already written with the same values is left as is."""
    if not rows:
        return
    document = json_rows(rows)
    if document is None:
        # Only a lone surrogate gets here (the event model replaces NUL); the typed arrays'
        # codec refuses it as a data error too, which the caller isolates.
        await conn.execute(USER_SESSION_COLUMNS.upsert(), *USER_SESSION_COLUMNS.arrays(rows))
        return
    await conn.execute(_UPSERT_USER_SESSIONS, document)


async def upsert_activity_minutes(conn: asyncpg.Connection, rows: Sequence[ActivityMinuteRow]) -> None:
    """Write per-partition minute partials: a partial replaces the partition's earlier one."""
    if rows:
        await conn.execute(_UPSERT_ACTIVITY_MINUTES, *ACTIVITY_MINUTE_COLUMNS.arrays(rows))


async def upsert_activity_page_minutes(
    conn: asyncpg.Connection, rows: Sequence[ActivityPageMinuteRow]
) -> None:
    """Write per-partition page-view partials, as ``upsert_activity_minutes``."""
    if rows:
        await conn.execute(_UPSERT_ACTIVITY_PAGE_MINUTES, *ACTIVITY_PAGE_MINUTE_COLUMNS.arrays(rows))


async def read_user_sessions(conn: asyncpg.Connection, user_id: str, limit: int) -> list[UserSessionRow]:
    """``user_id``'s latest ``limit`` closed sessions, newest first."""
    records = await conn.fetch(_READ_USER_SESSIONS, user_id, limit)
    return [_session_of_record(r) for r in records]


async def read_top_pages(
    conn: asyncpg.Connection, start: datetime, end: datetime, k: int
) -> list[tuple[str, int]]:
    """The ``k`` most viewed pages of the written minutes in ``[start, end)``, summed over
    partitions: views descending, then URL (code points) ascending; pages without views
    left out."""
    return [(r["page_url"], int(r["views"])) for r in await conn.fetch(_READ_TOP_PAGES, start, end, k)]


def _session_of_record(record: Mapping[str, Any]) -> UserSessionRow:
    row: UserSessionRow = USER_SESSION_COLUMNS.row_of(record)
    # asyncpg reads arrays as lists; tuples, as user_session_row builds them, compare equal.
    return replace(row, pages=tuple(row.pages), client_session_ids=tuple(row.client_session_ids))
