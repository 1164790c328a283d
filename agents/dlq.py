"""The dead-letter queue, shared by every agent.

A batch collects its rejected messages in a DeadLetterBatch; the agent stores them in the
same database transaction as the batch's rows (``dead_letters``, idempotent on the
message's coordinates) and publishes them to KAFKA_DLQ_TOPIC with ``send_soon`` (Faust
flushes the producer before it commits the offsets). Each is logged with its coordinates
and counted; the stream never stops for one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from faust.types import EventT

from agents.intake import Rejection
from app.logging import get_logger
from app.resources import metrics
from app.topics import dead_letters
from models.dead_letter import REPLAY_HEADER, DeadLetter

__all__ = ["DeadLetterBatch", "store_dead_letters"]

log = get_logger("sei.dlq")

_INSERT = """
INSERT INTO dead_letters (dlq_id, topic, partition, "offset", message_key, original, headers, error_type,
                          error_reason, error_message, traceback, retry_count, failed_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::bytea[], $6::bytea[], $7::jsonb[],
                     $8::text[], $9::text[], $10::text[], $11::text[], $12::int[], $13::timestamptz[])
ON CONFLICT (dlq_id) DO NOTHING
"""


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

    def add(self, event: EventT[Any], rejection: Rejection) -> None:
        """Dead-letter ``event``: log it with its coordinates and count it."""
        message = event.message
        headers = _headers(event)
        replay_of = dict(headers).get(REPLAY_HEADER)
        letter = DeadLetter(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
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
        for letter in self.letters:
            dead_letters.send_soon(key=letter.topic_key, value=letter.topic_record())


async def store_dead_letters(conn: asyncpg.Connection, letters: Sequence[DeadLetter]) -> None:
    """Upsert ``letters`` into ``dead_letters`` (a redelivered failure is one row)."""
    if not letters:
        return
    await conn.execute(
        _INSERT,
        [d.dlq_id for d in letters],
        [d.topic for d in letters],
        [d.partition for d in letters],
        [d.offset for d in letters],
        [d.key for d in letters],
        [d.original for d in letters],
        [orjson.dumps(d.headers_document()).decode() for d in letters],
        [d.error_type for d in letters],
        [d.reason for d in letters],
        [d.message for d in letters],
        [d.traceback for d in letters],
        [d.retry_count for d in letters],
        [d.failed_at for d in letters],
    )
