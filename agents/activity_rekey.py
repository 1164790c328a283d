"""<ACTIVITY_TOPIC> -> <ACTIVITY_TOPIC>-by-user: every valid event keyed by user_id, and
each source partition's watermark markers (docs/activity.md, docs/windowing.md).

Producers key the source topic by anything (user id, event id, none). Every event goes
through the internal topic, also one already keyed by user: one path for the watermarks
(a marker must follow the events it covers in every partition the operator reads) and
nothing to decide per message. Per batch:

1. decode and validate each message under one guard (agents.acceptance; any key): a bad
   one is dead-lettered with its coordinates, the batch goes on;
2. send the valid events' original bytes keyed by user_id, with the fields the operator
   needs in a header (agents.activity_change: it does not validate them again), one record
   batch per internal partition (runtime.keyed_batches), and await the broker's
   acknowledgements: one awaited send per event (Faust's ``group_by``) manages about 330
   events/s;
3. advance each source partition's ``InputClock``, then send its ``Marker`` to every
   internal partition on the same producer, so it arrives after the events it covers
   (with the source offset it covers, and each event with its own: a copy re-sent after a
   restart is known as one, agents.activity_source);
4. store and publish the dead letters; the batch is acked after (agents.batches).

Markers of a busy partition go out at most every MARKER_INTERVAL_S; a timer sends what
changed since (the last batch's progress, idleness: a partition read to its end offset
for ACTIVITY_IDLE_S). The clocks live in memory: after a restart a reader starts with no
time, and its first markers are lower than what the operators merged before, which keep
each input's largest watermark, so nothing moves back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import orjson
from aiokafka import AIOKafkaProducer
from faust import StreamT
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, EventT

from agents.acceptance import accept
from agents.activity_change import change_header, change_of
from agents.activity_source import source_header
from agents.batches import run_batches, verify_partitions
from agents.dlq import DeadLetterBatch
from app.logging import get_logger
from app.main import app, settings
from app.resources import database, metrics
from app.topics import user_activity, user_activity_by_user
from models.activity import ActivityMessage
from runtime.keyed_batches import send_keyed
from stores.dead_letters import store_dead_letters
from tables.windowing.units import seconds
from tables.windowing.watermark import InputClock, Marker, input_name

__all__ = ["rekey_activity", "handle_rekey_batch", "send_markers", "readers"]

log = get_logger("sei.activity")

MARKER_INTERVAL_S = 0.5
TICK_S = 1.0
GRACE = seconds(settings.activity_grace_s)


@dataclass(slots=True)
class Reader:
    """This worker's view of one source partition."""

    clock: InputClock
    next_offset: int | None = None  # after the last record handled; None: none since start
    sent: Marker | None = None
    sent_at: float = 0.0


readers: dict[int, Reader] = {}
# The timer and the agent both send markers: one at a time, so a marker computed earlier
# never reaches a partition after a later one (its idle flag would be stale).
_sending = asyncio.Lock()


def _reader(partition: int) -> Reader:
    found = readers.get(partition)
    if found is None:
        found = readers[partition] = Reader(InputClock(input_name(user_activity.get_topic_name(), partition)))
    return found


def _producer() -> AIOKafkaProducer:
    return cast(faust_aiokafka.Producer, app.producer)._ensure_producer()



async def send_markers(partitions: Sequence[int], *, now: float, throttle: bool) -> int:
    """Send the markers of ``partitions`` that changed since last sent (``throttle``: and
    were last sent MARKER_INTERVAL_S ago) to every internal partition; how many changed."""
    async with _sending:
        return await _send_markers(partitions, now=now, throttle=throttle)


async def _send_markers(partitions: Sequence[int], *, now: float, throttle: bool) -> int:
    producer = _producer()
    internal = user_activity_by_user.get_topic_name()
    targets = sorted(await producer.partitions_for(internal))
    futures = []
    sent = 0
    for partition in partitions:
        reader = _reader(partition)
        # The offset too: a record of this input below it that arrives later is a re-sent copy.
        marker = replace(reader.clock.marker(GRACE, settings.activity_idle_s, now), offset=reader.next_offset)
        if marker == reader.sent or (throttle and now - reader.sent_at < MARKER_INTERVAL_S):
            continue
        value = orjson.dumps(marker.to_record())
        futures += [await producer.send(internal, value, key=None, partition=target) for target in targets]
        reader.sent, reader.sent_at = marker, now
        sent += 1
    if futures:
        await asyncio.gather(*futures)
    return sent


async def handle_rekey_batch(events: Sequence[EventT[Any]]) -> None:
    """One batch of the source topic (module doc)."""
    started = time.perf_counter()
    verify_partitions(events[0].message.topic)
    letters = DeadLetterBatch()
    records: list[tuple[bytes, bytes]] = []
    headers: list[tuple[tuple[str, bytes], ...]] = []
    times: list[tuple[int, int, int | None]] = []  # (partition, offset, event time)
    for event in events:
        message = event.message
        change = accept(event, ActivityMessage, letters, None, lambda m: m.user_id, change_of)
        if change is not None:
            records.append((change.user_id.encode(), message.value or b""))
            headers.append((change_header(change), source_header(message.partition, message.offset)))
        times.append((message.partition, message.offset, None if change is None else change.time))
    futures = await send_keyed(_producer(), user_activity_by_user.get_topic_name(), records, headers)
    if futures:
        await asyncio.gather(*set(futures))
    # Only now do the clocks cover these events: a marker never precedes what it covers.
    for partition, offset, event_time in times:
        reader = _reader(partition)
        reader.clock = reader.clock.read(event_time)
        reader.next_offset = offset + 1
    await send_markers(sorted({p for p, _, _ in times}), now=time.monotonic(), throttle=True)
    if len(letters):
        await database.transaction(
            lambda conn: store_dead_letters(conn, letters.letters), what="activity re-keying"
        )
    letters.publish()
    metrics.record_batch(
        events[0].message.topic,
        consumed=len(events),
        processed=len(records),
        duplicates=0,
        seconds=time.perf_counter() - started,
    )


async def _at_end(tp: TP, reader: Reader) -> bool | None:
    """Whether this worker has read ``tp`` to its end offset (None: not known yet)."""
    end = app.consumer.highwater(tp)
    if end is None:
        return None
    position = reader.next_offset
    if position is None:
        position = await app.consumer.position(tp)
    return None if position is None else position >= end


@app.timer(TICK_S)  # type: ignore[untyped-decorator]  # faust marks App.timer no_type_check
async def _send_idle_markers() -> None:
    """Idleness and the last batch's progress reach the operators when no records do."""
    topic = user_activity.get_topic_name()
    mine = sorted(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic)
    for partition in set(readers) - set(mine):
        del readers[partition]
    now = time.monotonic()
    for partition in mine:
        reader = _reader(partition)
        at_end = await _at_end(TP(topic, partition), reader)
        if at_end is True:
            reader.clock = reader.clock.at_end(now)
        elif at_end is False:
            reader.clock = reader.clock.behind()
    await send_markers(mine, now=now, throttle=False)


@app.agent(user_activity, concurrency=1)
async def rekey_activity(stream: StreamT[bytes]) -> None:
    """<ACTIVITY_TOPIC> -> <ACTIVITY_TOPIC>-by-user, with watermark markers."""
    await run_batches(stream, handle_rekey_batch, what=user_activity.get_topic_name())
