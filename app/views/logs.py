"""Log anomalies over HTTP (docs/anomalies.md).

- ``GET /anomalies?service=&since=&limit=``: incidents (runs of a service's anomalies less
  than five minutes apart) from the `log_anomalies` rows, latest first; any worker answers.
- ``GET /services/{service}/health``: the service's baselines and current rates from its
  detector state, answered by the worker that owns the service's partition.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from faust.web import Request, Response, View

from agents.logs import CONFIG, SHAPE
from app.logging import get_logger
from app.main import app, settings
from app.resources import read_database
from app.routing import routed_by_source_key, unavailable_answer
from app.topics import logs
from app.views.params import BadParameter, check_identifier, parse_end
from runtime.event_context import reading_partition
from runtime.partitioner import partition_of
from stores.logs import read_incidents
from stores.teams import READ_TIMEOUT_S
from tables.instants import from_micros
from tables.log_state import LogServiceState
from tables.logs import log_detectors

__all__ = ["Anomalies", "ServiceHealth", "health_answer"]

log = get_logger("sei.views.logs")
DEFAULT_LOOKBACK = timedelta(hours=24)
DEFAULT_INCIDENTS = 50
MAX_INCIDENTS = 500


def _since(request: Request) -> datetime:
    text = request.query.get("since")
    if text is None or not text.strip():
        return datetime.now(UTC) - DEFAULT_LOOKBACK
    try:
        return from_micros(parse_end(text))
    except ValueError:
        raise BadParameter("since must be an ISO-8601 timestamp between 1990-01-01 and 2100-01-01") from None


def _limit(request: Request) -> int:
    text = request.query.get("limit")
    if text is None:
        return DEFAULT_INCIDENTS
    if not text.isdigit() or not 1 <= int(text) <= MAX_INCIDENTS:
        raise BadParameter(f"limit must be a whole number from 1 to {MAX_INCIDENTS}")
    return int(text)


@app.page("/anomalies")
class Anomalies(View):
    """``{"since", "service", "incidents": [{service, first_at, last_at, anomalies,
    peak_score, kinds, samples}]}``. Query: ``service`` (optional), ``since`` (ISO-8601,
    default 24 hours ago), ``limit`` (1-500, default 50)."""

    async def get(self, request: Request) -> Response:
        try:
            service = request.query.get("service") or None
            if service is not None:
                check_identifier(service, "service")
            since = _since(request)
            limit = _limit(request)
        except BadParameter as exc:
            return self.json({"error": str(exc)}, status=400)
        try:
            pool = await read_database.pool()
            async with asyncio.timeout(READ_TIMEOUT_S), pool.acquire() as conn:
                incidents = await read_incidents(conn, service, since, limit)
        except Exception as exc:
            log.warning("anomalies_view.database_unavailable", error=f"{type(exc).__name__}: {exc}")
            return unavailable_answer(self, "the database is not answering")
        return self.json({"since": since.isoformat(), "service": service, "incidents": incidents})


def _iso(seconds: float) -> str | None:
    return datetime.fromtimestamp(seconds, UTC).isoformat() if seconds > 0 else None


def health_answer(service: str, state: LogServiceState) -> dict[str, Any]:
    """A service's detector state as the health view shows it (times ISO-8601, latency in ms)."""
    d = state.detector
    at = d.last_at
    latency = d.latency
    total_long = d.long_total.at_time(at, CONFIG.long_half_life)
    total_short = d.short_total.at_time(at, CONFIG.short_half_life)
    return {
        "service": service,
        "logs_seen": d.seen,
        "warmed_up": d.seen >= CONFIG.warmup,
        "last_log_at": _iso(at),
        "quiet_flagged": d.quiet_flagged,
        "baseline": {
            "latency_ms_typical": None if latency.n == 0 else round(math.expm1(latency.mean), 3),
            "latency_log_std": round(latency.std(CONFIG.latency_floor), 4),
            "error_share": round(d.long_errors.at_time(at, CONFIG.long_half_life) / total_long, 5)
            if total_long
            else None,
            "logs_per_s": round(d.rate.rate(at, CONFIG.rate_half_life), 4),
        },
        "current": {
            "latency_ms_recent_median": None
            if not d.recent
            else round(math.expm1(sorted(d.recent)[len(d.recent) // 2]), 3),
            "error_share": round(d.short_errors.at_time(at, CONFIG.short_half_life) / total_short, 5)
            if total_short
            else None,
            "logs_per_s": round(d.short_total.rate(at, CONFIG.short_half_life), 4),
        },
        "templates_known": len(d.templates),
        "threshold": CONFIG.threshold,
    }


@app.page("/services/{service}/health")
class ServiceHealth(View):
    """A service's baselines (latency, error share, rate) and its current rates, as of its
    latest log; 404 for a service never seen."""

    @routed_by_source_key(logs, "service")
    async def get(self, request: Request, service: str) -> Response:
        try:
            check_identifier(service, "service")
        except BadParameter as exc:
            return self.json({"error": str(exc)}, status=400)
        with reading_partition(partition_of(service.encode(), settings.topic_partitions)):
            value = log_detectors.get(service)
        if value is None:
            return self.json({"error": f"no logs of service {service!r}"}, status=404)
        return self.json(health_answer(service, LogServiceState.of(value, SHAPE)))
