"""HTTP views served by every worker: /health, /metrics, /stats."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from faust.web import Request, Response, View

from app.health import health_report, kafka_reachable
from app.main import app, settings
from app.resources import cache, database, metrics, stuck_batches
from app.version import __version__

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4"


@app.page("/health")
class Health(View):
    """Seed 000's health document; 503 when Kafka or the database is unreachable."""

    async def get(self, request: Request) -> Response:
        kafka, timescale, redis = await asyncio.gather(
            kafka_reachable(settings.bootstrap_servers), database.ping(), cache.ping()
        )
        body, status = health_report(
            version=__version__,
            kafka=kafka,
            timescale=timescale,
            redis=redis,
            now=datetime.now(UTC),
            stuck_batches=stuck_batches.as_list(),
            extra={
                "database_circuit_open": database.circuit_open,
                # Readiness for orchestration: partitions assigned and tables recovered.
                "consuming": bool(app.consumer.assignment()) and not (app.rebalancing or app.in_recovery),
            },
        )
        return self.json(body, status=status)


@app.page("/metrics")
class Metrics(View):
    """Prometheus text exposition of this worker's counters."""

    async def get(self, request: Request) -> Response:
        return self.bytes(metrics.prometheus_text(), content_type=PROMETHEUS_CONTENT_TYPE)


@app.page("/stats")
class Stats(View):
    """Per-topic counters of this worker as JSON."""

    async def get(self, request: Request) -> Response:
        body = metrics.as_dict()
        body["partitions"] = partition_offsets(app.monitor)
        return self.json(body)


def partition_offsets(monitor: Any) -> dict[str, dict[str, dict[str, int | None]]]:
    """Per source partition: last offset read, last committed, end (fetch highwater), lag."""
    answer: dict[str, dict[str, dict[str, int | None]]] = {}
    for tp, read in sorted(monitor.tp_read_offsets.items()):
        committed = monitor.tp_committed_offsets.get(tp)
        end = monitor.tp_end_offsets.get(tp)
        answer.setdefault(tp.topic, {})[str(tp.partition)] = {
            "read": read,
            "committed": committed,
            "end": end,
            "lag": None if end is None or committed is None else max(0, end - committed),
        }
    return answer
