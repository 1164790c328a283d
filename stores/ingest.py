"""``ingested_events`` writes: one statement per batch, idempotent on (id, timestamp).

An event is immutable once stored: the first delivery of an (id, timestamp) wins and
later ones (redeliveries, replays, a client re-sending) change nothing, so the statement
is ``ON CONFLICT DO NOTHING`` and returns how many rows were new.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import asyncpg

from stores.columns import Columns

__all__ = ["IngestRow", "INGEST_COLUMNS", "insert_events"]


# Not frozen: one per message (a frozen __init__ is several times slower); never mutated.
@dataclass(slots=True, kw_only=True)
class IngestRow:
    id: str
    timestamp: datetime
    payload: Annotated[str, "jsonb"]
    event_type: str
    source: str
    validation_status: str  # valid | warned
    quality_score: float
    quality_flagged: bool
    quality: Annotated[str, "jsonb"]  # the scores, issues and validation warnings
    schema_version: int | None
    encoding: str  # json | avro

    @property
    def identity(self) -> tuple[str, datetime]:
        return self.id, self.timestamp


INGEST_COLUMNS = Columns("ingested_events", IngestRow, key=("id", "timestamp"))

_INSERT = f"""
WITH inserted AS (
    {INGEST_COLUMNS.upsert(update=False)}
    RETURNING 1
)
SELECT count(*) FROM inserted
"""


async def insert_events(conn: asyncpg.Connection, rows: Sequence[IngestRow]) -> int:
    """Insert the new rows of ``rows``; returns how many were new."""
    if not rows:
        return 0
    return int(await conn.fetchval(_INSERT, *INGEST_COLUMNS.arrays(rows)))
