"""/health of a worker whose database and Redis cannot be reached, and of one whose
writers hold every database connection."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from devtools.kafka_io import produce
from devtools.localstack import LocalStack, free_port
from devtools.org_history import generate_sei_history
from devtools.worker_process import WorkerProcess
from tests.integration.conftest import isolated_env, new_worker, temporary_database, wait_for

pytestmark = pytest.mark.integration


def test_health_database_unreachable_is_unhealthy_503(stack: LocalStack, tmp_path: Path) -> None:
    closed = free_port()
    env = {
        **stack.env,
        "TIMESCALE_URL": f"postgresql://postgres@127.0.0.1:{closed}/nowhere",
        "REDIS_URL": f"redis://127.0.0.1:{closed}/0",
        "CONSUMER_GROUP_ID": f"health-{uuid.uuid4().hex[:8]}",
        "STORE": "rocksdb://",
    }
    worker = WorkerProcess(env, tmp_path / "w", free_port(), tmp_path / "w.log").start()
    try:
        worker.wait_answering()
        status, body = worker.get("/health")
        assert status == 503
        assert body["status"] == "unhealthy"
        assert body["kafka_connected"] is True
        assert body["timescale_connected"] is False
        assert body["redis_connected"] is False
        assert body["version"] and body["timestamp"].endswith("Z")
    finally:
        worker.stop()


def test_health_answers_at_once_while_every_writer_connection_is_busy(
    stack: LocalStack, tmp_path: Path
) -> None:
    """/health does not wait for the writers' pool: with every pool connection held by a
    batch waiting on a table lock (the database up), it still answers healthy, fast."""
    prefix = f"hb{uuid.uuid4().hex[:5]}"
    with temporary_database(stack, "sei_health") as database:
        env = isolated_env(stack, database, "health", DB_POOL_SIZE=str(POOL_SIZE))
        worker = new_worker(env, tmp_path, "w").start()
        try:
            worker.wait_consuming(120)
            with table_locks(database) as locks:
                history = generate_sei_history(repositories=8, teams=2, days=10, prefix=prefix)
                for topic, messages in history.messages().items():
                    asyncio.run(produce([stack.broker.bootstrap], topic, messages))
                wait_for(  # generous: on a loaded machine the agents reach the lock late
                    lambda: locks.waiting() >= POOL_SIZE,
                    180,
                    lambda: f"{POOL_SIZE} writers waiting (now {locks.waiting()}); sessions: {locks.sessions()}",
                )
                time.sleep(6)  # past the probe's refresh: the next answers come from fresh checks
                for _ in range(3):
                    started = time.monotonic()
                    status, body = worker.get("/health")
                    elapsed = time.monotonic() - started
                    assert (status, body["timescale_connected"]) == (200, True), body
                    assert elapsed < 0.5, elapsed
                    time.sleep(3)
        finally:
            worker.stop()


# One connection: whether a second agent's batch also reaches the lock in time depends on
# what the session's shared topics hold and how the worker reads them (in a whole-suite run
# only one did within 180 s); the first one's does not.
POOL_SIZE = 1


def test_team_views_answer_while_the_writers_hold_every_database_connection(
    stack: LocalStack, tmp_path: Path
) -> None:
    """The team views read on connections of their own: with the writers' one connection
    held by a commits batch waiting on a lock, /dora/teams answers at once (it waited
    READ_TIMEOUT_S for the writers' pool, then answered 503)."""
    repo, team = f"tv{uuid.uuid4().hex[:6]}", f"team-{uuid.uuid4().hex[:6]}"

    def event(event_type: str, data: dict[str, Any]) -> tuple[bytes, bytes]:
        body = {
            "event_type": event_type,
            "timestamp": "2025-10-01T12:00:00Z",
            "source": "t",
            "repository_id": repo,
            "data": data,
        }
        return repo.encode(), orjson.dumps(body)

    with temporary_database(stack, "sei_health") as database:
        env = isolated_env(stack, database, "health", DB_POOL_SIZE="1")
        worker = new_worker(env, tmp_path, "w").start()
        try:
            worker.wait_consuming(120)
            bootstrap = [stack.broker.bootstrap]
            asyncio.run(
                produce(
                    bootstrap, "git.repositories", [event("repository_updated", {"name": repo, "team": team})]
                )
            )
            deployment = {
                "id": "d1",
                "environment": "production",
                "status": "success",
                "finished_at": "2025-10-01T12:00:00Z",
            }
            asyncio.run(produce(bootstrap, "cicd.deployments", [event("deployment_finished", deployment)]))
            wait_for(
                lambda: worker.get(f"/dora/teams/{team}?end=2025-10-02T00:00:00Z")[0] == 200,
                60,
                "the team known",
            )
            with table_locks(database, only=["commits_daily_stats"]) as locks:
                commit = {"sha": "c1", "author": "a@b.c", "additions": 1, "deletions": 0}
                asyncio.run(produce(bootstrap, "git.commits", [event("commit_created", commit)]))
                wait_for(lambda: locks.waiting() >= 1, 60, "the commits write waiting on the lock")
                started = time.monotonic()
                status, body = worker.get(f"/dora/teams/{team}?end=2025-10-02T00:00:00Z")
                assert (status, body.get("repositories")) == (200, [repo]), body
                assert time.monotonic() - started < 2.0
        finally:
            worker.stop()


@dataclass(frozen=True)
class LockWatch:
    waiting: Callable[[], int]
    sessions: Callable[[], list[tuple[Any, ...]]]


@contextlib.contextmanager
def table_locks(database: str, only: list[str] | None = None) -> Iterator[LockWatch]:
    """Every table (or those ``only`` names) locked by another session; yields the count of
    sessions waiting on a lock, and the database's sessions for a failure's message."""
    holder: dict[str, Any] = {}
    loop = asyncio.new_event_loop()

    async def lock() -> None:
        conn = await asyncpg.connect(database)
        tables = await conn.fetch(
            "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            " AND (tablename = ANY($1::text[]) OR $1 IS NULL)",
            only,
        )
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute(f"LOCK TABLE {', '.join(t[0] for t in tables)} IN ACCESS EXCLUSIVE MODE")
        holder.update(conn=conn, transaction=transaction)

    async def waiting() -> int:
        return int(
            await holder["conn"].fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )

    async def sessions() -> list[tuple[Any, ...]]:
        rows = await holder["conn"].fetch(
            "SELECT state, wait_event_type, left(query, 80) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [tuple(row) for row in rows]

    loop.run_until_complete(lock())
    try:
        yield LockWatch(lambda: loop.run_until_complete(waiting()), lambda: loop.run_until_complete(sessions()))
    finally:
        loop.run_until_complete(holder["transaction"].rollback())
        loop.run_until_complete(holder["conn"].close())
        loop.close()
