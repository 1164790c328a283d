"""`logs` and `log_anomalies` rows: their mapping by column name, their batch upserts (one
statement each, idempotent) and the reads of the anomaly views.

- `logs`: one row per log line, keyed by (service, created_at, log_key): a duplicate (same
  service, timestamp, message and request id) is stored once; the first write wins, so a
  re-sent line never rewrites the score it was first stored with.
- `log_anomalies`: one row per flag, a log over ANOMALY_THRESHOLD (``kind`` ``log``, keyed by
  its log_key) or a service gone quiet (``kind`` ``quiet``, keyed by the time its silence
  began). Incidents are read from it: a service's anomalies with less than
  ``INCIDENT_GAP`` between consecutive ones are one incident.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import asyncpg

from stores.columns import Columns, json_rows

__all__ = [
    "INCIDENT_GAP",
    "LOG_ANOMALY_COLUMNS",
    "LOG_COLUMNS",
    "LogAnomalyRow",
    "LogRow",
    "read_incidents",
    "upsert_log_anomalies",
    "upsert_logs",
]

INCIDENT_GAP = timedelta(minutes=5)


# Not frozen: one per log (a frozen __init__ is several times slower); never mutated.
@dataclass(slots=True, kw_only=True)
class LogRow:
    service: str
    created_at: datetime  # the log's own timestamp, as seed 004 stores it
    log_key: str  # the duplicate identity (models.logs.LogMessage.log_key)
    level: str
    message: str
    latency_ms: float | None
    anomaly_score: float
    is_anomaly: bool
    template: str
    score_source: str  # local | ml_engine
    trace_id: str | None
    request_id: str | None
    host: str | None
    attributes: Annotated[str | None, "jsonb"]


@dataclass(slots=True, kw_only=True)
class LogAnomalyRow:
    service: str
    at: datetime  # the log's time, or when the quiet check found the silence
    anomaly_key: str  # the log's log_key, or "quiet:<silence start, µs>"
    kind: str  # log | quiet
    score: float
    parts: Annotated[str, "jsonb"]  # the score's parts
    message: str  # the log's message, or a sentence about the silence
    score_source: str


LOG_COLUMNS = Columns("logs", LogRow, key=("service", "created_at", "log_key"))
LOG_ANOMALY_COLUMNS = Columns("log_anomalies", LogAnomalyRow, key=("service", "at", "anomaly_key"))

# The rows go in as one JSON document, as commits' do (stores.commits): asyncpg encodes typed
# arrays element by element, with an isinstance check per element; orjson writes the whole
# batch in C. A jsonb column's JSON text is read as text and cast, as its array's text is.
_LOG_READ = ", ".join(f'"{n}" {"text" if t == "jsonb" else t}' for n, t in LOG_COLUMNS.types.items())
_LOG_CAST = ", ".join(f'r."{n}"::jsonb' if t == "jsonb" else f'r."{n}"' for n, t in LOG_COLUMNS.types.items())
_UPSERT_LOGS_JSON = f"""{LOG_COLUMNS.insert()}
SELECT {_LOG_CAST} FROM json_to_recordset($1::json) AS r({_LOG_READ})
{LOG_COLUMNS.on_conflict(update=False)}"""
# For a batch JSON cannot carry verbatim (stores.columns.json_rows).
_UPSERT_LOGS = LOG_COLUMNS.upsert(update=False)
_UPSERT_ANOMALIES = LOG_ANOMALY_COLUMNS.upsert(update=False)

# Gaps and islands: an anomaly more than INCIDENT_GAP after the previous one of its service
# starts an incident; incidents are numbered by a running sum of those starts.
_READ_INCIDENTS = """
WITH flagged AS (
    SELECT service, at, score, message, kind,
           CASE WHEN at - lag(at) OVER (PARTITION BY service ORDER BY at) <= $3::interval
                THEN 0 ELSE 1 END AS starts
    FROM log_anomalies
    WHERE ($1::text IS NULL OR service = $1) AND at >= $2
), numbered AS (
    SELECT *, sum(starts) OVER (PARTITION BY service ORDER BY at) AS incident FROM flagged
)
SELECT service, min(at) AS first_at, max(at) AS last_at, count(*)::bigint AS anomalies,
       max(score) AS peak_score,
       (array_agg(DISTINCT kind))::text[] AS kinds,
       (array_agg(message ORDER BY score DESC, at))[1:3] AS samples
FROM numbered
GROUP BY service, incident
ORDER BY last_at DESC, service
LIMIT $4
"""


async def upsert_logs(conn: asyncpg.Connection, rows: Sequence[LogRow]) -> None:
    """Insert the batch's log rows; a row already stored (a duplicate) is left as it is."""
    if not rows:
        return
    document = json_rows(rows)
    if document is not None:
        await conn.execute(_UPSERT_LOGS_JSON, document)
    else:
        await conn.execute(_UPSERT_LOGS, *LOG_COLUMNS.arrays(rows))


async def upsert_log_anomalies(conn: asyncpg.Connection, rows: Sequence[LogAnomalyRow]) -> None:
    if rows:
        await conn.execute(_UPSERT_ANOMALIES, *LOG_ANOMALY_COLUMNS.arrays(rows))


async def read_incidents(
    conn: asyncpg.Connection, service: str | None, since: datetime, limit: int
) -> list[dict[str, Any]]:
    """Incidents (runs of a service's anomalies less than INCIDENT_GAP apart) among the
    anomalies at or after ``since``, latest first."""
    records = await conn.fetch(_READ_INCIDENTS, service, since, INCIDENT_GAP, limit)
    return [
        {
            "service": r["service"],
            "first_at": r["first_at"].isoformat(),
            "last_at": r["last_at"].isoformat(),
            "anomalies": int(r["anomalies"]),
            "peak_score": round(float(r["peak_score"]), 4),
            "kinds": sorted(r["kinds"]),
            "samples": list(r["samples"]),
        }
        for r in records
    ]
