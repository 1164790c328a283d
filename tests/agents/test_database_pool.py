"""app.db.Database's pool on a real PostgreSQL: a connection goes back to the pool without
asyncpg's session reset query, and still clean of what a batch could leave behind."""

from __future__ import annotations

import asyncpg
import pytest

from app.db import Database
from app.retry import RetryPolicy


async def test_a_released_connection_carries_no_transaction_and_no_extra_round_trip(agent_database: str) -> None:
    database = Database(agent_database, pool_size=1, retry=RetryPolicy(max_retries=0))
    try:
        pool = await database.pool()
        async with pool.acquire() as conn:
            raw = conn._con  # type: ignore[attr-defined]  # the connection behind the pool's proxy
            await conn.execute("BEGIN")
            await conn.execute("SET LOCAL lock_timeout = '1s'")
            statements = raw._protocol.queries_count
        # Released inside a transaction: rolled back, with no reset query after it.
        assert raw._protocol.queries_count == statements + 1  # the ROLLBACK
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SHOW lock_timeout") == "0"

        async def fail(conn: asyncpg.Connection) -> None:
            await conn.execute("SET LOCAL lock_timeout = '2s'")
            await conn.execute("SELECT 1/0")

        with pytest.raises(asyncpg.DivisionByZeroError):
            await database.transaction(fail, what="test")
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SHOW lock_timeout") == "0"
    finally:
        await database.close()


async def test_a_statement_is_sent_alone_and_retried_like_a_transaction(agent_database: str) -> None:
    database = Database(agent_database, pool_size=1, retry=RetryPolicy(max_retries=2, base_s=0.01))
    attempts: list[int] = []

    async def write(conn: asyncpg.Connection) -> int:
        attempts.append(conn._con._protocol.queries_count)  # type: ignore[attr-defined]
        if len(attempts) == 1:  # a transient failure (serialization), as the server reports it
            await conn.execute("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$")
        return await conn.fetchval("SELECT 41 + 1")

    try:
        assert await database.statement(write, what="test") == 42
        async with (await database.pool()).acquire() as conn:
            raw = conn._con  # type: ignore[attr-defined]
            # Two attempts, and between them nothing but the failed statement: no BEGIN,
            # COMMIT or ROLLBACK around it.
            assert attempts == [attempts[0], attempts[0] + 1]
            assert raw._protocol.queries_count == attempts[1] + 1
    finally:
        await database.close()
