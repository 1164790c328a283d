"""HTTP views served by every worker: /health, /health/live, /health/ready, /metrics, /stats."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

from faust.exceptions import ConsumerNotStarted
from faust.tables.manager import TableManager
from faust.web import Request, Response, View

from app.health import health_report, kafka_reachable, readiness
from app.health_probe import DatabasePing, HealthProbe
from app.loop_lag import loop_lag
from app.main import app, settings
from app.resources import cache, database, metrics, operating, read_database, stuck_batches
from app.topic_declaration import gate
from app.version import __version__

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4"


_database_ping = DatabasePing(settings.postgres_dsn)


async def _check_dependencies() -> tuple[bool, bool]:
    kafka, timescale = await asyncio.gather(kafka_reachable(settings.bootstrap_servers), _database_ping())
    return kafka, timescale


# Broker and database checks shared by all requests (app.health_probe): not the writers' pool.
_probe = HealthProbe(_check_dependencies)


@app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode's SignalHandlerT matches no function
async def _close_probe(sender: object, **kwargs: object) -> None:
    await _database_ping.close()


def _assigned() -> bool:
    try:
        return bool(app.consumer.assignment())
    except ConsumerNotStarted:  # topics are still being declared (app.topic_declaration)
        return False


def _ready() -> tuple[dict[str, Any], int]:
    problems = [f"{p['topic']}: {p['fix']}" for p in gate.report().get("problems", ())]
    return readiness(
        topics_state=gate.state,
        topic_problems=problems,
        assigned=_assigned(),
        rebalancing=app.rebalancing,
        recovering=app.in_recovery,
    )


@app.page("/health")
class Health(View):
    """Seed 000's health document; 503 when Kafka or the database is unreachable."""

    async def get(self, request: Request) -> Response:
        checks, redis = await asyncio.gather(
            _probe.latest(not_before=database.circuit_open_since), cache.ping()
        )
        ready, _ = _ready()
        body, status = health_report(
            version=__version__,
            kafka=checks.kafka,
            timescale=checks.timescale,
            redis=redis,
            now=datetime.now(UTC),
            stuck_batches=stuck_batches.as_list(),
            topics_wrong=gate.state in ("mismatch", "blocked"),
            extra={
                "database_circuit_open": database.circuit_open,
                # Readiness for orchestration: partitions assigned and tables recovered.
                "consuming": _assigned() and not (app.rebalancing or app.in_recovery),
                "ready": ready["ready"],
                "topics": gate.report(),
            },
        )
        return self.json(body, status=status)


@app.page("/health/live")
class Live(View):
    """200 while the process runs and its event loop answers (a Kubernetes liveness probe)."""

    async def get(self, request: Request) -> Response:
        return self.json({"status": "alive"})


@app.page("/health/ready")
class Ready(View):
    """200 once topics are verified, partitions assigned and tables recovered; else 503 and why."""

    async def get(self, request: Request) -> Response:
        body, status = _ready()
        return self.json(body, status=status)


@app.page("/metrics")
class Metrics(View):
    """Prometheus text exposition of this worker's counters."""

    async def get(self, request: Request) -> Response:
        _refresh_operating()
        return self.bytes(metrics.prometheus_text(), content_type=PROMETHEUS_CONTENT_TYPE)


def _refresh_operating() -> None:
    """The scrape-time gauges (app.operating_metrics) from the live consumer, tables and clients."""
    operating.set_lag(partition_offsets(app.monitor))
    operating.set_ready(bool(_ready()[0]["ready"]))
    recovery = cast(TableManager, app.tables).recovery
    operating.set_recovery(
        in_recovery=bool(app.in_recovery),
        active_remaining=int(recovery.active_remaining_total()),
        standby_remaining=int(recovery.standby_remaining_total()),
    )
    operating.set_circuits(
        {
            "database": database.circuit_open,
            "read_database": read_database.circuit_open,
            "redis": not cache.available,
        }
    )


@app.page("/stats")
class Stats(View):
    """Per-topic counters of this worker as JSON."""

    async def get(self, request: Request) -> Response:
        body = metrics.as_dict()
        body["partitions"] = partition_offsets(app.monitor)
        body["event_loop"] = loop_lag.as_dict()
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
