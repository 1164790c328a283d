"""``ingested_events`` writes: one statement per batch, idempotent on (id, timestamp).

An event is immutable once stored: the first delivery of an (id, timestamp) wins and
later ones (redeliveries, replays, a client re-sending) change nothing, so the statement
is ``ON CONFLICT DO NOTHING`` and returns how many rows were new.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

__all__ = ["IngestRow", "insert_events"]

# Not frozen: one per message (a frozen __init__ is several times slower); never mutated.
@dataclass(slots=True)
class IngestRow:
    id: str
    timestamp: datetime
    payload: str  # JSON text (jsonb)
    event_type: str
    source: str
    validation_status: str  # valid | warned
    quality_score: float
    quality_flagged: bool
    quality: str  # JSON text (jsonb): the scores, issues and validation warnings
    schema_version: int | None
    encoding: str  # json | avro

    @property
    def identity(self) -> tuple[str, datetime]:
        return self.id, self.timestamp


_INSERT = """
WITH inserted AS (
    INSERT INTO ingested_events (id, "timestamp", payload, event_type, source, validation_status,
                                 quality_score, quality_flagged, quality, schema_version, encoding)
    SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::jsonb[], $4::text[], $5::text[], $6::text[],
                         $7::float8[], $8::bool[], $9::jsonb[], $10::int[], $11::text[])
    ON CONFLICT (id, "timestamp") DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM inserted
"""


async def insert_events(conn: asyncpg.Connection, rows: Sequence[IngestRow]) -> int:
    """Insert the new rows of ``rows``; returns how many were new."""
    if not rows:
        return 0
    return int(
        await conn.fetchval(
            _INSERT,
            [r.id for r in rows],
            [r.timestamp for r in rows],
            [r.payload for r in rows],
            [r.event_type for r in rows],
            [r.source for r in rows],
            [r.validation_status for r in rows],
            [r.quality_score for r in rows],
            [r.quality_flagged for r in rows],
            [r.quality for r in rows],
            [r.schema_version for r in rows],
            [r.encoding for r in rows],
        )
    )
