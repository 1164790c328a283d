"""Hand-over of fetched messages: no task unless the delivery waits; a waiting delivery is
still raced against the flow's suspension, and abandoning it cancels it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest

from app.drain import deliver


class Races:
    """A ``race`` that records its use; ``abandon`` makes it give up at once, as Faust's
    ``wait_first`` does when a rebalance suspends the flow."""

    def __init__(self, abandon: bool = False) -> None:
        self.calls = 0
        self.abandon = abandon

    async def __call__(self, rest: Awaitable[Any]) -> Any:
        self.calls += 1
        task = asyncio.ensure_future(rest)
        if self.abandon:
            await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return None
        return await task


async def test_a_delivery_that_does_not_wait_runs_in_place() -> None:
    delivered: list[int] = []
    tasks_before = len(asyncio.all_tasks())

    async def put(n: int) -> None:
        delivered.append(n)

    race = Races()
    for n in range(3):
        await deliver(put(n), race)
    assert delivered == [0, 1, 2]
    assert race.calls == 0
    assert len(asyncio.all_tasks()) == tasks_before


async def test_a_delivery_that_waits_finishes_through_the_race() -> None:
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    steps: list[str] = []

    async def put() -> None:
        steps.append("before")
        steps.append(await gate)
        await asyncio.sleep(0)  # a bare yield is passed through too
        steps.append("after")

    race = Races()
    asyncio.get_running_loop().call_later(0.01, gate.set_result, "opened")
    await deliver(put(), race)
    assert steps == ["before", "opened", "after"]
    assert race.calls == 1


async def test_an_abandoned_delivery_is_cancelled_where_it_waits() -> None:
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    outcome: list[str] = []

    async def put() -> None:
        try:
            await never
            outcome.append("delivered")
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    await deliver(put(), Races(abandon=True))
    assert outcome == ["cancelled"]


async def test_errors_reach_the_drain_loop_from_either_step() -> None:
    async def fails_at_once() -> None:
        raise ValueError("undecodable")

    async def fails_later() -> None:
        await asyncio.sleep(0)
        raise KeyError("no callback")

    with pytest.raises(ValueError, match="undecodable"):
        await deliver(fails_at_once(), Races())
    with pytest.raises(KeyError):
        await deliver(fails_later(), Races())
