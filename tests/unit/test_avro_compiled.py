"""The compiled Avro functions against fastavro: the same bytes out, the same records in,
and nothing read that fastavro would refuse."""

from __future__ import annotations

import io
import struct
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.avro.codec import AvroCodec, frame
from models.avro.compiled import NotCompilable, compile_decoder, compile_encoder
from models.avro.exceptions import AvroDecodeError
from models.avro.registry import SHIPPED, default_registry

EVERY_TYPE = fastavro.parse_schema(
    {
        "type": "record",
        "name": "test.Every",
        "fields": [
            {"name": "flag", "type": "boolean"},
            {"name": "small", "type": "int"},
            {"name": "big", "type": "long"},
            {"name": "ratio", "type": "float"},
            {"name": "value", "type": "double"},
            {"name": "raw", "type": "bytes"},
            {"name": "text", "type": "string"},
            {"name": "nothing", "type": "null"},
            {"name": "colour", "type": {"type": "enum", "name": "test.Colour", "symbols": ["RED", "GREEN"]}},
            {"name": "counts", "type": {"type": "map", "values": "long"}},
            {"name": "names", "type": {"type": "array", "items": "string"}},
            {
                "name": "inner",
                "type": {
                    "type": "record",
                    "name": "test.Inner",
                    "fields": [{"name": "label", "type": ["string", "null"]}],
                },
            },
            {"name": "again", "type": ["null", "test.Inner"], "default": None},
            {"name": "same_colour", "type": "test.Colour", "default": "GREEN"},
            {"name": "maybe", "type": ["null", "long"]},
        ],
    }
)

_text = st.text(max_size=80)
_long = st.integers(-(2**63), 2**63 - 1)
_inner = st.fixed_dictionaries({"label": st.none() | _text})
_every = st.fixed_dictionaries(
    {
        "flag": st.booleans(),
        "small": st.integers(-(2**31), 2**31 - 1),
        "big": _long,
        "ratio": st.floats(width=32, allow_nan=False),
        "value": st.floats(allow_nan=False),
        "raw": st.binary(max_size=80),
        "text": _text,
        "nothing": st.none(),
        "colour": st.sampled_from(["RED", "GREEN"]),
        "counts": st.dictionaries(_text, _long, max_size=5),
        "names": st.lists(_text, max_size=70),
        "inner": _inner,
    },
    optional={
        "again": st.none() | _inner,
        "same_colour": st.sampled_from(["RED", "GREEN"]),
        "maybe": st.none() | _long,
    },
)
_optional_text = st.none() | _text
_ingest_record = st.fixed_dictionaries(
    {
        "id": _text,
        "timestamp": _text,
        "payload": st.fixed_dictionaries(
            {
                "event_type": st.sampled_from(["user_action", "system_event", "api_call", "error", "metric"]),
                "source": _text,
            },
            optional={
                "data": st.text(max_size=300),
                "user_id": _optional_text,
                "session_id": _optional_text,
                "tags": st.lists(st.text(max_size=10), max_size=10),
                "ip_address": _optional_text,
                "version": _optional_text,
            },
        ),
    }
)


def fastavro_bytes(schema: Any, record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, record)
    return out.getvalue()


def fastavro_read(schema: Any, body: bytes) -> tuple[Any, int]:
    stream = io.BytesIO(body)
    return fastavro.schemaless_reader(stream, schema, None), stream.tell()


def shipped(version: int) -> Any:
    return default_registry().get("IngestEvent", version).parsed


@settings(max_examples=300)
@given(_every)
def test_compiled_every_type_writes_and_reads_as_fastavro(record: dict[str, Any]) -> None:
    body = compile_encoder(EVERY_TYPE)(record)
    assert body == fastavro_bytes(EVERY_TYPE, record)
    assert compile_decoder(EVERY_TYPE)(body, 0) == fastavro_read(EVERY_TYPE, body)


@pytest.mark.parametrize("version", [version for _, version, _, _ in SHIPPED])
@settings(max_examples=200)
@given(record=_ingest_record)
def test_compiled_shipped_schemas_write_and_read_as_fastavro(version: int, record: dict[str, Any]) -> None:
    schema = shipped(version)
    body = compile_encoder(schema)(record)
    assert body == fastavro_bytes(schema, record)
    assert compile_decoder(schema)(b"\x00prefix" + body, 7) == (fastavro_read(schema, body)[0], 7 + len(body))


@settings(max_examples=1000)
@given(st.binary(max_size=120))
def test_compiled_reads_nothing_fastavro_refuses_or_reads_otherwise(body: bytes) -> None:
    for schema in (EVERY_TYPE, shipped(3)):
        try:
            compiled = compile_decoder(schema)(body, 0)
        except Exception:
            continue  # the codec then asks fastavro
        assert fastavro_read(schema, body) == compiled


@settings(max_examples=100)
@given(_ingest_record)
def test_compiled_reads_no_cut_body(record: dict[str, Any]) -> None:
    schema = shipped(3)
    body = fastavro_bytes(schema, record)
    decode = compile_decoder(schema)
    for cut in range(len(body)):
        with pytest.raises(Exception):  # noqa: B017 - which one is fastavro's to say
            decode(body[:cut], 0)


def test_compiled_reads_blocks_with_byte_sizes() -> None:
    # A writer may split an array into blocks and give each block's size (negative count).
    schema = fastavro.parse_schema(
        {
            "type": "record",
            "name": "B",
            "fields": [{"name": "names", "type": {"type": "array", "items": "string"}}],
        }
    )
    blocks = b"\x03\x04\x02a\x02b" + b"\x02\x02c" + b"\x00"  # count -2 (4 bytes), then 1, then end
    assert (
        compile_decoder(schema)(blocks, 0)
        == fastavro_read(schema, blocks)
        == ({"names": ["a", "b", "c"]}, 10)
    )


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "record", "name": "U", "fields": [{"name": "u", "type": ["string", "long"]}]},
        {
            "type": "record",
            "name": "F",
            "fields": [{"name": "f", "type": {"type": "fixed", "name": "F4", "size": 4}}],
        },
        {
            "type": "record",
            "name": "L",
            "fields": [{"name": "t", "type": {"type": "long", "logicalType": "timestamp-millis"}}],
        },
        {"type": "record", "name": "R", "fields": [{"name": "next", "type": ["null", "R"]}]},
    ],
    ids=["wide-union", "fixed", "logical-type", "recursive"],
)
def test_compiled_refuses_what_it_does_not_cover(schema: dict[str, Any]) -> None:
    parsed = fastavro.parse_schema(schema)
    with pytest.raises(NotCompilable):
        compile_encoder(parsed)
    with pytest.raises(NotCompilable):
        compile_decoder(parsed)


@pytest.mark.parametrize(
    "record",
    [
        {"id": "a", "timestamp": "t", "payload": {"event_type": "error", "source": True}},  # bool as string
        {"id": "a", "timestamp": "t", "payload": {"event_type": "error", "source": "s", "tags": ("x",)}},
        {"id": "a", "timestamp": "t", "payload": {"event_type": "nope", "source": "s"}},
        {"id": "a", "payload": {"event_type": "error", "source": "s"}},  # no timestamp, no default
        {"id": "a", "timestamp": "t", "payload": {"event_type": "error", "source": "s", "user_id": 5}},
    ],
    ids=["bool-for-string", "tuple-for-array", "unknown-symbol", "missing-field", "int-for-optional-string"],
)
def test_codec_hands_what_the_compiled_form_refuses_to_fastavro(record: dict[str, Any]) -> None:
    codec = AvroCodec(default_registry(), "IngestEvent")
    schema = default_registry().latest("IngestEvent")
    try:
        expected = frame(schema.schema_id, fastavro_bytes(schema.parsed, record))
    except Exception as exc:  # fastavro refuses: the codec must refuse the same way
        with pytest.raises(type(exc)):
            codec.encode(record)
        return
    assert codec.encode(record) == expected


def test_codec_garbled_body_is_fastavros_error() -> None:
    codec = AvroCodec(default_registry(), "IngestEvent")
    schema = default_registry().latest("IngestEvent")
    body = fastavro_bytes(
        schema.parsed, {"id": "a", "timestamp": "t", "payload": {"event_type": "error", "source": "s"}}
    )
    garbled = frame(schema.schema_id, body[:-3] + b"\xff\xfe\xfd")
    with pytest.raises(AvroDecodeError) as caught:
        codec.decode(garbled)
    assert caught.value.kind == "invalid_avro"
    assert codec.decode(frame(schema.schema_id, body)).record["payload"]["source"] == "s"
    assert struct.unpack(">bI", garbled[:5]) == (0, schema.schema_id)
