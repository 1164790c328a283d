"""The SIGUSR1 task dump names where a stuck task actually waits, not only its outer frame."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.diagnostics import await_chain, task_chain


async def _held(event: asyncio.Event) -> None:
    await event.wait()


async def _batch(event: asyncio.Event) -> None:
    await _held(event)


async def test_await_chain_reaches_the_innermost_wait() -> None:
    event = asyncio.Event()
    task = asyncio.ensure_future(_batch(event))
    await asyncio.sleep(0)
    chain = await_chain(task.get_coro())
    names = [entry.rsplit(" ", 1)[-1] for entry in chain]
    assert names[:3] == ["_batch", "_held", "wait"]
    event.set()
    await task


async def test_task_chain_continues_into_the_awaited_task() -> None:
    event = asyncio.Event()
    inner = asyncio.ensure_future(_batch(event), loop=None)
    outer = asyncio.ensure_future(_await_task(inner))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    names = [entry.rsplit(" ", 1)[-1] for entry in task_chain(outer)]
    assert names[0] == "_await_task" and names[-3:] == ["_batch", "_held", "wait"]
    event.set()
    await outer


async def _await_task(task: asyncio.Task[None]) -> None:
    await task


def test_the_memory_dump_names_the_line_whose_allocations_grew(monkeypatch: pytest.MonkeyPatch) -> None:
    import tracemalloc

    from app import diagnostics

    logged: list[dict[str, Any]] = []
    monkeypatch.setattr(
        diagnostics.log, "warning", lambda event, **fields: logged.append({"event": event, **fields})
    )
    dump = diagnostics.MemoryDump()
    dump()  # not tracing: says how to turn it on
    assert "PYTHONTRACEMALLOC=1" in logged[-1]["error"]
    tracemalloc.start(5)  # five frames: the dump also names the call paths
    try:
        dump()
        grown = [bytearray(1024) for _ in range(2000)]  # about 2 MB held on this line
        one_block = bytearray(3 * 2**20)
        dump()
    finally:
        tracemalloc.stop()
    first, second = logged[-2], logged[-1]
    assert first["compared"] is False and second["compared"] is True
    top = second["lines"][0]
    assert "test_diagnostics.py" in top["line"] and top["kb_diff"] >= 2000
    assert any(
        caller["kb_diff"] >= 2000 and any("grown = [bytearray" in frame for frame in caller["stack"])
        for caller in second["callers"]
    )
    assert len(grown) == 2000
    largest = second["largest"][0]  # the single 3 MB block, not the 2,000 small ones
    assert largest["kb"] >= 3072 and any("one_block = bytearray" in frame for frame in largest["stack"])
    assert len(one_block) == 3 * 2**20


async def test_a_task_whose_stack_cannot_be_printed_costs_its_stack_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """asyncio's stack printer raised inside linecache under a year of history (a frame's line
    number None); the stall report's timer then crashed the worker."""
    import app.diagnostics as diagnostics

    dumped: list[dict[str, Any]] = []
    monkeypatch.setattr(diagnostics.log, "warning", lambda event, **fields: dumped.append(fields))

    class Unprintable:  # the C task's printer cannot be replaced: a stand-in around it
        def __init__(self, task: asyncio.Task[None]) -> None:
            self._task = task

        def print_stack(self, **_: Any) -> None:
            raise TypeError("'<=' not supported between instances of 'int' and 'NoneType'")

        def __getattr__(self, name: str) -> Any:
            return getattr(self._task, name)

    event = asyncio.Event()
    task = asyncio.ensure_future(_batch(event))
    await asyncio.sleep(0)
    monkeypatch.setattr(asyncio, "all_tasks", lambda: {Unprintable(task)})
    diagnostics.dump_tasks()
    monkeypatch.undo()
    mine = [t for t in dumped[0]["tasks"] if "_batch" in t["coro"]]
    assert mine and mine[0]["stack"].startswith("stack unavailable: TypeError")
    assert [entry.rsplit(" ", 1)[-1] for entry in mine[0]["awaiting"]][:2] == ["_batch", "_held"]
    event.set()
    await task
