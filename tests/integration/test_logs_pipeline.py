"""logs end to end on the real stack: produce -> scored rows, anomalies on logs.anomalies,
incidents and service health over HTTP; a restart in the middle keeps the baselines."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from devtools.kafka_io import produce
from devtools.localstack import LocalStack
from devtools.log_history import generate_log_history
from devtools.worker_process import WorkerProcess
from models.logs import LogMessage
from runtime.partitioner import partition_of
from tables.anomaly.detector import DetectorConfig, LogPoint, ServiceState, score_log
from tables.anomaly.levels import normalize_level
from tables.anomaly.templates import template_key, template_of
from tests.integration.conftest import consumed, wait_consumed, wait_for

pytestmark = pytest.mark.integration


async def read_topic(bootstrap: str, topic: str, timeout_s: float = 10) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[Any] = []
    try:
        idle = 0
        while idle < int(timeout_s * 2):
            got = [r for batch in (await consumer.getmany(timeout_ms=500)).values() for r in batch]
            records.extend(got)
            idle = 0 if got else idle + 1
        return records
    finally:
        await consumer.stop()


def live_chunks(
    messages: list[tuple[bytes, bytes]], minutes: float = 10.0
) -> list[list[tuple[bytes, bytes]]]:
    """The messages in chunks of ``minutes`` of event time: sent one after the other, each
    consumed before the next, the partitions are read to their end between chunks as a live
    stream's are."""
    chunks: list[list[tuple[bytes, bytes]]] = []
    edge = None
    for key, value in messages:
        at = datetime.fromisoformat(orjson.loads(value)["timestamp"].replace("Z", "+00:00")).timestamp()
        if edge is None or at >= edge:
            chunks.append([])
            edge = at + minutes * 60
        chunks[-1].append((key, value))
    return chunks


def test_logs_are_scored_stored_flagged_and_keep_their_baselines_across_a_restart(
    stack: LocalStack, worker: WorkerProcess, db: Any
) -> None:
    # The service that goes quiet alone on its partition: only the worker's clock (the other
    # partitions' time, this one read to its end) can find its silence in time.
    partitions = int(worker.env.get("TOPIC_PARTITIONS", "8"))
    while True:
        prefix = f"logs{uuid.uuid4().hex[:6]}"
        history = generate_log_history(
            services=6, hours=5.0, per_kind=1, seed=3, rate=0.3, prefix=prefix, deploys=1
        )
        [gone] = [e for e in history.incidents if e.kind == "quiet"]
        placed = {s: partition_of(s.encode(), partitions) for s in history.services}
        if sum(p == placed[gone.service] for p in placed.values()) == 1:
            break
    messages = [(r.service.encode(), orjson.dumps(r.message_json())) for r in history.records]

    # What the detector scores offline, log by log, in each service's order.
    config = DetectorConfig()
    shape = config.shape()
    states: dict[str, ServiceState] = {}
    expected: dict[tuple[str, str], tuple[float, bool]] = {}
    for r in history.records:
        message = LogMessage.model_validate_json(orjson.dumps(r.message_json()))
        point = LogPoint(r.at, normalize_level(r.level), template_key(template_of(r.message)), r.latency_ms)
        parts = score_log(states.setdefault(r.service, ServiceState()), point, config, shape)
        expected[(r.service, message.log_key)] = (round(parts.score, 6), parts.is_anomaly)
    assert sum(flag for _, flag in expected.values()) > 20

    # Part one; then a restart on the same local state; then part two, each 40th line sent
    # twice in a row, and five malformed lines.
    cut = len(messages) * 2 // 3
    first, second = messages[:cut], messages[cut:]
    resent = [m for i, m in enumerate(second) for _ in range(2 if i % 40 == 0 else 1)]
    broken = [
        (f"{prefix}-00".encode(), b"{not json"),
        (
            f"{prefix}-00".encode(),
            b'{"service": "%s-00", "level": "loud", "message": "m", "timestamp": "2026-11-02T05:00:00Z"}'
            % prefix.encode(),
        ),
        (
            f"{prefix}-00".encode(),
            b'{"service": "%s-00", "level": "info", "message": "m", "latency_ms": -3, "timestamp": "2026-11-02T05:00:00Z"}'
            % prefix.encode(),
        ),
        (
            f"{prefix}-00".encode(),
            b'{"service": "%s-00", "level": "info", "timestamp": "2026-11-02T05:00:00Z"}' % prefix.encode(),
        ),
        (
            f"{prefix}-01".encode(),
            b'{"service": "%s-00", "level": "info", "message": "m", "timestamp": "2026-11-02T05:00:00Z"}'
            % prefix.encode(),
        ),
    ]
    dead_before = db("SELECT count(*) FROM dead_letters WHERE topic = 'logs'")[0][0]
    start = consumed(worker, "logs")
    for chunk in live_chunks(first):
        asyncio.run(produce([stack.broker.bootstrap], "logs", chunk))
        start += len(chunk)
        wait_consumed(worker, "logs", start, timeout_s=300)
    worker.stop()
    worker.start()
    worker.wait_ready()
    done = 0
    for chunk in live_chunks(resent):
        asyncio.run(produce([stack.broker.bootstrap], "logs", chunk))
        done += len(chunk)
        wait_consumed(worker, "logs", done, timeout_s=300)
    asyncio.run(produce([stack.broker.bootstrap], "logs", broken))
    wait_for(lambda: consumed(worker, "logs") >= done + len(broken), 300, "part two consumed")

    rows = db(
        "SELECT service, log_key, anomaly_score, is_anomaly, score_source, level FROM logs WHERE service LIKE $1",
        f"{prefix}-%",
    )
    assert len(rows) == len(history.records)  # each line once, duplicates included
    got = {(r["service"], r["log_key"]): (r["anomaly_score"], r["is_anomaly"]) for r in rows}
    # Every score equals the offline one: after the restart the worker scored from the
    # baselines it had, not from zero (a fresh state would be in warm-up, nothing flagged).
    assert got == expected
    assert {r["score_source"] for r in rows} == {"local"}
    assert {r["level"] for r in rows} <= {"info", "warning", "error", "critical"}

    dead = db("SELECT error_type, error_reason, original FROM dead_letters WHERE topic = 'logs'")
    assert len(dead) - dead_before == len(broken)
    assert {bytes(r["original"]) for r in dead} >= {value for _, value in broken}

    anomalies = db(
        "SELECT service, at, kind, score, parts FROM log_anomalies WHERE service LIKE $1", f"{prefix}-%"
    )
    flagged = sum(flag for _, flag in expected.values())
    assert sum(r["kind"] == "log" for r in anomalies) == flagged
    quiet = [r for r in anomalies if r["kind"] == "quiet"]
    assert any(r["service"] == gone.service and gone.start <= r["at"].timestamp() < gone.end for r in quiet)

    records = [
        orjson.loads(r.value) for r in asyncio.run(read_topic(stack.broker.bootstrap, "logs.anomalies"))
    ]
    mine = [r for r in records if r["service"].startswith(prefix)]
    assert sum(r["kind"] == "log" for r in mine) == flagged
    assert sum(r["kind"] == "quiet" for r in mine) == len(quiet)
    assert all(
        set(r["parts"]) == {"latency", "error_rate", "novelty", "statistics", "forest"}
        for r in mine
        if r["kind"] == "log"
    )

    since = quote(datetime.fromtimestamp(history.start, UTC).isoformat())
    for incident in history.incidents:
        status, answer = worker.get(f"/anomalies?service={incident.service}&since={since}")
        assert status == 200, answer
        assert any(
            datetime.fromisoformat(i["first_at"]).timestamp() < incident.end
            and datetime.fromisoformat(i["last_at"]).timestamp() >= incident.start
            for i in answer["incidents"]
        ), (incident, answer)
    status, health = worker.get(f"/services/{prefix}-00/health")
    assert status == 200 and health["warmed_up"] and health["baseline"]["latency_ms_typical"] > 0
    assert worker.get(f"/services/{prefix}-none/health")[0] == 404
    assert worker.get("/anomalies?since=yesterday")[0] == 400
    metrics = worker.get_text("/metrics")
    assert 'processor_logs_scored_total{source="local"}' in metrics
    assert "processor_log_scorer_seconds_bucket" in metrics
    assert "processor_ml_engine_breaker_state" in metrics
