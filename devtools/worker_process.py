"""Run ``faust -A app worker`` as a child process and talk to its web server.

Used by the demo, the integration tests and the benchmarks: one place that knows how to
start a worker with an environment, wait for it, read its JSON views and stop it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["WorkerProcess", "get_answer", "get_json"]


def get_answer(url: str, timeout: float = 5.0) -> tuple[int, Any, dict[str, str]]:
    """GET ``url``; (status, parsed JSON body, headers), also for 4xx/5xx answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null"), dict(exc.headers)


def get_json(url: str, timeout: float = 5.0) -> tuple[int, Any]:
    """GET ``url``; (status, parsed JSON body), also for 4xx/5xx answers."""
    status, body, _ = get_answer(url, timeout)
    return status, body


@dataclass
class WorkerProcess:
    """One worker subprocess with its own data directory and web port."""

    env: dict[str, str]
    data_dir: Path
    web_port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    app: str = "app"  # the Faust app module (`faust -A`); bench.floor runs its own

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self) -> WorkerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "DATA_DIR": str(self.data_dir), "WEB_PORT": str(self.web_port)}
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        faust = Path(sys.executable).with_name("faust")
        self.process = subprocess.Popen(
            [str(faust), "-A", self.app, "worker", "-l", "info"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_answering(self, timeout_s: float = 90.0) -> dict[str, Any]:
        """Wait until /health answers at all (200 or 503); returns the health body. Events
        produced to Kafka now are read once the worker joins; POST /ingest may still say 503."""
        return self._wait("answering", timeout_s, lambda status, body: True)

    def wait_consuming(self, timeout_s: float = 90.0) -> dict[str, Any]:
        """Wait until the worker owns partitions and its tables are recovered."""
        return self._wait("consuming", timeout_s, lambda status, body: bool(body.get("consuming")))

    def wait_ready(self, timeout_s: float = 90.0) -> dict[str, Any]:
        """Wait until /health/ready answers 200: every topic verified (POST /ingest accepts),
        partitions assigned and tables recovered. Returns the /health/ready body."""
        return self._wait("ready", timeout_s, lambda status, body: status == 200, "/health/ready")

    def _wait(
        self,
        state: str,
        timeout_s: float,
        done: Callable[[int, dict[str, Any]], bool],
        path: str = "/health",
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}; see {self.log_path}")
            try:
                status, body = get_json(f"{self.url}{path}", timeout=3)
                if done(status, body):
                    return dict(body)
            except (OSError, ValueError):
                pass
            time.sleep(0.3)
        raise TimeoutError(f"worker not {state} on {self.url} after {timeout_s} s; see {self.log_path}")

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, Any]:
        return get_json(f"{self.url}{path}", timeout)

    def get_text(self, path: str) -> str:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as response:
            return str(response.read().decode())

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM and wait (graceful shutdown); SIGKILL after ``timeout_s``."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def dump_tasks(self) -> None:
        """SIGUSR1: the worker logs every asyncio task's stack (`worker.tasks_dumped`)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)
            time.sleep(1.0)

    def kill(self) -> None:
        """SIGKILL: a crash, as far as the worker can tell."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
