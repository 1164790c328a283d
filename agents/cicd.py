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

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from faust import StreamT
from faust.types import EventT
from pydantic import BaseModel

from agents.acceptance import accept
from agents.batches import run_batches, skip_done
from agents.delivery_sink import upsert_deployments, upsert_incidents
from agents.dlq import DeadLetterBatch, store_dead_letters
from agents.entity_batch import EntityWork, processing_failed, record_batch
from agents.projection import projection
from app.main import app
from app.resources import database, metrics
from app.topics import cicd_deployments, ops_incidents
from models.cicd_events import DeploymentEvent, IncidentEventModel
from tables.delivery import (
    merge_deployments,
    merge_incident_events,
    repository_deployments,
    repository_incidents,
)
from tables.deployment_state import Deployment
from tables.event_context import acting_for
from tables.incident_state import IncidentEvent, IncidentState
from tables.instants import to_micros

__all__ = ["process_deployments", "process_incidents", "handle_deployment_batch", "handle_incident_batch"]

M = TypeVar("M", bound=BaseModel)
# A repository's events applied to its table entry: (whether it changed, the rows to write).
Apply = Callable[[str, list[Any]], tuple[bool, list[Any]]]


def deployment_of(event: DeploymentEvent) -> Deployment:
    data = event.data
    return Deployment(
        repository_id=event.repository_id,
        id=data.id,
        environment=data.environment,
        status=data.status,
        finished_at=to_micros(data.finished_at),
        started_at=None if data.started_at is None else to_micros(data.started_at),
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
        opened_at=None if data.opened_at is None else to_micros(data.opened_at),
        resolved_at=None if data.resolved_at is None else to_micros(data.resolved_at),
        deployment_id=data.deployment_id,
        title=data.title,
        severity=data.severity,
        service=data.service,
    )


def _by_repository(
    events: Sequence[EventT], model: type[M], convert: Callable[[M], Any], letters: DeadLetterBatch
) -> dict[str, EntityWork]:
    groups: dict[str, EntityWork] = {}
    for event in events:
        converted = accept(event, model, letters, "repository_id", _repository_of, convert)
        if converted is not None:
            groups.setdefault(converted.repository_id, EntityWork(event)).add(event, converted)
    return groups


def _repository_of(event: Any) -> str:
    return str(event.repository_id)


async def _handle_batch(
    events: Sequence[EventT],
    model: type[M],
    convert: Callable[[M], Any],
    apply: Apply,
    upsert: Callable[[asyncpg.Connection, list[Any]], Awaitable[None]],
    entity: str,
) -> None:
    """One batch of a topic keyed by repository: each repository's events applied to its
    table entry (``apply``: whether it changed, and the rows to write), then the rows and
    the dead letters in one transaction."""
    started = time.perf_counter()
    letters = DeadLetterBatch()
    fresh = await skip_done(events)
    groups = _by_repository(fresh.events, model, convert, letters)
    rows: list[Any] = []
    changed_repositories: list[str] = []
    for repository_id, work in groups.items():
        try:
            with acting_for(work.event):
                changed, repository_rows = apply(repository_id, work.changes)
        except Exception as exc:
            processing_failed(work, letters, exc, entity)
            continue
        if changed:
            changed_repositories.append(repository_id)
        rows.extend(repository_rows)

    async def write(conn: asyncpg.Connection) -> None:
        await upsert(conn, rows)
        await store_dead_letters(conn, letters.letters)

    await database.transaction(write, what=entity)
    letters.publish()
    projection.mark_repositories(changed_repositories)
    fresh.remember_when_committed()
    metrics.record_rows(entity, len(rows))
    record_batch(events, fresh, letters, started)


# Each derives everything before it keeps anything: a failure leaves the table as it was.
# Every delivered entity's row is written, changed or not: after a crash the table may hold
# what the database never received.


def _apply_deployments(repository_id: str, deployments: list[Deployment]) -> tuple[bool, list[Deployment]]:
    merged, changed = merge_deployments(repository_deployments.get(repository_id) or {}, deployments)
    rows = [Deployment.from_record(merged[d.id]) for d in {d.id: d for d in deployments}.values()]
    if changed:
        repository_deployments[repository_id] = merged
    return changed, rows


def _apply_incidents(repository_id: str, incident_events: list[IncidentEvent]) -> tuple[bool, list[Any]]:
    merged, changed = merge_incident_events(repository_incidents.get(repository_id) or {}, incident_events)
    rows = [IncidentState.from_record(merged[i]).view() for i in {e.id for e in incident_events}]
    if changed:
        repository_incidents[repository_id] = merged
    return changed, rows


async def handle_deployment_batch(events: Sequence[EventT]) -> None:
    await _handle_batch(events, DeploymentEvent, deployment_of, _apply_deployments, upsert_deployments, "deployments")


async def handle_incident_batch(events: Sequence[EventT]) -> None:
    await _handle_batch(events, IncidentEventModel, incident_event_of, _apply_incidents, upsert_incidents, "incidents")


@app.agent(cicd_deployments, concurrency=1)
async def process_deployments(stream: StreamT[bytes]) -> None:
    """cicd.deployments -> repository_deployments table, `deployments` rows."""
    await run_batches(stream, handle_deployment_batch, what="cicd.deployments")


@app.agent(ops_incidents, concurrency=1)
async def process_incidents(stream: StreamT[bytes]) -> None:
    """ops.incidents -> repository_incidents table, `incidents` rows."""
    await run_batches(stream, handle_incident_batch, what="ops.incidents")
