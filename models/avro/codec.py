"""Avro records in the Confluent wire format: magic byte 0, the writer's 4-byte big-endian
schema id, then the schemaless Avro body.

The writer's schema comes from the id; the reader's is the subject's latest version unless
asked otherwise, so a v1 record reads as the latest with the added fields' defaults, and
``reader_version=1`` reads newer records as v1 (added fields skipped).

A record written or read with the same schema goes through functions compiled from it
(models.avro.compiled), about 1.5x cheaper than fastavro's interpretation of the schema
per record; fastavro does everything those do not cover (schema resolution, types
they leave out) and answers for any datum they refuse, so the bytes and errors are
fastavro's either way.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import fastavro

from models.avro.compiled import Decoder, Encoder, NotCompilable, compile_decoder, compile_encoder
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


# Not frozen: one per message (a frozen __init__ is several times slower); never mutated.
@dataclass(slots=True)
class AvroRecord:
    record: dict[str, Any]
    writer: RegisteredSchema  # the schema the producer wrote with
    reader: RegisteredSchema  # the schema it was read as


F = TypeVar("F")


def _compiled(
    cache: dict[int, F | None], schema: RegisteredSchema, compile_for: Callable[[Any], F]
) -> F | None:
    """The function compiled from ``schema`` (once), or None when it cannot be."""
    if schema.schema_id not in cache:
        try:
            cache[schema.schema_id] = compile_for(schema.parsed)
        except NotCompilable:
            cache[schema.schema_id] = None
    return cache[schema.schema_id]


class AvroCodec:
    """Encode and decode one subject's records."""

    def __init__(self, registry: SchemaRegistry, subject: str) -> None:
        self.registry = registry
        self.subject = subject
        # By schema id; None: not compilable, fastavro only.
        self._encoders: dict[int, Encoder | None] = {}
        self._decoders: dict[int, Decoder | None] = {}

    def _encoder(self, schema: RegisteredSchema) -> Encoder | None:
        return _compiled(self._encoders, schema, compile_encoder)

    def _decoder(self, schema: RegisteredSchema) -> Decoder | None:
        return _compiled(self._decoders, schema, compile_decoder)

    def encode(self, record: Mapping[str, Any], version: int | None = None) -> bytes:
        """``record`` written with ``version`` (default: the latest); fields it lacks raise."""
        schema = (
            self.registry.latest(self.subject)
            if version is None
            else self.registry.get(self.subject, version)
        )
        header = _HEADER.pack(MAGIC, schema.schema_id)
        encode = self._encoder(schema)
        if encode is not None:
            try:
                return header + encode(record)
            except Exception:  # noqa: S110 - not covered by the compiled form: fastavro decides
                pass
        out = io.BytesIO()
        out.write(header)
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
        decode = self._decoder(writer) if reader is writer else None
        if decode is not None:
            try:
                record, end = decode(raw, HEADER_BYTES)
            except Exception:  # noqa: S110 - bytes it cannot read: fastavro says why below
                pass
            else:
                if end == len(raw):
                    return AvroRecord(record, writer, reader)
        body = io.BytesIO(memoryview(raw)[HEADER_BYTES:])
        try:
            read = fastavro.schemaless_reader(
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
        if not isinstance(read, dict):
            raise AvroDecodeError("invalid_avro", "the schema does not describe a record")
        return AvroRecord(read, writer, reader)
