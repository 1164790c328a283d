"""Upserts of `deployments` and `incidents` rows (one statement per batch, by natural key)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from tables.deployment_state import Deployment
from tables.incident_state import Incident
from tables.instants import from_micros

__all__ = ["upsert_deployments", "upsert_incidents"]

_UPSERT_DEPLOYMENTS = """
INSERT INTO deployments AS d (repository_id, deployment_id, environment, status, started_at, finished_at,
                              commit_sha, commit_shas, pull_request_numbers)
SELECT r, i, e, s, sa, fa, c, CASE WHEN cs IS NULL THEN NULL ELSE string_to_array(cs, chr(31)) END,
       CASE WHEN pr IS NULL THEN NULL ELSE string_to_array(pr, ',')::int[] END
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::text[],
            $8::text[], $9::text[]) AS x(r, i, e, s, sa, fa, c, cs, pr)
ON CONFLICT (repository_id, deployment_id) DO UPDATE SET
    environment = EXCLUDED.environment, status = EXCLUDED.status, started_at = EXCLUDED.started_at,
    finished_at = EXCLUDED.finished_at, commit_sha = EXCLUDED.commit_sha, commit_shas = EXCLUDED.commit_shas,
    pull_request_numbers = EXCLUDED.pull_request_numbers, updated_at = now()
WHERE (d.environment, d.status, d.started_at, d.finished_at, d.commit_sha, d.commit_shas, d.pull_request_numbers)
    IS DISTINCT FROM (EXCLUDED.environment, EXCLUDED.status, EXCLUDED.started_at, EXCLUDED.finished_at,
                      EXCLUDED.commit_sha, EXCLUDED.commit_shas, EXCLUDED.pull_request_numbers)
"""

_UPSERT_INCIDENTS = """
INSERT INTO incidents AS n (repository_id, incident_id, title, severity, service, opened_at, resolved_at,
                            deployment_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
                     $7::timestamptz[], $8::text[])
ON CONFLICT (repository_id, incident_id) DO UPDATE SET
    title = EXCLUDED.title, severity = EXCLUDED.severity, service = EXCLUDED.service,
    opened_at = EXCLUDED.opened_at, resolved_at = EXCLUDED.resolved_at, deployment_id = EXCLUDED.deployment_id,
    updated_at = now()
WHERE (n.title, n.severity, n.service, n.opened_at, n.resolved_at, n.deployment_id)
    IS DISTINCT FROM (EXCLUDED.title, EXCLUDED.severity, EXCLUDED.service, EXCLUDED.opened_at,
                      EXCLUDED.resolved_at, EXCLUDED.deployment_id)
"""

# Arrays of arrays must be rectangular in PostgreSQL; each row's list travels as one string.
_SEPARATOR = chr(31)


def _joined(values: Sequence[object] | None, separator: str) -> str | None:
    return None if values is None else separator.join(str(v) for v in values)


async def upsert_deployments(conn: asyncpg.Connection, rows: Sequence[Deployment]) -> None:
    if not rows:
        return
    await conn.execute(
        _UPSERT_DEPLOYMENTS,
        [d.repository_id for d in rows],
        [d.id for d in rows],
        [d.environment for d in rows],
        [d.status for d in rows],
        [from_micros(d.started_at) for d in rows],
        [from_micros(d.finished_at) for d in rows],
        [d.commit_sha for d in rows],
        [_joined(d.commit_shas, _SEPARATOR) for d in rows],
        [_joined(d.pull_request_numbers, ",") for d in rows],
    )


async def upsert_incidents(conn: asyncpg.Connection, rows: Sequence[Incident]) -> None:
    if not rows:
        return
    await conn.execute(
        _UPSERT_INCIDENTS,
        [i.repository_id for i in rows],
        [i.id for i in rows],
        [i.title for i in rows],
        [i.severity for i in rows],
        [i.service for i in rows],
        [from_micros(i.opened_at) for i in rows],
        [from_micros(i.resolved_at) for i in rows],
        [i.deployment_id for i in rows],
    )
