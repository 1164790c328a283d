"""The gauges an operator watches beside the per-topic counters (app.metrics): consumer lag,
table recovery, circuit breakers, the dead-letter backlog and replays, projection freshness,
DORA bands and HTTP latency per view. Names are stable; docs/operations.md lists them.

Lag, recovery and circuits are read from the live objects when Prometheus scrapes (``refresh``
in the /metrics view), so they are never older than the scrape. The dead-letter backlog is a
database count refreshed on a timer (agents.operations): a scrape never waits on the database.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from models.data_quality import Finding
from runtime.rocksdb_memory import memory_in_use

__all__ = ["OperatingMetrics", "DeadLetterBacklog", "BAND_VALUES", "HTTP_BUCKETS"]

# Ordered so that "the band dropped" is "the value went down" (alerts compare with an offset).
BAND_VALUES: Mapping[str, int] = {"low": 1, "medium": 2, "high": 3, "elite": 4}
DORA_BAND_METRICS = ("deployment_frequency", "lead_time", "change_failure_rate", "time_to_restore")
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass(frozen=True, slots=True)
class DeadLetterBacklog:
    """Per topic: dead letters never replayed, and replays done (the sum of ``replay_count``)."""

    unreplayed: Mapping[str, int]
    replays: Mapping[str, int]
    read_at: float


class _DeadLetterCollector(Collector):
    """dlq_backlog_size and dlq_replays_total from the last database read (values the
    database keeps, so they survive restarts: a counter family, not a process counter)."""

    def __init__(self) -> None:
        self.backlog: DeadLetterBacklog | None = None

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        backlog = self.backlog
        size = GaugeMetricFamily(
            "dlq_backlog_size",
            "Dead letters stored and never replayed (dead_letters.replayed_at IS NULL)",
            labels=["topic"],
        )
        replays = CounterMetricFamily(
            "dlq_replays",
            "Dead letters sent again by `faust -A app dlq replay` (sum of replay_count)",
            labels=["topic"],
        )
        read = GaugeMetricFamily(
            "dlq_backlog_read_timestamp_seconds",
            "When the dead-letter backlog was last read from the database",
        )
        if backlog is not None:
            for topic, count in sorted(backlog.unreplayed.items()):
                size.add_metric([topic], count)
            for topic, count in sorted(backlog.replays.items()):
                replays.add_metric([topic], count)
            read.add_metric([], backlog.read_at)
        yield size
        yield replays
        yield read


def _rocksdb_memory(part: str) -> float:
    return float(memory_in_use()[part])


class OperatingMetrics:
    """Registered into the worker's one registry (app.resources), beside ProcessorMetrics."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.consumer_lag = Gauge(
            "processor_consumer_lag",
            "Messages between the committed offset and the end of the partition (per source partition this worker owns)",
            ["topic", "partition"],
            registry=registry,
        )
        self.ready = Gauge(
            "processor_worker_ready",
            "1 when /health/ready answers 200: topics verified, partitions assigned, tables recovered",
            registry=registry,
        )
        self.recovering = Gauge(
            "processor_table_recovery_in_progress",
            "1 while the worker rebuilds its tables from their changelogs",
            registry=registry,
        )
        self.recovery_remaining = Gauge(
            "processor_table_recovery_remaining_messages",
            "Changelog messages still to read before the tables are recovered (active: to serve; standby: replicas)",
            ["kind"],
            registry=registry,
        )
        self.circuit_open = Gauge(
            "processor_circuit_open",
            "1 while calls to the dependency are suspended after repeated failures",
            ["dependency"],
            registry=registry,
        )
        self.projection_flushed_at = Gauge(
            "processor_projection_last_flush_timestamp_seconds",
            "When projections (metrics_daily, Redis snapshots, metrics.dora) were last written",
            registry=registry,
        )
        self.snapshot_at = Gauge(
            "processor_dora_snapshot_last_timestamp_seconds",
            "When this worker last published a DORA snapshot, changed or renewed daily (metrics.dora and Redis)",
            registry=registry,
        )
        self.dora_band = Gauge(
            "sei_dora_band",
            "DORA band of a repository's last 30 days (1 low, 2 medium, 3 high, 4 elite)",
            ["repository", "metric"],
            registry=registry,
        )
        self.dora_team_band = Gauge(
            "sei_dora_team_band",
            "DORA band of a team's last 30 days, its repositories pooled (1 low, 2 medium, 3 high, "
            "4 elite); exported by the group's leader only",
            ["team", "metric"],
            registry=registry,
        )
        self.http_latency = Histogram(
            "processor_http_request_duration_seconds",
            "Time to answer an HTTP request, per view (route template) and method",
            ["view", "method"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        )
        self.http_requests = Counter(
            "processor_http_requests_total",
            "HTTP requests answered, per view, method and status class",
            ["view", "method", "status"],
            registry=registry,
        )
        self.quality_failed = Gauge(
            "sei_quality_check_failed",
            "1 when the data-quality check failed at its last run (models.data_quality; `quality check`)",
            ["topic", "check"],
            registry=registry,
        )
        self.quality_run_at = Gauge(
            "sei_quality_last_run_timestamp_seconds",
            "When the data-quality checks last ran",
            registry=registry,
        )
        rocksdb_memory = Gauge(
            "processor_rocksdb_memory_bytes",
            "RocksDB memory in use: the shared block cache of ROCKSDB_MEMORY_MB (memtables charged to it), the memtables, and the open files' index and filter blocks (outside it)",
            ["part"],
            registry=registry,
        )
        for part in ("block_cache", "memtables", "table_readers"):
            rocksdb_memory.labels(part).set_function(partial(_rocksdb_memory, part))
        self.dead_letters = _DeadLetterCollector()
        registry.register(self.dead_letters)
        self._lag_labels: set[tuple[str, str]] = set()
        self._band_teams: set[str] = set()

    def set_lag(self, partitions: Mapping[str, Mapping[str, Mapping[str, int | None]]]) -> None:
        """From the /stats partition document (app.views.service.partition_offsets); partitions
        this worker no longer owns leave the gauge."""
        seen: set[tuple[str, str]] = set()
        for topic, by_partition in partitions.items():
            for partition, offsets in by_partition.items():
                lag = offsets.get("lag")
                if lag is None:
                    continue
                self.consumer_lag.labels(topic, partition).set(lag)
                seen.add((topic, partition))
        for gone in self._lag_labels - seen:
            self.consumer_lag.remove(*gone)
        self._lag_labels = seen

    def set_ready(self, ready: bool) -> None:
        self.ready.set(1 if ready else 0)

    def set_recovery(self, *, in_recovery: bool, active_remaining: int, standby_remaining: int) -> None:
        self.recovering.set(1 if in_recovery else 0)
        self.recovery_remaining.labels("active").set(active_remaining)
        self.recovery_remaining.labels("standby").set(standby_remaining)

    def set_circuits(self, states: Mapping[str, bool]) -> None:
        for dependency, is_open in states.items():
            self.circuit_open.labels(dependency).set(1 if is_open else 0)

    def projection_flushed(
        self, *, snapshots: Iterable[Mapping[str, object]], now: float | None = None
    ) -> None:
        """A projection flush done; ``snapshots`` are the DORA snapshots it published."""
        at = time.time() if now is None else now
        self.projection_flushed_at.set(at)
        published = False
        for snapshot in snapshots:
            published = True
            _set_bands(self.dora_band, str(snapshot.get("repository_id")), snapshot)
        if published:
            self.snapshot_at.set(at)

    def set_team_bands(self, answers: Mapping[str, Mapping[str, object]]) -> None:
        """Each team's band from its 30-day DORA answer; teams not in ``answers`` leave the
        gauge (an empty mapping clears it: a worker that is not the leader exports none)."""
        for team, answer in answers.items():
            _set_bands(self.dora_team_band, team, answer)
        for team in self._band_teams - set(answers):
            _set_bands(self.dora_team_band, team, {})
        self._band_teams = set(answers)

    def observe_request(self, view: str, method: str, status: int, seconds: float) -> None:
        self.http_latency.labels(view, method).observe(seconds)
        self.http_requests.labels(view, method, f"{status // 100}xx").inc()

    def set_quality(self, findings: Iterable[Finding], *, now: float | None = None) -> None:
        """The last run's findings replace the previous ones (skipped checks are left out)."""
        self.quality_failed.clear()
        for finding in findings:
            if finding.status != "skip":
                self.quality_failed.labels(finding.topic, finding.check).set(
                    1 if finding.status == "fail" else 0
                )
        self.quality_run_at.set(time.time() if now is None else now)

    def set_dead_letters(self, backlog: DeadLetterBacklog) -> None:
        self.dead_letters.backlog = backlog


def _set_bands(gauge: Gauge, subject: str, answer: Mapping[str, object]) -> None:
    """The band of each DORA key in ``answer`` (a snapshot or a /dora body) under ``subject``;
    a key without a band (no deployments or incidents in the window) leaves the gauge."""
    for metric in DORA_BAND_METRICS:
        part = answer.get(metric)
        band = part.get("band") if isinstance(part, Mapping) else None
        if isinstance(band, str) and band in BAND_VALUES:
            gauge.labels(subject, metric).set(BAND_VALUES[band])
        else:
            try:
                gauge.remove(subject, metric)
            except KeyError:
                pass
