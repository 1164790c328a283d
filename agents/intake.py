"""Decode and validate one Kafka message into an event model, or explain why not.

Shared by every agent: a message that cannot be decoded or validated is reported with its
topic, partition and offset, counted under a stable reason, and the stream moves on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from faust.types import EventT
from pydantic import BaseModel, ValidationError

from app.logging import get_logger
from app.metrics import ProcessorMetrics
from models.decoding import MAX_MESSAGE_BYTES, DecodeError, decode_json_object

__all__ = ["Rejection", "parse_message", "describe_validation_error", "report_rejection"]

M = TypeVar("M", bound=BaseModel)
log = get_logger("sei.intake")


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message was not processed: ``reason`` is stable (metrics label)."""

    reason: str
    message: str


def describe_validation_error(exc: ValidationError) -> str:
    """``data.sha: Field required; data.additions: Input should be ...`` (one line)."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "(message)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def parse_message(raw: bytes | None, model: type[M]) -> M | Rejection:
    """The validated, normalized event in ``raw``, or the Rejection explaining why not."""
    if raw and len(raw) <= MAX_MESSAGE_BYTES:
        try:
            # Fast path: pydantic parses and validates the bytes in one pass (Rust).
            return model.model_validate_json(raw)
        except ValidationError:
            pass  # classify below: not JSON, not UTF-8, not an object, or invalid
    try:
        decoded = decode_json_object(raw)
    except DecodeError as exc:
        return Rejection(exc.kind, str(exc))
    try:
        return model.model_validate(decoded.value)
    except ValidationError as exc:
        return Rejection("validation", describe_validation_error(exc))


def report_rejection(metrics: ProcessorMetrics, event: EventT, rejection: Rejection) -> None:
    """Log a rejected message with its coordinates and count it."""
    message = event.message
    log.warning(
        "message.rejected",
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        reason=rejection.reason,
        error=rejection.message[:2000],
    )
    metrics.record_failure(message.topic, rejection.reason)
