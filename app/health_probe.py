"""/health's dependency checks, kept off the writers' path.

Measured on the local stack before this module: every /health request ran ``SELECT 1`` on
the writers' pool (DB_POOL_SIZE, 4 connections) and opened a new TCP connection to the
broker (200 requests: 200 connections). With the writers' connections busy (4 batches
waiting on a table lock, the database up), every /health took 2.0 s and answered 503
``unhealthy``, ``timescale_connected: false``; a health check every few seconds from a
load balancer takes a connection from the writers whenever one is free.

Now the database is pinged on a connection of its own, and the broker and database
checks run at most once every ``refresh_s`` whatever the request rate: a request gets the
last result at once and, when it is stale, starts one refresh in the background (the
first request waits for the first result). A result older than news of a failure (the
writers' circuit opened since) is refreshed before it is used.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

__all__ = ["DependencyChecks", "HealthProbe", "DatabasePing"]


@dataclass(frozen=True, slots=True)
class DependencyChecks:
    """One round of checks and when it was taken (``time.monotonic()``)."""

    kafka: bool
    timescale: bool
    taken_at: float


class HealthProbe:
    """The latest DependencyChecks, refreshed at most once every ``refresh_s``."""

    def __init__(
        self,
        check: Callable[[], Awaitable[tuple[bool, bool]]],
        *,
        refresh_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self.refresh_s = refresh_s
        self._clock = clock
        self._latest: DependencyChecks | None = None
        self._refreshing: asyncio.Task[DependencyChecks] | None = None

    async def latest(self, *, not_before: float | None = None) -> DependencyChecks:
        """The last checks; waits for a refresh only when there are none yet or they were
        taken before ``not_before`` (a monotonic time)."""
        latest = self._latest
        if latest is None or (not_before is not None and latest.taken_at < not_before):
            return await asyncio.shield(self._refresh())
        if self._clock() - latest.taken_at >= self.refresh_s:
            self._refresh()
        return latest

    def _refresh(self) -> asyncio.Task[DependencyChecks]:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(self._run())
        return self._refreshing

    async def _run(self) -> DependencyChecks:
        started = self._clock()
        kafka, timescale = await self._check()
        self._latest = DependencyChecks(kafka, timescale, started)
        return self._latest


class DatabasePing:
    """``SELECT 1`` on one connection of its own (opened on first use, again after a failure)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: asyncpg.Connection | None = None

    async def __call__(self, timeout: float = 2.0) -> bool:
        try:
            async with asyncio.timeout(timeout):
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncpg.connect(self.dsn)
                await self._conn.fetchval("SELECT 1")
            return True
        except Exception:
            await self.close()
            return False

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()
