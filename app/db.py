"""The database connection pool and the ways to write: a transaction, or a single statement
(atomic on its own, without the BEGIN and COMMIT round trips), that retries.

Transient failures (connection lost, server shutting down, too many clients, serialization
conflicts, missing tables before migrations) are retried with the RetryPolicy's backoff;
when the retries are used up the circuit opens: the caller keeps its batch (and Kafka
keeps the offsets) while we probe until the database answers again. Errors in the data
itself (SQLSTATE classes 22 and 23) are not retried: they are raised to the caller, which
isolates the offending rows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from app.logging import get_logger
from app.redaction import mask_url, scrub
from app.retry import RetryPolicy
from runtime import tracing

__all__ = ["Database", "is_data_error"]

T = TypeVar("T")
log = get_logger("sei.db")


def is_data_error(exc: BaseException) -> bool:
    """True for errors caused by the rows themselves (retrying cannot help)."""
    state = getattr(exc, "sqlstate", None) or ""
    return isinstance(exc, asyncpg.PostgresError) and state[:2] in ("22", "23")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release, in place of asyncpg's ``RESET ALL``, ``UNLISTEN *``,
    ``CLOSE ALL`` and advisory unlock query: a round trip more on every write (a batch
    write is four), and nothing here leaves session state (no ``SET`` but ``SET LOCAL``,
    no cursors outside transactions, no listeners, no advisory locks). asyncpg still
    rolls back an open transaction first."""


class Database:
    """A lazily created asyncpg pool with retrying transactions and a circuit breaker."""

    def __init__(self, dsn: str, *, pool_size: int, retry: RetryPolicy) -> None:
        self.dsn = dsn
        self.pool_size = pool_size
        self.retry = retry
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self.circuit_open_since: float | None = None
        self.last_error: str | None = None

    @property
    def circuit_open(self) -> bool:
        return self.circuit_open_since is not None

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self.dsn,
                        min_size=1,
                        max_size=self.pool_size,
                        timeout=5.0,
                        command_timeout=60.0,
                        reset=_keep_session,
                    )
        return self._pool

    async def ping(self, timeout: float = 2.0) -> bool:
        """True when ``SELECT 1`` answers within ``timeout`` seconds."""
        try:
            pool = await asyncio.wait_for(self.pool(), timeout)
            async with asyncio.timeout(timeout):
                await pool.fetchval("SELECT 1")
            return True
        except Exception:
            return False

    async def transaction(self, work: Callable[[asyncpg.Connection], Awaitable[T]], *, what: str) -> T:
        """Run ``work`` in one transaction; retry transient failures until it succeeds.

        Raises only data errors (``is_data_error``) and cancellation.
        """
        return await self._retrying(work, what, in_transaction=True)

    async def statement(self, work: Callable[[asyncpg.Connection], Awaitable[T]], *, what: str) -> T:
        """Run ``work``, which writes with a single statement, without BEGIN and COMMIT.

        PostgreSQL runs a lone statement in a transaction of its own, so its writes are
        atomic all the same; a batch write saves two of its round trips, each of which
        waits for the event loop's next turn. Reads before the write are allowed (they
        change nothing); a second writing statement would not be atomic with the first.
        Retries and raises as ``transaction``.
        """
        return await self._retrying(work, what, in_transaction=False)

    async def _retrying(
        self, work: Callable[[asyncpg.Connection], Awaitable[T]], what: str, *, in_transaction: bool
    ) -> T:
        attempt = 0
        delays = self.retry.delays()
        while True:
            delay = delays[attempt] if attempt < len(delays) else self.retry.probe_interval_s
            if delay:
                await asyncio.sleep(delay)
            try:
                result = await self._run_once(work, in_transaction, what)
            except Exception as exc:
                if is_data_error(exc):
                    raise
                attempt += 1
                self._note_failure(exc, what, attempt, exhausted=attempt >= len(delays))
                continue
            self._note_success(what)
            return result

    async def _run_once(
        self, work: Callable[[asyncpg.Connection], Awaitable[T]], in_transaction: bool, what: str
    ) -> T:
        # A child of the batch's span when tracing is on (runtime.tracing); one per attempt.
        with tracing.span(f"db {what}", {"db.system": "postgresql", "db.transaction": in_transaction}):
            pool = await self.pool()
            async with pool.acquire() as conn:
                if not in_transaction:
                    return await work(conn)
                async with conn.transaction():
                    return await work(conn)

    def _note_failure(self, exc: Exception, what: str, attempt: int, exhausted: bool) -> None:
        self.last_error = scrub(f"{type(exc).__name__}: {exc}", [self.dsn])
        if exhausted and self.circuit_open_since is None:
            self.circuit_open_since = time.monotonic()
            log.error(
                "db.circuit_open",
                what=what,
                attempts=attempt,
                error=self.last_error,
                database=mask_url(self.dsn),
                hint="consumption is paused; events stay in Kafka until the database answers",
            )
        elif not exhausted:
            log.warning("db.retry", what=what, attempt=attempt, error=self.last_error)

    def _note_success(self, what: str) -> None:
        if self.circuit_open_since is not None:
            down_s = round(time.monotonic() - self.circuit_open_since, 1)
            log.info("db.circuit_closed", what=what, down_seconds=down_s)
            self.circuit_open_since = None
        self.last_error = None

    async def identity(self, timeout: float = 2.0) -> str | None:
        """``<database oid>-<created xid>``: differs for a recreated or restored database."""
        try:
            pool = await asyncio.wait_for(self.pool(), timeout)
            async with asyncio.timeout(timeout):
                row = await pool.fetchrow(
                    "SELECT oid::text AS oid, xmin::text AS created FROM pg_database WHERE datname = current_database()"
                )
        except Exception:
            return None
        return f"{row['oid']}-{row['created']}" if row else None

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
