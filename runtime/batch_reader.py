"""An agent's batches taken straight from its channel's queue, instead of ``take_events``.

Faust's ``Stream.take_events`` fills its buffer from a background task that iterates the
stream event by event: a turn of the event loop (``sleep(0)``), a queue ``get`` coroutine,
a processor coroutine and sensor calls per event, and an ``await stream.ack(event)`` per
event afterwards. In bench.commits that machinery cost about 30 µs of the worker's CPU per
commit: 177-186 -> 142-165 µs per commit with ``take_batches`` alone, in interleaved runs.

``take_batches`` takes the events waiting in the queue in one go and keeps the rules of
Faust's stream iterator (``faust/_cython/streams.pyx``) that the numbers depend on:

- an event fetched before a rebalance (another consumer generation), or while the flow is
  suspended for one, is dropped, not acked: the partition's new owner reads it again from
  the committed offset;
- every event of an acking topic is tracked as unacked (``consumer._unacked_messages``,
  which a rebalance waits to empty) and its read offset reported (``on_message_in``, which
  /stats and the stall watch read) when it is taken;
- the stream's processors, if any (Faust's agent test wrapper has one), see every event
  taken, and an event one of them skips is acked and left out;
- a batch is never acked here: the caller acks each event once its effects are durable
  (agents.batches after a handled batch, runtime.write_behind after its write). Faust's
  ``take_events`` acks in a ``finally``, so a body that raises has its batch committed
  unprocessed and the events behind it lost.

Batching is ``take_events``': up to ``max_`` events, or what arrived within ``within``
seconds of starting the batch; never an empty batch. And a partial batch is yielded as soon
as no event has come for ``quiet`` seconds: the last events of a burst are handled at once,
not ``within`` later (up to 5 s of the default BATCH_TIMEOUT_MS, for nothing: a worker
behind its input finds the queue refilled within milliseconds, so its batches stay full).
The batches end when the agent stops (Faust throws ``StopAsyncIteration`` into the
channel); events taken for a batch not yet yielded then stay unacked, read again after
restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from faust import StreamT
from faust.exceptions import Skip
from faust.types import EventT
from mode.utils.futures import maybe_async

__all__ = ["take_batches"]


async def take_batches(
    stream: StreamT[Any], max_: int, within: float, quiet: float | None = None
) -> AsyncIterator[list[EventT[Any]]]:
    """Lists of at most ``max_`` events of ``stream``, each yielded within ``within`` s of
    its first wait, or once no event came for ``quiet`` s (default: ``within``) (module
    doc); the consumer of a list acks its events."""
    linger = within if quiet is None else min(quiet, within)
    # Faust's own internals, read once: the stream iterator reads the same.
    app: Any = stream.app
    # The stream's channel is its iterator already when the app made the stream (as
    # take_events does: the same channel, or a subscribed clone of a plain one).
    queue = aiter(stream.channel).queue  # type: ignore[attr-defined]
    flow = app.flow_control
    acking_topics = app.topics._acking_topics
    track = app.consumer._unacked_messages.add
    message_in = stream._on_message_in  # type: ignore[attr-defined]
    processors = stream._processors  # type: ignore[attr-defined]
    loop = asyncio.get_running_loop()
    empty, take = queue.empty, queue.get_nowait

    async def next_batch() -> list[EventT[Any]]:
        events: list[EventT[Any]] = []
        deadline = loop.time() + within
        while len(events) < max_:
            if empty():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    if events:
                        break
                    deadline, remaining = loop.time() + within, within
                if events:
                    if linger <= 0:
                        break
                    remaining = min(remaining, linger)
                try:
                    # A get cut short by the timeout leaves its event in the queue.
                    event = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    if events:  # quiet for ``linger``, or the deadline passed
                        break
                    continue
            else:
                event = take()  # raises what was thrown into the channel, as Faust's does
            message = event.message
            if not flow.is_active() or message.generation_id != app.consumer_generation_id:
                continue
            if not message.tracked and message.topic in acking_topics:
                message.tracked = True
                track(message)
                message_in(message.tp, message.offset, message)
            if processors and await _skipped_by(processors, event):
                event.ack()
                continue
            events.append(event)
        return events

    while not stream.should_stop:
        try:
            events = await next_batch()
        except StopAsyncIteration:
            return  # the agent is stopping: Faust throws this into its channel
        yield events


async def _skipped_by(processors: list[Any], event: EventT[Any]) -> bool:
    """Run the stream's processors on the event's value (for their effects: the batch
    holds events, as take_events' does); True when one of them skips the event."""
    value = event.value
    try:
        for processor in processors:
            value = await maybe_async(processor(value))
    except Skip:
        return True
    return False
