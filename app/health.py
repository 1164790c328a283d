"""Health of a worker: its dependencies in seed 000's /health shape, and its readiness.

Liveness (``/health/live``) is the process answering at all. Readiness (``/health/ready``)
is the worker doing its whole job: every topic declared with its partition count,
partitions assigned, tables recovered. ``/health`` is seed 000's document about the
dependencies, plus what is wrong with the topics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = ["health_report", "kafka_reachable", "readiness"]


def health_report(
    *,
    version: str,
    kafka: bool,
    timescale: bool,
    redis: bool,
    now: datetime,
    stuck_batches: list[dict[str, Any]] | None = None,
    topics_wrong: bool = False,
    extra: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], int]:
    """The /health body and HTTP status: Kafka or the database down, or an agent whose batch
    keeps failing (its partitions commit nothing), is unhealthy (503); Redis down or a topic
    with the wrong partition count is degraded (200): the processor works without its
    cache, and goes on with the other topics."""
    if not (kafka and timescale) or stuck_batches:
        status, code = "unhealthy", 503
    elif not redis or topics_wrong:
        status, code = "degraded", 200
    else:
        status, code = "healthy", 200
    body = {
        "status": status,
        "version": version,
        "timestamp": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "kafka_connected": kafka,
        "timescale_connected": timescale,
        "redis_connected": redis,
        "stuck_batches": stuck_batches or [],
    }
    if extra:
        body.update(extra)
    return body, code


async def kafka_reachable(servers: Sequence[str], timeout: float = 1.0) -> bool:
    """True when a TCP connection to any bootstrap server opens within ``timeout``."""
    for server in servers:
        host, _, port = server.rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), timeout)
        except (TimeoutError, OSError, ValueError):
            continue
        writer.close()
        return True
    return False


def readiness(
    *, topics_state: str, topic_problems: list[str], assigned: bool, rebalancing: bool, recovering: bool
) -> tuple[dict[str, Any], int]:
    """The /health/ready body and status: 200 only with every topic verified, partitions
    assigned and tables recovered; else 503 and every reason."""
    reasons = list(topic_problems)
    if topics_state == "declaring":
        reasons.append("topics are being declared (created or checked) on the broker")
    if not assigned:
        reasons.append("no partitions assigned yet (joining the consumer group)")
    if rebalancing:
        reasons.append("the consumer group is rebalancing")
    if recovering:
        reasons.append("tables are being recovered from their changelogs")
    body: dict[str, Any] = {"ready": not reasons, "topics": topics_state}
    if reasons:
        body["reasons"] = reasons
    return body, 200 if not reasons else 503
