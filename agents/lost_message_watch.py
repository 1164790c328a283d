"""Every CHECK_S, rewind source partitions whose next message Faust lost, or whose commit
stands still behind their end with nothing in flight (app.lost_messages)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, cast

from faust.transport.conductor import Conductor
from faust.transport.consumer import Consumer
from faust.types import TP

from app.diagnostics import dump_tasks
from app.logging import get_logger
from app.lost_messages import IdleWatch, LostMessageWatch, StallWatch, lost_heads
from app.main import app
from app.resources import database, metrics

__all__ = ["check_lost_messages", "CHECK_S"]

log = get_logger("sei.lost_messages")
CHECK_S = 5.0
watch = LostMessageWatch()
stalls = StallWatch(checks=6)  # 30 s
idle = IdleWatch(checks=12)  # 60 s: a worker catching up a backlog can starve a partition 15 s


def _consumer() -> Consumer:
    """The app's consumer as Faust's base class: what it knows of each partition lives in
    attributes ``ConsumerT`` does not declare."""
    return cast(Consumer, app.consumer)


def _conductor() -> Conductor:
    return cast(Conductor, app.topics)


def _queued(channels_by_tp: dict[TP, Any]) -> tuple[set[tuple[TP, int]], set[TP]]:
    """(tp, offset) of every message waiting in a stream queue; partitions with a full queue."""
    queued: set[tuple[TP, int]] = set()
    busy: set[TP] = set()
    for tp, channels in channels_by_tp.items():
        for channel in list(channels):
            queue = channel.queue
            if queue.full():
                busy.add(tp)
            # asyncio.Queue keeps its items in ``_queue``; reading it does not disturb it.
            queued.update((e.message.tp, e.message.offset) for e in list(queue._queue))
    return queued, busy


def _report_stalls(assigned: set[TP]) -> None:
    """Log what the consumer knows about a partition whose commit stands still behind its end."""
    if database.circuit_open:
        stalls.reset()  # a known cause, reported as db.circuit_open and on /health
        return
    consumer = _consumer()
    monitor = app.monitor
    changelogs = app.tables.changelog_topics
    # Partitions given away keep their last commit here; but a consumer stuck mid-rebalance
    # has no assignment at all, and then every partition it knew is worth reporting.
    committed = {
        tp: offset
        for tp, offset in monitor.tp_committed_offsets.items()
        if tp.topic not in changelogs and (tp in assigned or not assigned)
    }
    for tp in stalls.observe(committed, monitor.tp_end_offsets):
        acked = sorted(consumer._acked_index.get(tp, ()))
        channels = _conductor()._tp_index.get(tp, ())
        log.warning(
            "consumer.partition_stalled",
            topic=tp.topic,
            partition=tp.partition,
            committed=committed.get(tp),
            end=monitor.tp_end_offsets.get(tp),
            stream_read=monitor.tp_read_offsets.get(tp),
            consumer_committed=consumer._committed_offset.get(tp),
            consumer_read=consumer._read_offset.get(tp),
            acked_count=len(acked),
            acked_range=[acked[0], acked[-1]] if acked else None,
            queued=sum(channel.queue.qsize() for channel in list(channels)),
            assigned=tp in assigned,
            paused=tp in consumer._paused_partitions,
            active=tp in (consumer._active_partitions or ()),
            awaiting_seek=tp in getattr(consumer, "awaiting_seek", ()),
            unacked=sum(1 for message in list(consumer._unacked_messages) if message.tp == tp),
            rebalancing=app.rebalancing,
            in_recovery=app.in_recovery,
            flow_active=consumer.flow_active,
            flow_control_active=app.flow_control.is_active(),
            assigned_count=len(assigned),
            generation=app.consumer_generation_id,
            hint="no progress on this partition for 30 s; a SIGUSR1 dump follows",
        )
        dump_tasks()


@app.timer(CHECK_S)  # type: ignore[untyped-decorator]  # faust marks App.timer no_type_check
async def check_lost_messages() -> None:
    consumer = _consumer()
    assigned = consumer.assignment()  # one view of it for both checks
    try:
        _report_stalls(assigned)
    except Exception:  # a diagnostic: an exception of a timer would crash the worker
        log.exception("lost_messages.stall_report_failed")
    if app.in_recovery or app.rebalancing or not assigned or not consumer.flow_active:
        watch.reset()
        idle.reset()
        return
    changelogs = app.tables.changelog_topics
    sources = {tp for tp in assigned if tp.topic not in changelogs}
    channels_by_tp = {tp: _conductor()._tp_index.get(tp, ()) for tp in sources}
    queued, busy = _queued(channels_by_tp)
    committed = {tp: consumer._committed_offset.get(tp) for tp in sources}
    read = {tp: consumer._read_offset.get(tp) for tp in sources}
    found = lost_heads(
        committed,
        read,
        {tp: consumer._acked_index.get(tp, ()) for tp in sources},
        queued,
        busy,
    )
    confirmed = watch.confirm(found)
    in_flight = {message.tp for message in list(consumer._unacked_messages)}
    in_flight.update(busy, (tp for tp, _ in queued), confirmed)
    # Only partitions with nothing acked waiting for a commit (a busy worker's commits lag
    # behind what it processed: a rewind then would deliver those messages twice) and, in
    # IdleWatch, whose read offset stood still too. Read past its commit a minute ago, with
    # nothing acked and nothing in flight since, a partition's messages after the commit
    # were dropped unprocessed (or processed with their commit lost).
    settled = {tp: offset for tp, offset in committed.items() if not consumer._acked.get(tp)}
    targets = await _idle_behind_end(settled, read, in_flight, drain_blocked=bool(busy))
    _log_rewinds("consumer.lost_message_rewound", confirmed, LOST_HINT)
    _log_rewinds("consumer.idle_partition_rewound", targets, IDLE_HINT)
    request = getattr(consumer, "request_rewind", None)
    if request is not None and (confirmed or targets):
        request({**targets, **confirmed})


async def _idle_behind_end(
    committed: Mapping[TP, int | None],
    read: Mapping[TP, int | None],
    in_flight: Collection[TP],
    *,
    drain_blocked: bool,
) -> dict[TP, int]:
    """Partitions idle for IdleWatch's checks whose end lies beyond their commit -> the
    offset to read again from (their commit)."""
    if database.circuit_open or drain_blocked:
        # Known reasons for a commit to stand still: the agents wait for the database, or
        # the consumer waits for room in a full stream queue and fetches nothing meanwhile.
        idle.reset()
        return {}
    candidates = idle.observe(committed, read, in_flight)
    if not candidates:
        return {}
    consumer = _consumer()
    ends: dict[TP, int | None] = {}
    for tp in candidates:
        try:
            ends[tp] = consumer.highwater(tp)  # from the last fetch response, when there was one
        except Exception:  # noqa: BLE001 - unassigned meanwhile: asked below, or skipped
            ends[tp] = None
    unknown = [tp for tp, end in ends.items() if end is None or end < 0]
    if unknown:
        try:
            ends.update(await consumer.highwaters(*unknown))
        except Exception as exc:  # noqa: BLE001 - retried on the next check
            log.warning("consumer.end_offsets_unavailable", partitions=len(unknown), error=repr(exc))
    targets = {tp: committed[tp] or 0 for tp in candidates if (ends.get(tp) or 0) > (committed[tp] or 0)}
    for tp, offset in targets.items():
        idle.rewound(tp, offset)
    return targets


IDLE_HINT = (
    "the commit stood still behind the partition's end with none of its messages in flight; "
    "reading again from it (processing is idempotent)"
)
LOST_HINT = (
    "later messages of this partition were processed but not this one; reading again from it "
    "(processing is idempotent)"
)


def _log_rewinds(event: str, targets: Mapping[TP, int], hint: str) -> None:
    consumer = _consumer()
    for tp, offset in targets.items():
        log.warning(
            event,
            topic=tp.topic,
            partition=tp.partition,
            offset=offset,
            read_offset=consumer._read_offset.get(tp),
            awaiting_seek=tp in getattr(consumer, "awaiting_seek", ()),
            hint=hint,
        )
        metrics.record_rewind(tp.topic)
