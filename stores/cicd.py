"""`deployments` and `incidents` rows: their mapping to and from the entities, by column
name, their upserts (one statement per batch, by natural key) and their reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import asyncpg

from stores.columns import Columns
from tables.deployment_state import Deployment
from tables.incident_state import Incident
from tables.instants import from_micros, to_micros

__all__ = [
    "DeploymentRow",
    "IncidentRow",
    "DEPLOYMENT_COLUMNS",
    "INCIDENT_COLUMNS",
    "deployment_row",
    "deployment_of_row",
    "incident_row",
    "incident_of_row",
    "upsert_deployments",
    "upsert_incidents",
    "read_deployments",
    "read_incidents",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentRow:
    repository_id: str
    deployment_id: str
    environment: str
    status: str
    started_at: datetime | None
    finished_at: datetime
    commit_sha: str | None
    commit_shas: Annotated[Sequence[str] | None, "text[]"]
    pull_request_numbers: Annotated[Sequence[int] | None, "int[]"]


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentRow:
    repository_id: str
    incident_id: str
    title: str | None
    severity: str | None
    service: str | None
    opened_at: datetime | None
    resolved_at: datetime | None
    deployment_id: str | None


DEPLOYMENT_COLUMNS = Columns(
    "deployments", DeploymentRow, key=("repository_id", "deployment_id"), touched="updated_at"
)
INCIDENT_COLUMNS = Columns(
    "incidents", IncidentRow, key=("repository_id", "incident_id"), touched="updated_at"
)

_UPSERT_DEPLOYMENTS = DEPLOYMENT_COLUMNS.upsert()
_UPSERT_INCIDENTS = INCIDENT_COLUMNS.upsert()
_OF_REPOSITORIES = ' WHERE "repository_id" = ANY($1::text[])'
_READ_DEPLOYMENTS = DEPLOYMENT_COLUMNS.select() + _OF_REPOSITORIES
_READ_INCIDENTS = INCIDENT_COLUMNS.select() + _OF_REPOSITORIES
# From a lookback on (tables.snapshots.load_repository's rule): what finished from then on,
# and the incidents with an event from then on or still open, whatever their age.
_READ_DEPLOYMENTS_SINCE = _READ_DEPLOYMENTS + ' AND "finished_at" >= $2'
_READ_INCIDENTS_SINCE = (
    _READ_INCIDENTS + ' AND ("resolved_at" IS NULL OR "resolved_at" >= $2 OR "opened_at" >= $2)'
)


def deployment_row(deployment: Deployment) -> DeploymentRow:
    return DeploymentRow(
        repository_id=deployment.repository_id,
        deployment_id=deployment.id,
        environment=deployment.environment,
        status=deployment.status,
        started_at=from_micros(deployment.started_at),
        finished_at=from_micros(deployment.finished_at),
        commit_sha=deployment.commit_sha,
        commit_shas=deployment.commit_shas,
        pull_request_numbers=deployment.pull_request_numbers,
    )


def deployment_of_row(row: DeploymentRow) -> Deployment:
    return Deployment(
        repository_id=row.repository_id,
        id=row.deployment_id,
        environment=row.environment,
        status=row.status,
        finished_at=to_micros(row.finished_at),
        started_at=to_micros(row.started_at),
        commit_sha=row.commit_sha,
        commit_shas=None if row.commit_shas is None else tuple(row.commit_shas),
        pull_request_numbers=None if row.pull_request_numbers is None else tuple(row.pull_request_numbers),
    )


def incident_row(incident: Incident) -> IncidentRow:
    return IncidentRow(
        repository_id=incident.repository_id,
        incident_id=incident.id,
        title=incident.title,
        severity=incident.severity,
        service=incident.service,
        opened_at=from_micros(incident.opened_at),
        resolved_at=from_micros(incident.resolved_at),
        deployment_id=incident.deployment_id,
    )


def incident_of_row(row: IncidentRow) -> Incident:
    return Incident(
        repository_id=row.repository_id,
        id=row.incident_id,
        opened_at=to_micros(row.opened_at),
        resolved_at=to_micros(row.resolved_at),
        deployment_id=row.deployment_id,
        title=row.title,
        severity=row.severity,
        service=row.service,
    )


async def upsert_deployments(conn: asyncpg.Connection, deployments: Sequence[Deployment]) -> None:
    if deployments:
        rows = [deployment_row(d) for d in deployments]
        await conn.execute(_UPSERT_DEPLOYMENTS, *DEPLOYMENT_COLUMNS.arrays(rows))


async def upsert_incidents(conn: asyncpg.Connection, incidents: Sequence[Incident]) -> None:
    if incidents:
        rows = [incident_row(i) for i in incidents]
        await conn.execute(_UPSERT_INCIDENTS, *INCIDENT_COLUMNS.arrays(rows))


async def read_deployments(
    conn: asyncpg.Connection, repositories: Sequence[str], since: datetime | None = None
) -> list[Deployment]:
    """Every deployment of ``repositories`` (``since``: only those finished from then on)."""
    if since is None:
        records = await conn.fetch(_READ_DEPLOYMENTS, list(repositories))
    else:
        records = await conn.fetch(_READ_DEPLOYMENTS_SINCE, list(repositories), since)
    return [deployment_of_row(DEPLOYMENT_COLUMNS.row_of(r)) for r in records]


async def read_incidents(
    conn: asyncpg.Connection, repositories: Sequence[str], since: datetime | None = None
) -> list[Incident]:
    """Every incident of ``repositories`` (``since``: only those open, or opened or resolved
    from then on)."""
    if since is None:
        records = await conn.fetch(_READ_INCIDENTS, list(repositories))
    else:
        records = await conn.fetch(_READ_INCIDENTS_SINCE, list(repositories), since)
    return [incident_of_row(INCIDENT_COLUMNS.row_of(r)) for r in records]
