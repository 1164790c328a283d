"""`activity_error_pages` rows: the errors-by-page join's results, their mapping by column
name, their upsert (one statement per batch, idempotent) and the read of
``GET /activity/errors-by-page``.

One row per joined error, written when the join's watermark passes the error's time
(tables.activity_join_state): keyed by the error (time, id, user), so a replay after a
crash, or the same result made final again, rewrites the same row and never adds to a
count. The counts are taken on read: errors and distinct users per page over any range,
exact across partitions and workers (a user's errors are all joined on one partition, and
users are not summed across minutes). ``page_url`` is null for an error with no page view
of its user within the bound (the join is a left join); the view lists matched ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from stores.columns import Columns

__all__ = [
    "ErrorPageRow",
    "ERROR_PAGE_COLUMNS",
    "upsert_error_pages",
    "read_errors_by_page",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorPageRow:
    error_time: datetime  # the ingest event's timestamp
    error_id: str
    user_id: str
    page_url: str | None  # the user's latest page view within the bound before the error
    page_view_time: datetime | None
    page_view_id: str | None
    partition: int  # the operator partition that joined it (the user's)


ERROR_PAGE_COLUMNS = Columns("activity_error_pages", ErrorPageRow, key=("error_time", "error_id", "user_id"))
_UPSERT_ERROR_PAGES = ERROR_PAGE_COLUMNS.upsert()

# Ties in code-point order (COLLATE "C"), as the top pages.
_READ_ERRORS_BY_PAGE = """
SELECT page_url, COUNT(*)::bigint AS errors, COUNT(DISTINCT user_id)::bigint AS users
FROM activity_error_pages
WHERE error_time >= $1 AND error_time < $2 AND page_url IS NOT NULL
GROUP BY page_url
ORDER BY errors DESC, users DESC, page_url COLLATE "C"
"""


async def upsert_error_pages(conn: asyncpg.Connection, rows: Sequence[ErrorPageRow]) -> None:
    """Write joined errors; a row written before with the same values is left as is."""
    if rows:
        await conn.execute(_UPSERT_ERROR_PAGES, *ERROR_PAGE_COLUMNS.arrays(rows))


async def read_errors_by_page(
    conn: asyncpg.Connection, start: datetime, end: datetime
) -> list[tuple[str, int, int]]:
    """(page URL, errors, distinct users) of the errors joined with a page view whose time
    is in ``[start, end)``: errors descending, then users descending, then URL."""
    records = await conn.fetch(_READ_ERRORS_BY_PAGE, start, end)
    return [(r["page_url"], int(r["errors"]), int(r["users"])) for r in records]
