"""Finish the batch in hand, even when the worker is asked to stop.

Faust acks a ``take_events()`` batch in a ``finally`` after the loop body, even when the
body is cancelled (SIGTERM, shutdown): an unfinished database write would then be
committed as done and its events lost. So the body runs shielded; on cancellation we let
it finish (up to a grace period) before the cancellation goes on. If it cannot finish
(the database is down at shutdown), the process exits at once without committing: the
batch is redelivered after restart, as at-least-once requires.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from typing import TypeVar

from app.logging import get_logger

__all__ = ["complete_batch", "SHUTDOWN_GRACE_S"]

T = TypeVar("T")
log = get_logger("sei.batches")

# Leaves room within the 30 s a supervisor usually waits between SIGTERM and SIGKILL.
SHUTDOWN_GRACE_S = 20.0
EXIT_UNFLUSHED = 75  # EX_TEMPFAIL


async def complete_batch(work: Awaitable[T], *, what: str, grace_s: float = SHUTDOWN_GRACE_S) -> T:
    """Await ``work``; if cancelled meanwhile, finish it first, or exit without committing."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if task.done():
            raise
        log.info("shutdown.finishing_batch", what=what, grace_seconds=grace_s)
        try:
            await asyncio.wait_for(asyncio.shield(task), grace_s)
        except BaseException:
            log.error(
                "shutdown.batch_unflushed",
                what=what,
                hint="exiting without committing offsets; the batch is redelivered after restart",
            )
            os._exit(EXIT_UNFLUSHED)
        raise
