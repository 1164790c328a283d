"""The ingestion API's rules apart from the server: keys, content types, bodies, answers."""

from __future__ import annotations

import orjson
import pytest

from app.ingest_api import (
    MAX_BATCH,
    BadRequest,
    api_key_valid,
    batch_status,
    check_items,
    is_json_content_type,
    openapi_document,
    parse_body,
)

KEYS = (b"dev-key-12345", b"second-key-0001")


@pytest.mark.parametrize(
    ("presented", "valid"),
    [
        ("dev-key-12345", True),
        ("second-key-0001", True),
        ("dev-key-1234", False),
        ("dev-key-123456", False),
        ("DEV-KEY-12345", False),
        ("", False),
        (None, False),
        ("dev-key-12345\udcff", False),
    ],
)
def test_api_key_must_equal_a_configured_key(presented: str | None, valid: bool) -> None:
    assert api_key_valid(presented, KEYS) is valid


def test_api_key_none_configured_refuses_everything() -> None:
    assert not api_key_valid("dev-key-12345", ())


@pytest.mark.parametrize(
    ("content_type", "json"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON", True),
        ("application/vnd.sei+json", True),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", False),
        ("text/json+xml", False),
        ("", False),
        (None, False),
    ],
)
def test_json_content_types(content_type: str | None, json: bool) -> None:
    assert is_json_content_type(content_type) is json


def test_parse_body_object_is_one_event_array_a_batch() -> None:
    assert parse_body(b'{"a": 1}') == ([{"a": 1}], False)
    assert parse_body(b'[{"a": 1}, 2]') == ([{"a": 1}, 2], True)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{", "invalid JSON"),
        (b"", "invalid JSON"),
        (b"[]", "empty array"),
        (b'"text"', "got str"),
        (b"42", "got int"),
        (orjson.dumps([{}] * (MAX_BATCH + 1)), f"at most {MAX_BATCH} events"),
    ],
)
def test_parse_body_refusals_are_400(raw: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message) as error:
        parse_body(raw)
    assert error.value.status == 400


def test_check_items_per_item_verdicts() -> None:
    items = check_items([{"event_type": "metric", "source": "s"}, "nope", {"payload": {"source": "s"}}])
    assert [item.validation.valid for item in items] == [True, False, False]
    assert items[1].answer()["errors"] == [
        {"field": "(event)", "rule": "type", "message": "an event must be a JSON object"}
    ]
    assert items[2].answer()["errors"][0]["field"] == "payload.event_type"


def test_batch_status_all_none_some() -> None:
    items = check_items([{"event_type": "metric", "source": "s"}, {"event_type": "metric", "source": "s"}])
    assert batch_status(items) == 422
    for item in items:
        item.status = 202
    assert batch_status(items) == 202
    items[1].status = 422
    assert batch_status(items) == 207


def test_openapi_describes_both_endpoints_and_the_key() -> None:
    document = openapi_document(1024 * 1024)
    assert set(document["paths"]) == {"/validate", "/ingest"}
    assert document["paths"]["/ingest"]["post"]["security"] == [{"ApiKey": []}]
    assert document["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
    payload = document["components"]["schemas"]["IngestPayload"]
    assert payload["required"] == ["event_type", "source"]
    assert payload["properties"]["source"]["maxLength"] == 100
    assert set(document["paths"]["/ingest"]["post"]["responses"]) >= {"202", "401", "413", "415", "422"}
    orjson.dumps(document)  # serializable as served
