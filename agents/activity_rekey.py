"""<ACTIVITY_TOPIC> -> <ACTIVITY_TOPIC>-by-user: every valid event keyed by user_id, and
each source partition's watermark markers (docs/activity.md, docs/windowing.md).

Producers key the source topic by anything (user id, event id, none). Two routes, chosen
per consumer generation (``direct_route``):

- through the topic (more than one worker): every event goes through the internal topic,
  also one already keyed by user: one path for the watermarks (a marker must follow the
  events it covers in every partition the operator reads) and nothing to decide per
  message;
- direct (this worker owns every partition of both topics): the events and the markers
  are applied to the operator partitions here (agents.activity.apply_activity), no second
  trip through Kafka. The events go direct at once; their markers are held back until
  nothing sent through the internal topic before (by this worker or a previous owner) is
  still on its way to an operator: every internal partition's end offset at the switch
  within what its group committed or this worker handled (``_markers_direct``). What it applied is
  committed before partitions are given up (``_commit_direct_route``).

Per batch:

1. decode and validate each message under one guard (agents.acceptance; any key): a bad
   one is dead-lettered with its coordinates, the batch goes on; one of the common shape
   is checked by hand instead (agents.activity_change.plain_change), to the same result;
2. through the topic: send the valid events' original bytes keyed by user_id, with the
   fields the operator needs in a header (agents.activity_change: it does not validate
   them again), one record batch per internal partition (runtime.keyed_batches), and
   await the broker's acknowledgements: one awaited send per event (Faust's ``group_by``)
   manages about 330 events/s;
3. advance each source partition's ``InputClock``, then send its ``Marker`` to every
   internal partition on the same producer, so it arrives after the events it covers
   (with the source offset it covers, and each event with its own: a copy re-sent after a
   restart is known as one, agents.activity_source); direct: apply the events and then
   the markers to every operator partition, with the dead letters in one transaction;
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import orjson
from aiokafka import AIOKafkaProducer
from faust import StreamT
from faust.transport.consumer import Consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, EventT
from faust.types.tuples import Message

from agents.acceptance import accept
from agents.activity import Arrival, Step, apply_activity, handled_offsets
from agents.activity_change import change_header, change_of, plain_event_change
from agents.activity_source import source_header
from agents.batches import run_batches, verify_partitions
from agents.dlq import DeadLetterBatch
from app.logging import get_logger
from app.main import app, settings
from app.resources import metrics
from app.topics import user_activity, user_activity_by_user
from models.activity import ActivityMessage
from runtime.coalesced import flush_pending_batched
from runtime.keyed_batches import send_keyed
from runtime.partitioner import partition_of
from runtime.shutdown import EXIT_UNFLUSHED, exit_now
from tables.windowing.units import seconds
from tables.windowing.watermark import InputClock, Marker, input_name

__all__ = ["rekey_activity", "handle_rekey_batch", "send_markers", "direct_route", "readers"]

log = get_logger("sei.activity")

MARKER_INTERVAL_S = 0.5
ROUTE_CHECK_S = 1.0  # how often the direct route checks whether its markers may be applied
TICK_S = 1.0
GRACE = seconds(settings.activity_grace_s)


@dataclass(slots=True)
class Reader:
    """This worker's view of one source partition."""

    clock: InputClock
    next_offset: int | None = None  # after the last record handled; None: none since start
    sent: Marker | None = None  # the last marker sent through the internal topic
    sent_at: float = 0.0
    merged: Marker | None = None  # the last marker applied to the operators directly


@dataclass(slots=True)
class Route:
    """How this worker's events reach the operators, for one consumer generation."""

    generation: int
    direct: bool = False  # events applied here
    markers_direct: bool = False  # markers applied here too (nothing in flight on the topic)
    next_check: float = 0.0  # monotonic time of the next check for markers_direct
    since: float = 0.0  # monotonic time the events went direct
    # Per internal partition, its end offset when the events went direct: every record
    # this worker (or a previous owner) sent there for the operators lies below it.
    sent_before: dict[int, int] | None = None


readers: dict[int, Reader] = {}
# The timer and the agent both send markers: one at a time, so a marker computed earlier
# never reaches a partition after a later one (its idle flag would be stale). Markers
# applied directly are computed and applied under it too, after the events they follow.
_sending = asyncio.Lock()
_route = Route(generation=-1)
_anchors: dict[int, EventT[Any]] = {}


def _reader(partition: int) -> Reader:
    found = readers.get(partition)
    if found is None:
        found = readers[partition] = Reader(InputClock(input_name(user_activity.get_topic_name(), partition)))
    return found


def _producer() -> AIOKafkaProducer:
    return cast(faust_aiokafka.Producer, app.producer)._ensure_producer()


def _anchor(partition: int) -> EventT[Any]:
    """Stands for an event of internal ``partition`` in the operator's table writes (they
    go to the partition of the current event) when there is no record of it at hand."""
    found = _anchors.get(partition)
    if found is None:
        message = Message(user_activity_by_user.get_topic_name(), partition, -1, 0.0, 0, [], None, None, None)
        found = _anchors[partition] = app.create_event(None, None, [], message)
    return found


def _owns_everything(targets: Sequence[int]) -> bool:
    """Every partition of the source and internal topics is this worker's (one worker, or
    the last one standing)."""
    source, internal = user_activity.get_topic_name(), user_activity_by_user.get_topic_name()
    mine = app.assignor.assigned_actives()
    return all(TP(source, p) in mine for p in range(settings.topic_partitions)) and all(
        TP(internal, p) in mine for p in targets
    )


async def direct_route(targets: Sequence[int]) -> bool:
    """Whether this worker applies the events it reads to the operators itself (module doc):
    it owns every partition of both topics. Their markers follow once nothing sent through
    the internal topic before is in flight (``_markers_direct``)."""
    global _route
    generation = app.consumer_generation_id
    if _route.generation != generation:
        _route = Route(generation)
    if not _route.direct and _owns_everything(targets):
        # Under the lock: no marker goes through the topic between the end offsets read
        # and the switch (the events sent there before were acknowledged, batch by batch).
        async with _sending:
            sent_before = await _end_offsets(targets)
            if app.consumer_generation_id != generation:  # a rebalance meanwhile: decide again
                return False
            _route.sent_before = sent_before
            _route.direct, _route.since = True, time.monotonic()
        log.info("activity.direct_route", generation=generation, partitions=len(targets))
    return _route.direct


async def _markers_direct(targets: Sequence[int], now: float) -> bool:
    """Whether the markers of the direct route may be applied: nothing sent through the
    internal topic before (by this worker in the generation's first batches, or by a
    previous owner) is still on its way to an operator, where a marker applied here first
    would make it late. Until then they are held back (the watermark waits; an event
    applied here meanwhile is judged against the older one, as it would have been).

    Checked at most every ROUTE_CHECK_S, never waited for: a wait would hold the records it
    waits for, as the fetcher delivers every topic in turn and stays blocked on this
    agent's buffer, full of source records, while the agent waits (a barrier sent through
    the topic and awaited took its whole timeout, batch after batch, on a fresh start with
    a backlog). And the events go direct meanwhile, or those in flight would never end."""
    if _route.markers_direct:
        return True
    if now < _route.next_check:
        return False
    if not await _nothing_in_flight(targets):
        _route.next_check = now + ROUTE_CHECK_S
        return False
    _route.markers_direct = True
    log.info(
        "activity.direct_markers",
        generation=_route.generation,
        held_s=round(max(0.0, time.monotonic() - _route.since), 3),
    )
    return True


async def _end_offsets(targets: Sequence[int]) -> dict[int, int] | None:
    """The end offset of each internal partition; None if one is not known."""
    internal = user_activity_by_user.get_topic_name()
    ends = await cast(Consumer, app.consumer).highwaters(*(TP(internal, p) for p in targets))
    found = {p: ends.get(TP(internal, p)) for p in targets}
    return None if any(end is None for end in found.values()) else cast(dict[int, int], found)


async def _nothing_in_flight(targets: Sequence[int]) -> bool:
    """Every record sent through the internal partitions for the operators before the
    events went direct has been handled: below what the group committed or this worker's
    operator handled in this generation (so at once on a fresh start, a restart, or a
    worker that was alone before). What the ingest errors' reader sends there since is
    not waited for: it never stops on a busy ingest topic, and the direct markers cannot
    make it late that the topic's would not."""
    if _route.sent_before is None:  # not known when the events went direct: read them now
        _route.sent_before = await _end_offsets(targets)
        if _route.sent_before is None:
            return False
    internal = user_activity_by_user.get_topic_name()
    consumer = cast(Consumer, app.consumer)
    handled = handled_offsets()
    for partition in targets:
        done = max(handled.get(partition, 0), consumer._committed_offset.get(TP(internal, partition)) or 0)
        if _route.sent_before.get(partition, 0) > done:
            return False
    return True


async def send_markers(
    partitions: Sequence[int],
    *,
    now: float,
    throttle: bool,
    read: Sequence[tuple[int, int, int | None]] = (),
    arrivals: Mapping[int, Sequence[Arrival]] | None = None,
    letters: DeadLetterBatch | None = None,
) -> int:
    """Send the markers of ``partitions`` that changed since last sent (``throttle``: and
    were last sent MARKER_INTERVAL_S ago) to every internal partition; how many changed.

    ``read``: (partition, offset, event time) of the records handled since, which the
    clocks cover from now on. On the direct route (``direct_route``) the markers are
    applied to every operator partition, after the ``arrivals`` (by internal partition),
    with ``letters`` in the same transaction (agents.activity.apply_activity)."""
    async with _sending:
        # Under the lock: a marker computed by the timer meanwhile must not cover arrivals
        # not yet applied (they would be judged against it, late).
        for partition, offset, event_time in read:
            reader = _reader(partition)
            reader.clock = reader.clock.read(event_time)
            reader.next_offset = offset + 1
        return await _send_markers(partitions, now, throttle, arrivals, letters)


def _marker(reader: Reader, now: float) -> Marker:
    # The offset too: a record of this input below it that arrives later is a re-sent copy.
    return replace(reader.clock.marker(GRACE, settings.activity_idle_s, now), offset=reader.next_offset)


async def _send_markers(
    partitions: Sequence[int],
    now: float,
    throttle: bool,
    arrivals: Mapping[int, Sequence[Arrival]] | None,
    letters: DeadLetterBatch | None,
) -> int:
    batch_letters = letters if letters is not None else DeadLetterBatch()
    producer = _producer()
    internal = user_activity_by_user.get_topic_name()
    targets_all = sorted(await producer.partitions_for(internal))
    if arrivals is not None:  # the direct route, decided for these arrivals
        if not (_route.direct and _route.generation == app.consumer_generation_id):
            # A rebalance since: the batch is the partitions' next owner's (agents.batches).
            raise RuntimeError("activity: the partitions were reassigned while the batch was applied")
        markers: list[Marker] = []
        if await _markers_direct(targets_all, now):
            for partition in partitions:
                reader = _reader(partition)
                marker = _marker(reader, now)
                if marker != reader.merged:
                    markers.append(marker)
                    reader.merged = marker
        parts: list[tuple[EventT[Any], list[Step]]] = [
            (_anchor(target), [*arrivals.get(target, ()), *markers])
            for target in targets_all
            if markers or target in arrivals
        ]
        if parts or len(batch_letters):
            await apply_activity(parts, batch_letters)
        return len(markers)
    if len(batch_letters):
        await apply_activity([], batch_letters)
    futures = []
    sent = 0
    for partition in partitions:
        reader = _reader(partition)
        marker = _marker(reader, now)
        if marker == reader.sent or (throttle and now - reader.sent_at < MARKER_INTERVAL_S):
            continue
        value = orjson.dumps(marker.to_record())
        futures += [await producer.send(internal, value, key=None, partition=target) for target in targets_all]
        reader.sent, reader.sent_at = marker, now
        sent += 1
    # Not awaited: the producer keeps each partition's records in order, so a marker
    # follows the events it covers, and the offset commit waits for every send (Faust
    # flushes the producer first); a marker lost in a crash only delays the watermark.
    for future in futures:
        future.add_done_callback(_log_failed_marker)
    return sent


def _log_failed_marker(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("activity.marker_failed", error=repr(future.exception()))


def _user_of(message: ActivityMessage) -> str:
    return message.user_id


async def handle_rekey_batch(events: Sequence[EventT[Any]]) -> None:
    """One batch of the source topic (module doc)."""
    started = time.perf_counter()
    verify_partitions(events[0].message.topic)
    letters = DeadLetterBatch()
    producer = _producer()
    internal = user_activity_by_user.get_topic_name()
    targets = sorted(await producer.partitions_for(internal))
    direct = await direct_route(targets)
    records: list[tuple[bytes, bytes]] = []
    headers: list[tuple[tuple[str, bytes], ...]] = []
    arrivals: dict[int, list[Arrival]] = {}
    times: list[tuple[int, int, int | None]] = []  # (partition, offset, event time)
    for event in events:
        message = event.message
        change = plain_event_change(event)
        if change is None:
            change = accept(event, ActivityMessage, letters, None, _user_of, change_of)
        if change is not None:
            key = change.user_id.encode()
            if direct:
                target = targets[partition_of(key, len(targets))]
                source = (message.partition, message.offset)
                arrivals.setdefault(target, []).append(Arrival(event, change, source))
            else:
                records.append((key, message.value or b""))
                headers.append((change_header(change), source_header(message.partition, message.offset)))
        times.append((message.partition, message.offset, None if change is None else change.time))
    futures = await send_keyed(producer, internal, records, headers)
    if futures:
        await asyncio.gather(*set(futures))
    # Only now do the clocks cover these events: a marker never precedes what it covers.
    # On the direct route the events go to the operators with the markers, and the dead
    # letters with them, in one transaction.
    await send_markers(
        sorted({p for p, _, _ in times}),
        now=time.monotonic(),
        throttle=True,
        read=times,
        arrivals=arrivals if direct else None,
        letters=letters,
    )
    metrics.record_batch(
        events[0].message.topic,
        consumed=len(events),
        processed=len(records) + sum(map(len, arrivals.values())),
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
    direct = _route.direct and _route.generation == app.consumer_generation_id
    await send_markers(mine, now=now, throttle=False, arrivals={} if direct else None)


@app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode's SignalHandlerT matches no function
async def _commit_direct_route(app_: Any, revoked: set[TP], **_: Any) -> None:
    """On the direct route an event's effects live in the operator partition of its user,
    but its offset is its source partition's: the two may go to different workers now.
    So what was applied is committed (table values first, runtime.coalesced) before the
    partitions are given up: the values of a partition given up are dropped uncommitted,
    which is right only when that partition's own offsets would have them read again."""
    if not _route.direct:
        return
    _route.direct = False
    consumer = cast(Consumer, app.consumer)
    try:
        await consumer.maybe_wait_for_commit_to_finish()
        # Faust's revocation has committed every acked offset already, and a commit with
        # no new offset flushes nothing (runtime.transport): what the markers' timer applied
        # since (watermarks, closes) would be dropped with the partitions given up.
        await flush_pending_batched(app)
        await consumer.force_commit()
    except Exception as exc:  # effects not committed: give everything back, uncommitted
        log.error("activity.direct_route_commit_failed", error=repr(exc))
        exit_now(EXIT_UNFLUSHED)


@app.agent(user_activity, concurrency=1)
async def rekey_activity(stream: StreamT[bytes]) -> None:
    """<ACTIVITY_TOPIC> -> <ACTIVITY_TOPIC>-by-user, with watermark markers."""
    await run_batches(stream, handle_rekey_batch, what=user_activity.get_topic_name())
