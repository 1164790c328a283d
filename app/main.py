"""The one faust.App. It lists agents, tables and views; Faust imports them at start."""

from __future__ import annotations

import faust
import mode.loop
from faust.web import drivers as web_drivers

from app.logging import configure_structlog, logging_config
from app.settings import load_settings_or_exit
from runtime.compression import missing_codecs
from runtime.gc_tuning import configure_collector, freeze_startup_objects
from runtime.monitor import LeanMonitor
from runtime.native_memory import configure_allocator
from runtime.rocksdb_memory import use_shared_memory
from runtime.tracing import configure as configure_tracing
from runtime.transport import use_fetch_limits

__all__ = ["app", "settings"]

# What a worker behind its input holds per agent queue (faust.App below).
STREAM_BUFFER_EVENTS = 1024

settings = load_settings_or_exit()
if _missing := missing_codecs():
    # Any topic may carry batches in any codec: stop here, not at the first such batch.
    raise SystemExit(
        f"sei-processor: cannot read record batches compressed with {', '.join(_missing)}: "
        "aiokafka finds no cramjam; install it (pip install 'aiokafka[lz4,snappy,zstd]')"
    )
configure_structlog()
configure_collector()
# Before RocksDB and the consumer allocate: RSS that follows what is in use (runtime.native_memory).
configure_allocator()
if settings.event_loop == "uvloop":
    # Before Faust creates its loop: measured +16 % messages/s for the same worker.
    mode.loop.use("uvloop")

# The transport Faust loads from the broker URL reads them when it builds the consumer.
use_fetch_limits(settings.kafka_fetch_min_bytes, settings.kafka_fetch_max_wait_ms)
_session_timeout_s = settings.kafka_session_timeout_ms / 1000
# Faust's aiohttp driver with read timeouts and a connection cap (runtime.web_server); named
# here rather than as an entry point so a source checkout needs no reinstall.
web_drivers.DRIVERS.aliases["sei-aiohttp"] = "runtime.web_server:Web"
# Every RocksDB table partition of the worker within one memory budget (runtime.rocksdb_memory).
use_shared_memory(settings.rocksdb_memory_mb)

if settings.otel_exporter_otlp_endpoint:
    # Before the app: spans of every batch and request from the start (runtime.tracing).
    configure_tracing(settings.consumer_group_id, endpoint=settings.otel_exporter_otlp_endpoint)

app = faust.App(
    settings.consumer_group_id,
    broker=settings.broker_url,
    store=settings.store,
    datadir=str(settings.data_dir),
    autodiscover=[
        "agents",
        "tables",
        "app.views",
        "app.resources",
        "app.commands",
        "app.diagnostics",
        "app.loop_lag",
        "app.memory_release",
        "app.topic_declaration",
    ],
    origin="app",
    topic_partitions=settings.topic_partitions,
    table_standby_replicas=settings.table_standby_replicas,
    processing_guarantee="at_least_once",
    # Changelogs, dead letters, metrics.dora and POST /ingest's events.ingest batches.
    producer_compression_type=settings.producer_compression_type,
    consumer_auto_offset_reset="earliest",
    # What a worker behind its input holds in memory: each agent's queue of decoded events,
    # full through a backlog (Faust's 4,096; docs/state.md). Faust's STREAM_BUFFER_MAXSIZE
    # variable still overrides it. The per-partition fetch stays at Faust's 1 MiB: with a
    # quarter of it a suite test that reads long topics from their start as a new group
    # failed once (not diagnosed; suspected: more fetches, and the local broker lists a
    # partition's batches for each).
    stream_buffer_maxsize=STREAM_BUFFER_EVENTS,
    broker_session_timeout=_session_timeout_s,
    broker_heartbeat_interval=min(3.0, _session_timeout_s / 3),
    web="sei-aiohttp://",
    web_port=settings.web_port,
    web_bind=settings.web_bind,
    web_host=settings.web_bind,
    canonical_url=settings.canonical_url,
    # Faust's built-in views dump tables and topology; we serve our own.
    web_tables_enabled=False,
    web_stats_enabled=False,
    web_graph_enabled=False,
    web_router_enabled=False,
    web_metrics_enabled=False,
    logging_config=logging_config(settings.log_level),
    monitor=LeanMonitor(),
)


@app.task  # type: ignore[untyped-decorator]  # faust marks App.task no_type_check
async def _freeze_startup_objects() -> None:
    # At worker start, after every module and the app graph exist (runtime.gc_tuning).
    freeze_startup_objects()
