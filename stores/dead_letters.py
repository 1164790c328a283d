"""`dead_letters` rows: a dead letter's mapping by column name and its insert, in the
batch's transaction, idempotent on the message's coordinates (``dlq_id``: a redelivered
failure is one row). ``replayed_at`` and ``replay_count`` are kept by `dlq replay`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import asyncpg
import orjson

from models.dead_letter import DeadLetter
from stores.columns import Columns

__all__ = ["DeadLetterRow", "DEAD_LETTER_COLUMNS", "dead_letter_row", "store_dead_letters"]


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    dlq_id: str
    topic: str
    partition: int
    offset: Annotated[int, "bigint"]
    message_key: bytes | None
    original: bytes
    headers: Annotated[str, "jsonb"]  # DeadLetter.headers_document
    error_type: str
    error_reason: str
    error_message: str
    traceback: str | None
    retry_count: int
    failed_at: datetime


DEAD_LETTER_COLUMNS = Columns("dead_letters", DeadLetterRow, key=("dlq_id",))
_INSERT = DEAD_LETTER_COLUMNS.upsert(update=False)


def dead_letter_row(letter: DeadLetter) -> DeadLetterRow:
    return DeadLetterRow(
        dlq_id=letter.dlq_id,
        topic=letter.topic,
        partition=letter.partition,
        offset=letter.offset,
        message_key=letter.key,
        original=letter.original,
        headers=orjson.dumps(letter.headers_document()).decode(),
        error_type=letter.error_type,
        error_reason=letter.reason,
        error_message=letter.message,
        traceback=letter.traceback,
        retry_count=letter.retry_count,
        failed_at=letter.failed_at,
    )


async def store_dead_letters(conn: asyncpg.Connection, letters: Sequence[DeadLetter]) -> None:
    """Insert ``letters`` into ``dead_letters`` (one already there is left as it is)."""
    if letters:
        await conn.execute(_INSERT, *DEAD_LETTER_COLUMNS.arrays([dead_letter_row(d) for d in letters]))
