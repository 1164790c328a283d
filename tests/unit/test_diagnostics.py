"""The SIGUSR1 task dump names where a stuck task actually waits, not only its outer frame."""

from __future__ import annotations

import asyncio

from app.diagnostics import await_chain


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
