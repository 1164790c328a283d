"""IngestMessage over Avro: Confluent framing, round trips across versions, JSON beside Avro."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from faust.serializers import codecs
from hypothesis import given
from hypothesis import strategies as st

from models.avro.codec import AvroCodec, frame, is_avro_frame
from models.avro.exceptions import AvroDecodeError
from models.avro.registry import default_registry
from models.decoding import DecodeError
from models.ingest import validate_event
from models.ingest_wire import (
    CODEC_NAME,
    avro_record,
    decode_ingest,
    from_avro_record,
    ingest_codec,
    register_codec,
    to_avro_record,
)

FULL: dict[str, Any] = {
    "id": "evt_123456",
    "timestamp": "2025-11-19T10:30:00Z",
    "payload": {
        "event_type": "user_action",
        "source": "web_app",
        "user_id": "user123",
        "session_id": "sess456",
        "ip_address": "192.168.1.1",
        "data": {"action": "click", "nested": {"n": [1, 2.5, None, True]}, "text": "Ω ☃ 𝄞"},
        "tags": ["frontend", "conversion"],
        "version": "1.0",
    },
}


@pytest.fixture
def codec() -> AvroCodec:
    return ingest_codec()


def test_avro_wire_format_is_magic_zero_then_big_endian_schema_id(codec: AvroCodec) -> None:
    for version in (1, 2, 3):
        raw = codec.encode(to_avro_record(FULL), version)
        assert raw[0] == 0
        assert struct.unpack(">I", raw[1:5])[0] == default_registry().get("IngestEvent", version).schema_id
        assert is_avro_frame(raw)
    assert frame(258, b"body") == b"\x00\x00\x00\x01\x02body"


def test_avro_v1_data_read_with_v2_gets_defaults(codec: AvroCodec) -> None:
    raw = codec.encode(to_avro_record(FULL), version=1)
    read = codec.decode(raw, reader_version=2)
    assert (read.writer.version, read.reader.version) == (1, 2)
    payload = read.record["payload"]
    assert payload["user_id"] is None and payload["session_id"] is None and payload["tags"] == []
    assert orjson.loads(payload["data"]) == FULL["payload"]["data"]
    assert (payload["event_type"], payload["source"]) == ("user_action", "web_app")


def test_avro_v2_data_read_with_v1_skips_added_fields(codec: AvroCodec) -> None:
    raw = codec.encode(to_avro_record(FULL), version=2)
    read = codec.decode(raw, reader_version=1)
    assert (read.writer.version, read.reader.version) == (2, 1)
    assert read.record == {
        "id": "evt_123456",
        "timestamp": "2025-11-19T10:30:00Z",
        "payload": {
            "event_type": "user_action",
            "source": "web_app",
            "data": orjson.dumps(FULL["payload"]["data"]).decode(),
        },
    }


def test_avro_latest_round_trip_is_the_same_event(codec: AvroCodec) -> None:
    raw = codec.encode(to_avro_record(FULL))
    wire = decode_ingest(raw, codec)
    assert (wire.encoding, wire.schema_version) == ("avro", 3)
    assert wire.envelope == FULL


def test_avro_v2_round_trip_keeps_v2_fields_drops_the_rest(codec: AvroCodec) -> None:
    envelope = decode_ingest(codec.encode(to_avro_record(FULL), version=2), codec).envelope
    expected = {k: v for k, v in FULL["payload"].items() if k not in ("ip_address", "version")}
    assert envelope["payload"] == expected


def test_avro_and_json_of_one_event_validate_identically(codec: AvroCodec) -> None:
    minimal = {
        "id": "e",
        "timestamp": "2025-11-19T10:30:00Z",
        "payload": {"event_type": "metric", "source": "s"},
    }
    from_json = decode_ingest(orjson.dumps(minimal), codec)
    from_avro = decode_ingest(codec.encode(to_avro_record(minimal)), codec)
    assert from_json.encoding == "json" and from_json.schema_version is None
    assert from_json.envelope == from_avro.envelope == minimal
    assert validate_event(from_json.envelope) == validate_event(from_avro.envelope)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        pytest.param(b"\x00\x00\x00\x00\x63" + b"xx", "unknown_schema", id="unknown-id"),
        pytest.param(b"\x00\x00\x00\x00\x02", "invalid_avro", id="empty-body"),
        pytest.param(b"\x00\x00\x00\x00\x02\x08abcd", "invalid_avro", id="truncated"),
    ],
)
def test_avro_undecodable_frames_refused_with_kind(codec: AvroCodec, raw: bytes, kind: str) -> None:
    with pytest.raises(AvroDecodeError) as error:
        decode_ingest(raw, codec)
    assert error.value.kind == kind


def test_avro_trailing_bytes_refused(codec: AvroCodec) -> None:
    with pytest.raises(AvroDecodeError, match="bytes left after the record"):
        codec.decode(codec.encode(to_avro_record(FULL)) + b"\x00")


def test_avro_data_that_is_not_json_text_refused() -> None:
    record = to_avro_record(FULL)
    record["payload"]["data"] = "{not json"
    with pytest.raises(AvroDecodeError) as error:
        from_avro_record(record)
    assert error.value.kind == "invalid_data_json"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [(b"", "empty"), (b"{", "invalid_json"), (b"[1]", "not_an_object"), (b"\x00\x01", "empty")],
    ids=["empty", "broken", "array", "short-zero-prefix"],
)
def test_json_side_errors_keep_their_kind(codec: AvroCodec, raw: bytes, kind: str) -> None:
    with pytest.raises((DecodeError, AvroDecodeError)) as error:
        decode_ingest(raw, codec)
    if raw == b"\x00\x01":  # too short for a frame: treated as JSON, which it is not
        assert error.value.kind == "invalid_json"  # type: ignore[union-attr]
    else:
        assert error.value.kind == kind  # type: ignore[union-attr]


def test_faust_codec_registered_writes_avro_reads_both() -> None:
    register_codec()
    raw = codecs.dumps(CODEC_NAME, FULL)
    assert is_avro_frame(raw)
    assert codecs.loads(CODEC_NAME, raw) == FULL
    assert codecs.loads(CODEC_NAME, orjson.dumps(FULL)) == FULL
    v1 = codecs.get_codec(CODEC_NAME).clone()
    v1.kwargs["version"] = 1
    assert struct.unpack(">I", v1.dumps(FULL)[1:5])[0] == 1
    # Every message goes through the one process codec, which compiles each schema once.
    assert ingest_codec() is ingest_codec()


def test_avro_is_smaller_than_json(codec: AvroCodec) -> None:
    assert len(codec.encode(to_avro_record(FULL))) < len(orjson.dumps(FULL))


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
# What a parsed JSON body can hold: orjson reads integers outside [-2**63, 2**64) as floats.
_json_ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)
_payloads = st.fixed_dictionaries(
    {
        "event_type": st.sampled_from(["user_action", "system_event", "api_call", "error", "metric"]),
        "source": st.text(alphabet="abcxyz_-", min_size=1, max_size=20),
    },
    optional={
        "user_id": _text,
        "session_id": _text,
        "ip_address": st.sampled_from(["10.0.0.1", "192.168.1.254", "0.0.0.0"]),
        "data": st.dictionaries(_text, st.none() | st.booleans() | _json_ints | _text, max_size=4),
        "tags": st.lists(st.text(alphabet="abc123", min_size=1, max_size=5), max_size=10),
        "version": st.sampled_from(["1.0", "2.10.3"]),
    },
)


@given(
    _payloads,
    st.none() | st.just("evt_given"),
    st.none()
    | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),
)
def test_avro_record_read_off_the_model_equals_the_document_form(
    payload: dict[str, Any], event_id: str | None, timestamp: datetime | None
) -> None:
    envelope: dict[str, Any] = {"payload": payload}
    if event_id is not None:
        envelope["id"] = event_id
    if timestamp is not None:
        envelope["timestamp"] = timestamp.isoformat()
    event = validate_event(envelope).event
    assert event is not None
    now = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)
    filled_id, filled_time = event.id or "evt_new", event.timestamp or now
    document = event.model_copy(update={"id": filled_id, "timestamp": filled_time}).document()
    assert avro_record(event, filled_id, filled_time) == to_avro_record(document)
    assert event.payload.fields() == event.payload.model_dump()
    assert event.payload.document() == event.payload.model_dump(mode="json", exclude_none=True)
