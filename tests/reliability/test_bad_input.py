"""Every class of bad input, interleaved with good events, on a running worker.

Each bad message must land once in `dead_letters` and on the DLQ topic with its exact
bytes and coordinates; every good event around it must be stored; the failure counters
must count them. Text that merely looks dangerous (SQL, NUL, broken UTF-8 inside a string)
is data: stored verbatim (NUL and broken bytes as U+FFFD), never executed.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from devtools.kafka_io import create_topics
from devtools.localstack import Broker, LocalStack
from models.dead_letter import TOPIC_ORIGINAL_LIMIT
from tests.integration.conftest import wait_for
from tests.reliability.conftest import fault_env, new_worker, query

pytestmark = pytest.mark.integration

SQL = "'); DROP TABLE commits; --"


@dataclass(frozen=True)
class Bad:
    name: str
    value: bytes
    reason: str  # the dead letter's error.reason
    error_type: str  # the dead letter's error.type and dlq_messages_total label
    key_override: bytes | None = None


def envelope(repo: str, sha: str, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_type": "commit_created",
        "timestamp": "2025-10-01T12:00:00Z",
        "source": "github",
        "repository_id": repo,
        "data": {"sha": sha, "author": "Dev@Example.com ", "message": "ok", "additions": 3, "deletions": 1},
    }
    data = changes.pop("data", {})
    event.update(changes)
    event["data"].update(data)
    return event


def bad_inputs(repo: str) -> list[Bad]:
    def js(**changes: Any) -> bytes:
        return orjson.dumps(envelope(repo, f"bad{uuid.uuid4().hex[:8]}", **changes))

    without_sha = envelope(repo, "x")
    del without_sha["data"]["sha"]
    nested = b'{"event_type": "commit_created", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    oversized = orjson.dumps(envelope(repo, "big", data={"message": "x" * (1024 * 1024 + 10)}))
    duplicate = (
        b'{"event_type": "commit_created", "timestamp": "2025-10-01T12:00:00Z", "repository_id": "'
        + repo.encode()
        + b'", "data": {"sha": "d1", "sha": "d2"}}'
    )
    return [
        Bad("invalid JSON", b'{"event_type": "commit_created", ', "invalid_json", "DecodeError"),
        Bad("binary, not UTF-8 JSON", b"\xff\xfe\x00\x9c garbage \xc3\x28", "invalid_json", "DecodeError"),
        Bad("empty message", b"", "empty", "DecodeError"),
        Bad("JSON array", b"[1, 2, 3]", "not_an_object", "DecodeError"),
        Bad("JSON scalar", b'"commit"', "not_an_object", "DecodeError"),
        Bad("missing sha", orjson.dumps(without_sha), "validation", "ValidationError"),
        Bad("wrong type", js(data={"additions": "many"}), "validation", "ValidationError"),
        Bad("negative count", js(data={"deletions": -4}), "validation", "ValidationError"),
        Bad("unparseable timestamp", js(timestamp="yesterday"), "validation", "ValidationError"),
        Bad("year 1970", js(timestamp="1970-01-01T00:00:00Z"), "validation", "ValidationError"),
        Bad("year 9999", js(timestamp="9999-12-31T23:59:59Z"), "validation", "ValidationError"),
        Bad("unknown event_type", js(event_type="commit_exploded"), "validation", "ValidationError"),
        Bad("oversized", oversized, "oversized", "DecodeError"),
        Bad("deeply nested", nested, "invalid_json", "DecodeError"),
        Bad("duplicate keys", duplicate, "duplicate_key", "DecodeError"),
        Bad("wrong key", js(), "wrong_key", "KeyMismatchError", key_override=b"someone-else"),
    ]


def good_inputs(repo: str, count: int) -> list[dict[str, Any]]:
    goods = [envelope(repo, f"good{i:04d}", timestamp=f"2025-10-{1 + i % 28:02d}T0{i % 10}:00:00Z") for i in range(count)]
    goods[1]["data"]["message"] = SQL
    goods[2]["data"]["message"] = "nul\u0000inside"
    goods[3]["data"]["author"] = "ünïcødé@example.com"
    return goods


async def send_all(bootstrap: str, messages: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]) -> list[Any]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024, acks="all")
    await producer.start()
    try:
        futures = [await producer.send("git.commits", value=v, key=k, headers=h) for k, v, h in messages]
        return list(await asyncio.gather(*futures))
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, expected: int, timeout_s: float = 60) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(records) < expected and asyncio.get_running_loop().time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


def prometheus(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of one metric family's samples."""
    samples = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) :].rsplit(" ", 1)
            samples[labels] = float(value)
    return samples


def original_of(record: dict[str, Any]) -> bytes:
    text = record["original_message"]
    return base64.b64decode(text) if record["original_encoding"] == "base64" else text.encode()


def test_every_bad_input_class_is_dead_lettered_and_every_good_event_stored(
    stack: LocalStack, own_database: str, private_broker: Broker, tmp_path: Path
) -> None:
    repo = f"bad{uuid.uuid4().hex[:6]}"
    bootstrap = private_broker.bootstrap
    asyncio.run(create_topics([bootstrap], ["git.commits"], partitions=8))
    worker = new_worker(
        fault_env(stack, own_database, KAFKA_BROKERS=f"tansu://{bootstrap}", BATCH_SIZE="7"), tmp_path, "w"
    ).start()
    bads = bad_inputs(repo)
    goods = good_inputs(repo, 3 * len(bads))
    messages: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = []
    expected: list[Bad | None] = []
    for i, good in enumerate(goods):
        messages.append((repo.encode(), orjson.dumps(good), []))
        expected.append(None)
        if i % 3 == 1:
            bad = bads[i // 3]
            headers = [("trace-id", f"t-{i}".encode()), ("binary", b"\xff\x00")]
            messages.append((bad.key_override or repo.encode(), bad.value, headers))
            expected.append(bad)
    # A good event whose strings hold bytes that are not UTF-8: repaired, not refused.
    broken = orjson.dumps(envelope(repo, "broken-utf8")).replace(b'"ok"', b'"caf\xe9 \xff"')
    messages.append((repo.encode(), broken, []))
    expected.append(None)
    try:
        worker.wait_answering()
        sent = asyncio.run(send_all(bootstrap, messages))
        def counts() -> tuple[int, int]:
            return (
                query(own_database, "SELECT count(*) FROM dead_letters")[0][0],
                query(own_database, "SELECT count(*) FROM commits")[0][0],
            )

        wanted = (len(bads), len(goods) + 1)
        wait_for(
            lambda: counts() >= wanted and counts()[1] >= wanted[1],
            120,
            lambda: f"every message handled: (dead letters, commits) {counts()} of {wanted}",
        )

        # Every good event stored, verbatim where it looked dangerous.
        stored = {r["sha"]: r for r in query(own_database, "SELECT * FROM commits")}
        assert set(stored) == {g["data"]["sha"] for g in goods} | {"broken-utf8"}
        assert stored["good0001"]["message"] == SQL
        assert stored["good0002"]["message"] == "nul\ufffdinside"
        assert stored["good0003"]["author_email"] == "ünïcødé@example.com"
        assert stored["good0000"]["author_email"] == "dev@example.com"
        assert stored["broken-utf8"]["message"] == "caf\ufffd \ufffd"

        # Every bad message: one dead_letters row with its exact bytes and coordinates.
        rows = {(r["partition"], r["offset"]): r for r in query(own_database, "SELECT * FROM dead_letters")}
        assert len(rows) == len(bads)
        for (key, value, _headers), meta, bad in zip(messages, sent, expected, strict=True):
            if bad is None:
                assert (meta.partition, meta.offset) not in rows
                continue
            row = rows[(meta.partition, meta.offset)]
            assert (row["topic"], row["error_reason"], row["error_type"]) == ("git.commits", bad.reason, bad.error_type), bad.name
            assert bytes(row["original"]) == value, bad.name
            assert bytes(row["message_key"]) == key, bad.name
            assert row["retry_count"] == 0

        # ... and one record on the DLQ topic, in seed 002's format.
        records = asyncio.run(read_topic(bootstrap, "dlq-events", len(bads)))
        letters = {}
        for record in records:
            letter = orjson.loads(record.value)
            letters[(letter["metadata"]["partition"], letter["metadata"]["offset"])] = (record, letter)
        assert len(letters) == len(bads)
        for (key, value, headers), meta, bad in zip(messages, sent, expected, strict=True):
            if bad is None:
                continue
            record, letter = letters[(meta.partition, meta.offset)]
            assert record.key == key
            assert letter["original_size"] == len(value)
            if bad.name == "oversized":  # whole in the table; cut on the topic (broker limit)
                assert letter["original_truncated"] is True
                # cut to TOPIC_ORIGINAL_LIMIT bytes of JSON string (its quotes escaped)
                kept = original_of(letter)
                assert value.startswith(kept) and len(orjson.dumps(letter["original_message"])) - 2 <= TOPIC_ORIGINAL_LIMIT
                assert len(kept) > TOPIC_ORIGINAL_LIMIT - 100
            else:
                assert letter["original_truncated"] is False
                assert original_of(letter) == value, bad.name
            assert letter["error"]["type"] == bad.error_type and letter["error"]["message"], bad.name
            assert letter["metadata"]["topic"] == "git.commits"
            assert letter["metadata"]["key"] == key.decode()
            assert letter["metadata"]["headers"]["trace-id"] == dict(headers)["trace-id"].decode()
            assert base64.b64decode(letter["metadata"]["headers"]["binary"]) == b"\xff\x00"
            assert letter["retry_count"] == 0 and letter["failed_at"].endswith("Z")

        # Counted: failures by reason, dead letters by error type.
        text = worker.get_text("/metrics")
        failed = prometheus(text, "processor_messages_failed_total")
        by_reason = Counter(b.reason for b in bads)
        for reason, count in by_reason.items():
            assert failed[f'{{reason="{reason}",topic="git.commits"}}'] == count, reason
        dlq = prometheus(text, "dlq_messages_total")
        for error_type, count in Counter(b.error_type for b in bads).items():
            assert dlq[f'{{error_type="{error_type}"}}'] == count, error_type
        assert worker.get("/stats")[1]["topics"]["git.commits"]["failed"] == len(bads)
        assert query(own_database, "SELECT to_regclass('commits') IS NOT NULL")[0][0] is True
    finally:
        worker.stop()
