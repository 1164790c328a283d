"""The dead-letter queue, shared by every agent.

A batch collects its rejected messages in a DeadLetterBatch; the agent stores them in the
same database transaction as the batch's rows (``stores.dead_letters``, idempotent on the
message's coordinates) and publishes them to KAFKA_DLQ_TOPIC with ``send_soon`` (Faust
flushes the producer before it commits the offsets). Each is logged with its coordinates
and counted; the stream never stops for one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from faust.types import EventT

from agents.intake import Rejection
from app.logging import get_logger
from app.main import settings
from app.resources import metrics
from app.topics import dead_letters
from models.dead_letter import REPLAY_HEADER, DeadLetter
from runtime import tracing

__all__ = ["DeadLetterBatch"]

log = get_logger("sei.dlq")


def _headers(event: EventT[Any]) -> tuple[tuple[str, bytes], ...]:
    raw = event.message.headers or ()
    items = raw.items() if isinstance(raw, Mapping) else raw
    return tuple((str(name), bytes(value or b"")) for name, value in items)


class DeadLetterBatch:
    """The dead letters of one batch of one topic."""

    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    def __len__(self) -> int:
        return len(self.letters)

    def add(self, event: EventT[Any], rejection: Rejection, *, source: tuple[str, int, int] | None = None) -> None:
        """Dead-letter ``event``: log it with its coordinates and count it. ``source``: the
        (topic, partition, offset) to file it under instead, for a message re-keyed from
        another topic, so that every copy the re-keying sent is one letter, and a replay
        goes to the topic its producer wrote."""
        message = event.message
        headers = _headers(event)
        replay_of = dict(headers).get(REPLAY_HEADER)
        topic, partition, offset = source or (message.topic, message.partition, message.offset)
        letter = DeadLetter(
            topic=topic,
            partition=partition,
            offset=offset,
            key=message.key,
            original=message.value or b"",
            error_type=rejection.error_type,
            reason=rejection.reason,
            message=rejection.message[:10_000],
            failed_at=datetime.now(UTC),
            traceback=rejection.traceback,
            retry_count=1 if replay_of else 0,
            headers=headers,
        )
        self.letters.append(letter)
        log.warning(
            "message.dead_lettered",
            dlq_id=letter.dlq_id,
            topic=letter.topic,
            partition=letter.partition,
            offset=letter.offset,
            error_type=letter.error_type,
            reason=letter.reason,
            error=letter.message[:500],
        )
        metrics.record_failure(letter.topic, letter.reason, letter.error_type)

    def publish(self) -> None:
        """Queue every dead letter on the DLQ topic (flushed before the offsets commit)."""
        if not self.letters:
            return
        with tracing.span(
            f"produce {settings.kafka_dlq_topic}", {"messaging.batch.message_count": len(self.letters)}
        ):
            for letter in self.letters:
                dead_letters.send_soon(key=letter.topic_key, value=letter.topic_record())
