"""The operating gauges that need the database (app.operating_metrics): the dead-letter
backlog and the replays done, read every BACKLOG_S on the read pool so a scrape never waits,
and the data-quality checks of the last QUALITY_WINDOW (models.data_quality) every QUALITY_S.

Every worker reads the same table, so every worker exports the same values: dashboards and
alerts take ``max`` over the workers, not the sum.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from app.logging import get_logger
from app.main import app
from app.operating_metrics import DeadLetterBacklog
from app.resources import operating, read_database
from models.data_quality import Finding, evaluate
from stores.data_quality import SPECS, read_figures
from stores.dead_letters import dead_letter_backlog

__all__ = ["BACKLOG_S", "QUALITY_S", "QUALITY_WINDOW", "refresh_dead_letter_backlog", "run_quality_checks"]

log = get_logger("sei.operations")

BACKLOG_S = 30.0
READ_TIMEOUT_S = 10.0
QUALITY_S = 300.0
QUALITY_WINDOW = timedelta(hours=1)


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


async def run_quality_checks() -> list[Finding] | None:
    """The checks of `quality check --since 1h`, exported; None when the database does not answer."""
    now = datetime.now(UTC)

    async def read(conn: asyncpg.Connection) -> list[Finding]:
        findings: list[Finding] = []
        for spec in SPECS:
            findings.extend(evaluate(await read_figures(conn, spec, now - QUALITY_WINDOW, now), now))
        return findings

    try:
        findings = await asyncio.wait_for(read_database.statement(read, what="quality"), READ_TIMEOUT_S * 3)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        log.warning("operations.quality_unread", error=str(exc))
        return None
    operating.set_quality(findings)
    failed = [f"{f.topic} {f.check}" for f in findings if f.status == "fail"]
    if failed:
        log.warning("quality.checks_failed", failed=failed)
    return findings


@app.timer(QUALITY_S)  # type: ignore[untyped-decorator]  # faust marks App.timer no_type_check
async def _quality_checks() -> None:
    await run_quality_checks()
