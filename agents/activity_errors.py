"""<INGEST_TOPIC> -> <ACTIVITY_TOPIC>-by-user: each ``error`` event that names a user, keyed
by user_id, with the ingest partitions' watermark markers (docs/activity.md, "Errors by
page").

The second reader of the ingest topic (agents.ingest stores every event; a message is
committed once both have acked it). Per batch:

1. each message is decoded (JSON or Avro); an ``error`` whose payload carries a
   ``user_id`` is validated as the ingest agent validates it (VALIDATION_MODE), and, if
   valid, sent on with its original bytes, keyed by user_id, its ``ErrorChange`` (id and
   time as its ``ingested_events`` row has them) in the header ``sei-activity-error`` and
   its source coordinates in ``sei-activity-source``; one record batch per internal
   partition, the acknowledgements awaited together (runtime.keyed_batches);
2. only then do the clocks of the batch's partitions advance, by every event's time (the
   input's watermark is about all its events, not its errors only: a busy topic with rare
   errors must not hold the join back), and their markers go to every internal partition
   (agents.activity_markers).

A message the ingest agent dead-letters (undecodable, invalid) is left to it: no second
dead letter here, and no time. The rest of an event is not validated for its time alone
(it is the ingest agent's work, and would double its cost): a time that does not parse
counts as none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from faust import StreamT
from faust.types import EventT
from prometheus_client import Counter
from pydantic import TypeAdapter, ValidationError

from agents.activity_join import ERROR_HEADER
from agents.activity_markers import TICK_S, SourceMarkers, producer
from agents.activity_source import source_header
from agents.batches import run_batches, verify_partitions
from agents.ingest_intake import identity_of
from app.logging import get_logger
from app.main import app, settings
from app.resources import metrics
from app.topics import events_ingest, user_activity_by_user
from models.fields import EventTime
from models.ingest import validate_event
from models.ingest_wire import decode_ingest, ingest_codec
from runtime.keyed_batches import send_keyed
from tables.activity_join_state import ErrorChange
from tables.instants import to_micros
from tables.windowing.units import seconds

__all__ = ["error_header", "error_of", "handle_errors_batch", "markers", "rekey_errors"]

log = get_logger("sei.activity")

markers = SourceMarkers(events_ingest, user_activity_by_user, seconds(settings.activity_grace_s))
_codec = ingest_codec()
_event_time: TypeAdapter[datetime] = TypeAdapter(EventTime)
_rekeyed = Counter(
    "processor_activity_errors_rekeyed_total",
    "Error events of the ingest topic naming a user, sent on to the activity operator",
    registry=metrics.registry,
)


def error_header(change: ErrorChange) -> tuple[str, bytes]:
    """The header of an error sent on to the internal topic."""
    return ERROR_HEADER, orjson.dumps(change.to_record())


def _time_of(envelope: dict[str, Any], message_time: datetime | None) -> datetime | None:
    stamp = envelope.get("timestamp")
    if stamp is None:
        return message_time  # as the ingest agent fills it in
    try:
        return _event_time.validate_python(stamp)
    except ValidationError:
        return None


def error_of(
    raw: bytes | None, key: bytes | None, message_time: datetime | None
) -> tuple[ErrorChange | None, int | None]:
    """The message's error change (an error naming a user, valid), and its event time in
    microseconds (None: undecodable, or no valid time)."""
    try:
        envelope = decode_ingest(raw, _codec).envelope
    except Exception:  # the ingest agent dead-letters it
        return None, None
    payload = envelope.get("payload")
    if not (isinstance(payload, dict) and payload.get("event_type") == "error" and "user_id" in payload):
        moment = _time_of(envelope, message_time)
        return None, None if moment is None else to_micros(moment)
    result = validate_event(envelope, lenient=settings.validation_mode != "strict")
    event = result.event
    if event is None:
        return None, None
    moment = event.timestamp or message_time
    if moment is None:
        return None, None
    micros = to_micros(moment)
    if event.payload.user_id is None:  # dropped under VALIDATION_MODE warn/disabled
        return None, micros
    return ErrorChange(identity_of(event.id, key, raw), micros, event.payload.user_id), micros


def _message_time(event: EventT[Any]) -> datetime | None:
    stamp = event.message.timestamp
    return datetime.fromtimestamp(stamp, UTC) if stamp and stamp > 0 else None


async def handle_errors_batch(events: Sequence[EventT[Any]]) -> None:
    """One batch of the ingest topic (module doc)."""
    verify_partitions(events[0].message.topic)
    records: list[tuple[bytes, bytes]] = []
    headers: list[tuple[tuple[str, bytes], ...]] = []
    times: list[tuple[int, int, int | None]] = []  # (partition, offset, event time)
    with_errors: set[int] = set()
    for event in events:
        message = event.message
        change, event_time = error_of(message.value, message.key, _message_time(event))
        if change is not None:
            records.append((change.user_id.encode(), message.value or b""))
            headers.append((error_header(change), source_header(message.partition, message.offset)))
            with_errors.add(message.partition)
        times.append((message.partition, message.offset, event_time))
    futures = await send_keyed(producer(), user_activity_by_user.get_topic_name(), records, headers)
    if futures:
        await asyncio.gather(*set(futures))
    # Only now do the clocks cover these events: a marker never precedes what it covers.
    for partition, offset, event_time in times:
        markers.read(partition, offset, event_time)
    now = time.monotonic()
    # Errors are rare: the partitions that sent some get their marker at once, so a copy
    # sent again after a rebalance is known as one (agents.activity_source) rather than
    # judged a second time; the others at most every MARKER_INTERVAL_S.
    await markers.send(sorted(with_errors), now=now, throttle=False)
    await markers.send(sorted({p for p, _, _ in times} - with_errors), now=now, throttle=True)
    if records:
        _rekeyed.inc(len(records))


@app.timer(TICK_S)  # type: ignore[untyped-decorator]  # faust marks App.timer no_type_check
async def _send_error_markers() -> None:
    """Idleness and the last batch's progress reach the operators when no records do."""
    await markers.tick(time.monotonic())


@app.agent(events_ingest, concurrency=1)
async def rekey_errors(stream: StreamT[bytes]) -> None:
    """<INGEST_TOPIC> -> <ACTIVITY_TOPIC>-by-user: errors naming a user, with markers."""
    await run_batches(stream, handle_errors_batch, what=f"{events_ingest.get_topic_name()} errors")
