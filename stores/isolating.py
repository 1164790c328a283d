"""Writing a batch of rows so that rows the database refuses cost only themselves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg

from app.db import Database, is_data_error

__all__ = ["write_rows_isolating"]

R = TypeVar("R")


async def write_rows_isolating(
    database: Database,
    rows: Sequence[R],
    write: Callable[[asyncpg.Connection, Sequence[R]], Awaitable[None]],
    *,
    what: str,
) -> list[tuple[R, Exception]]:
    """Write ``rows``; when the database refuses some of them (a data error), split the
    batch until each refused row is found. Returns the refused rows with their errors."""
    if not rows:
        return []
    try:
        await database.transaction(lambda conn: write(conn, rows), what=what)
        return []
    except Exception as exc:
        if not is_data_error(exc):
            raise
        if len(rows) == 1:
            return [(rows[0], exc)]
    middle = len(rows) // 2
    first = await write_rows_isolating(database, rows[:middle], write, what=what)
    return first + await write_rows_isolating(database, rows[middle:], write, what=what)
