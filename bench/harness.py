"""What every benchmark needs: a local stack, a fresh migrated database, a ready worker,
the worker's peak RSS, and a wait for a database condition."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil

from devtools.localstack import LocalStack, free_port, fresh_database, local_stack
from devtools.worker_process import WorkerProcess

__all__ = [
    "print_log_tail",
    "BenchStack",
    "bench_stack",
    "CpuAccount",
    "ProcessSampler",
    "RssTimeline",
    "SamplerGroup",
    "wait_until",
]


@dataclass
class ProcessSampler:
    """Samples a process's resident set size in the background; keeps the peak. Also the
    CPU seconds (user + system, all threads) it used between enter and exit."""

    pid: int
    interval_s: float = 0.2
    peak_bytes: int = 0
    cpu_seconds: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> ProcessSampler:
        self._cpu_at_start = self._cpu()
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.cpu_seconds = self._cpu() - self._cpu_at_start

    def cpu_so_far(self) -> float:
        """CPU seconds used since enter (user + system, all threads)."""
        return self._cpu() - self._cpu_at_start

    def _cpu(self) -> float:
        return _process_cpu(self.pid)

    def _run(self) -> None:
        process = psutil.Process(self.pid)
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.peak_bytes = max(self.peak_bytes, process.memory_info().rss)
            time.sleep(self.interval_s)

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 2**20


class RssTimeline(ProcessSampler):
    """A ProcessSampler that also keeps every sample: (seconds since enter, RSS in MB)."""

    def __init__(self, pid: int, interval_s: float = 1.0) -> None:
        super().__init__(pid, interval_s)
        self.samples: list[tuple[float, float]] = []

    def _run(self) -> None:
        process = psutil.Process(self.pid)
        started = time.monotonic()
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                rss = process.memory_info().rss
                self.peak_bytes = max(self.peak_bytes, rss)
                self.samples.append((time.monotonic() - started, rss / 2**20))
            time.sleep(self.interval_s)

    def summary(self, points: int = 6) -> str:
        """``points`` samples spread over the run, e.g. ``0s 95 MB, 12s 180 MB, ...``."""
        if not self.samples:
            return "no samples"
        step = max(1, (len(self.samples) - 1) // max(1, points - 1))
        picked = self.samples[::step]
        if picked[-1] is not self.samples[-1]:
            picked.append(self.samples[-1])
        return ", ".join(f"{at:.0f}s {mb:.0f} MB" for at, mb in picked)


class SamplerGroup:
    """ProcessSamplers of several processes (a group of workers): CPU summed, the largest
    peak RSS."""

    def __init__(self, pids: Sequence[int]) -> None:
        self._samplers = [ProcessSampler(pid) for pid in pids]

    def __enter__(self) -> SamplerGroup:
        for sampler in self._samplers:
            sampler.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for sampler in self._samplers:
            sampler.__exit__()

    def cpu_so_far(self) -> float:
        return sum(sampler.cpu_so_far() for sampler in self._samplers)

    @property
    def peak_mb(self) -> float:
        return max(sampler.peak_mb for sampler in self._samplers)


def _process_cpu(process: psutil.Process | int) -> float:
    """User + system CPU seconds of a process (all threads); 0 once it is gone."""
    try:
        times = (psutil.Process(process) if isinstance(process, int) else process).cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def _machine_busy() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


class CpuAccount:
    """CPU seconds the whole machine spent between ``start`` and ``stop`` (``machine``),
    how much of it went to named groups of processes (by pid), and to PostgreSQL (every
    ``postgres`` process, so the backends serving the workers count, wherever the server
    was started); ``wall_seconds`` the time in between."""

    def __init__(self, **pids: Sequence[int]) -> None:
        self._named = {name: [psutil.Process(pid) for pid in group] for name, group in pids.items()}
        self.wall_seconds = 0.0

    def _now(self) -> dict[str, float]:
        now = {name: sum(_process_cpu(p) for p in group) for name, group in self._named.items()}
        now["postgres"] = sum(
            _process_cpu(process)
            for process in psutil.process_iter(["name"])
            if process.info["name"] == "postgres"
        )
        now["machine"] = _machine_busy()
        return now

    def start(self) -> CpuAccount:
        self._at_start = self._now()
        self._started = time.monotonic()
        return self

    def stop(self) -> dict[str, float]:
        """CPU seconds per name since ``start``, with ``machine`` for every process."""
        now = self._now()
        self.wall_seconds = time.monotonic() - self._started
        # A postgres backend that exited meanwhile takes its time along: never below zero.
        return {name: max(0.0, now[name] - self._at_start[name]) for name in now}


async def wait_until(check: Callable[[], Awaitable[bool]], timeout_s: float, poll_s: float = 0.05) -> float:
    """Poll ``check`` until true; returns the monotonic time it became true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return time.monotonic()
        await asyncio.sleep(poll_s)
    raise TimeoutError(f"condition not met within {timeout_s} s")


@dataclass
class BenchStack:
    stack: LocalStack
    root: Path
    database_url: str

    @property
    def bootstrap(self) -> list[str]:
        return [self.stack.broker.bootstrap]

    def worker(self, name: str, *, app: str = "app", **env: str) -> WorkerProcess:
        data = self.root / name
        shutil.rmtree(data, ignore_errors=True)
        return WorkerProcess(
            {**self.stack.env, "TIMESCALE_URL": self.database_url, **env},
            data,
            free_port(),
            self.root / f"{name}.log",
            app=app,
        )


@contextlib.contextmanager
def bench_stack(name: str) -> Iterator[BenchStack]:
    """A fresh local stack and a fresh migrated database ``sei_bench_<name>``."""
    root = Path(os.environ.get("DATA_DIR", "data")).resolve() / "bench" / name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    with local_stack(root, log_dir=root) as stack:
        url = urlunsplit(urlsplit(stack.database_url)._replace(path=f"/sei_bench_{name}"))
        asyncio.run(fresh_database(url))
        yield BenchStack(stack, root, url)


def print_log_tail(worker: WorkerProcess, lines: int = 30) -> None:
    """After a failed run: the end of the worker's log, on stderr (the next run deletes it)."""
    print(f"  run failed; the worker's log ends with ({worker.log_path}):", file=sys.stderr)
    text = worker.log_path.read_text(errors="replace").splitlines() if worker.log_path.exists() else []
    print("\n".join(text[-lines:]), file=sys.stderr)
