"""runtime.keyed_batches on the real broker: every record lands once, where ``send`` puts it."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiokafka
import pytest
from aiokafka.partitioner import DefaultPartitioner

from devtools.kafka_io import create_topics
from devtools.localstack import LocalStack
from runtime.keyed_batches import send_keyed

pytestmark = pytest.mark.integration

PARTITIONS = 8


async def read_all(bootstrap: str, topic: str, count: int) -> list[aiokafka.ConsumerRecord]:
    consumer = aiokafka.AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", fetch_max_wait_ms=50
    )
    await consumer.start()
    records: list[aiokafka.ConsumerRecord] = []
    try:
        deadline = time.monotonic() + 60
        while len(records) < count and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        # Anything beyond ``count`` would be a duplicate: give it a moment to show.
        for batch in (await consumer.getmany(timeout_ms=500)).values():
            records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def send_and_read(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> tuple[
    list[bool], list[aiokafka.ConsumerRecord]
]:
    # A small max_batch_size: a partition's records span several batches.
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=2048, acks="all")
    await producer.start()
    try:
        futures = await send_keyed(producer, topic, records)
        await asyncio.wait(set(futures), timeout=30)
        acked = [f.done() and f.exception() is None for f in futures]
    finally:
        await producer.stop()
    return acked, await read_all(bootstrap, topic, len(records))


def test_send_keyed_lands_every_record_once_on_its_key_partition(stack: LocalStack) -> None:
    bootstrap = stack.broker.bootstrap
    topic = f"keyed-{uuid.uuid4().hex[:8]}"
    asyncio.run(create_topics([bootstrap], [topic], partitions=PARTITIONS))
    records = [(f"evt_{n:05d}".encode(), f"value {n} ".encode() * (1 + n % 7)) for n in range(600)]
    records.append((b"big", b"x" * 5000))  # over max_batch_size: a batch of its own

    acked, read = asyncio.run(send_and_read(bootstrap, topic, records))

    assert len(acked) == len(records) and all(acked)
    assert sorted((r.key, r.value) for r in read) == sorted(records)
    partitions = list(range(PARTITIONS))
    expected = DefaultPartitioner()
    for record in read:
        assert record.partition == expected(record.key, partitions, partitions), record.key
    # Within a partition, records keep the order they were given in.
    order = {key: n for n, (key, _) in enumerate(records)}
    for partition in partitions:
        keys = [r.key for r in sorted(read, key=lambda r: r.offset) if r.partition == partition]
        assert [order[k] for k in keys] == sorted(order[k] for k in keys)


def test_send_keyed_requests_of_any_size_at_once_land_every_record_once(stack: LocalStack) -> None:
    # Requests overlap as on a busy /ingest: small ones join the batches bigger ones left
    # open on their partitions; every record must still land once, where its key says.
    bootstrap = stack.broker.bootstrap
    topic = f"keyed-mix-{uuid.uuid4().hex[:8]}"
    asyncio.run(create_topics([bootstrap], [topic], partitions=PARTITIONS))
    records = [(f"mix_{n:05d}".encode(), f"value {n}".encode()) for n in range(700)]
    requests = [records[:300], *([record] for record in records[300:500]), records[500:530], records[530:]]

    async def send_all() -> tuple[list[bool], list[aiokafka.ConsumerRecord]]:
        producer = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=4096, acks="all")
        await producer.start()
        try:
            sent = await asyncio.gather(*(send_keyed(producer, topic, request) for request in requests))
            futures = [future for request_futures in sent for future in request_futures]
            await asyncio.wait(set(futures), timeout=30)
            acked = [f.done() and f.exception() is None for f in futures]
        finally:
            await producer.stop()
        return acked, await read_all(bootstrap, topic, len(records))

    acked, read = asyncio.run(send_all())

    assert len(acked) == len(records) and all(acked)
    assert sorted((r.key, r.value) for r in read) == sorted(records)
    partitions = list(range(PARTITIONS))
    expected = DefaultPartitioner()
    assert all(r.partition == expected(r.key, partitions, partitions) for r in read)
