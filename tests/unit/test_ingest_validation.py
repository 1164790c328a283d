"""Seed 002's validation rules for ingested events, each accepted and refused at its boundary."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.ingest import (
    EVENT_TYPES,
    MAX_DATA_BYTES,
    as_envelope,
    content_id,
    validate_event,
)
from models.quality import consistency_issues


def event(**payload: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"event_type": "system_event", "source": "web_app"}
    for name, value in payload.items():
        if value is ...:
            body.pop(name, None)
        else:
            body[name] = value
    return {"id": "evt_1", "timestamp": "2025-11-19T10:30:00Z", "payload": body}


def rules(result: Any) -> list[tuple[str, str]]:
    return [(e.field, e.rule) for e in result.errors]


def data_of_size(size: int) -> dict[str, str]:
    """A data object whose compact JSON is exactly ``size`` bytes."""
    overhead = len(orjson.dumps({"k": ""}))
    return {"k": "x" * (size - overhead)}


def test_ingest_seed_example_is_valid_and_normalized() -> None:
    seed = {
        "id": "evt_123456",
        "timestamp": "2025-11-19T10:30:00Z",
        "payload": {
            "event_type": "user_action",
            "source": "web_app",
            "user_id": "user123",
            "session_id": "sess456",
            "ip_address": "192.168.1.1",
            "data": {"action": "click", "element": "submit_button", "page": "/checkout"},
            "tags": ["frontend", "conversion"],
            "version": "1.0",
        },
    }
    result = validate_event(seed)
    assert result.valid and result.errors == () and result.warnings == ()
    assert result.event is not None
    assert result.event.timestamp == datetime(2025, 11, 19, 10, 30, tzinfo=UTC)
    assert result.event.document() == seed


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_ingest_event_type_each_supported_accepted(event_type: str) -> None:
    assert validate_event(event(event_type=event_type)).valid


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        pytest.param("USER_ACTION", "one_of", id="upper-case"),
        pytest.param("page_view", "one_of", id="unknown"),
        pytest.param("", "one_of", id="empty"),
        pytest.param(1, "one_of", id="number"),
        pytest.param(..., "required", id="missing"),
    ],
)
def test_ingest_event_type_refused(value: Any, rule: str) -> None:
    assert rules(validate_event(event(event_type=value))) == [("payload.event_type", rule)]


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        pytest.param("source", 100, id="source"),
        pytest.param("user_id", 50, id="user_id"),
        pytest.param("session_id", 100, id="session_id"),
    ],
)
def test_ingest_string_length_limit_accepted_at_and_refused_past(field: str, limit: int) -> None:
    assert validate_event(event(**{field: "a" * limit})).valid
    assert validate_event(event(**{field: "é" * limit})).valid  # characters, not bytes
    assert rules(validate_event(event(**{field: "a" * (limit + 1)}))) == [(f"payload.{field}", "max_length")]


@pytest.mark.parametrize("field", ["source", "user_id", "session_id"])
def test_ingest_string_fields_refuse_empty_and_non_strings(field: str) -> None:
    assert rules(validate_event(event(**{field: ""}))) == [(f"payload.{field}", "min_length")]
    assert rules(validate_event(event(**{field: 123}))) == [(f"payload.{field}", "type")]
    assert validate_event(event(**{field: "a"})).valid


def test_ingest_source_required_and_not_blank() -> None:
    assert rules(validate_event(event(source=...))) == [("payload.source", "required")]
    assert rules(validate_event(event(source="   "))) == [("payload.source", "not_blank")]
    assert rules(validate_event(event(source=None))) == [("payload.source", "type")]


@pytest.mark.parametrize("address", ["192.168.1.1", "0.0.0.0", "255.255.255.255", "10.0.0.1"])
def test_ingest_ip_address_ipv4_accepted(address: str) -> None:
    assert validate_event(event(ip_address=address)).valid


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("256.0.0.1", id="octet-256"),
        pytest.param("1.2.3", id="three-octets"),
        pytest.param("1.2.3.4.5", id="five-octets"),
        pytest.param("01.2.3.4", id="leading-zero"),
        pytest.param("::1", id="ipv6"),
        pytest.param(" 1.2.3.4", id="space"),
        pytest.param("", id="empty"),
        pytest.param("localhost", id="name"),
    ],
)
def test_ingest_ip_address_not_ipv4_refused(address: str) -> None:
    assert rules(validate_event(event(ip_address=address))) == [("payload.ip_address", "ipv4")]


@given(st.text(alphabet="0123456789.", max_size=17) | st.text(max_size=20))
def test_ingest_ip_address_accepted_exactly_as_python_ipaddress_does(address: str) -> None:
    try:
        ipaddress.IPv4Address(address)
        expected = True
    except ValueError:
        expected = False
    assert validate_event(event(ip_address=address)).valid is expected


def test_ingest_ip_address_number_refused() -> None:
    assert rules(validate_event(event(ip_address=16843009))) == [("payload.ip_address", "type")]


def test_ingest_data_size_accepted_at_limit_refused_one_byte_over() -> None:
    assert len(orjson.dumps(data_of_size(MAX_DATA_BYTES))) == MAX_DATA_BYTES == 102_400
    assert validate_event(event(data=data_of_size(MAX_DATA_BYTES))).valid
    result = validate_event(event(data=data_of_size(MAX_DATA_BYTES + 1)))
    assert rules(result) == [("payload.data", "max_size")]
    assert "102401 bytes" in result.errors[0].message


@pytest.mark.parametrize("value", [[1, 2], "text", 5, True], ids=["list", "string", "number", "bool"])
def test_ingest_data_not_an_object_refused(value: Any) -> None:
    assert rules(validate_event(event(data=value))) == [("payload.data", "type")]


def test_ingest_data_empty_or_null_accepted_nested_kept() -> None:
    assert validate_event(event(data={})).valid
    assert validate_event(event(data=None)).valid
    nested = {"a": [1, {"b": None}], "c": {"d": 1.5, "e": True}}
    result = validate_event(event(data=nested))
    assert result.event is not None and result.event.payload.data == nested


def test_ingest_tags_ten_accepted_eleven_refused() -> None:
    assert validate_event(event(tags=[f"t{i}" for i in range(10)])).valid
    assert rules(validate_event(event(tags=[f"t{i}" for i in range(11)]))) == [("payload.tags", "max_items")]
    assert validate_event(event(tags=[])).valid
    assert validate_event(event(tags=None)).valid


@pytest.mark.parametrize("tag", ["a", "Frontend", "abc123", "9"])
def test_ingest_tag_alphanumeric_accepted(tag: str) -> None:
    assert validate_event(event(tags=[tag])).valid


@pytest.mark.parametrize("tag", ["a-b", "a b", "a_b", "", "é", "tag!", "ａ"])
def test_ingest_tag_not_alphanumeric_refused(tag: str) -> None:
    assert rules(validate_event(event(tags=["ok", tag]))) == [("payload.tags[1]", "alphanumeric")]


def test_ingest_tags_not_a_list_of_strings_refused() -> None:
    assert rules(validate_event(event(tags="frontend"))) == [("payload.tags", "type")]
    assert rules(validate_event(event(tags=[1]))) == [("payload.tags[0]", "type")]


@pytest.mark.parametrize("version", ["1.0", "2.13", "1.0.3", "10.20.30"])
def test_ingest_version_accepted(version: str) -> None:
    assert validate_event(event(version=version)).valid


@pytest.mark.parametrize("version", ["1", "v1.0", "1.0.0.0", "1.x", "", "1.0-beta", " 1.0"])
def test_ingest_version_refused(version: str) -> None:
    assert rules(validate_event(event(version=version))) == [("payload.version", "version_format")]


def test_ingest_id_and_timestamp_optional_and_checked() -> None:
    bare = {"payload": {"event_type": "metric", "source": "s", "data": {"value": 1}}}
    result = validate_event(bare)
    assert result.valid and result.event is not None and result.event.id is None
    assert rules(validate_event({**bare, "id": ""})) == [("id", "min_length")]
    assert validate_event({**bare, "id": "x" * 200}).valid
    assert rules(validate_event({**bare, "id": "x" * 201})) == [("id", "max_length")]
    assert rules(validate_event({**bare, "id": "a\nb"})) == [("id", "value_error")]
    assert rules(validate_event({**bare, "timestamp": "yesterday"})) == [("timestamp", "datetime")]
    assert rules(validate_event({**bare, "timestamp": "1989-12-31T23:59:59Z"})) == [
        ("timestamp", "value_error")
    ]
    shifted = validate_event({**bare, "timestamp": "2025-11-19T12:30:00+02:00"}).event
    assert shifted is not None and shifted.timestamp == datetime(2025, 11, 19, 10, 30, tzinfo=UTC)


def test_ingest_every_broken_rule_reported_at_once() -> None:
    result = validate_event(
        {
            "payload": {
                "event_type": "nope",
                "source": "",
                "user_id": "u" * 51,
                "tags": ["a b"],
                "version": "1",
            }
        }
    )
    assert {field for field, _ in rules(result)} == {
        "payload.event_type",
        "payload.source",
        "payload.user_id",
        "payload.tags[0]",
        "payload.version",
    }
    assert all(e.message for e in result.errors)


def test_ingest_missing_payload_refused() -> None:
    assert rules(validate_event({"id": "x"})) == [("payload", "required")]
    assert rules(validate_event({"payload": []})) == [("payload", "type")]


def test_ingest_seed_warning_user_action_without_user_id() -> None:
    result = validate_event(
        as_envelope({"event_type": "user_action", "source": "web_app", "data": {"action": "click"}})
    )
    assert result.valid
    assert result.warnings == ("User action events should include user_id",)
    assert validate_event(event(event_type="user_action", user_id="u1")).warnings == ()


@pytest.mark.parametrize("lenient", [False, True])
@pytest.mark.parametrize(
    "payload",
    [
        {"event_type": "user_action", "source": "web", "data": {"action": "click"}},
        {"event_type": "error", "source": "api", "data": {"status_code": 700}, "user_id": "u" * 51},
        {"event_type": "metric", "source": "m", "data": {"value": 0.5}},
    ],
)
def test_ingest_broken_rules_carried_equal_a_fresh_check(payload: dict[str, Any], lenient: bool) -> None:
    # The quality score reuses them; they must be what the rules say of the kept payload.
    result = validate_event(as_envelope(payload), lenient=lenient)
    if result.event is None:
        assert not lenient and result.broken_rules == ()
        return
    fields = result.event.payload.fields()
    assert list(result.broken_rules) == consistency_issues(fields)
    assert set(result.broken_rules) <= set(result.warnings)
    assert fields == result.event.payload.model_dump()


def test_ingest_unknown_fields_ignored_with_warning() -> None:
    result = validate_event({**event(), "extra": 1, "payload": {**event()["payload"], "colour": "red"}})
    assert result.valid
    assert result.warnings == ("unknown field 'extra' ignored", "unknown field 'payload.colour' ignored")


@pytest.mark.parametrize(
    ("body", "warnings"),
    [
        ({**event(), "extra": 1}, ("unknown field 'extra' ignored",)),
        (
            {**event(), "payload": {**event()["payload"], "colour": "red"}},
            ("unknown field 'payload.colour' ignored",),
        ),
        (event(), ()),
    ],
    ids=["envelope-only", "payload-only", "none"],
)
def test_ingest_unknown_fields_named_wherever_they_are(
    body: dict[str, Any], warnings: tuple[str, ...]
) -> None:
    assert validate_event(body).warnings == warnings


def test_ingest_bare_payload_is_wrapped_envelope_kept() -> None:
    assert as_envelope({"event_type": "error", "source": "s"}) == {
        "payload": {"event_type": "error", "source": "s"}
    }
    assert as_envelope(event()) == event()


def test_ingest_nul_replaced_other_strings_verbatim() -> None:
    tricky = "Robert'); DROP TABLE ingested_events;-- ☃ 𝄞 \u202e"
    result = validate_event(event(source="a\x00b", user_id=tricky, data={"k\x00": ["v\x00", tricky]}))
    assert result.event is not None
    assert result.event.payload.source == "a\ufffdb"
    assert result.event.payload.user_id == tricky
    assert result.event.payload.data == {"k\ufffd": ["v\ufffd", tricky]}


def test_ingest_lenient_drops_broken_optional_fields() -> None:
    result = validate_event(event(user_id="u" * 51, tags=["a-b"], ip_address="1.2.3"), lenient=True)
    assert result.valid and result.event is not None
    assert result.event.payload.user_id is None and result.event.payload.tags is None
    assert len(result.dropped) == 3 and all(d.endswith("(dropped)") for d in result.dropped)


def test_ingest_lenient_still_refuses_broken_required_fields() -> None:
    result = validate_event(event(source="", user_id="u" * 51), lenient=True)
    assert not result.valid
    assert ("payload.source", "min_length") in rules(result)


def test_ingest_content_id_same_bytes_same_id() -> None:
    assert content_id(b"abc") == content_id(b"abc") != content_id(b"abd")
    assert content_id(b"abc").startswith("evt_") and len(content_id(b"abc")) == 36
