"""runtime.batch_reader.take_batches on a Faust stream: batch sizes and timing, no acks of its
own, and the events Faust's own stream iterator drops (an earlier consumer generation,
a suspended flow)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from faust.types import EventT
from faust.types.tuples import Message

from runtime.batch_reader import take_batches


async def put(app: Any, channel: Any, offsets: range, *, generation: int | None = None) -> list[EventT]:
    events = []
    for offset in offsets:
        message = Message(
            "reader-test",
            0,
            offset,
            0.0,
            0,
            [],
            b"k",
            b"v",
            None,
            generation_id=app.consumer_generation_id if generation is None else generation,
        )
        message.incref()  # the conductor's reference for the channel it delivers to
        event = app.create_event(b"k", offset, [], message)
        await channel.put(event)
        events.append(event)
    return events


def offsets(events: list[EventT]) -> list[int]:
    return [event.message.offset for event in events]


async def test_full_batches_at_once_then_the_rest_after_the_timeout(app: Any) -> None:
    channel = app.channel()
    stream = app.stream(channel)
    await put(app, channel, range(250))
    batches = take_batches(stream, 100, 0.3)
    started = time.monotonic()
    first = await anext(batches)
    second = await anext(batches)
    full = time.monotonic() - started
    third = await anext(batches)
    partial = time.monotonic() - started
    assert [offsets(first), offsets(second), offsets(third)] == [
        list(range(100)),
        list(range(100, 200)),
        list(range(200, 250)),
    ]
    assert full < 0.2  # full batches do not wait for the timeout
    # The rest waits for it, and no longer. uvloop's clock counts whole milliseconds, cached
    # per loop iteration, so by time.monotonic() the wait may end a hair before 0.3 s.
    assert 0.29 <= partial < 1.5
    await batches.aclose()


async def test_a_partial_batch_goes_once_the_input_is_quiet(app: Any) -> None:
    """The end of a burst is handled after BATCH_QUIET_MS without a message, not after the
    whole BATCH_TIMEOUT_MS; events that keep coming within it join the batch."""
    channel = app.channel()
    stream = app.stream(channel)
    batches = take_batches(stream, 100, 5.0, 0.2)
    await put(app, channel, range(3))
    started = time.monotonic()
    waiting = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0.1)  # within the quiet window: still the same batch
    await put(app, channel, range(3, 5))
    first = await asyncio.wait_for(waiting, 2.0)
    took = time.monotonic() - started
    assert offsets(first) == [0, 1, 2, 3, 4]
    assert 0.25 <= took < 1.0  # 0.2 s after the last event, not 5 s after the first
    await put(app, channel, range(5, 7))
    started = time.monotonic()
    assert offsets(await anext(batches)) == [5, 6]
    assert time.monotonic() - started < 1.0
    await batches.aclose()


async def test_no_quiet_window_takes_what_is_waiting(app: Any) -> None:
    channel = app.channel()
    stream = app.stream(channel)
    await put(app, channel, range(3))
    batches = take_batches(stream, 100, 5.0, 0.0)
    started = time.monotonic()
    assert offsets(await anext(batches)) == [0, 1, 2]
    assert time.monotonic() - started < 0.2
    waiting = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0.1)
    assert not waiting.done()  # never an empty batch
    await put(app, channel, range(3, 4))
    assert offsets(await asyncio.wait_for(waiting, 1.0)) == [3]
    await batches.aclose()


async def test_the_reader_never_acks_its_batches(app: Any) -> None:
    """The caller acks what it finished: a body that raises leaves its batch unacked, so
    nothing behind it is committed (take_events acks in a finally)."""
    channel = app.channel()
    stream = app.stream(channel)
    events = await put(app, channel, range(3))
    batches = take_batches(stream, 2, 0.1)
    first = await anext(batches)
    second = await anext(batches)  # the first batch's body returned
    assert [offsets(first), offsets(second)] == [[0, 1], [2]]
    assert [event.message.refcount for event in events] == [1, 1, 1]  # theirs to ack
    first[0].ack()
    assert events[0].message.refcount == 0
    await batches.aclose()
    assert [event.message.refcount for event in events[1:]] == [1, 1]

    more = await put(app, channel, range(3, 5))
    batches = take_batches(stream, 2, 0.1)

    async def body_that_raises() -> None:
        async for _batch in batches:
            raise RuntimeError("a bug in the body")

    try:
        await body_that_raises()
    except RuntimeError:
        pass
    await batches.aclose()
    assert [event.message.refcount for event in more] == [1, 1]


async def test_stale_and_suspended_events_are_dropped_unacked(app: Any) -> None:
    channel = app.channel()
    stream = app.stream(channel)
    stale = await put(app, channel, range(2), generation=app.consumer_generation_id - 1)
    current = await put(app, channel, range(2, 4))
    batches = take_batches(stream, 10, 0.1)
    taken = await anext(batches)
    assert offsets(taken) == [2, 3]
    for event in taken:
        event.ack()
    assert [event.message.refcount for event in stale] == [1, 1]  # not acked: read again
    suspended = await put(app, channel, range(4, 6))
    app.flow_control.suspend()  # a rebalance began after these were fetched
    try:
        waiting = asyncio.ensure_future(anext(batches))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # they were taken and dropped: nothing to yield
    finally:
        app.flow_control.resume()
    await put(app, channel, range(6, 7))
    assert offsets(await waiting) == [6]
    assert [event.message.refcount for event in suspended] == [1, 1]
    assert [event.message.refcount for event in current] == [0, 0]
    await batches.aclose()


async def test_batches_end_when_the_agent_stops_its_channel(app: Any) -> None:
    channel = app.channel()
    stream = app.stream(channel)
    batches = take_batches(stream, 10, 5.0)
    await put(app, channel, range(2))
    waiting = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0.1)
    stream.channel._throw(StopAsyncIteration())  # what Faust's actor does when it stops
    try:
        await asyncio.wait_for(waiting, 1.0)
    except StopAsyncIteration:
        pass  # the end of the batches, not an error (a RuntimeError crashed the agents)
    else:
        raise AssertionError("a batch after the channel was stopped")
