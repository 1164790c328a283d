"""The real stack for integration tests: Tansu broker, PostgreSQL, Redis, worker processes.

Started once per test session (a worker needs seconds to join its group on Tansu); each
test uses its own repository ids, so tests share the worker without seeing each other.
Nothing here skips: what is missing is started (embedded PostgreSQL, a redis-server).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from devtools.kafka_io import create_topics, produce
from devtools.localstack import (
    LocalStack,
    free_port,
    fresh_database,
    local_stack,
    redis_answers,
    start_broker,
    wait_for_port,
)
from devtools.sample_data import generate_commit_stream
from devtools.worker_process import WorkerProcess

SOURCE_TOPICS = ["git.commits", "cicd.deployments", "ops.incidents", "events.ingest"]


def wait_for(
    check: Callable[[], bool], timeout_s: float, what: str | Callable[[], str], poll_s: float = 0.2
) -> None:
    """Poll ``check``; on timeout fail with ``what`` (a callable is asked then, for details)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what() if callable(what) else what}")


@pytest.fixture(scope="session")
def test_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def redis_url(test_root: Path) -> Iterator[str]:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if redis_answers(url):
        yield url
        return
    binary = shutil.which("redis-server")
    assert binary, (
        "Redis is not answering at REDIS_URL and redis-server is not installed (run .ci/run or make test)"
    )
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def stack(test_root: Path, redis_url: str) -> Iterator[LocalStack]:
    os.environ["REDIS_URL"] = redis_url
    with local_stack(test_root, log_dir=test_root) as running:
        asyncio.run(create_topics([running.broker.bootstrap], SOURCE_TOPICS, partitions=8))
        yield running


@contextlib.contextmanager
def private_broker(stack: LocalStack, root: Path) -> Iterator[LocalStack]:
    """The stack with a broker of its own, for a test whose worker must not read the shared
    broker's histories: a worker consumes every source topic from the start, so on the shared
    broker it also works through every earlier test's commits, logs and activity."""
    broker = start_broker(log_path=root / "tansu.log")
    try:
        asyncio.run(create_topics([broker.bootstrap], SOURCE_TOPICS, partitions=8))
        env = {**stack.env, "KAFKA_BROKERS": f"tansu://{broker.bootstrap}"}
        yield dataclasses.replace(stack, broker=broker, env=env)
    finally:
        broker.stop()


@contextlib.contextmanager
def temporary_database(stack: LocalStack, prefix: str) -> Iterator[str]:
    """A fresh, migrated database ``<prefix>_<random>`` on the stack's server, dropped after."""
    url = urlunsplit(urlsplit(stack.database_url)._replace(path=f"/{prefix}_{uuid.uuid4().hex[:8]}"))
    asyncio.run(fresh_database(url))
    try:
        yield url
    finally:

        async def drop() -> None:
            admin = await asyncpg.connect(urlunsplit(urlsplit(url)._replace(path="/postgres")))
            await admin.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path.lstrip("/")}" WITH (FORCE)')
            await admin.close()

        asyncio.run(drop())


@pytest.fixture
def empty_database(stack: LocalStack) -> Iterator[str]:
    """A new database with nothing in it (no migration), for the migration tests; dropped after."""
    url = urlunsplit(urlsplit(stack.database_url)._replace(path=f"/sei_migrate_{uuid.uuid4().hex[:8]}"))
    admin_url = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    name = urlsplit(url).path.lstrip("/")

    async def run(sql: str) -> None:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(sql)
        finally:
            await admin.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    yield url
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def isolated_env(stack: LocalStack, database: str, group_prefix: str, **extra: str) -> dict[str, str]:
    """A worker environment with its own consumer group (so its own changelogs) and database."""
    return {
        **stack.env,
        "TIMESCALE_URL": database,
        "CONSUMER_GROUP_ID": f"{group_prefix}-{uuid.uuid4().hex[:8]}",
        "BATCH_TIMEOUT_MS": "300",
        "STORE": "rocksdb://",
        **extra,
    }


def new_worker(env: dict[str, str], root: Path, name: str) -> WorkerProcess:
    """An unstarted worker with its data directory and log under ``root``."""
    return WorkerProcess(env, root / name, free_port(), root / f"{name}.log")


@pytest.fixture(scope="session")
def database_url(stack: LocalStack) -> Iterator[str]:
    with temporary_database(stack, "sei_test") as url:
        yield url


@pytest.fixture(scope="session")
def worker_env(stack: LocalStack, database_url: str) -> dict[str, str]:
    return {
        **stack.env,
        "TIMESCALE_URL": database_url,
        "BATCH_TIMEOUT_MS": "300",
        "LOG_LEVEL": "INFO",
        "STORE": "rocksdb://",
    }


def warm_up(worker: WorkerProcess, bootstrap: str) -> None:
    """Wait until the worker answers and has joined its group (it consumed a message)."""
    worker.wait_answering()
    marker = generate_commit_stream(
        commits=1, duplicate_rate=0, malformed=0, repository_prefix=f"warmup-{uuid.uuid4().hex[:6]}"
    )
    asyncio.run(produce([bootstrap], "git.commits", marker.messages))
    wait_for(lambda: consumed(worker, "git.commits") >= 1, 120, "the worker to join and consume")


def wait_consumed(worker: WorkerProcess, topic: str, count: int, timeout_s: float = 120) -> None:
    """Wait until the worker process has consumed ``count`` messages of ``topic``."""
    deadline = time.monotonic() + timeout_s
    seen = -1
    while time.monotonic() < deadline:
        seen = consumed(worker, topic)
        if seen >= count:
            return
        time.sleep(0.2)
    _, stats = worker.get("/stats")
    raise AssertionError(
        f"consumed {seen} of {count} {topic} messages in {timeout_s} s; stats {stats}; log {worker.log_path}"
    )


def consumed(worker: WorkerProcess, topic: str) -> int:
    _, stats = worker.get("/stats")
    return int(stats["topics"].get(topic, {}).get("consumed", 0))


@pytest.fixture(scope="session")
def worker(stack: LocalStack, worker_env: dict[str, str], test_root: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(
        worker_env, test_root / "worker-1", free_port(), test_root / "worker-1.log"
    ).start()
    try:
        warm_up(process, stack.broker.bootstrap)
        yield process
    finally:
        process.stop()


@pytest.fixture
def db(database_url: str) -> Callable[[str, tuple[object, ...]], list[asyncpg.Record]]:
    """Run one query against the test database (synchronously)."""

    def query(sql: str, *args: object) -> list[asyncpg.Record]:
        async def run() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(database_url)
            try:
                return list(await conn.fetch(sql, *args))
            finally:
                await conn.close()

        return asyncio.run(run())

    return query  # type: ignore[return-value]
