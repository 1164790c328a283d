"""The worker's shared connections and counters, built from settings (wiring only)."""

from __future__ import annotations

from typing import cast

from faust.types import TP

from app.cache import RedisCache
from app.db import Database
from app.dedupe import Dedupe
from app.main import app, settings
from app.metrics import ProcessorMetrics
from app.operating_metrics import OperatingMetrics
from app.retry import RetryPolicy
from runtime.monitor import LeanMonitor
from runtime.stuck_batches import StuckBatches
from runtime.web_server import REQUEST_OBSERVERS

__all__ = [
    "database",
    "read_database",
    "cache",
    "dedupe",
    "metrics",
    "operating",
    "retry_policy",
    "stuck_batches",
]

READ_POOL_SIZE = 2

retry_policy = RetryPolicy(max_retries=settings.max_retries, base_s=settings.retry_backoff_base_s)
database = Database(settings.postgres_dsn, pool_size=settings.db_pool_size, retry=retry_policy)
# The views' reads (team views) on connections of their own: a query never waits for a
# writer's connection, and a burst of queries never holds one a batch needs.
read_database = Database(settings.postgres_dsn, pool_size=READ_POOL_SIZE, retry=retry_policy)
cache = RedisCache(settings.redis_url)
metrics = ProcessorMetrics()
operating = OperatingMetrics(metrics.registry)  # lag, circuits, DLQ backlog, freshness, HTTP
REQUEST_OBSERVERS.append(operating.observe_request)
stuck_batches = StuckBatches()  # batches retried unacked (agents.batches); /health reports them
dedupe = Dedupe(cache, settings.dedupe_ttl_s, group=settings.consumer_group_id)
cast(LeanMonitor, app.monitor).commit_listeners.append(dedupe.on_committed)


@app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode's SignalHandlerT matches no function
async def _forget_revoked(sender: object, revoked: set[TP], **kwargs: object) -> None:
    dedupe.forget(revoked)


@app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode's SignalHandlerT matches no function
async def _close_connections(sender: object, **kwargs: object) -> None:
    await cache.close()
    await read_database.close()
