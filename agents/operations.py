"""The operating gauges that need the database (app.operating_metrics): the dead-letter
backlog and the replays done, read every BACKLOG_S on the read pool so a scrape never waits.

Every worker reads the same table, so every worker exports the same values: dashboards and
alerts take ``max`` over the workers, not the sum.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

from app.logging import get_logger
from app.main import app
from app.operating_metrics import DeadLetterBacklog
from app.resources import operating, read_database
from stores.dead_letters import dead_letter_backlog

__all__ = ["BACKLOG_S", "refresh_dead_letter_backlog"]

log = get_logger("sei.operations")

BACKLOG_S = 30.0
READ_TIMEOUT_S = 10.0


async def refresh_dead_letter_backlog() -> DeadLetterBacklog | None:
    """Read the backlog once; None (the last values kept, their read time telling their age)
    when the database does not answer."""
    try:
        # The pool retries without end while the database is down; a gauge waits for the next tick.
        unreplayed, replays = await asyncio.wait_for(
            read_database.statement(dead_letter_backlog, what="dlq_backlog"), READ_TIMEOUT_S
        )
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        log.warning("operations.dlq_backlog_unread", error=str(exc))
        return None
    backlog = DeadLetterBacklog(unreplayed=unreplayed, replays=replays, read_at=time.time())
    operating.set_dead_letters(backlog)
    return backlog


@app.timer(BACKLOG_S)  # type: ignore[untyped-decorator]  # faust marks App.timer no_type_check
async def _dead_letter_backlog() -> None:
    await refresh_dead_letter_backlog()
