"""One message -> what the agent needs of it, or a dead letter. Every agent.

Everything done with one message alone (decoding, validation, the key check and the
agent's own derivation of table and row inputs from the event) runs under one guard:
whatever it raises, a validation error or an exception nobody expected (a timestamp that
overflows, input nested deeper than a recursive walk allows, a bug), costs that message
alone. It is dead-lettered with its traceback and the batch goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from faust.types import EventT
from pydantic import BaseModel

from agents.dlq import DeadLetterBatch
from agents.intake import Parsed, Rejection, key_mismatch, parse_message, processing_error
from app.logging import get_logger
from app.main import settings
from app.resources import metrics

__all__ = ["accept"]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
log = get_logger("sei.agents.intake")


def accept(
    event: EventT[Any],
    model: type[M],
    letters: DeadLetterBatch,
    key_field: str | None,
    key_of: Callable[[M], str],
    derive: Callable[[M], T],
) -> T | None:
    """``derive`` of the valid ``model`` in ``event``, or None after dead-lettering it.

    The message key must equal ``key_of(event)`` (the topic's ``key_field``): a message keyed
    otherwise would put its entity's state in another partition. ``derive`` turns the event
    into what the batch keeps of it; it runs under the same guard (module doc).
    ``key_field`` None: any key is accepted (a topic whose events are re-keyed first).
    """
    try:
        parsed = _valid(event, model, key_field, key_of)
        if isinstance(parsed, Rejection):
            letters.add(event, parsed)
            return None
        return derive(parsed)
    except Exception as exc:
        log.exception(
            "message.processing_failed",
            topic=event.message.topic,
            partition=event.message.partition,
            offset=event.message.offset,
        )
        letters.add(event, processing_error(exc))
        return None


def _valid(
    event: EventT[Any], model: type[M], key_field: str | None, key_of: Callable[[M], str]
) -> M | Rejection:
    parsed: Parsed[M] | Rejection = parse_message(event.value, model, settings.validation_mode)
    if isinstance(parsed, Rejection):
        return parsed
    if key_field is not None:
        mismatch = key_mismatch(event.message.key, key_of(parsed.event), key_field)
        if mismatch is not None:
            return mismatch
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
