"""Hand-over of fetched messages: no task unless the delivery waits; a waiting delivery is
still raced against the flow's suspension, and abandoning it cancels it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.consumer import Consumer as FaustConsumer
from faust.types import TP

from runtime.drain import BUFFERED_POLL_S, LeanDrain, deliver


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


class FetchingConsumer:
    """Faust's own fetch-wait and buffer bookkeeping (``faust.transport.consumer.Consumer``'s
    methods) over a fetch that, like a broker with nothing new, answers after its timeout."""

    _wait_next_records = FaustConsumer._wait_next_records
    _get_active_partitions = FaustConsumer._get_active_partitions
    _set_active_tps = FaustConsumer._set_active_tps
    on_buffer_full = FaustConsumer.on_buffer_full
    on_buffer_drop = FaustConsumer.on_buffer_drop

    def __init__(self, partitions: set[Any]) -> None:
        self.app = SimpleNamespace(client_only=False, in_recovery=False)
        self.flow_active = True
        self.can_resume_flow = asyncio.Event()
        self.not_waiting_next_records = asyncio.Event()
        self._active_partitions: set[Any] | None = None
        self._paused_partitions: set[Any] = set()
        self._buffered_partitions: set[Any] = set()
        self._assigned = partitions
        self.fetch_timeouts: list[float] = []
        self.stopped = asyncio.Event()

    def assignment(self) -> set[Any]:
        return set(self._assigned)

    async def _getmany(self, active_partitions: set[Any], timeout: float) -> dict[Any, Any]:
        self.fetch_timeouts.append(timeout)
        await asyncio.sleep(timeout)
        return {}

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait(self, event: asyncio.Event, timeout: float | None = None) -> None:
        # mode's Service.wait: the event, the timeout or the service stopping, whichever first
        waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(self.stopped.wait())]
        _, pending = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()


def lean_consumer(partitions: set[Any]) -> Any:
    class Lean(LeanDrain, FetchingConsumer):
        pass

    return Lean(partitions)


async def test_while_a_partition_is_out_for_a_full_buffer_the_others_are_fetched_briefly() -> None:
    source, changelog = TP("git.commits", 0), TP("app-commit_days-changelog", 0)
    consumer = lean_consumer({source, changelog})
    await consumer._wait_next_records(0.2)
    assert consumer.fetch_timeouts == [0.2]  # nothing out: Faust's own wait

    consumer.on_buffer_full(source)
    started = asyncio.get_running_loop().time()
    await consumer._wait_next_records(1.0)
    assert consumer.fetch_timeouts[-1] == BUFFERED_POLL_S
    assert asyncio.get_running_loop().time() - started < 0.5

    consumer.on_buffer_drop(source)
    await consumer._wait_next_records(0.2)
    assert consumer.fetch_timeouts[-1] == 0.2
    assert consumer._get_active_partitions() == {source, changelog}


async def test_with_every_partition_out_the_fetch_resumes_when_the_first_buffer_drains() -> None:
    partitions = {TP("git.commits", 0), TP("git.commits", 1)}
    consumer = lean_consumer(partitions)
    for tp in partitions:
        consumer.on_buffer_full(tp)
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, consumer.on_buffer_drop, TP("git.commits", 1))
    started = loop.time()
    records, active = await consumer._wait_next_records(5.0)
    waited = loop.time() - started
    assert 0.04 < waited < 1.0  # Faust's fetcher sleeps a whole second here
    assert (records, consumer.fetch_timeouts) == ({}, [])
    await consumer._wait_next_records(0.1)  # the next round fetches the partition back
    assert TP("git.commits", 1) in consumer._get_active_partitions()
    assert consumer.fetch_timeouts


async def test_with_every_partition_out_a_stopping_consumer_is_not_held() -> None:
    consumer = lean_consumer({TP("git.commits", 0)})
    consumer.on_buffer_full(TP("git.commits", 0))
    asyncio.get_running_loop().call_later(0.05, consumer.stopped.set)
    started = asyncio.get_running_loop().time()
    await consumer._wait_next_records(5.0)
    assert asyncio.get_running_loop().time() - started < 1.0
