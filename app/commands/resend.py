"""Read a topic to its true end and send records back, in batches (aiokafka, no worker).

Our local broker (Tansu) answers offsets-by-timestamp unreliably and ListOffsets(latest)
too low after batched produce (DESIGN.md), so a scan starts at the beginning of each
partition, filters by record timestamp itself, and stops at the end offsets resolved by
``runtime.transport.resolve_end_offsets``; what is sent during the scan is never re-read.
Sends are queued without waiting and their deliveries awaited together.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from faust.types import TP

from app.commands.exceptions import ToolError
from app.logging import get_logger
from runtime.transport import resolve_end_offsets

__all__ = [
    "TOPIC_REPLAY_HEADER",
    "PROGRESS_EVERY",
    "Sender",
    "connect",
    "scan",
    "topic_partitions",
    "in_time_range",
    "is_replay_copy",
    "with_header",
]

log = get_logger("sei.commands.resend")

# Marks a re-sent copy of a record (`replay`, `reconcile --repair`): the worker processes
# it even when Redis remembers the original as done (agents/batches.py).
TOPIC_REPLAY_HEADER = "x-sei-replay"
PROGRESS_EVERY = 10_000
SEND_BATCH = 10_000
STALL_TIMEOUT_S = 60.0
MAX_REQUEST_BYTES = 16 * 1024 * 1024

Headers = Sequence[tuple[str, bytes]]


def in_time_range(timestamp_ms: int, start_ms: int, end_ms: int) -> bool:
    """``start <= timestamp < end``."""
    return start_ms <= timestamp_ms < end_ms


def is_replay_copy(headers: Headers) -> bool:
    """True for a copy an earlier replay sent (its original is in the topic too)."""
    return any(name == TOPIC_REPLAY_HEADER for name, _ in headers)


def with_header(headers: Headers, name: str, value: bytes) -> list[tuple[str, bytes]]:
    """``headers`` with ``name`` set to ``value`` (replacing an earlier one)."""
    return [(n, bytes(v or b"")) for n, v in headers if n != name] + [(name, value)]


@dataclass
class Connections:
    consumer: AIOKafkaConsumer
    producer: AIOKafkaProducer | None

    async def close(self) -> None:
        await self.consumer.stop()
        if self.producer is not None:
            await self.producer.stop()


async def connect(bootstrap: Sequence[str], *, producer: bool, compression_type: str | None) -> Connections:
    """A group-less consumer (and a producer compressing with ``compression_type``, as
    KAFKA_COMPRESSION says) on ``bootstrap``; ToolError when unreachable."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=list(bootstrap),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
        request_timeout_ms=30_000,
    )
    sender = (
        AIOKafkaProducer(
            bootstrap_servers=list(bootstrap),
            acks="all",
            linger_ms=20,
            max_request_size=MAX_REQUEST_BYTES,
            request_timeout_ms=30_000,
            compression_type=compression_type,
        )
        if producer
        else None
    )
    try:
        await consumer.start()
        if sender is not None:
            await sender.start()
    except KafkaError as exc:
        await consumer.stop()
        if sender is not None:
            await sender.stop()
        raise ToolError(f"cannot reach the broker at {','.join(bootstrap)} (KAFKA_BROKERS): {exc}") from None
    return Connections(consumer, sender)


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[int] | None:
    """The partitions of ``topic``, or None when the broker does not have it."""
    await consumer.topics()  # refreshes the metadata
    partitions = consumer.partitions_for_topic(topic)
    return sorted(partitions) if partitions else None


async def true_end_offsets(
    consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition]
) -> dict[TopicPartition, int]:
    reported = await consumer.end_offsets(list(tps))
    resolved = await resolve_end_offsets(
        consumer, {TP(tp.topic, tp.partition): end for tp, end in reported.items()}
    )
    return {TopicPartition(tp.topic, tp.partition): end for tp, end in resolved.items()}


@dataclass
class ScanProgress:
    """How far a scan is; ``report`` is called every PROGRESS_EVERY records."""

    total: int = 0
    scanned: int = 0
    report: Callable[[ScanProgress], None] | None = None

    def advance(self, count: int) -> None:
        before = self.scanned // PROGRESS_EVERY
        self.scanned += count
        if self.report is not None and self.scanned // PROGRESS_EVERY > before:
            self.report(self)


async def scan(
    consumer: AIOKafkaConsumer, topic: str, partitions: Iterable[int], progress: ScanProgress
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record of ``partitions`` from the beginning to the end offsets of now."""
    tps = [TopicPartition(topic, p) for p in sorted(set(partitions))]
    ends = await true_end_offsets(consumer, tps)
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    starts = {tp: await consumer.position(tp) for tp in tps}
    progress.total = sum(max(0, ends[tp] - starts[tp]) for tp in tps)
    pending = {tp for tp in tps if starts[tp] < ends[tp]}
    last_progress = time.monotonic()
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=500, max_records=5_000)
        for tp, records in batches.items():
            wanted = [r for r in records if r.offset < ends[tp]]
            progress.advance(len(wanted))
            for record in wanted:
                yield record
            if records:
                last_progress = time.monotonic()
        for tp in list(pending):
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
        if pending and time.monotonic() - last_progress > STALL_TIMEOUT_S:
            positions = [(tp, await consumer.position(tp)) for tp in sorted(pending)]
            where = ", ".join(f"{tp.partition}@{position}/{ends[tp]}" for tp, position in positions)
            raise ToolError(
                f"reading {topic} stalled for {STALL_TIMEOUT_S:.0f} s (partition@offset/end: {where})"
            )


@dataclass
class Sender:
    """Queues sends and awaits their deliveries together, SEND_BATCH at a time."""

    producer: AIOKafkaProducer
    sent: int = 0
    failed: list[tuple[object, BaseException]] = field(default_factory=list)
    _pending: list[tuple[object, asyncio.Future[object]]] = field(default_factory=list)
    _delivered: list[object] = field(default_factory=list)

    async def send(
        self,
        topic: str,
        *,
        key: bytes | None,
        value: bytes,
        headers: Headers,
        partition: int | None = None,
        tag: object = None,
    ) -> None:
        """Queue one record; ``tag`` names it in ``delivered``/``failed``."""
        try:
            future = await self.producer.send(
                topic, value=value, key=key, headers=list(headers), partition=partition
            )
        except KafkaError as exc:
            self.failed.append((tag, exc))
            return
        self._pending.append((tag, future))
        if len(self._pending) >= SEND_BATCH:
            await self._await_pending()

    async def flush(self) -> list[object]:
        """Wait for every queued send; the tags of the delivered records so far."""
        await self._await_pending()
        return list(self._delivered)

    async def _await_pending(self) -> None:
        pending, self._pending = self._pending, []
        results = await asyncio.gather(*(future for _, future in pending), return_exceptions=True)
        for (tag, _), result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                self.failed.append((tag, result))
            else:
                self.sent += 1
                self._delivered.append(tag)
        if pending:
            log.info("resend.delivered", records=len(pending), sent=self.sent, failed=len(self.failed))
