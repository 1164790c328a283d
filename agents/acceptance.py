"""One message -> a validated event of the topic's model, or a dead letter. Every agent."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from faust.types import EventT
from pydantic import BaseModel

from agents.dlq import DeadLetterBatch
from agents.intake import Parsed, Rejection, key_mismatch, parse_message
from app.logging import get_logger
from app.main import settings
from app.resources import metrics

__all__ = ["accept"]

M = TypeVar("M", bound=BaseModel)
log = get_logger("sei.agents.intake")


def accept(
    event: EventT, model: type[M], letters: DeadLetterBatch, key_field: str, key_of: Callable[[M], str]
) -> M | None:
    """The valid ``model`` in ``event``, or None after dead-lettering it.

    The message key must equal ``key_of(event)`` (the topic's ``key_field``): a message keyed
    otherwise would put its entity's state in another partition.
    """
    parsed: Parsed[M] | Rejection = parse_message(event.value, model, settings.validation_mode)
    if isinstance(parsed, Rejection):
        letters.add(event, parsed)
        return None
    mismatch = key_mismatch(event.message.key, key_of(parsed.event), key_field)
    if mismatch is not None:
        letters.add(event, mismatch)
        return None
    if parsed.warnings:
        metrics.record_warning(event.message.topic)
        if settings.validation_mode == "warn":
            log.warning(
                "message.validation_warning",
                topic=event.message.topic,
                partition=event.message.partition,
                offset=event.message.offset,
                warnings=list(parsed.warnings),
            )
    return parsed.event
