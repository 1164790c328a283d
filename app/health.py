"""Health of a worker's dependencies, in seed 000's /health shape."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = ["health_report", "kafka_reachable"]


def health_report(
    *,
    version: str,
    kafka: bool,
    timescale: bool,
    redis: bool,
    now: datetime,
    stuck_batches: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], int]:
    """The /health body and HTTP status: Kafka or the database down, or an agent whose batch
    keeps failing (its partitions commit nothing), is unhealthy (503); Redis down is
    degraded (200): the processor works without its cache."""
    if not (kafka and timescale) or stuck_batches:
        status, code = "unhealthy", 503
    elif not redis:
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
