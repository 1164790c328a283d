"""``logs`` agent: decode -> validate -> score each log against its service's state
(tables.anomaly, state in ``log_detectors``) -> with ``ML_ENGINE_URL``, the batch scored by
the engine behind a circuit breaker (app.ml_engine; the local scores stand when it fails)
-> `logs` rows, anomalies to `log_anomalies`
and the ``logs.anomalies`` topic, one database transaction per batch.

A batch's logs are scored per service in partition order; then the partition's watermark
(its latest log time) is moved and every service of the partition whose silence has
become improbable is flagged quiet: a service gone quiet has no log of its own to be
scored on, time passing on its partition is what finds it.

A partition whose own watermark cannot move (its only service went quiet) is checked
against the worker's clock (the latest watermark of its partitions) once it is read to its
end offset: nothing of it is waiting, so the silence is real up to that time.

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
from faust.types import TP, EventT

from agents.acceptance import accept
from agents.batches import retried_writes, run_write_behind, skip_done
from agents.dlq import DeadLetterBatch
from agents.entity_batch import processing_failed
from app.logging import get_logger
from app.main import app, settings
from app.ml_engine import EngineScore, MlEngine
from app.resources import database, metrics
from app.topics import logs, logs_anomalies
from models.decoding import decode_json_object
from models.logs import LogLine, LogMessage, plain_log_line
from runtime.breaker import CircuitBreaker
from runtime.event_context import acting_for, reading_partition
from stores.dead_letters import store_dead_letters
from stores.logs import LogAnomalyRow, LogRow, upsert_log_anomalies, upsert_logs
from tables.anomaly.detector import DetectorConfig, LogPoint, QuietFlag, ScoreParts
from tables.anomaly.templates import template_key, template_of
from tables.log_state import LogServiceState, PartitionLogState
from tables.logs import log_detectors, log_partitions, partition_key

__all__ = ["CONFIG", "prepare_log_batch", "process_logs", "score_service_logs"]

log = get_logger("sei.agents.logs")
_writes = retried_writes("logs")
CONFIG = DetectorConfig(threshold=settings.anomaly_threshold, warmup=settings.anomaly_warmup)
SHAPE = CONFIG.shape()
SOURCE = "local"
# This worker's partitions of `logs` and their watermarks: the latest is the worker's clock,
# which checks the services of a partition read to its end (nothing of it is waiting) for
# silence when its own watermark cannot move (a service alone on its partition).
_watermarks: dict[int, float] = {}
# Service -> start of the silence already flagged from the worker's clock: the partition's
# own check, when a log finally moves its watermark, does not flag it a second time.
_flagged_quiet: dict[str, float] = {}
ENGINE_SOURCE = "ml_engine"
ml_engine = (
    None
    if settings.ml_engine_url is None
    else MlEngine(
        settings.ml_engine_url,
        settings.ml_engine_timeout_ms / 1000,
        CircuitBreaker(settings.ml_engine_failures, settings.ml_engine_open_s),
        metrics,
    )
)


# Not frozen: one per log (a frozen __init__ is several times slower); never mutated.
@dataclass(slots=True)
class ScoredLog:
    message: LogLine
    template: str
    key: str
    parts: ScoreParts


@dataclass(slots=True)
class LogBatch:
    scored: list[ScoredLog] = field(default_factory=list)
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


def score_service_logs(
    value: LogServiceState | dict[str, Any] | None, messages: Sequence[LogLine]
) -> tuple[LogServiceState, list[ScoredLog], float | None]:
    """One service's logs of a batch scored in order from its table value (pure: ``value``
    is left as it was): its new value, the scored logs (duplicates of recent ones left out)
    and when its silence will be improbable (``quiet_due``)."""
    state = LogServiceState.of(value, SHAPE)
    scored: list[ScoredLog] = []
    for message in messages:
        template = template_of(message.message)
        point = LogPoint(
            message.timestamp.timestamp(), message.level, template_key(template), message.latency_ms
        )
        key = message.log_key
        parts = state.score(key, point, CONFIG, SHAPE)
        if parts is not None:
            scored.append(ScoredLog(message, template, key, parts))
    return state, scored, state.quiet_due(CONFIG)


def _score_service(service: str, items: list[tuple[EventT[Any], LogLine]], batch: LogBatch) -> float | None:
    """Score one service's logs of the batch (one table read and write); returns when its
    silence will be improbable (``quiet_due``). Everything is derived before anything is
    kept: a failure leaves the batch as it was and costs these events only."""
    with acting_for(items[0][0]):
        value, scored, due = score_service_logs(log_detectors.get(service), [m for _, m in items])
        log_detectors[service] = value
    batch.scored.extend(scored)
    batch.valid += len(items)
    batch.duplicates += len(items) - len(scored)
    return due


def engine_request(scored: ScoredLog) -> dict[str, Any]:
    """One log as the ML engine receives it (docs/anomalies.md)."""
    m = scored.message
    return {
        "service": m.service,
        "timestamp": m.timestamp.isoformat(),
        "level": m.level,
        "message": m.message,
        "template": scored.template,
        "latency_ms": m.latency_ms,
        "local_score": round(scored.parts.score, 6),
    }


def _outputs(batch: LogBatch, engine: list[EngineScore] | None) -> None:
    """The batch's rows, anomaly rows and ``logs.anomalies`` messages, scored by the engine's
    answer when there is one, else by the local detector."""
    source = SOURCE if engine is None else ENGINE_SOURCE
    for i, item in enumerate(batch.scored):
        m, parts = item.message, item.parts
        if engine is None:
            score, flagged = round(parts.score, 6), parts.is_anomaly
        else:
            score, flagged = round(engine[i].anomaly_score, 6), engine[i].is_anomaly
        batch.rows.append(
            LogRow(
                service=m.service,
                created_at=m.timestamp,
                log_key=item.key,
                level=m.level,
                message=m.message,
                latency_ms=m.latency_ms,
                anomaly_score=score,
                is_anomaly=flagged,
                template=item.template,
                score_source=source,
                trace_id=m.trace_id,
                request_id=m.request_id,
                host=m.host,
                attributes=None if m.attributes is None else orjson.dumps(m.attributes).decode(),
            )
        )
        if not flagged:
            continue
        shown = _parts(parts)
        batch.anomalies.append(
            LogAnomalyRow(
                service=m.service,
                at=m.timestamp,
                anomaly_key=item.key,
                kind="log",
                score=score,
                parts=orjson.dumps(shown).decode(),
                message=m.message,
                score_source=source,
            )
        )
        document = {
            "kind": "log",
            "service": m.service,
            "timestamp": m.timestamp.isoformat(),
            "level": m.level,
            "message": m.message,
            "template": item.template,
            "latency_ms": m.latency_ms,
            "request_id": m.request_id,
            "trace_id": m.trace_id,
            "log_key": item.key,
            "anomaly_score": score,
            "parts": shown,
            "score_source": source,
        }
        batch.published.append((m.service.encode(), orjson.dumps(document)))


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


def _pass_time(
    partition: int, event: EventT[Any], seen: dict[str, tuple[float, float | None]], batch: LogBatch
) -> None:
    """Move the partition's watermark and flag its services gone quiet."""
    with acting_for(event):
        pkey = partition_key(partition)
        state = PartitionLogState.from_value(log_partitions.get(pkey))
        for service, (last, due) in seen.items():
            state.saw(service, last, due)
        for service in state.due_for_quiet_check():
            service_state = LogServiceState.of(log_detectors.get(service), SHAPE)
            flag = service_state.check_quiet(state.watermark, CONFIG)
            state.flagged(service)
            if flag is None:
                continue
            log_detectors[service] = service_state
            if _flagged_quiet.get(service) == flag.since:
                continue  # already flagged from the worker's clock
            row, sent = _quiet_flag(service, flag)
            batch.anomalies.append(row)
            batch.published.append(sent)
            batch.quiet += 1
            log.info("logs.service_quiet", service=service, silent_since=row.message, partition=partition)
        log_partitions[pkey] = state.to_value()
    _watermarks[partition] = max(_watermarks.get(partition, 0.0), state.watermark)


async def _read_to_end(exclude: set[int]) -> list[int]:
    """This worker's `logs` partitions, other than ``exclude``, read to their end offset."""
    topic = logs.get_topic_name()
    mine = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}
    for partition in set(_watermarks) - mine:
        del _watermarks[partition]
    done = []
    for partition in sorted(mine - exclude):
        tp = TP(topic, partition)
        end = app.consumer.highwater(tp)
        position = None if end is None else await app.consumer.position(tp)
        if end is not None and position is not None and position >= end:
            done.append(partition)
    return done


def _quiet_by_clock(partitions: list[int], now: float, batch: LogBatch) -> None:
    """Flag the silent services of ``partitions`` (read to their end) at the worker's clock
    ``now``. Nothing is written to the tables (no event of theirs is at hand): the flag is
    remembered in memory, and the partition's own check sets the service's state later."""
    for partition in partitions:
        with reading_partition(partition):
            state = PartitionLogState.from_value(log_partitions.get(partition_key(partition)))
            if state.watermark >= now:
                continue
            state.watermark = now
            for service in state.due_for_quiet_check():
                # A copy: the check marks the state flagged, which is not written here.
                flag = LogServiceState.of(log_detectors.get(service), SHAPE).check_quiet(now, CONFIG)
                if flag is None or _flagged_quiet.get(service) == flag.since:
                    continue
                _flagged_quiet[service] = flag.since
                row, sent = _quiet_flag(service, flag)
                batch.anomalies.append(row)
                batch.published.append(sent)
                batch.quiet += 1
                log.info(
                    "logs.service_quiet",
                    service=service,
                    silent_since=row.message,
                    partition=partition,
                    by="worker_clock",
                )


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


def _plain_line(event: EventT[Any]) -> LogLine | None:
    """The line of a message of the common shape, correctly keyed (models.logs.plain_log_line);
    None for any other, which ``accept`` then validates or dead-letters as always."""
    try:
        line = plain_log_line(decode_json_object(event.value).value)
    except Exception:  # not JSON, or not expected: accept decides, under its guard
        return None
    if line is None or event.message.key != line.service.encode():
        return None
    return line


async def prepare_log_batch(events: Sequence[EventT[Any]]) -> Callable[[], Awaitable[None]]:
    """Validate, score and fold one batch of ``logs`` into the tables; returns its database
    write (and what follows it), not yet started."""
    started = time.perf_counter()
    topic = events[0].message.topic
    batch = LogBatch()
    letters = DeadLetterBatch()
    fresh = await skip_done(events)
    by_service: dict[str, list[tuple[EventT[Any], LogLine]]] = {}
    for event in fresh.events:
        message = _plain_line(event) or accept(event, LogMessage, letters, "service", _service_of, LogLine.of)
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
    if _watermarks:
        _quiet_by_clock(await _read_to_end(set(partitions)), max(_watermarks.values()), batch)
    answer = None if ml_engine is None else await ml_engine.score([engine_request(s) for s in batch.scored])
    _outputs(batch, answer)
    flagged = sum(1 for row in batch.anomalies if row.kind == "log")
    scored_s = time.perf_counter() - started
    metrics.record_scored(
        SOURCE if answer is None else ENGINE_SOURCE, len(batch.rows), flagged, batch.quiet, scored_s
    )

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


@app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode's SignalHandlerT matches no function
async def _close_ml_engine(sender: object, **kwargs: object) -> None:
    if ml_engine is not None:
        await ml_engine.close()


@app.agent(logs, concurrency=1)
async def process_logs(stream: StreamT[bytes]) -> None:
    """logs -> log_detectors / log_partitions tables, `logs` and `log_anomalies` rows,
    ``logs.anomalies`` messages."""
    await run_write_behind(stream, prepare_log_batch, _writes, what="logs")
