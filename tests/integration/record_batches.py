"""The record batches a broker stores, read with raw Fetch requests: each batch's codec (its
attributes) and its records, as the broker hands them to any consumer.

A consumer decompresses silently, so only the batches themselves show what a producer
compressed with, and that the broker kept it (Kafka's ``compression.type=producer``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiokafka import TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import for_code
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.memory_records import MemoryRecords

__all__ = ["CODEC_NAMES", "RecordBatch", "record_batches", "topics_named"]

# The codec in a batch's attributes (its lowest three bits).
CODEC_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
_FETCH_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class RecordBatch:
    topic: str
    partition: int
    base_offset: int
    codec: str
    records: tuple[tuple[bytes | None, bytes | None], ...]  # (key, value), decompressed

    @property
    def keys(self) -> set[bytes | None]:
        return {key for key, _ in self.records}


async def record_batches(bootstrap: str, *topics: str, timeout_s: float = 30.0) -> list[RecordBatch]:
    """Every batch of every partition of ``topics``, from offset 0 to the high watermark."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        positions: dict[TopicPartition, int] = {}
        for topic in topics:
            for partition in await client._wait_on_metadata(topic):
                positions[TopicPartition(topic, partition)] = 0
        found: list[RecordBatch] = []
        deadline = time.monotonic() + timeout_s
        while positions:
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read to the end of {sorted(map(str, positions))}")
            found.extend(await _fetch_round(client, positions))
        return sorted(found, key=lambda b: (b.topic, b.partition, b.base_offset))
    finally:
        await client.close()


async def topics_named(bootstrap: str, prefix: str) -> list[str]:
    """The broker's topics whose names start with ``prefix``."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        metadata = await client.fetch_all_metadata()
        return sorted(name for name in metadata.topics() if name.startswith(prefix))
    finally:
        await client.close()


async def _fetch_round(client: AIOKafkaClient, positions: dict[TopicPartition, int]) -> list[RecordBatch]:
    """One fetch per leader for every partition not read to its end; ``positions`` advance, and
    a partition read to its high watermark leaves them."""
    by_leader: dict[int, list[TopicPartition]] = {}
    for tp in positions:
        by_leader.setdefault(client.cluster.leader_for_partition(tp), []).append(tp)
    batches: list[RecordBatch] = []
    for leader, tps in by_leader.items():
        wanted: dict[str, list[tuple[int, int, int]]] = {}
        for tp in tps:
            wanted.setdefault(tp.topic, []).append((tp.partition, positions[tp], _FETCH_BYTES))
        # Tansu answers a fetch that may not wait (max wait 0) with no topic at all.
        response = await client.send(leader, FetchRequest(100, 1, 4 * _FETCH_BYTES, 0, list(wanted.items())))
        for topic, partitions in response.topics:
            for partition, error_code, highwater, *rest in partitions:
                tp = TopicPartition(topic, partition)
                if error_code:
                    raise for_code(error_code)(f"fetch {topic}/{partition} at {positions[tp]}")
                batches.extend(_read_batches(tp, rest[-1], positions))
                if positions[tp] >= highwater:
                    del positions[tp]
    return batches


def _read_batches(tp: TopicPartition, data: bytes, positions: dict[TopicPartition, int]) -> list[RecordBatch]:
    records = MemoryRecords(data)
    batches: list[RecordBatch] = []
    while records.has_next():
        batch = records.next_batch()
        assert batch is not None
        if batch.next_offset <= positions[tp]:
            continue  # a batch before the offset asked for, returned whole
        codec = CODEC_NAMES[batch.compression_type]
        contents = tuple((record.key, record.value) for record in batch)
        batches.append(RecordBatch(tp.topic, tp.partition, batch.base_offset, codec, contents))
        positions[tp] = batch.next_offset
    return batches
