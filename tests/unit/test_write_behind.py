"""Write-behind: a batch's messages become committable only once its write is done; writes
run one at a time in order; a failing or stuck write exits the worker unacked."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from faust.types import TP
from faust.types.tuples import Message

import runtime.write_behind as write_behind
from runtime.shutdown import EXIT_UNFLUSHED
from runtime.write_behind import WriteBehind


class Event:
    """What the agent holds: a message Faust delivered to one stream (one reference; the
    batch reader does not ack write-behind batches, so the write's ack is the final one)."""

    def __init__(self, offset: int) -> None:
        self.message = Message("git.commits", 0, offset, 0.0, 0, None, b"k", b"v", None, tp=TP("git.commits", 0))
        self.message.incref()

    def ack(self) -> bool:
        return self.message.ack(consumer=None)  # type: ignore[arg-type]

    @property
    def committable(self) -> bool:
        return self.message.acked


def batch(*offsets: int) -> list[Any]:
    return [Event(o) for o in offsets]


@pytest.fixture
def exits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    codes: list[int] = []
    monkeypatch.setattr(write_behind, "exit_now", codes.append)
    return codes


async def test_a_batch_is_committable_only_once_its_write_is_done() -> None:
    writes = WriteBehind("test")
    release = asyncio.Event()
    events = batch(0, 1, 2)

    async def write() -> None:
        await release.wait()

    await writes.submit(events, write())
    await asyncio.sleep(0.01)
    assert writes.in_flight
    assert not any(e.committable for e in events)
    release.set()
    await writes.wait()
    assert all(e.committable for e in events)
    assert not writes.in_flight


async def test_writes_run_one_at_a_time_in_submission_order() -> None:
    writes = WriteBehind("test")
    log: list[str] = []

    def write(name: str, seconds: float) -> Any:
        async def run() -> None:
            log.append(f"{name} start")
            await asyncio.sleep(seconds)
            log.append(f"{name} end")

        return run()

    await writes.submit(batch(0), write("a", 0.05))
    log.append("a submitted")
    await writes.submit(batch(1), write("b", 0.01))
    log.append("b submitted")
    await writes.submit(batch(2), write("c", 0.0))
    await writes.wait()
    writes_only = [entry for entry in log if "submitted" not in entry]
    assert writes_only == ["a start", "a end", "b start", "b end", "c start", "c end"]
    # submit returns at once, but not before the previous write is done
    assert log.index("a submitted") < log.index("a end") < log.index("b submitted")


async def test_a_failing_write_exits_the_worker_without_acking(exits: list[int]) -> None:
    writes = WriteBehind("test")
    events = batch(5, 6)

    async def write() -> None:
        raise RuntimeError("a bug in the write")

    await writes.submit(events, write())
    await writes.wait()
    assert exits == [EXIT_UNFLUSHED]
    assert not any(e.committable for e in events)


async def test_finish_waits_for_the_write_in_flight() -> None:
    writes = WriteBehind("test")
    events = batch(0)

    async def write() -> None:
        await asyncio.sleep(0.05)

    await writes.submit(events, write())
    await writes.finish(grace_s=5)
    assert events[0].committable


async def test_finish_exits_when_the_write_outlasts_the_grace(exits: list[int]) -> None:
    writes = WriteBehind("test")
    events = batch(0)

    async def write() -> None:
        await asyncio.sleep(60)  # the database does not answer

    await writes.submit(events, write())
    await writes.finish(grace_s=0.05)
    assert exits == [EXIT_UNFLUSHED]
    assert not events[0].committable


async def test_finish_with_nothing_in_flight_returns_at_once(exits: list[int]) -> None:
    writes = WriteBehind("test")
    await asyncio.wait_for(writes.finish(grace_s=5), 0.5)
    assert exits == []


async def test_the_grace_is_one_deadline_for_the_whole_shutdown(
    exits: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    import runtime.shutdown as shutdown

    monkeypatch.setattr(shutdown, "_deadline", None)
    first = shutdown.remaining_grace_s()
    assert first == shutdown.SHUTDOWN_GRACE_S  # the first wait starts it
    # Most of it spent (say, by the batch body finishing): the write gets what is left.
    monkeypatch.setattr(shutdown, "_deadline", time.monotonic() + 0.05)
    writes = WriteBehind("test")
    events = batch(0)

    async def write() -> None:
        await asyncio.sleep(60)

    await writes.submit(events, write())
    started = time.monotonic()
    await writes.finish()
    assert time.monotonic() - started < 1.0
    assert exits == [EXIT_UNFLUSHED]
    assert not events[0].committable
