"""Every CHECK_S, rewind source partitions whose next message Faust lost (app.lost_messages)."""

from __future__ import annotations

from typing import Any

from faust.types import TP

from app.diagnostics import dump_tasks
from app.logging import get_logger
from app.lost_messages import LostMessageWatch, StallWatch, lost_heads
from app.main import app
from app.resources import database, metrics

__all__ = ["check_lost_messages", "CHECK_S"]

log = get_logger("sei.lost_messages")
CHECK_S = 5.0
watch = LostMessageWatch()
stalls = StallWatch(checks=6)  # 30 s


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
    consumer = app.consumer
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
        channels = app.topics._tp_index.get(tp, ())
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


@app.timer(CHECK_S)
async def check_lost_messages() -> None:
    consumer = app.consumer
    assigned = consumer.assignment()  # one view of it for both checks
    _report_stalls(assigned)
    if app.in_recovery or app.rebalancing or not assigned:
        watch.reset()
        return
    changelogs = app.tables.changelog_topics
    sources = {tp for tp in assigned if tp.topic not in changelogs}
    channels_by_tp = {tp: app.topics._tp_index.get(tp, ()) for tp in sources}
    queued, busy = _queued(channels_by_tp)
    found = lost_heads(
        {tp: consumer._committed_offset.get(tp) for tp in sources},
        {tp: consumer._read_offset.get(tp) for tp in sources},
        {tp: consumer._acked_index.get(tp, ()) for tp in sources},
        queued,
        busy,
    )
    confirmed = watch.confirm(found)
    if not confirmed:
        return
    for tp, offset in confirmed.items():
        log.warning(
            "consumer.lost_message_rewound",
            topic=tp.topic,
            partition=tp.partition,
            offset=offset,
            read_offset=consumer._read_offset.get(tp),
            hint="later messages of this partition were processed but not this one; reading "
            "again from it (processing is idempotent)",
        )
        metrics.record_rewind(tp.topic)
    request = getattr(consumer, "request_rewind", None)
    if request is not None:
        request(confirmed)
