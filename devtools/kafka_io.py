"""Small aiokafka helpers for the demo, tests and benchmarks: create topics, produce."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

__all__ = ["create_topics", "produce", "produce_records"]


async def create_topics(
    bootstrap: Sequence[str], names: Iterable[str], partitions: int, configs: dict[str, str] | None = None
) -> None:
    """Create each topic with ``partitions`` partitions unless it exists; ``configs`` are its
    topic configs (Tansu reports only the configs a topic was created with)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=list(bootstrap))
    await admin.start()
    try:
        for name in names:
            try:
                await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})])
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


async def produce(
    bootstrap: Sequence[str],
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes]],
    *,
    linger_ms: int = 20,
    compression_type: str | None = None,
) -> int:
    """Send every (key, value) keyed with the default murmur2 partitioner, in record batches
    compressed with ``compression_type`` (gzip, snappy, lz4, zstd; None: uncompressed); wait
    for all acks."""
    return await produce_records(
        bootstrap,
        topic,
        ((key, value, None) for key, value in messages),
        linger_ms=linger_ms,
        compression_type=compression_type,
    )


async def produce_records(
    bootstrap: Sequence[str],
    topic: str,
    records: Iterable[tuple[bytes | None, bytes, int | None]],
    *,
    linger_ms: int = 20,
    compression_type: str | None = None,
) -> int:
    """``produce`` for (key, value, partition): a partition of None goes by the key."""
    producer = AIOKafkaProducer(
        bootstrap_servers=list(bootstrap), linger_ms=linger_ms, acks="all", compression_type=compression_type
    )
    await producer.start()
    sent = 0
    try:
        pending = []
        for key, value, partition in records:
            pending.append(await producer.send(topic, value=value, key=key, partition=partition))
            sent += 1
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent
