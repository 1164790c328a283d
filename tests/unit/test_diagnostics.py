"""The SIGUSR1 task dump names where a stuck task actually waits, not only its outer frame."""

from __future__ import annotations

import asyncio

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
