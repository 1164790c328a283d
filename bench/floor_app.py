"""The issue's "floor": a minimal Faust app, ``take(100)`` + ``COPY``, nothing else.

No validation, tables, dedupe, daily totals or upserts: what Faust and asyncpg cost alone
for the same messages on the same broker. Run by ``python -m bench.floor`` as
``faust -A bench.floor_app worker`` with ``FLOOR_BROKER`` and ``FLOOR_DATABASE`` set.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import asyncpg
import faust
import orjson

TABLE = "floor_commits"
COLUMNS = ["repository_id", "sha", "committed_at", "author_email", "message", "files_changed", "additions", "deletions"]
CREATE_TABLE = f"""CREATE TABLE {TABLE} (repository_id text, sha text, committed_at timestamptz,
author_email text, message text, files_changed int, additions int, deletions int)"""

# Started by devtools.worker_process.WorkerProcess, which names the data directory and web port.
app = faust.App(
    "bench-floor",
    broker=os.environ.get("FLOOR_BROKER", "kafka://127.0.0.1:9092"),
    store="memory://",
    topic_partitions=8,
    datadir=os.environ.get("DATA_DIR", "data/floor"),
    web_port=int(os.environ.get("WEB_PORT", "6066")),
)
commits = app.topic("git.commits", key_serializer="raw", value_serializer="raw")
_pool: asyncpg.Pool | None = None


def record_of(value: bytes) -> tuple[Any, ...]:
    event = orjson.loads(value)
    data = event["data"]
    return (
        event["repository_id"],
        data["sha"],
        datetime.fromisoformat(data.get("committed_at") or event["timestamp"]),
        data.get("author"),
        data.get("message"),
        data.get("files_changed"),
        data.get("additions"),
        data.get("deletions"),
    )


@app.agent(commits)
async def copy_commits(stream: faust.StreamT[bytes]) -> None:
    global _pool
    if _pool is None:
        _pool = await asyncpg.create_pool(os.environ["FLOOR_DATABASE"], min_size=1, max_size=2)
    async for values in stream.take(100, within=1.0):
        records = [record_of(value) for value in values]
        async with _pool.acquire() as conn:
            await conn.copy_records_to_table(TABLE, records=records, columns=COLUMNS)
