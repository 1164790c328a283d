"""The rules of POST /validate and POST /ingest, apart from the web server: API keys,
content types, request bodies, per-item answers, and the OpenAPI description.

- ``X-API-Key`` must equal one of INGEST_API_KEYS (constant-time comparison with every
  key, so timing says nothing about which or how much matched); none configured: 401.
- The body must be declared JSON (``application/json`` or ``*/*+json``): else 415; over
  INGEST_MAX_BODY_BYTES: 413; not parseable JSON: 400.
- A JSON object is one event, a JSON array a batch of at most MAX_BATCH events answered
  item by item: 202 when every item is accepted, 422 when none is, 207 when some are.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.exceptions import ProcessorError
from models.ingest import (
    EVENT_TYPES,
    MAX_DATA_BYTES,
    MAX_TAGS,
    FieldError,
    IngestMessage,
    Validation,
    as_envelope,
    validate_event,
)

__all__ = [
    "MAX_BATCH",
    "BadRequest",
    "Item",
    "api_key_valid",
    "is_json_content_type",
    "parse_body",
    "check_items",
    "batch_status",
    "openapi_document",
]

MAX_BATCH = 1000


class BadRequest(ProcessorError, ValueError):
    """The request as a whole cannot be used; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def api_key_valid(presented: str | None, keys: Sequence[bytes]) -> bool:
    """Whether ``presented`` is one of ``keys``; every key is compared, in constant time."""
    if not presented or not keys:
        return False
    candidate = presented.encode("utf-8", "surrogateescape")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(candidate, key)
    return matched


def is_json_content_type(content_type: str | None) -> bool:
    """``application/json`` or a ``+json`` type, parameters (charset) allowed."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def parse_body(raw: bytes) -> tuple[list[Any], bool]:
    """(the events, whether the body was a batch); BadRequest(400) for what is neither."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(400, f"invalid JSON: {exc}") from None
    if isinstance(body, dict):
        return [body], False
    if isinstance(body, list):
        if not body:
            raise BadRequest(400, "an empty array holds no event")
        if len(body) > MAX_BATCH:
            raise BadRequest(400, f"at most {MAX_BATCH} events per request, got {len(body)}")
        return body, True
    raise BadRequest(
        400, f"expected a JSON object (an event) or an array of events, got {type(body).__name__}"
    )


@dataclass(slots=True)
class Item:
    """One event of a request and what became of it."""

    index: int
    validation: Validation
    status: int = 422
    id: str | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def answer(self) -> dict[str, Any]:
        body: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.id is not None:
            body["id"] = self.id
        if self.validation.errors:
            body["errors"] = [e.as_dict() for e in self.validation.errors]
        if self.error is not None:
            body["error"] = self.error
        body["warnings"] = list(self.validation.warnings)
        return body


_NOT_AN_OBJECT = FieldError("(event)", "type", "an event must be a JSON object")


def check_items(events: Iterable[Any]) -> list[Item]:
    """Validate each event of a request (strictly: HTTP callers get every error back)."""
    items = []
    for index, body in enumerate(events):
        if isinstance(body, dict):
            items.append(Item(index, validate_event(as_envelope(body))))
        else:
            items.append(Item(index, Validation(None, (_NOT_AN_OBJECT,))))
    return items


def batch_status(items: Sequence[Item]) -> int:
    """202 all accepted, 422 all invalid, 503 none stored for a broker failure, else 207."""
    statuses = {item.status for item in items}
    return statuses.pop() if len(statuses) == 1 else 207


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["field", "rule", "message"],
        "properties": {
            "field": {"type": "string"},
            "rule": {"type": "string"},
            "message": {"type": "string"},
        },
    }


def openapi_document(max_body_bytes: int) -> dict[str, Any]:
    """OpenAPI 3.1 description of POST /validate and POST /ingest."""
    event = IngestMessage.model_json_schema(ref_template="#/components/schemas/{model}")
    components = event.pop("$defs", {})
    components["IngestMessage"] = event
    payload = components["IngestPayload"]["properties"]
    payload["ip_address"]["anyOf"][0]["format"] = "ipv4"
    payload["version"]["anyOf"][0]["pattern"] = r"^\d{1,6}\.\d{1,6}(\.\d{1,6})?$"
    payload["data"]["description"] = f"a JSON object, at most {MAX_DATA_BYTES} bytes serialized"
    payload["tags"]["description"] = f"at most {MAX_TAGS} ASCII letters-and-digits strings"
    payload["event_type"]["enum"] = list(EVENT_TYPES)
    components["FieldError"] = _error_schema()
    components["Validation"] = {
        "type": "object",
        "required": ["valid", "errors", "warnings"],
        "properties": {
            "valid": {"type": "boolean"},
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "quality": {"type": "object"},
        },
    }
    components["ItemResult"] = {
        "type": "object",
        "required": ["index", "status", "warnings"],
        "properties": {
            "index": {"type": "integer"},
            "status": {"type": "integer"},
            "id": {"type": "string"},
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
            "error": {"type": "string"},
            "warnings": {"type": "array", "items": {"type": "string"}},
        },
    }
    body_schema = {
        "oneOf": [
            {"$ref": "#/components/schemas/IngestMessage"},
            {"$ref": "#/components/schemas/IngestPayload"},
            {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_BATCH,
                "items": {"$ref": "#/components/schemas/IngestMessage"},
            },
        ]
    }
    request_body = {
        "required": True,
        "description": f"one event (an envelope, or a bare payload) or an array of events; at most "
        f"{max_body_bytes} bytes",
        "content": {"application/json": {"schema": body_schema}},
    }
    error = {
        "content": {
            "application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}
        }
    }
    batch = {
        "type": "object",
        "properties": {
            "accepted": {"type": "integer"},
            "rejected": {"type": "integer"},
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/ItemResult"}},
        },
    }
    validation_batch = {
        "type": "object",
        "properties": {
            "valid": {"type": "boolean", "description": "every item valid"},
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/Validation"}},
        },
    }

    def json_of(schema: object) -> dict[str, Any]:
        return {"application/json": {"schema": schema}}

    common = {
        "400": {"description": "not JSON, or neither an object nor a non-empty array", **error},
        "413": {"description": f"body over {max_body_bytes} bytes", **error},
        "415": {"description": "Content-Type is not JSON", **error},
        "408": {"description": "the body did not arrive in time", **error},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "sei-processor ingestion", "version": "1"},
        "paths": {
            "/validate": {
                "post": {
                    "summary": "Check events against the rules; stores nothing",
                    "operationId": "validate",
                    "requestBody": request_body,
                    "responses": {
                        "200": {
                            "description": "the verdict (per item for an array)",
                            "content": json_of(
                                {"oneOf": [{"$ref": "#/components/schemas/Validation"}, validation_batch]}
                            ),
                        },
                        **common,
                    },
                }
            },
            "/ingest": {
                "post": {
                    "summary": "Validate events and queue them on events.ingest",
                    "operationId": "ingest",
                    "security": [{"ApiKey": []}],
                    "requestBody": request_body,
                    "responses": {
                        "202": {
                            "description": "accepted (every item of an array)",
                            "content": json_of(
                                {"oneOf": [{"$ref": "#/components/schemas/ItemResult"}, batch]}
                            ),
                        },
                        "207": {"description": "an array, some items accepted", "content": json_of(batch)},
                        "401": {"description": "missing or unknown X-API-Key", **error},
                        "422": {
                            "description": "invalid (every item of an array)",
                            "content": json_of(
                                {"oneOf": [{"$ref": "#/components/schemas/Validation"}, batch]}
                            ),
                        },
                        "503": {
                            "description": "the broker did not take the events, or the worker is not "
                            "ready for them (its topic not verified yet: see Retry-After)",
                            **error,
                        },
                        **common,
                    },
                }
            },
        },
        "components": {
            "schemas": components,
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
    }
