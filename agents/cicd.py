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
from agents.entity_batch import Applied, EntityFamily, handle_entity_batch
from agents.projection import projection
from agents.retention import age_batch_owners
from app.main import app
from app.topics import cicd_deployments, ops_incidents
from models.cicd import DeploymentMessage, IncidentMessage
from stores.cicd import upsert_deployments, upsert_incidents
from tables.cicd import (
    deployment_index,
    deployments,
    entity_key,
    incident_index,
    incidents,
    merge_deployments,
    merge_incident_changes,
)
from tables.day_index import DayIndex, day_of
from tables.deployment_state import Deployment
from tables.incident_state import IncidentChange
from tables.instants import to_micros

__all__ = ["process_deployments", "process_incidents", "handle_deployment_batch", "handle_incident_batch"]

M = TypeVar("M", bound=BaseModel)


def deployment_of(event: DeploymentMessage) -> Deployment:
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


def incident_change_of(event: IncidentMessage) -> IncidentChange:
    data = event.data
    return IncidentChange(
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


def _apply_deployments(key: str, changes: list[Deployment]) -> Applied:
    merged, changed = merge_deployments(deployments.get(key), changes)
    if changed:
        deployments[key] = merged.to_record()
    # Listed under the day it finished (a later finished_at lists it under that day too).
    return Applied(
        [merged], changed, owner=merged.repository_id, effects=merged.id, days=(day_of(merged.finished_at),)
    )


def _apply_incidents(key: str, changes: list[IncidentChange]) -> Applied:
    merged, changed = merge_incident_changes(incidents.get(key), changes)
    if changed:
        incidents[key] = merged.to_record()
    # Listed under every day one of its events names, so a window finds it by any of them.
    moments = {m for e in changes for m in (e.timestamp, e.opened_at, e.resolved_at) if m is not None}
    return Applied(
        [merged.view()],
        changed,
        owner=merged.repository_id,
        effects=merged.id,
        days=tuple(sorted({day_of(m) for m in moments})),
    )


def _rows(applied: Mapping[str, Applied]) -> list[Any]:
    return [row for outcome in applied.values() for row in outcome.rows]


def _finish(applied: Mapping[str, Applied]) -> None:
    # Lead times, failures and restores of these repositories may have moved.
    projection.mark_repositories({o.owner for o in applied.values() if o.changed and o.owner is not None})


def _family(
    name: str,
    model: type[M],
    convert: Callable[[M], Any],
    apply: Callable[[str, list[Any]], Applied],
    upsert: Callable[[asyncpg.Connection, list[Any]], Awaitable[None]],
    index: DayIndex,
) -> EntityFamily[M, Any]:
    async def write(conn: asyncpg.Connection, applied: Mapping[str, Applied]) -> None:
        await upsert(conn, _rows(applied))

    def change_of(event: M) -> tuple[str, Any]:
        change = convert(event)
        return entity_key(change.repository_id, change.id), change

    return EntityFamily(
        name=name,
        model=model,
        key_field="repository_id",
        key_of=_repository_of,
        change_of=change_of,
        apply=apply,
        write=write,
        rows_written=lambda applied: {name: len(_rows(applied))},
        index=index,
        index_entry=lambda key, applied: applied.effects,
        finish=_finish,
        age=age_batch_owners,
    )


DEPLOYMENTS = _family(
    "deployments", DeploymentMessage, deployment_of, _apply_deployments, upsert_deployments, deployment_index
)
INCIDENTS = _family(
    "incidents", IncidentMessage, incident_change_of, _apply_incidents, upsert_incidents, incident_index
)


async def handle_deployment_batch(events: Sequence[EventT[Any]]) -> None:
    await handle_entity_batch(events, DEPLOYMENTS)


async def handle_incident_batch(events: Sequence[EventT[Any]]) -> None:
    await handle_entity_batch(events, INCIDENTS)


@app.agent(cicd_deployments, concurrency=1)
async def process_deployments(stream: StreamT[bytes]) -> None:
    """cicd.deployments -> deployments table, `deployments` rows."""
    await run_batches(stream, handle_deployment_batch, what="cicd.deployments")


@app.agent(ops_incidents, concurrency=1)
async def process_incidents(stream: StreamT[bytes]) -> None:
    """ops.incidents -> incidents table, `incidents` rows."""
    await run_batches(stream, handle_incident_batch, what="ops.incidents")
