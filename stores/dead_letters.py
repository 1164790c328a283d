"""`dead_letters` rows: a dead letter's mapping by column name; its insert, in the batch's
transaction, idempotent on the message's coordinates (``dlq_id``: a redelivered failure is
one row); the operator commands' reads, and the replay marks (``replayed_at``,
``replay_count``) that `dlq replay` keeps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import asyncpg
import orjson

from models.dead_letter import DeadLetter
from stores.columns import Columns

__all__ = [
    "DeadLetterRow",
    "DEAD_LETTER_COLUMNS",
    "dead_letter_row",
    "store_dead_letters",
    "read_dead_letters",
    "mark_replayed",
    "dead_letter_offsets",
    "count_dead_letters_since",
    "dead_letter_backlog",
]


@dataclass(frozen=True, slots=True, kw_only=True)
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
# Read back with the replay marks: the written columns and those `dlq replay` keeps.
_SELECT = f"SELECT {DEAD_LETTER_COLUMNS.listed((*DEAD_LETTER_COLUMNS.names, 'replayed_at', 'replay_count'))} FROM dead_letters"


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


async def read_dead_letters(
    conn: asyncpg.Connection,
    where: str,
    args: Sequence[object],
    *,
    in_topic_order: bool = False,
    limit: int | None = None,
    lock: bool = False,
) -> list[asyncpg.Record]:
    """The rows (with ``replayed_at``, ``replay_count``) that ``where`` selects (`` WHERE
    ...`` or empty, its parameters ``args``): newest first, or in topic order, then locked
    for update if ``lock``."""
    sql = _SELECT + where
    if in_topic_order:
        sql += ' ORDER BY topic, partition, "offset"' + (" FOR UPDATE" if lock else "")
    else:
        sql += " ORDER BY failed_at DESC, dlq_id"
    params = list(args)
    if limit is not None:
        params.append(limit)
        sql += f" LIMIT ${len(params)}"
    return list(await conn.fetch(sql, *params))


async def mark_replayed(conn: asyncpg.Connection, dlq_ids: Sequence[str]) -> None:
    """Count one more replay of each of ``dlq_ids``, now."""
    await conn.execute(
        "UPDATE dead_letters SET replayed_at = now(), replay_count = replay_count + 1 WHERE dlq_id = ANY($1::text[])",
        list(dlq_ids),
    )


async def dead_letter_offsets(conn: asyncpg.Connection, topic: str) -> set[tuple[int, int]]:
    """(partition, offset) of every dead letter of ``topic``."""
    rows = await conn.fetch('SELECT partition, "offset" FROM dead_letters WHERE topic = $1', topic)
    return {(row["partition"], row["offset"]) for row in rows}


async def count_dead_letters_since(conn: asyncpg.Connection, since: datetime) -> dict[str, int]:
    """Topic -> how many dead letters failed at or after ``since``."""
    records = await conn.fetch(
        "SELECT topic, count(*) FROM dead_letters WHERE failed_at >= $1 GROUP BY topic", since
    )
    return {r[0]: int(r[1]) for r in records}


async def dead_letter_backlog(conn: asyncpg.Connection) -> tuple[dict[str, int], dict[str, int]]:
    """Per topic: dead letters never replayed, and replays done (the sum of ``replay_count``)."""
    records = await conn.fetch(
        "SELECT topic, count(*) FILTER (WHERE replayed_at IS NULL), coalesce(sum(replay_count), 0)"
        " FROM dead_letters GROUP BY topic"
    )
    return {r[0]: int(r[1]) for r in records}, {r[0]: int(r[2]) for r in records}
