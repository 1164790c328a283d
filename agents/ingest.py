"""events.ingest agent: decode (JSON or Avro, per message) -> validate -> score quality ->
insert into ``ingested_events``, one database transaction per batch with its dead letters
(one statement when there are none).

The database write starts inside the batch loop's body and runs while the next
batch is validated (runtime.write_behind); it never raises (transient errors are retried until
the database answers), and a batch's messages are acked, so their offsets committable, only
once its rows are durable. Events keep no table state (each is a row), so the message key
only spreads them over partitions: any key is accepted.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from faust import StreamT
from faust.types import EventT
from prometheus_client import Counter

from agents.batches import retried_writes, run_write_behind, skip_done
from agents.dlq import DeadLetterBatch
from agents.ingest_intake import row_from_message
from agents.intake import Rejection, processing_error
from app.db import is_data_error
from app.logging import get_logger
from app.main import app, settings
from app.resources import database, metrics
from app.topics import events_ingest
from models.ingest_wire import ingest_codec, register_codec
from models.quality import QualityPolicy
from stores.dead_letters import store_dead_letters
from stores.ingest import IngestRow, insert_events
from stores.isolating import write_rows_isolating

__all__ = ["process_ingest", "prepare_ingest_batch"]

log = get_logger("sei.agents.ingest")
_codec = ingest_codec()
_policy = QualityPolicy(min_score=settings.data_quality_min_score)
YIELD_EVERY = 50  # events validated between two turns of the event loop (see collect)
_writes = retried_writes(settings.ingest_topic)
register_codec()  # `ingest-avro` for producers and tools running in this app

_events = Counter(
    "ingest_events_total",
    "Valid ingested events by wire encoding and Avro writer version (json: none)",
    ["encoding", "schema_version"],
    registry=metrics.registry,
)
_flagged = Counter(
    "ingest_quality_flagged_total",
    "Ingested events scored below DATA_QUALITY_MIN_SCORE",
    ["event_type"],
    registry=metrics.registry,
)


@dataclass(slots=True)
class IngestBatch:
    """The rows of one batch by identity (the first delivery in the batch wins)."""

    rows: dict[tuple[str, datetime], tuple[IngestRow, EventT[Any]]] = field(default_factory=dict)
    valid: int = 0


def _message_time(event: EventT[Any]) -> datetime:
    stamp = event.message.timestamp
    # Kafka stamps every record; a missing stamp (0 or None) falls back to now.
    return datetime.fromtimestamp(stamp, UTC) if stamp and stamp > 0 else datetime.now(UTC)


async def collect(events: Sequence[EventT[Any]], letters: DeadLetterBatch) -> IngestBatch:
    """Valid events as rows; the rest dead-lettered.

    Lets the event loop run every ``YIELD_EVERY`` events: this worker also answers
    POST /ingest, and a batch of 500 events validated in one go held every request for
    ~50 ms.
    """
    batch = IngestBatch()
    lenient = settings.validation_mode != "strict"
    by_wire: collections.Counter[tuple[str, int | None]] = collections.Counter()
    flagged: collections.Counter[str] = collections.Counter()
    for number, event in enumerate(events, 1):
        if number % YIELD_EVERY == 0:
            await asyncio.sleep(0)
        message = event.message
        try:
            outcome = row_from_message(
                message.value, message.key, _message_time(event), _codec, lenient=lenient, policy=_policy
            )
        except Exception as exc:  # a bug must cost this event, not the partition
            log.exception("ingest.process_failed", partition=message.partition, offset=message.offset)
            outcome = processing_error(exc)
        if isinstance(outcome, Rejection):
            letters.add(event, outcome)
            continue
        batch.valid += 1
        row = outcome.row
        by_wire[(row.encoding, row.schema_version)] += 1
        if row.quality_flagged:
            flagged[row.event_type] += 1
        if outcome.dropped:
            metrics.record_warning(message.topic)
            if settings.validation_mode == "warn":
                log.warning(
                    "message.validation_warning",
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                    warnings=list(outcome.dropped),
                )
        batch.rows.setdefault(row.identity, (row, event))
    # Counted once per batch: each labelled-counter update is a lookup and a lock, paid once
    # per label instead of once per event.
    for (encoding, version), count in by_wire.items():
        _events.labels(encoding, str(version) if encoding == "avro" else "none").inc(count)
    for event_type, count in flagged.items():
        _flagged.labels(event_type).inc(count)
    return batch


async def _insert(conn: asyncpg.Connection, rows: Sequence[IngestRow]) -> None:
    await insert_events(conn, rows)


async def write_batch(batch: IngestBatch, letters: DeadLetterBatch) -> tuple[int, int]:
    """Insert the rows and store the dead letters in one transaction (the rows alone in one
    statement): (new rows, refused).

    Rows the database refuses (a data error) are isolated and dead-lettered; transient
    errors are retried inside ``database.transaction`` until it answers.
    """
    rows = [row for row, _ in batch.rows.values()]

    async def write_all(conn: asyncpg.Connection) -> int:
        inserted = await insert_events(conn, rows)
        await store_dead_letters(conn, letters.letters)
        return inserted

    try:
        if letters.letters:
            inserted = await database.transaction(write_all, what="ingested_events")
        else:  # one statement: no BEGIN and COMMIT round trips
            inserted = await database.statement(lambda conn: insert_events(conn, rows), what="ingested_events")
    except Exception as exc:
        if not is_data_error(exc):
            raise
        refused = await write_rows_isolating(database, rows, _insert, what="ingested_events")
        for row, error in refused:
            letters.add(
                batch.rows[row.identity][1],
                Rejection("db_data_error", f"{type(error).__name__}: {error}", type(error).__name__),
            )
        await database.transaction(
            lambda conn: store_dead_letters(conn, letters.letters), what="dead_letters"
        )
        # New and already-stored rows cannot be told apart on this path; count them as new.
        return len(rows) - len(refused), len(refused)
    return inserted, 0


async def prepare_ingest_batch(events: Sequence[EventT[Any]]) -> Callable[[], Awaitable[None]]:
    """Decode, validate and score one batch of events.ingest messages; returns its
    database write (and what follows it), not yet started."""
    started = time.perf_counter()
    topic = events[0].message.topic
    letters = DeadLetterBatch()
    fresh = await skip_done(events)
    batch = await collect(fresh.events, letters)
    prepared = time.perf_counter() - started

    async def write() -> None:
        write_started = time.perf_counter()
        inserted, refused = await write_batch(batch, letters)
        letters.publish()
        fresh.remember_when_committed()
        metrics.record_rows("ingested_events", inserted)
        stored_before = len(batch.rows) - refused - inserted
        metrics.record_batch(
            topic,
            consumed=len(events),
            processed=batch.valid - refused + fresh.skipped,
            duplicates=(batch.valid - len(batch.rows)) + stored_before + fresh.skipped,
            skipped=fresh.skipped,
            seconds=prepared + time.perf_counter() - write_started,
        )

    return write


@app.agent(events_ingest, concurrency=1)
async def process_ingest(stream: StreamT[bytes]) -> None:
    """events.ingest -> `ingested_events` rows (validated, quality-scored).

    A batch's write runs while the next batch is validated; its messages are acked, and so
    committable, once it is done (runtime.write_behind).
    """
    await run_write_behind(stream, prepare_ingest_batch, _writes, what=settings.ingest_topic)
