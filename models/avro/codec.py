"""Avro records in the Confluent wire format: magic byte 0, the writer's 4-byte big-endian
schema id, then the schemaless Avro body.

The writer's schema comes from the id; the reader's is the subject's latest version unless
asked otherwise, so a v1 record reads as the latest with the added fields' defaults, and
``reader_version=1`` reads newer records as v1 (added fields skipped).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import fastavro

from models.avro.exceptions import AvroDecodeError, SchemaNotFound
from models.avro.registry import RegisteredSchema, SchemaRegistry

__all__ = ["MAGIC", "HEADER_BYTES", "AvroCodec", "AvroRecord", "is_avro_frame", "frame"]

MAGIC = 0
HEADER_BYTES = 5
_HEADER = struct.Struct(">bI")


def is_avro_frame(raw: bytes | None) -> bool:
    """True for bytes framed as Confluent Avro. A JSON text never starts with byte 0."""
    return bool(raw) and len(raw) >= HEADER_BYTES and raw[0] == MAGIC  # type: ignore[arg-type,index]


def frame(schema_id: int, body: bytes) -> bytes:
    """The wire bytes of an Avro ``body`` written with schema ``schema_id``."""
    return _HEADER.pack(MAGIC, schema_id) + body


@dataclass(frozen=True, slots=True)
class AvroRecord:
    record: dict[str, Any]
    writer: RegisteredSchema  # the schema the producer wrote with
    reader: RegisteredSchema  # the schema it was read as


class AvroCodec:
    """Encode and decode one subject's records."""

    def __init__(self, registry: SchemaRegistry, subject: str) -> None:
        self.registry = registry
        self.subject = subject

    def encode(self, record: Mapping[str, Any], version: int | None = None) -> bytes:
        """``record`` written with ``version`` (default: the latest); fields it lacks raise."""
        schema = (
            self.registry.latest(self.subject)
            if version is None
            else self.registry.get(self.subject, version)
        )
        out = io.BytesIO()
        out.write(_HEADER.pack(MAGIC, schema.schema_id))
        fastavro.schemaless_writer(out, schema.parsed, dict(record))
        return out.getvalue()

    def decode(self, raw: bytes, reader_version: int | None = None) -> AvroRecord:
        """The record in ``raw``, resolved to the reader schema; AvroDecodeError otherwise."""
        if not is_avro_frame(raw):
            raise AvroDecodeError("not_avro", "not a Confluent Avro frame (magic byte 0 + 4-byte schema id)")
        _, schema_id = _HEADER.unpack_from(raw)
        try:
            writer = self.registry.by_id(schema_id)
        except SchemaNotFound:
            raise AvroDecodeError("unknown_schema", f"unknown Avro schema id {schema_id}") from None
        if writer.subject != self.subject:
            raise AvroDecodeError(
                "wrong_subject", f"schema id {schema_id} is {writer.subject!r}, expected {self.subject!r}"
            )
        if reader_version is None:
            reader = self.registry.latest(self.subject)
        else:
            reader = self.registry.get(self.subject, reader_version)
        body = io.BytesIO(memoryview(raw)[HEADER_BYTES:])
        try:
            record = fastavro.schemaless_reader(
                body, writer.parsed, None if reader is writer else reader.parsed
            )
        except Exception as exc:  # truncated or garbled bodies fail in many ways inside fastavro
            raise AvroDecodeError(
                "invalid_avro",
                f"cannot read as {self.subject} v{writer.version}: {type(exc).__name__}: {exc}",
            ) from None
        if body.tell() != len(raw) - HEADER_BYTES:
            raise AvroDecodeError(
                "invalid_avro", f"{len(raw) - HEADER_BYTES - body.tell()} bytes left after the record"
            )
        if not isinstance(record, dict):
            raise AvroDecodeError("invalid_avro", "the schema does not describe a record")
        return AvroRecord(record, writer, reader)
