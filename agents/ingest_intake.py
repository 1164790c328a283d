"""One events.ingest message -> an ``ingested_events`` row, or the Rejection saying why not.

Pure: everything comes in as arguments (the bytes, the key, the Kafka timestamp, the
validation mode, the quality policy). Identity: the event's ``id``, else the message key
(a valid identifier), else a hash of the bytes; its ``timestamp``, else the message's. The
message timestamp is also the ingestion time freshness is measured against, so the row of
a redelivered message is the same row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from agents.intake import Rejection
from models.avro.codec import AvroCodec
from models.avro.exceptions import AvroDecodeError
from models.decoding import DecodeError
from models.ingest import content_id, validate_event
from models.ingest_wire import decode_ingest
from models.quality import QualityPolicy, assess
from stores.ingest import IngestRow

__all__ = ["Accepted", "identity_of", "row_from_message"]

_KEY_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")


# Not frozen: one per message (a frozen __init__ is several times slower); never mutated.
@dataclass(slots=True)
class Accepted:
    row: IngestRow
    dropped: tuple[str, ...]  # fields removed under VALIDATION_MODE warn/disabled


def _key_id(key: bytes | None) -> str | None:
    if not key:
        return None
    try:
        text = key.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    return text if _KEY_ID.match(text) else None


def identity_of(event_id: str | None, key: bytes | None, raw: bytes | None) -> str:
    """An event's id: its own, else the message key (a valid identifier), else the hash of
    its bytes (the ``ingested_events`` row's, and the errors-by-page join's, id)."""
    return event_id or _key_id(key) or content_id(raw or b"")


def row_from_message(
    raw: bytes | None,
    key: bytes | None,
    message_time: datetime,
    codec: AvroCodec,
    *,
    lenient: bool,
    policy: QualityPolicy,
) -> Accepted | Rejection:
    """The row of one message (JSON or Avro), or why it cannot have one."""
    try:
        wire = decode_ingest(raw, codec)
    except (DecodeError, AvroDecodeError) as exc:
        return Rejection(exc.kind, str(exc), "DecodeError")
    result = validate_event(wire.envelope, lenient=lenient)
    if result.event is None:
        return Rejection("validation", "; ".join(str(e) for e in result.errors))
    event = result.event
    timestamp = event.timestamp or message_time.astimezone(UTC)
    payload = event.payload.document()
    report = assess(payload, timestamp, message_time, policy, result.broken_rules)
    quality = report.as_dict()
    quality["warnings"] = [w for w in result.warnings if w not in report.issues]
    row = IngestRow(
        id=identity_of(event.id, key, raw),
        timestamp=timestamp,
        payload=orjson.dumps(payload).decode(),
        event_type=event.payload.event_type,
        source=event.payload.source,
        validation_status="warned" if result.dropped else "valid",
        quality_score=report.overall,
        quality_flagged=report.flagged,
        quality=orjson.dumps(quality).decode(),
        schema_version=wire.schema_version if wire.encoding == "avro" else event.schema_version,
        encoding=wire.encoding,
    )
    return Accepted(row, result.dropped)
