"""Ingested events on the wire: JSON or Confluent-framed Avro on the same topic, told apart
per message (Avro frames start with byte 0, which no JSON text does).

Avro records carry ``payload.data`` as JSON text (Avro has no type for an arbitrary JSON
object); it is parsed back here. Absent optional fields come back absent, so the JSON and
Avro forms of one event validate identically.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from faust.serializers.codecs import Codec, register

from models.avro.codec import AvroCodec, is_avro_frame
from models.avro.exceptions import AvroDecodeError
from models.avro.registry import default_registry
from models.decoding import decode_json_object
from models.ingest import IngestMessage

__all__ = [
    "SUBJECT",
    "CODEC_NAME",
    "DecodedMessage",
    "ingest_codec",
    "decode_ingest",
    "to_avro_record",
    "avro_record",
    "from_avro_record",
    "IngestAvroCodec",
    "register_codec",
]

SUBJECT = "IngestEvent"  # the Avro subject: a wire name, unchanged when the model was renamed
CODEC_NAME = "ingest-avro"
Encoding = Literal["json", "avro"]
_PAYLOAD_OPTIONAL = ("user_id", "session_id", "ip_address", "version")


# Not frozen: one per message (a frozen __init__ is several times slower); never mutated.
@dataclass(slots=True)
class DecodedMessage:
    """A decoded message: the envelope (not validated yet) and how it was encoded."""

    envelope: dict[str, Any]
    encoding: Encoding
    schema_version: int | None  # the Avro writer's version (JSON: the validated schema_version)


@functools.cache
def ingest_codec() -> AvroCodec:
    """The process's codec of IngestMessage records (one: it keeps the compiled schemas)."""
    return AvroCodec(default_registry(), SUBJECT)


def to_avro_record(document: Mapping[str, Any]) -> dict[str, Any]:
    """The Avro record of a validated event document (``IngestMessage.document()``)."""
    payload = document["payload"]
    record_payload: dict[str, Any] = {
        "event_type": payload["event_type"],
        "source": payload["source"],
        "data": orjson.dumps(payload.get("data") or {}).decode(),
        "tags": list(payload.get("tags") or ()),
    }
    for name in _PAYLOAD_OPTIONAL:
        record_payload[name] = payload.get(name)
    return {"id": document["id"], "timestamp": document["timestamp"], "payload": record_payload}


def avro_record(event: IngestMessage, event_id: str, timestamp: datetime) -> dict[str, Any]:
    """``to_avro_record`` of the event's document with ``id`` and ``timestamp`` filled,
    without copying or dumping the model (the /ingest hot path)."""
    document = {
        "id": event_id,
        "timestamp": timestamp.isoformat().replace("+00:00", "Z"),
        "payload": event.payload.document(),
    }
    return to_avro_record(document)


def from_avro_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope of an Avro record: ``data`` parsed, nulls and empty defaults left out."""
    payload = dict(record["payload"])
    try:
        payload["data"] = orjson.loads(payload.get("data") or "{}")
    except orjson.JSONDecodeError as exc:
        raise AvroDecodeError("invalid_data_json", f"payload.data is not JSON text: {exc}") from None
    # Avro cannot tell an empty data/tags from an absent one; absent is the common case.
    for name in ("data", "tags"):
        if not payload.get(name):
            payload.pop(name, None)
    for name in _PAYLOAD_OPTIONAL:
        if payload.get(name) is None:
            payload.pop(name, None)
    return {"id": record["id"], "timestamp": record["timestamp"], "payload": payload}


def decode_ingest(raw: bytes | None, codec: AvroCodec) -> DecodedMessage:
    """The envelope in ``raw``; DecodeError (JSON) or AvroDecodeError, both with ``kind``."""
    if raw is not None and is_avro_frame(raw):
        read = codec.decode(raw)
        return DecodedMessage(from_avro_record(read.record), "avro", read.writer.version)
    return DecodedMessage(decode_json_object(raw).value, "json", None)


class IngestAvroCodec(Codec):
    """Faust codec ``ingest-avro``: writes an event document as Avro (latest version, or
    ``version=``); reads Avro of any registered version or JSON, detected per message."""

    def _dumps(self, obj: Any) -> bytes:
        return ingest_codec().encode(to_avro_record(obj), self.kwargs.get("version"))

    def _loads(self, s: bytes) -> Any:
        return decode_ingest(s, ingest_codec()).envelope


def register_codec() -> None:
    """Make ``ingest-avro`` usable as a Faust key/value serializer."""
    register(CODEC_NAME, IngestAvroCodec())
