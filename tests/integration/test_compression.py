"""Compressed record batches on the real broker: a worker reads gzip, snappy, lz4 and zstd
batches on a source topic, and compresses what it produces as KAFKA_COMPRESSION says
(changelogs, dead letters, POST /ingest's events.ingest batches), checked on the batches the
broker stores (their attributes), not only through a consumer, which decompresses silently."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.kafka_io import produce
from devtools.localstack import LocalStack
from devtools.sample_data import generate_commit_stream
from devtools.worker_process import WorkerProcess
from tests.integration.commit_truth import commit_truth, live_daily
from tests.integration.conftest import (
    consumed,
    isolated_env,
    new_worker,
    temporary_database,
    wait_consumed,
    wait_for,
)
from tests.integration.record_batches import RecordBatch, record_batches, topics_named

pytestmark = pytest.mark.integration

CODECS = ("gzip", "snappy", "lz4", "zstd")
API_KEY = "codec-key-" + uuid.uuid4().hex
DLQ_TOPIC = f"dlq-codec-{uuid.uuid4().hex[:6]}"


def batches_with_keys(bootstrap: str, topic: str, keys: set[bytes]) -> list[RecordBatch]:
    return [b for b in asyncio.run(record_batches(bootstrap, topic)) if b.keys & keys]


def test_worker_reads_each_codec_on_a_source_topic(stack: LocalStack, worker: WorkerProcess, db: Any) -> None:
    prefix = f"codec-{uuid.uuid4().hex[:6]}"
    streams = {
        codec: generate_commit_stream(
            commits=150,
            repositories=3,
            days=5,
            duplicate_rate=0,
            malformed=0,
            seed=i,
            repository_prefix=f"{prefix}-{codec}",
        )
        for i, codec in enumerate(CODECS)
    }
    _, before = worker.get("/stats")
    start = consumed(worker, "git.commits")
    for codec, stream in streams.items():
        asyncio.run(produce([stack.broker.bootstrap], "git.commits", stream.messages, compression_type=codec))

    # The broker keeps each batch as its producer compressed it: else this proves nothing.
    on_topic = asyncio.run(record_batches(stack.broker.bootstrap, "git.commits"))
    for codec, stream in streams.items():
        stored = [b for b in on_topic if b.keys & {k for k, _ in stream.messages}]
        assert {b.codec for b in stored} == {codec}
        assert sum(len(b.records) for b in stored) == len(stream.messages)
        assert max(len(b.records) for b in stored) > 1  # real batches, compressed as a whole

    wait_consumed(worker, "git.commits", start + sum(len(s.messages) for s in streams.values()))
    for codec, stream in streams.items():
        expected_rows, _ = commit_truth(stream.messages)
        rows = db(
            "SELECT repository_id, sha, committed_at FROM commits WHERE repository_id LIKE $1",
            f"{prefix}-{codec}-%",
        )
        assert {tuple(r) for r in rows} == expected_rows, codec
        assert len(rows) == 150, codec
    _, after = worker.get("/stats")
    assert after["topics"]["git.commits"]["failed"] == before["topics"]["git.commits"]["failed"]


def test_worker_leaves_its_changelogs_uncompressed_by_default(
    stack: LocalStack, worker: WorkerProcess
) -> None:
    # The session worker runs without KAFKA_COMPRESSION; its group is the default one.
    assert "KAFKA_COMPRESSION" not in {**os.environ, **worker.env}
    changelogs = asyncio.run(topics_named(stack.broker.bootstrap, "data-processor-group-"))
    assert changelogs
    codecs = {b.codec for b in asyncio.run(record_batches(stack.broker.bootstrap, *changelogs))}
    assert codecs == {"none"}


@pytest.fixture(scope="module")
def zstd_worker(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    with temporary_database(stack, "sei_codec") as url:
        # Its own dead-letter topic: the session worker dead-letters the same message too.
        env = isolated_env(
            stack, url, "codec", KAFKA_COMPRESSION="ZSTD", INGEST_API_KEYS=API_KEY, KAFKA_DLQ_TOPIC=DLQ_TOPIC
        )
        worker = new_worker(env, Path(tmp_path_factory.mktemp("codec")), "zstd-worker").start()
        try:
            worker.wait_consuming()
            yield worker
        finally:
            worker.stop()


def ingest(worker: WorkerProcess, events: list[dict[str, Any]]) -> int:
    request = urllib.request.Request(
        f"{worker.url}/ingest",
        data=json.dumps(events).encode(),
        headers={"Content-Type": "application/json", "X-API-Key": API_KEY},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(response.status)


def test_kafka_compression_zstd_compresses_everything_the_worker_produces(
    stack: LocalStack, zstd_worker: WorkerProcess
) -> None:
    bootstrap = stack.broker.bootstrap
    prefix = f"zstd-{uuid.uuid4().hex[:6]}"
    stream = generate_commit_stream(
        commits=100, repositories=2, days=3, duplicate_rate=0, malformed=0, repository_prefix=prefix
    )
    broken_key = f"{prefix}-broken".encode()
    asyncio.run(produce([bootstrap], "git.commits", [*stream.messages, (broken_key, b"{not json")]))
    # One request of many events (one record batch per partition, built by runtime.keyed_batches)
    # and one of a single event (aiokafka's send).
    many = [
        {"id": f"{prefix}-{i}", "payload": {"event_type": "metric", "source": "codec"}} for i in range(80)
    ]
    one = [{"id": f"{prefix}-one", "payload": {"event_type": "metric", "source": "codec"}}]
    assert ingest(zstd_worker, many) == 202
    assert ingest(zstd_worker, one) == 202
    # The worker reads each topic from its start (a new group): wait for these very messages.
    wait_for(
        lambda: bool(batches_with_keys(bootstrap, DLQ_TOPIC, {broken_key})),
        60,
        "the dead letter on its topic",
    )
    dead_letters = asyncio.run(record_batches(bootstrap, DLQ_TOPIC))
    assert {b.codec for b in dead_letters} == {"zstd"}
    [dead_letter] = [value for b in dead_letters for key, value in b.records if key == broken_key]
    assert json.loads(dead_letter or b"")["original_message"] == "{not json"

    ingested = batches_with_keys(bootstrap, "events.ingest", {e["id"].encode() for e in many + one})
    assert {b.codec for b in ingested} == {"zstd"}
    assert sum(len(b.records) for b in ingested) == len(many) + len(one)

    # The worker's own view of what it wrote matches the truth.
    _, daily_truth = commit_truth(stream.messages)
    repositories = sorted({repo for repo, _ in daily_truth})
    wait_for(lambda: live_daily(zstd_worker.get, repositories) == daily_truth, 60, "the commits in the view")

    # Its table changelogs, written for the commits above (at the offset commit that follows
    # their batch: runtime.coalesced holds the hot tables' writes until then).
    group = zstd_worker.env["CONSUMER_GROUP_ID"]
    changelogs = asyncio.run(topics_named(bootstrap, f"{group}-"))
    assert any(t.endswith("-changelog") for t in changelogs)
    written: list[RecordBatch] = []

    def changelogs_hold_the_commits() -> bool:
        written[:] = asyncio.run(record_batches(bootstrap, *changelogs))
        return any(key and prefix.encode() in key for b in written for key in b.keys)

    wait_for(changelogs_hold_the_commits, 30, "the commits in the changelogs")
    assert {b.codec for b in written} == {"zstd"}
