"""cicd.deployments and ops.incidents -> per-repository entity tables, `deployments` and
`incidents` rows; the repository is marked for its projections (metrics.dora, Redis,
`metrics_daily`: agents.projection).

Both topics are keyed by repository_id and co-partitioned with git.commits, so a worker
holds all of a repository's commits, deployments and incidents: lead time, attribution and
rework are computed from local state, without cross-worker lookups. A snapshot is derived
from the whole state when asked, so a late deployment, incident or commit lands where its
event time puts it. Jira issues of type Incident reach ops.incidents from agents.jira.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import asyncpg
from faust import StreamT
from faust.types import EventT
from pydantic import BaseModel

from agents.batches import run_batches
from agents.delivery_sink import upsert_deployments, upsert_incidents
from agents.entity_batch import Applied, EntityFamily, handle_entity_batch
from agents.projection import projection
from app.main import app
from app.topics import cicd_deployments, ops_incidents
from models.cicd_events import DeploymentEvent, IncidentEventModel
from tables.delivery import (
    merge_deployments,
    merge_incident_events,
    repository_deployments,
    repository_incidents,
)
from tables.deployment_state import Deployment
from tables.incident_state import IncidentEvent, IncidentState
from tables.instants import to_micros

__all__ = ["process_deployments", "process_incidents", "handle_deployment_batch", "handle_incident_batch"]

M = TypeVar("M", bound=BaseModel)


def deployment_of(event: DeploymentEvent) -> Deployment:
    data = event.data
    return Deployment(
        repository_id=event.repository_id,
        id=data.id,
        environment=data.environment,
        status=data.status,
        finished_at=to_micros(data.finished_at),
        started_at=to_micros(data.started_at),
        commit_sha=data.commit_sha,
        commit_shas=data.commit_shas,
        pull_request_numbers=data.pull_request_numbers,
    )


def incident_event_of(event: IncidentEventModel) -> IncidentEvent:
    data = event.data
    return IncidentEvent(
        repository_id=event.repository_id,
        id=data.id,
        timestamp=to_micros(event.timestamp),
        opened_at=to_micros(data.opened_at),
        resolved_at=to_micros(data.resolved_at),
        deployment_id=data.deployment_id,
        title=data.title,
        severity=data.severity,
        service=data.service,
    )


def _repository_of(event: Any) -> str:
    return str(event.repository_id)


# Each derives everything before it keeps anything: a failure leaves the table as it was.
# Every delivered entity's row is written, changed or not: after a crash the table may hold
# what the database never received.


def _apply_deployments(repository_id: str, deployments: list[Deployment]) -> Applied:
    merged, changed = merge_deployments(repository_deployments.get(repository_id) or {}, deployments)
    rows = [Deployment.from_record(merged[d.id]) for d in {d.id: d for d in deployments}.values()]
    if changed:
        repository_deployments[repository_id] = merged
    return Applied(rows, changed)


def _apply_incidents(repository_id: str, incident_events: list[IncidentEvent]) -> Applied:
    merged, changed = merge_incident_events(repository_incidents.get(repository_id) or {}, incident_events)
    rows = [IncidentState.from_record(merged[i]).view() for i in {e.id for e in incident_events}]
    if changed:
        repository_incidents[repository_id] = merged
    return Applied(rows, changed)


def _rows(applied: Mapping[str, Applied]) -> list[Any]:
    return [row for outcome in applied.values() for row in outcome.rows]


def _finish(applied: Mapping[str, Applied]) -> None:
    # Lead times, failures and restores of these repositories may have moved.
    projection.mark_repositories(key for key, outcome in applied.items() if outcome.changed)


def _family(
    name: str,
    model: type[M],
    convert: Callable[[M], Any],
    apply: Callable[[str, list[Any]], Applied],
    upsert: Callable[[asyncpg.Connection, list[Any]], Awaitable[None]],
) -> EntityFamily[M, Any]:
    async def write(conn: asyncpg.Connection, applied: Mapping[str, Applied]) -> None:
        await upsert(conn, _rows(applied))

    def change_of(event: M) -> tuple[str, Any]:
        change = convert(event)
        return change.repository_id, change

    return EntityFamily(
        name=name,
        model=model,
        key_field="repository_id",
        key_of=_repository_of,
        change_of=change_of,
        apply=apply,
        write=write,
        rows_written=lambda applied: {name: len(_rows(applied))},
        finish=_finish,
    )


DEPLOYMENTS = _family("deployments", DeploymentEvent, deployment_of, _apply_deployments, upsert_deployments)
INCIDENTS = _family("incidents", IncidentEventModel, incident_event_of, _apply_incidents, upsert_incidents)


async def handle_deployment_batch(events: Sequence[EventT]) -> None:
    await handle_entity_batch(events, DEPLOYMENTS)


async def handle_incident_batch(events: Sequence[EventT]) -> None:
    await handle_entity_batch(events, INCIDENTS)


@app.agent(cicd_deployments, concurrency=1)
async def process_deployments(stream: StreamT[bytes]) -> None:
    """cicd.deployments -> repository_deployments table, `deployments` rows."""
    await run_batches(stream, handle_deployment_batch, what="cicd.deployments")


@app.agent(ops_incidents, concurrency=1)
async def process_incidents(stream: StreamT[bytes]) -> None:
    """ops.incidents -> repository_incidents table, `incidents` rows."""
    await run_batches(stream, handle_incident_batch, what="ops.incidents")
