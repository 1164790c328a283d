"""Counters of what each worker did, exported two ways: Prometheus text and /stats JSON.

One call per batch updates both, so the two views never disagree.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ProcessorMetrics", "TopicStats"]


@dataclass(slots=True)
class TopicStats:
    consumed: int = 0
    processed: int = 0
    failed: int = 0
    duplicates: int = 0
    dedupe_skipped: int = 0
    warnings: int = 0
    batches: int = 0
    rewinds: int = 0
    failed_by_reason: Tally[str] = field(default_factory=Tally)
    last_batch_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "consumed": self.consumed,
            "processed": self.processed,
            "failed": self.failed,
            "duplicates": self.duplicates,
            "dedupe_skipped": self.dedupe_skipped,
            "warnings": self.warnings,
            "batches": self.batches,
            "rewinds": self.rewinds,
            "failed_by_reason": dict(self.failed_by_reason),
            "last_batch_at": self.last_batch_at,
        }


class ProcessorMetrics:
    """Per-topic processing counters (Prometheus registry + JSON stats)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.started_at = time.time()
        self.topics: dict[str, TopicStats] = {}
        self.consumed = Counter(
            "processor_messages_consumed_total", "Messages read from Kafka", ["topic"], registry=self.registry
        )
        self.processed = Counter(
            "processor_messages_processed_total",
            "Messages whose effects are durable (tables and database)",
            ["topic"],
            registry=self.registry,
        )
        self.failed = Counter(
            "processor_messages_failed_total",
            "Messages that could not be decoded, validated or stored",
            ["topic", "reason"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "processor_messages_duplicate_total",
            "Messages whose identity was already seen (no effect on aggregates)",
            ["topic"],
            registry=self.registry,
        )
        self.dedupe_skipped = Counter(
            "processor_dedupe_skipped_total",
            "Exact redeliveries skipped because Redis knew them done",
            ["topic"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "processor_processing_duration_seconds",
            "Time to process one batch, database write included",
            ["topic"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.batch_size = Gauge(
            "processor_batch_size", "Size of the last batch processed", ["topic"], registry=self.registry
        )
        self.dead_letters = Counter(
            "dlq_messages_total",
            "Messages sent to the dead-letter queue",
            ["error_type"],
            registry=self.registry,
        )
        self.validation_warnings = Counter(
            "processor_validation_warnings_total",
            "Messages kept with invalid fields dropped (VALIDATION_MODE warn/disabled)",
            ["topic"],
            registry=self.registry,
        )
        self.rows_written = Counter(
            "processor_db_rows_written_total",
            "Rows upserted into the database",
            ["table"],
            registry=self.registry,
        )
        self.rewinds = Counter(
            "processor_partition_rewinds_total",
            "Partitions read again from their committed offset after a message was lost in the consumer",
            ["topic"],
            registry=self.registry,
        )

        self.late_events = Counter(
            "processor_late_events_total",
            "Events older than their operator's watermark (their window closed): dead-lettered, never applied",
            ["topic"],
            registry=self.registry,
        )
        self.activity_open_sessions = Gauge(
            "processor_activity_open_sessions",
            "User sessions open (not yet closed by the watermark) per internal partition this worker last handled",
            ["partition"],
            registry=self.registry,
        )
        self.activity_windows_closed = Counter(
            "processor_activity_windows_closed_total",
            "Activity minutes closed by the watermark and written (per partition)",
            registry=self.registry,
        )
        self.activity_value_bytes = Histogram(
            "processor_activity_value_bytes",
            "Size of the activity table values written (JSON bytes; a changelog record must stay under 64 KiB)",
            ["table"],
            buckets=(256, 1024, 4096, 16384, 32768, 65536),
            registry=self.registry,
        )

        self.logs_scored = Counter(
            "processor_logs_scored_total", "Log lines scored for anomaly", ["source"], registry=self.registry
        )
        self.log_anomalies = Counter(
            "processor_log_anomalies_total",
            "Anomalies flagged: a log over ANOMALY_THRESHOLD, or a service gone quiet",
            ["kind"],
            registry=self.registry,
        )
        self.log_scorer_seconds = Histogram(
            "processor_log_scorer_seconds",
            "Time to score one batch of logs (state read, scoring, state written back)",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
            registry=self.registry,
        )
        self.ml_breaker_state = Gauge(
            "processor_ml_engine_breaker_state",
            "Circuit breaker of the external ML engine: 0 closed (or no engine), 1 open, 2 half-open",
            registry=self.registry,
        )

    def record_scored(self, source: str, logs: int, anomalies: int, quiet: int, seconds: float) -> None:
        """One batch of logs scored by ``source`` (``local`` or ``ml_engine``)."""
        if logs:
            self.logs_scored.labels(source).inc(logs)
        if anomalies:
            self.log_anomalies.labels("log").inc(anomalies)
        if quiet:
            self.log_anomalies.labels("quiet").inc(quiet)
        self.log_scorer_seconds.observe(seconds)

    def topic(self, topic: str) -> TopicStats:
        stats = self.topics.get(topic)
        if stats is None:
            stats = self.topics[topic] = TopicStats()
        return stats

    def record_failure(self, topic: str, reason: str, error_type: str) -> None:
        """One message dead-lettered."""
        stats = self.topic(topic)
        stats.failed += 1
        stats.failed_by_reason[reason] += 1
        self.failed.labels(topic, reason).inc()
        self.dead_letters.labels(error_type).inc()

    def record_late(self, topic: str) -> None:
        """One event of ``topic`` arrived after its operator's watermark."""
        self.late_events.labels(topic).inc()

    def record_activity_partition(self, partition: int, open_sessions: int, windows_closed: int) -> None:
        """One internal activity partition's share of a batch done."""
        self.activity_open_sessions.labels(str(partition)).set(open_sessions)
        if windows_closed:
            self.activity_windows_closed.inc(windows_closed)

    def forget_partitions(self, partitions: set[int]) -> None:
        """Partitions this worker no longer handles leave the per-partition gauges."""
        for partition in partitions:
            try:
                self.activity_open_sessions.remove(str(partition))
            except KeyError:
                pass

    def record_warning(self, topic: str) -> None:
        self.topic(topic).warnings += 1
        self.validation_warnings.labels(topic).inc()

    def record_batch(
        self, topic: str, *, consumed: int, processed: int, duplicates: int, seconds: float, skipped: int = 0
    ) -> None:
        """One batch done; ``skipped`` of its ``duplicates`` were known done by Redis."""
        stats = self.topic(topic)
        stats.dedupe_skipped += skipped
        if skipped:
            self.dedupe_skipped.labels(topic).inc(skipped)
        stats.consumed += consumed
        stats.processed += processed
        stats.duplicates += duplicates
        stats.batches += 1
        stats.last_batch_at = time.time()
        self.consumed.labels(topic).inc(consumed)
        self.processed.labels(topic).inc(processed)
        if duplicates:
            self.duplicates.labels(topic).inc(duplicates)
        self.duration.labels(topic).observe(seconds)
        self.batch_size.labels(topic).set(consumed)

    def record_rewind(self, topic: str) -> None:
        self.topic(topic).rewinds += 1
        self.rewinds.labels(topic).inc()

    def record_rows(self, table: str, rows: int) -> None:
        if rows:
            self.rows_written.labels(table).inc(rows)

    def prometheus_text(self) -> bytes:
        return generate_latest(self.registry)

    def as_dict(self) -> dict[str, Any]:
        return {
            "uptime_seconds": round(time.time() - self.started_at, 3),
            "topics": {name: stats.as_dict() for name, stats in sorted(self.topics.items())},
        }
