"""``logs`` agent: decode -> validate -> score each log against its service's state
(tables.anomaly, state in ``log_detectors``) -> `logs` rows, anomalies to `log_anomalies`
and the ``logs.anomalies`` topic, one database transaction per batch.

A batch's logs are scored per service in partition order; then the partition's watermark
(its latest log time) is moved and every service of the partition whose silence has
become improbable is flagged quiet: a service gone quiet has no log of its own to be
scored on, time passing on its partition is what finds it.

As for every agent, the write runs while the next batch is prepared (runtime.write_behind),
its messages are acked only once their rows and dead letters are durable, and the flagged
logs are queued on ``logs.anomalies`` (flushed before the offsets commit).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from faust import StreamT
from faust.types import EventT

from agents.acceptance import accept
from agents.batches import retried_writes, run_write_behind, skip_done
from agents.dlq import DeadLetterBatch
from agents.entity_batch import processing_failed
from app.logging import get_logger
from app.main import app, settings
from app.resources import database, metrics
from app.topics import logs, logs_anomalies
from models.logs import LogMessage
from runtime.event_context import acting_for
from stores.dead_letters import store_dead_letters
from stores.logs import LogAnomalyRow, LogRow, upsert_log_anomalies, upsert_logs
from tables.anomaly.detector import DetectorConfig, LogPoint, QuietFlag, ScoreParts
from tables.anomaly.templates import template_key, template_of
from tables.log_state import LogServiceState, PartitionLogState
from tables.logs import log_detectors, log_partitions, partition_key

__all__ = ["CONFIG", "prepare_log_batch", "process_logs"]

log = get_logger("sei.agents.logs")
_writes = retried_writes("logs")
CONFIG = DetectorConfig(threshold=settings.anomaly_threshold, warmup=settings.anomaly_warmup)
SHAPE = CONFIG.shape()
SOURCE = "local"


@dataclass(slots=True)
class LogBatch:
    rows: list[LogRow] = field(default_factory=list)
    anomalies: list[LogAnomalyRow] = field(default_factory=list)
    published: list[tuple[bytes, bytes]] = field(default_factory=list)
    valid: int = 0
    duplicates: int = 0
    quiet: int = 0


def _parts(parts: ScoreParts) -> dict[str, float]:
    return {
        "latency": round(parts.latency, 4),
        "error_rate": round(parts.error_rate, 4),
        "novelty": round(parts.novelty, 4),
        "statistics": round(parts.statistics, 4),
        "forest": round(parts.forest, 4),
    }


def _score_service(service: str, items: list[tuple[EventT[Any], LogMessage]], batch: LogBatch) -> float | None:
    """Score one service's logs of the batch (one table read and write); returns when its
    silence will be improbable (``quiet_due``). Everything is derived before anything is kept: a failure leaves the batch as
    it was and costs these events only."""
    rows: list[LogRow] = []
    anomalies: list[LogAnomalyRow] = []
    published: list[tuple[bytes, bytes]] = []
    duplicates = 0
    with acting_for(items[0][0]):
        state = LogServiceState.from_value(log_detectors.get(service), SHAPE)
        for _, message in items:
            template = template_of(message.message)
            point = LogPoint(message.timestamp.timestamp(), message.level, template_key(template), message.latency_ms)
            key = message.log_key
            parts = state.score(key, point, CONFIG, SHAPE)
            if parts is None:
                duplicates += 1
                continue
            score = round(parts.score, 6)
            rows.append(
                LogRow(
                    service=service,
                    created_at=message.timestamp,
                    log_key=key,
                    level=message.level,
                    message=message.message,
                    latency_ms=message.latency_ms,
                    anomaly_score=score,
                    is_anomaly=parts.is_anomaly,
                    template=template,
                    score_source=SOURCE,
                    trace_id=message.trace_id,
                    request_id=message.request_id,
                    host=message.host,
                    attributes=None if message.attributes is None else orjson.dumps(message.attributes).decode(),
                )
            )
            if parts.is_anomaly:
                shown = _parts(parts)
                anomalies.append(
                    LogAnomalyRow(
                        service=service,
                        at=message.timestamp,
                        anomaly_key=key,
                        kind="log",
                        score=score,
                        parts=orjson.dumps(shown).decode(),
                        message=message.message,
                        score_source=SOURCE,
                    )
                )
                published.append(
                    (
                        service.encode(),
                        orjson.dumps(
                            {
                                "kind": "log",
                                "service": service,
                                "timestamp": message.timestamp.isoformat(),
                                "level": message.level,
                                "message": message.message,
                                "template": template,
                                "latency_ms": message.latency_ms,
                                "request_id": message.request_id,
                                "trace_id": message.trace_id,
                                "log_key": key,
                                "anomaly_score": score,
                                "parts": shown,
                                "score_source": SOURCE,
                            }
                        ),
                    )
                )
        log_detectors[service] = state.to_value()
        due = state.quiet_due(CONFIG)
    batch.rows.extend(rows)
    batch.anomalies.extend(anomalies)
    batch.published.extend(published)
    batch.valid += len(items)
    batch.duplicates += duplicates
    return due


def _quiet_flag(service: str, flag: QuietFlag) -> tuple[LogAnomalyRow, tuple[bytes, bytes]]:
    at = datetime.fromtimestamp(flag.at, UTC)
    since = datetime.fromtimestamp(flag.since, UTC)
    text = f"no logs since {since.isoformat()} where about {flag.expected:.0f} were expected"
    parts = {"expected_logs": round(flag.expected, 2), "silent_s": round(flag.at - flag.since, 3)}
    row = LogAnomalyRow(
        service=service,
        at=at,
        anomaly_key=f"quiet:{int(flag.since * 1_000_000)}",
        kind="quiet",
        score=round(flag.score, 6),
        parts=orjson.dumps(parts).decode(),
        message=text,
        score_source=SOURCE,
    )
    document = {
        "kind": "quiet",
        "service": service,
        "timestamp": at.isoformat(),
        "silent_since": since.isoformat(),
        "message": text,
        "anomaly_score": row.score,
        "parts": parts,
        "score_source": SOURCE,
    }
    return row, (service.encode(), orjson.dumps(document))


def _pass_time(partition: int, event: EventT[Any], seen: dict[str, tuple[float, float | None]], batch: LogBatch) -> None:
    """Move the partition's watermark and flag its services gone quiet."""
    with acting_for(event):
        pkey = partition_key(partition)
        state = PartitionLogState.from_value(log_partitions.get(pkey))
        for service, (last, due) in seen.items():
            state.saw(service, last, due)
        for service in state.due_for_quiet_check():
            service_state = LogServiceState.from_value(log_detectors.get(service), SHAPE)
            flag = service_state.check_quiet(state.watermark, CONFIG)
            state.flagged(service)
            if flag is None:
                continue
            log_detectors[service] = service_state.to_value()
            row, sent = _quiet_flag(service, flag)
            batch.anomalies.append(row)
            batch.published.append(sent)
            batch.quiet += 1
            log.info("logs.service_quiet", service=service, silent_since=row.message, partition=partition)
        log_partitions[pkey] = state.to_value()


async def _write(batch: LogBatch, letters: DeadLetterBatch) -> None:
    async def write_all(conn: asyncpg.Connection) -> None:
        await upsert_logs(conn, batch.rows)
        await upsert_log_anomalies(conn, batch.anomalies)
        await store_dead_letters(conn, letters.letters)

    await database.transaction(write_all, what="logs")
    metrics.record_rows("logs", len(batch.rows))
    metrics.record_rows("log_anomalies", len(batch.anomalies))


def _service_of(message: LogMessage) -> str:
    return message.service


def _itself(message: LogMessage) -> LogMessage:
    return message


async def prepare_log_batch(events: Sequence[EventT[Any]]) -> Callable[[], Awaitable[None]]:
    """Validate, score and fold one batch of ``logs`` into the tables; returns its database
    write (and what follows it), not yet started."""
    started = time.perf_counter()
    topic = events[0].message.topic
    batch = LogBatch()
    letters = DeadLetterBatch()
    fresh = await skip_done(events)
    by_service: dict[str, list[tuple[EventT[Any], LogMessage]]] = {}
    for event in fresh.events:
        message = accept(event, LogMessage, letters, "service", _service_of, _itself)
        if message is not None:
            by_service.setdefault(message.service, []).append((event, message))
    partitions: dict[int, tuple[EventT[Any], dict[str, tuple[float, float | None]]]] = {}
    for service, items in by_service.items():
        try:
            due = _score_service(service, items, batch)
        except Exception as exc:
            processing_failed([event for event, _ in items], letters, exc, f"logs {service}")
            continue
        event = items[0][0]
        last = max(message.timestamp.timestamp() for _, message in items)
        seen = partitions.setdefault(event.message.partition, (event, {}))[1]
        seen[service] = (last, due)
    for partition, (event, seen) in sorted(partitions.items()):
        _pass_time(partition, event, seen, batch)
    flagged = sum(1 for row in batch.anomalies if row.kind == "log")
    scored_s = time.perf_counter() - started
    metrics.record_scored(SOURCE, len(batch.rows), flagged, batch.quiet, scored_s)

    async def write() -> None:
        write_started = time.perf_counter()
        await _write(batch, letters)
        for key, value in batch.published:
            logs_anomalies.send_soon(key=key, value=value)
        letters.publish()
        fresh.remember_when_committed()
        metrics.record_batch(
            topic,
            consumed=len(events),
            processed=batch.valid + fresh.skipped,
            duplicates=batch.duplicates + fresh.skipped,
            skipped=fresh.skipped,
            seconds=scored_s + time.perf_counter() - write_started,
        )

    return write


@app.agent(logs, concurrency=1)
async def process_logs(stream: StreamT[bytes]) -> None:
    """logs -> log_detectors / log_partitions tables, `logs` and `log_anomalies` rows,
    ``logs.anomalies`` messages."""
    await run_write_behind(stream, prepare_log_batch, _writes, what="logs")
