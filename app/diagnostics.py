"""Signals an operator sends a running worker, without stopping anything.

- `kill -USR1 <worker pid>` logs every asyncio task with its stack (`worker.tasks_dumped`):
  for a worker that looks stuck, what each agent, timer and Faust service is awaiting.
- `kill -USR2 <worker pid>` logs the source lines whose live allocations grew most since
  the previous USR2 (`worker.memory_dumped`): for a worker whose memory grows. It needs the
  worker started with `PYTHONTRACEMALLOC=1` (Python's allocation tracing: slower, a
  diagnosis setting, not a production one); without it the log says so.
"""

from __future__ import annotations

import asyncio
import io
import signal
import tracemalloc
from typing import Any

from app.logging import get_logger
from app.main import app

__all__ = ["await_chain", "dump_memory", "dump_tasks", "task_chain"]

log = get_logger("sei.diagnostics")


def await_chain(coro: Any, limit: int = 40) -> list[str]:
    """``file:line function`` of every coroutine or async generator ``coro`` is suspended in.

    A task's own stack shows only its outermost frame; what it actually waits on is at the
    end of this chain.
    """
    chain: list[str] = []
    while coro is not None and len(chain) < limit:
        frame = _first_attr(coro, "cr_frame", "ag_frame", "gi_frame")
        if frame is not None:
            chain.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        coro = _first_attr(coro, "cr_await", "ag_await", "gi_yieldfrom")
    if coro is not None:
        chain.append(repr(coro)[:200])
    return chain


def task_chain(task: asyncio.Task[Any], limit: int = 6) -> list[str]:
    """``await_chain`` of a task, continued into the task it waits on, and so on.

    Awaiting a task shows up in a coroutine as an opaque future iterator; the waiting
    task's ``_fut_waiter`` names the awaited task itself.
    """
    chain = await_chain(task.get_coro())
    waited = getattr(task, "_fut_waiter", None)
    if isinstance(waited, asyncio.Task) and limit > 0:
        chain.append(f"-> task {waited.get_name()}")
        chain.extend(task_chain(waited, limit - 1))
    return chain


def _first_attr(obj: Any, *names: str) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


def dump_tasks() -> None:
    tasks = []
    for task in asyncio.all_tasks():
        stack = io.StringIO()
        try:
            task.print_stack(limit=12, file=stack)
        except Exception as exc:
            # asyncio's printer fails on some frames (a line number of None in linecache): a
            # diagnostic must cost its own output only, never the worker (a timer's exception
            # crashes the app, as it did under a year of history).
            stack.write(f"stack unavailable: {type(exc).__name__}: {exc}")
        tasks.append(
            {
                "name": task.get_name(),
                "coro": repr(task.get_coro())[:200],
                "stack": stack.getvalue(),
                "awaiting": task_chain(task),
            }
        )
    log.warning("worker.tasks_dumped", count=len(tasks), tasks=tasks)


_MEMORY_LINES = 25
_TRACEBACKS = 5
_LARGEST = 10


class MemoryDump:
    """Live allocations by source line, each dump compared with the previous one."""

    def __init__(self) -> None:
        self.previous: tracemalloc.Snapshot | None = None

    def __call__(self) -> None:
        if not tracemalloc.is_tracing():
            log.warning(
                "worker.memory_dumped", error="start the worker with PYTHONTRACEMALLOC=1 to trace allocations"
            )
            return
        snapshot = tracemalloc.take_snapshot().filter_traces(
            (tracemalloc.Filter(False, tracemalloc.__file__),)
        )
        compared = self.previous is not None
        if self.previous is None:
            stats = snapshot.statistics("lineno")
            lines = [{"line": str(s.traceback), "kb": s.size // 1024, "blocks": s.count} for s in stats]
        else:
            diffs = snapshot.compare_to(self.previous, "lineno")
            lines = [
                {
                    "line": str(d.traceback),
                    "kb": d.size // 1024,
                    "kb_diff": d.size_diff // 1024,
                    "blocks": d.count,
                }
                for d in diffs
            ]
        callers: list[dict[str, Any]] = []
        if self.previous is not None and tracemalloc.get_traceback_limit() > 1:
            # With PYTHONTRACEMALLOC=N > 1: the allocating call paths that grew most.
            callers = [
                {"kb_diff": d.size_diff // 1024, "stack": d.traceback.format(most_recent_first=True)}
                for d in snapshot.compare_to(self.previous, "traceback")[:_TRACEBACKS]
            ]
        # Single blocks: a large buffer or a dict of a million slots is one line of many
        # small ones in the statistics above.
        largest = [
            {"kb": trace.size // 1024, "stack": trace.traceback.format(most_recent_first=True)}
            for trace in sorted(snapshot.traces, key=lambda t: t.size, reverse=True)[:_LARGEST]
        ]
        self.previous = snapshot
        traced, peak = tracemalloc.get_traced_memory()
        log.warning(
            "worker.memory_dumped",
            traced_mb=round(traced / 2**20, 1),
            peak_mb=round(peak / 2**20, 1),
            compared=compared,
            lines=lines[:_MEMORY_LINES],
            callers=callers,
            largest=largest,
        )


dump_memory = MemoryDump()


@app.task  # type: ignore[untyped-decorator]  # faust marks App.task no_type_check
async def _install_task_dump() -> None:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
    loop.add_signal_handler(signal.SIGUSR2, dump_memory)
