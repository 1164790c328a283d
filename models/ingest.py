"""Generic ingested events (seed 002 ``IngestMessage``): the schema and its validation rules.

```
{"id": "evt_123", "timestamp": "2025-11-19T10:30:00Z",
 "payload": {"event_type": "user_action", "source": "web_app", "user_id": "user123",
             "session_id": "sess456", "ip_address": "192.168.1.1", "data": {...},
             "tags": ["frontend"], "version": "1.0"}}
```
Rules (seed 002): ``event_type`` one of EVENT_TYPES; ``source`` 1-100 characters, not
blank; ``user_id`` 1-50; ``session_id`` 1-100; ``ip_address`` a dotted-quad IPv4 address;
``data`` a JSON object of at most 100 KiB serialized (compact JSON, UTF-8); ``tags`` at
most 10 ASCII-alphanumeric strings; ``version`` ``MAJOR.MINOR`` or ``MAJOR.MINOR.PATCH``.
Lengths count characters. Strings are kept verbatim, except NUL (PostgreSQL cannot store
it), which becomes U+FFFD as everywhere else. ``id`` and ``timestamp`` are optional on
input: whoever accepts the event fills them (the HTTP view with a new id and the receipt
time, the agent with the message key or a content hash and the Kafka timestamp).
``data: null`` and ``tags: null`` mean absent. Unknown fields are ignored and named in the
warnings, with the business rules a valid event breaks (seed 002: "User action events
should include user_id"; see models.quality).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from models.fields import EventTime, Identifier
from models.quality import consistency_issues

__all__ = [
    "EVENT_TYPES",
    "EventType",
    "FieldError",
    "IngestMessage",
    "IngestPayload",
    "MAX_DATA_BYTES",
    "MAX_TAGS",
    "Validation",
    "content_id",
    "validate_event",
    "as_envelope",
]

EventType = Literal["user_action", "system_event", "api_call", "error", "metric"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
MAX_DATA_BYTES = 100 * 1024
MAX_TAGS = 10
_VERSION = re.compile(r"^\d{1,6}\.\d{1,6}(\.\d{1,6})?$")
_TAG = r"^[A-Za-z0-9]+$"


def _no_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {_no_nul(k): _no_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("not_blank", "must contain a non-space character")
    return _no_nul(value)  # type: ignore[no-any-return]


# Dotted quad, each octet 0-255 in ASCII digits without a leading zero ("010.0.0.1" is
# refused: some parsers read it as octal), exactly what ipaddress.IPv4Address accepts, at a
# tenth of its cost.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def _ipv4(value: str) -> str:
    if _IPV4.fullmatch(value) is None:
        raise PydanticCustomError("ipv4", "must be an IPv4 address like 192.168.1.1")
    return value


def _data_limit(value: dict[str, Any]) -> dict[str, Any]:
    try:
        serialized = orjson.dumps(value)
    except TypeError as exc:  # cannot happen for parsed JSON; guards direct callers
        raise PydanticCustomError("json", "must be JSON-serializable: {error}", {"error": str(exc)}) from None
    if len(serialized) > MAX_DATA_BYTES:
        raise PydanticCustomError(
            "max_size",
            "is {size} bytes serialized, over the {limit}-byte limit",
            {"size": len(serialized), "limit": MAX_DATA_BYTES},
        )
    # JSON escapes NUL as \u0000: only a document holding one needs the walk.
    return _no_nul(value) if b"\\u0000" in serialized else value


def _version(value: str) -> str:
    if not _VERSION.match(value):
        raise PydanticCustomError("version_format", "must look like 1.0 or 1.0.3")
    return value


Source = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=100), AfterValidator(_not_blank)]
UserId = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=50), AfterValidator(_no_nul)]
SessionId = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=100), AfterValidator(_no_nul)]
IPv4 = Annotated[str, Strict(), AfterValidator(_ipv4)]
Data = Annotated[dict[str, Any], Strict(), AfterValidator(_data_limit)]
Tag = Annotated[str, Strict(), StringConstraints(pattern=_TAG)]
Version = Annotated[str, Strict(), AfterValidator(_version)]


class IngestPayload(BaseModel):
    """What happened: seed 002's payload."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: EventType
    source: Source
    user_id: UserId | None = None
    session_id: SessionId | None = None
    ip_address: IPv4 | None = None
    data: Data | None = None
    tags: Annotated[list[Tag], Field(max_length=MAX_TAGS)] | None = None
    version: Version | None = None

    def fields(self) -> dict[str, Any]:
        """Every field by name, as ``model_dump()`` gives them (the values are plain JSON
        types already), without its cost. ``__dict__`` holds exactly the fields: extra
        input is ignored, and there are no private attributes."""
        return dict(self.__dict__)

    def document(self) -> dict[str, Any]:
        """The fields that are set, as ``model_dump(mode="json", exclude_none=True)``
        gives them, without its cost (a stored row's ``payload``)."""
        return {name: value for name, value in self.__dict__.items() if value is not None}


class IngestMessage(BaseModel):
    """The envelope: identity (``id``, ``timestamp``) and the payload."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Identifier | None = None
    timestamp: EventTime | None = None
    payload: IngestPayload
    schema_version: Annotated[int, Strict(), Field(ge=1, le=1_000_000)] | None = None

    def document(self) -> dict[str, Any]:
        """The event as a JSON-ready dict: UTC ``Z`` timestamp, absent fields left out."""
        body = self.model_dump(mode="json", exclude_none=True, exclude={"payload"})
        if self.timestamp is not None:
            body["timestamp"] = self.timestamp.isoformat().replace("+00:00", "Z")
        body["payload"] = self.payload.document()
        return body


_EVENT_FIELDS = frozenset(IngestMessage.model_fields)
_PAYLOAD_FIELDS = frozenset(IngestPayload.model_fields)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One broken rule: where (``payload.user_id``), which rule (stable), and in words."""

    field: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


# Not frozen: one per message (a frozen __init__ is several times slower); never mutated.
@dataclass(slots=True)
class Validation:
    """The outcome of validating one event: the event, or the errors; warnings either way.

    ``dropped`` names the fields removed to keep the event (lenient validation only).
    ``broken_rules`` lets the quality score reuse the rule check instead of repeating it.
    """

    event: IngestMessage | None
    errors: tuple[FieldError, ...] = ()
    warnings: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    broken_rules: tuple[str, ...] = ()  # the business rules among the warnings (models.quality)

    @property
    def valid(self) -> bool:
        return self.event is not None and not self.errors


# pydantic's error types -> the rule names our API promises (stable across pydantic versions).
_RULES = {
    "missing": "required",
    "literal_error": "one_of",
    "string_too_short": "min_length",
    "string_too_long": "max_length",
    "too_long": "max_items",
    "string_pattern_mismatch": "alphanumeric",
    "string_type": "type",
    "dict_type": "type",
    "list_type": "type",
    "int_type": "type",
    "model_type": "type",
    "datetime_type": "type",
    "datetime_parsing": "datetime",
    "datetime_from_date_parsing": "datetime",
    "greater_than_equal": "minimum",
    "less_than_equal": "maximum",
}


def _where(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(event)"


def _field_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for error in exc.errors(include_url=False):
        rule = _RULES.get(error["type"], error["type"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if rule == "alphanumeric":
            message = "must contain only letters A-Z, a-z and digits 0-9"
        elif rule == "max_items":
            message = f"at most {MAX_TAGS} tags"
        errors.append(FieldError(_where(error["loc"]), rule, message))
    return errors


def as_envelope(body: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope form of a request body: a body without ``payload`` is a bare payload
    (seed 002's ``/validate`` example) and is wrapped."""
    return dict(body) if "payload" in body else {"payload": dict(body)}


def _unknown_fields(envelope: Mapping[str, Any]) -> list[str]:
    payload = envelope.get("payload")
    # The common case, every field known, answered by two set comparisons.
    if envelope.keys() <= _EVENT_FIELDS and (
        not isinstance(payload, Mapping) or payload.keys() <= _PAYLOAD_FIELDS
    ):
        return []
    unknown = [f"unknown field {name!r} ignored" for name in envelope if name not in _EVENT_FIELDS]
    if isinstance(payload, Mapping):
        unknown += [
            f"unknown field 'payload.{name}' ignored" for name in payload if name not in _PAYLOAD_FIELDS
        ]
    return unknown


def _droppable(loc: tuple[Any, ...]) -> tuple[str, ...] | None:
    """The optional field to drop for an error at ``loc`` (the whole field), or None."""
    if len(loc) >= 2 and loc[0] == "payload" and loc[1] in _OPTIONAL_PAYLOAD:
        return ("payload", str(loc[1]))
    if len(loc) >= 1 and loc[0] in ("id", "timestamp", "schema_version"):
        return (str(loc[0]),)
    return None


_OPTIONAL_PAYLOAD = frozenset({"user_id", "session_id", "ip_address", "data", "tags", "version"})


def _without(envelope: dict[str, Any], paths: set[tuple[str, ...]]) -> dict[str, Any]:
    copy = dict(envelope)
    payload = dict(copy["payload"]) if isinstance(copy.get("payload"), dict) else copy.get("payload")
    for path in paths:
        if len(path) == 1:
            copy.pop(path[0], None)
        elif isinstance(payload, dict):
            payload.pop(path[1], None)
    copy["payload"] = payload
    return copy


def validate_event(envelope: Mapping[str, Any], *, lenient: bool = False) -> Validation:
    """Validate one envelope (a dict parsed from JSON or Avro).

    ``lenient`` (VALIDATION_MODE warn/disabled): optional fields that break a rule are
    dropped and the event is kept, with the drops in ``dropped``; an event still invalid
    without them (a required field) is refused either way.
    """
    warnings = _unknown_fields(envelope)
    try:
        event = IngestMessage.model_validate(envelope)
        advice = _advice(event)
        return Validation(event, warnings=tuple(warnings + advice), broken_rules=tuple(advice))
    except ValidationError as exc:
        errors = _field_errors(exc)
        if not lenient:
            return Validation(None, tuple(errors), tuple(warnings))
        paths = {_droppable(tuple(e["loc"])) for e in exc.errors(include_url=False)}
        if None in paths or not isinstance(envelope.get("payload"), dict):
            return Validation(None, tuple(errors), tuple(warnings))
        kept = _without(dict(envelope), {p for p in paths if p is not None})
        try:
            event = IngestMessage.model_validate(kept)
        except ValidationError as again:
            return Validation(None, tuple(_field_errors(again)), tuple(warnings))
        dropped = tuple(f"{e} (dropped)" for e in errors)
        advice = _advice(event)
        return Validation(event, (), tuple(warnings + advice) + dropped, dropped, tuple(advice))


def _advice(event: IngestMessage) -> list[str]:
    """Seed 002's warnings: the business rules a valid event breaks (models.quality)."""
    return consistency_issues(event.payload.fields())


def content_id(raw: bytes) -> str:
    """An id for an event that has none and no message key: the hash of its bytes, so a
    re-sent identical message is the same event."""
    return "evt_" + hashlib.sha256(raw).hexdigest()[:32]
