"""Decode and validate one Kafka message into an event model, or explain why not.

Shared by every agent. ``VALIDATION_MODE`` (seed 002) decides what a rule violation costs:
- ``strict``: the message is rejected (dead-lettered by the caller);
- ``warn``: fields that break a rule are dropped (stored as null) and the event goes on
  with a warning; a message still invalid without them (a required field, the identity)
  is rejected;
- ``disabled``: as ``warn``, without the per-message warning log (still counted).
Messages that are not JSON objects are rejected in every mode.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from models.decoding import DecodeError, decode_json_object

__all__ = [
    "Rejection",
    "Parsed",
    "ValidationMode",
    "parse_message",
    "describe_validation_error",
    "key_mismatch",
    "processing_error",
]

M = TypeVar("M", bound=BaseModel)
ValidationMode = Literal["strict", "warn", "disabled"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message was not processed.

    ``error_type`` is the dead letter's error type and the ``dlq_messages_total`` label;
    ``reason`` is finer and stable (the ``processor_messages_failed_total`` label).
    """

    reason: str
    message: str
    error_type: str = "ValidationError"
    traceback: str | None = None


def processing_error(exc: BaseException) -> Rejection:
    """The Rejection of a message whose handling raised ``exc`` (called in its ``except``
    block, so the traceback is the live one): a bug or an input our code did not expect
    costs that message, never its batch or partition."""
    message = str(exc) or type(exc).__name__
    return Rejection("processing_error", message[:10_000], type(exc).__name__, traceback.format_exc()[-20_000:])


# Not frozen: one per message (a frozen __init__ is several times slower); never mutated.
@dataclass(slots=True)
class Parsed(Generic[M]):
    """A valid event, with the rule violations dropped on the way (warn/disabled modes)."""

    event: M
    warnings: tuple[str, ...] = ()


def describe_validation_error(exc: ValidationError) -> str:
    """``data.sha: Field required; data.additions: Input should be ...`` (one line)."""
    return "; ".join(_describe(error) for error in exc.errors(include_url=False))


def _describe(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "(message)"
    return f"{where}: {error['msg']}"


def _without(value: dict[str, Any], locations: list[tuple[Any, ...]]) -> dict[str, Any] | None:
    """``value`` minus the fields at ``locations``; None when a location is not a field."""
    copy = _deep_copy(value)
    for location in locations:
        if not location:  # a rule over the whole message (a model validator): nothing to drop
            return None
        parent: Any = copy
        for part in location[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if not isinstance(parent, dict) or location[-1] not in parent:
            return None
        del parent[location[-1]]
    return copy


def _deep_copy(value: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in value.items()}


def parse_message(
    raw: bytes | None, model: type[M], mode: ValidationMode = "strict"
) -> Parsed[M] | Rejection:
    """The validated, normalized event in ``raw``, or the Rejection explaining why not."""
    try:
        decoded = decode_json_object(raw)
    except DecodeError as exc:
        return Rejection(exc.kind, str(exc), "DecodeError")
    try:
        return Parsed(model.model_validate(decoded.value))
    except ValidationError as exc:
        if mode == "strict":
            return Rejection("validation", describe_validation_error(exc))
        errors = exc.errors(include_url=False)
        lenient = _without(decoded.value, [tuple(e["loc"]) for e in errors])
        if lenient is not None:
            try:
                return Parsed(
                    model.model_validate(lenient), tuple(_describe(e) + " (dropped)" for e in errors)
                )
            except ValidationError as again:
                exc = again
        return Rejection("validation", describe_validation_error(exc))


def key_mismatch(key: bytes | None, expected: str, field_name: str) -> Rejection | None:
    """A topic keyed by ``field_name`` keeps each key's state in one partition; a message
    keyed otherwise would split that state, so it is refused (KeyMismatchError)."""
    if key == expected.encode():
        return None
    shown = key.decode("utf-8", "replace")[:100] if isinstance(key, bytes) else key
    return Rejection(
        "wrong_key", f"message key must equal {field_name} {expected!r}; got {shown!r}", "KeyMismatchError"
    )
