from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

import pytest

from app.health import health_report, kafka_reachable, readiness

NOW = datetime(2025, 10, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kafka", "timescale", "redis", "status", "code"),
    [
        pytest.param(True, True, True, "healthy", 200, id="all-up"),
        pytest.param(True, True, False, "degraded", 200, id="redis-down"),
        pytest.param(False, True, True, "unhealthy", 503, id="kafka-down"),
        pytest.param(True, False, True, "unhealthy", 503, id="database-down"),
    ],
)
def test_health_report_status_and_code(
    kafka: bool, timescale: bool, redis: bool, status: str, code: int
) -> None:
    body, http = health_report(version="0.1.0", kafka=kafka, timescale=timescale, redis=redis, now=NOW)
    assert (body["status"], http) == (status, code)
    assert body == {
        "status": status,
        "version": "0.1.0",
        "timestamp": "2025-10-01T12:00:00Z",
        "kafka_connected": kafka,
        "timescale_connected": timescale,
        "redis_connected": redis,
        "stuck_batches": [],
    }


def test_a_stuck_batch_makes_the_worker_unhealthy() -> None:
    stuck = [{"agent": "git.commits", "error_type": "OverflowError", "attempts": 3}]
    body, http = health_report(
        version="0.1.0", kafka=True, timescale=True, redis=True, now=NOW, stuck_batches=stuck
    )
    assert (body["status"], http, body["stuck_batches"]) == ("unhealthy", 503, stuck)


def test_kafka_reachable_true_for_listening_port_false_for_closed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert asyncio.run(kafka_reachable([f"127.0.0.1:{port}"]))
    assert not asyncio.run(kafka_reachable([f"127.0.0.1:{port}"], timeout=0.5))


def test_health_report_topic_mismatch_is_degraded_200() -> None:
    body, http = health_report(
        version="0.1.0", kafka=True, timescale=True, redis=True, now=NOW, topics_wrong=True
    )
    assert (body["status"], http) == ("degraded", 200)


@pytest.mark.parametrize(
    ("state", "problems", "assigned", "rebalancing", "recovering", "reason"),
    [
        pytest.param("declaring", [], False, False, False, "topics are being declared", id="declaring"),
        pytest.param("mismatch", ["git.commits: recreate it"], True, False, False, "git.commits", id="mismatch"),
        pytest.param("verified", [], False, False, False, "no partitions assigned", id="joining"),
        pytest.param("verified", [], True, True, False, "rebalancing", id="rebalancing"),
        pytest.param("verified", [], True, False, True, "recovered", id="recovering"),
    ],
)
def test_readiness_503_names_each_reason(
    state: str, problems: list[str], assigned: bool, rebalancing: bool, recovering: bool, reason: str
) -> None:
    body, http = readiness(
        topics_state=state, topic_problems=problems, assigned=assigned, rebalancing=rebalancing, recovering=recovering
    )
    assert http == 503 and body["ready"] is False
    assert any(reason in r for r in body["reasons"])


def test_readiness_200_when_verified_assigned_recovered() -> None:
    body, http = readiness(
        topics_state="verified", topic_problems=[], assigned=True, rebalancing=False, recovering=False
    )
    assert (http, body) == (200, {"ready": True, "topics": "verified"})
