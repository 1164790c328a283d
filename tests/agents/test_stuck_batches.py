"""agents.batches.handle_until_done: a batch whose handling raises is never acked, is
retried, is reported while it fails, and does not hold a rebalance or a shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faust.types import EventT

from tests.agents.test_batch_reader import put


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    import agents.batches

    monkeypatch.setattr(agents.batches, "retry_pause_s", lambda attempts: 0.05)


async def tracked(app: Any, count: int) -> list[EventT]:
    events = await put(app, app.channel(), range(count))
    for event in events:
        event.message.tracked = True
        app.consumer._unacked_messages.add(event.message)
    return events


async def test_a_failing_batch_is_retried_unacked_and_reported_until_it_gets_through(
    app: Any, quick_retries: None
) -> None:
    from agents.batches import handle_until_done
    from app.resources import stuck_batches

    events = await tracked(app, 3)
    attempts: list[int] = []
    seen_while_failing: list[Any] = []

    async def handle(batch: Any) -> None:
        attempts.append(len(batch))
        if len(attempts) < 3:
            raise OverflowError("date value out of range")
        seen_while_failing.extend(stuck_batches.as_list())

    assert await handle_until_done(events, handle, what="reader-test") is True
    assert attempts == [3, 3, 3]
    # While it failed: reported, with the batch's offsets; not acked, and out of the set a
    # rebalance or shutdown waits on.
    assert [(s["agent"], s["error_type"], s["attempts"], s["offsets"]) for s in seen_while_failing] == [
        ("reader-test", "OverflowError", 2, {"reader-test/0": [0, 2]})
    ]
    assert [e.message.refcount for e in events] == [1, 1, 1]
    assert not any(e.message in app.consumer._unacked_messages for e in events)
    assert not stuck_batches  # cleared once through


async def test_a_batch_that_never_gets_through_holds_its_acks_but_not_the_shutdown(
    app: Any, quick_retries: None
) -> None:
    from agents.batches import handle_until_done
    from app.resources import stuck_batches

    events = await tracked(app, 2)

    async def handle(batch: Any) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    task = asyncio.ensure_future(handle_until_done(events, handle, what="reader-test"))
    await asyncio.sleep(0.3)
    assert not task.done()
    assert stuck_batches.as_list()[0]["attempts"] >= 2
    # Faust's wait_empty (rebalance, shutdown) waits for this set: it must not wait forever.
    assert not any(e.message in app.consumer._unacked_messages for e in events)
    task.cancel()  # the agent stopping
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [e.message.refcount for e in events] == [1, 1]  # never acked: read again after restart
    stuck_batches.cleared("reader-test")


async def test_a_failing_batch_is_left_unacked_once_a_rebalance_took_its_partitions(
    app: Any, quick_retries: None
) -> None:
    from agents.batches import handle_until_done
    from app.resources import stuck_batches

    events = await tracked(app, 2)
    calls = 0

    async def handle(batch: Any) -> None:
        nonlocal calls
        calls += 1
        app.consumer_generation_id += 1  # a rebalance while it failed
        raise ValueError("bug")

    assert await handle_until_done(events, handle, what="reader-test") is False
    assert calls == 1
    assert [e.message.refcount for e in events] == [1, 1]
    assert not stuck_batches


async def test_a_failing_write_behind_write_is_retried_unacked_then_acked(app: Any, quick_retries: None) -> None:
    """The commits' and ingest's writes run behind the next batch: one that raises is retried
    (the worker exited on it), its batch unacked and reported until it gets through."""
    from agents.batches import retried_writes
    from app.resources import stuck_batches

    writes = retried_writes("reader-test")
    events = await tracked(app, 2)
    calls = 0
    reported: list[Any] = []

    async def write() -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise RuntimeError("a bug in the write")
        reported.extend(stuck_batches.as_list())

    await writes.submit(events, write)
    await writes.wait()
    assert calls == 3
    assert [(s["agent"], s["attempts"]) for s in reported] == [("reader-test write", 2)]
    assert [e.message.refcount for e in events] == [0, 0]  # acked once written
    assert not stuck_batches
