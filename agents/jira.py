"""jira.issues and jira.sprints -> issue and sprint tables, `issues`,
`issue_status_durations` and `sprints` rows; Incident issues forwarded to ops.incidents.

Both topics are keyed by project_key (co-partitioned), so a sprint's issues are in this
worker's tables. Jira issues of type Incident that name a ``repository_id`` are incidents
of that repository (METRICS edge rule 11), whose state lives in the repository's partition
of ops.incidents: each such snapshot is re-keyed once, in the batch, as an incident event on
ops.incidents (``send_soon``: queued, flushed before the offsets commit, never awaited per
event), where agents.cicd merges it like any incident. The forwarded bytes are a function
of the snapshot, so a redelivered issue forwards an exact duplicate (skipped or merged as
a no-op). Incident fields merge per field, latest non-null first: an issue reopened with
``resolved`` cleared keeps its last resolution as the incident's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson
from faust import StreamT
from faust.types import EventT

from agents.acceptance import accept
from agents.batches import run_batches, skip_done
from agents.dlq import DeadLetterBatch, store_dead_letters
from agents.entity_batch import EntityWork, processing_failed, record_batch
from agents.jira_sink import (
    IssueRow,
    SprintRow,
    StatusDurationRow,
    issue_row,
    replace_status_durations,
    sprint_rows,
    status_duration_rows,
    upsert_issues,
    upsert_sprints,
)
from agents.projection import projection
from app.main import app
from app.resources import database, metrics
from app.topics import jira_issues, jira_sprints, ops_incidents
from models.jira_events import IssueEvent
from models.jira_events import SprintEvent as SprintEventModel
from tables.event_context import acting_for
from tables.instants import from_micros, to_micros
from tables.issue_state import IssueSnapshot, IssueState, Transition
from tables.jira import (
    IssueChange,
    issues,
    issues_of,
    merge_issue_events,
    merge_sprint_events,
    project_issues,
    project_sprints,
    sprint_views,
)
from tables.sprint_state import SprintEvent

__all__ = [
    "process_issues",
    "process_sprints",
    "handle_issue_batch",
    "handle_sprint_batch",
    "issue_change_of",
    "incident_message",
]


def _micros(moment: Any) -> int | None:
    return None if moment is None else to_micros(moment)


def _project_of(event: Any) -> str:
    return str(event.project_key)


def issue_change_of(event: IssueEvent) -> IssueChange:
    """A snapshot (created/updated) or a transition, as the issue merge takes it."""
    data = event.data
    if event.event_type == "issue_transitioned":
        assert data.to_status is not None and data.transitioned_at is not None  # the model checks it
        return Transition(to_micros(data.transitioned_at), data.to_status, data.from_status)
    return IssueSnapshot(
        key=data.key,
        timestamp=to_micros(event.timestamp),
        summary=data.summary,
        issue_type=data.issue_type,
        status=data.status,
        status_category=data.status_category,
        assignee=data.assignee,
        story_points=data.story_points,
        sprint_id=data.sprint_id,
        created=_micros(data.created),
        resolved=_micros(data.resolved),
        repository_id=data.repository_id,
    )


def _keyed_issue_change(event: IssueEvent) -> tuple[str, str, IssueChange]:
    return event.data.key, event.project_key, issue_change_of(event)


def incident_message(snapshot: IssueSnapshot) -> tuple[bytes, bytes] | None:
    """The ops.incidents (key, value) an Incident issue with a repository stands for, or None."""
    if snapshot.issue_type != "Incident" or snapshot.repository_id is None:
        return None
    data: dict[str, Any] = {"id": snapshot.key, "title": snapshot.summary}
    if snapshot.created is not None:
        data["opened_at"] = from_micros(snapshot.created).isoformat()
    if snapshot.resolved is not None:
        data["resolved_at"] = from_micros(snapshot.resolved).isoformat()
    value = {
        "event_type": "incident_resolved" if snapshot.resolved is not None else "incident_opened",
        "timestamp": from_micros(snapshot.timestamp).isoformat(),
        "source": "jira",
        "repository_id": snapshot.repository_id,
        "data": data,
    }
    return snapshot.repository_id.encode(), orjson.dumps(value)


async def handle_issue_batch(events: Sequence[EventT]) -> None:
    """Process one batch of jira.issues messages."""
    started = time.perf_counter()
    letters = DeadLetterBatch()
    fresh = await skip_done(events)
    groups: dict[str, tuple[str, EntityWork]] = {}
    for event in fresh.events:
        change = accept(event, IssueEvent, letters, "project_key", _project_of, _keyed_issue_change)
        if change is None:
            continue
        issue_key, project_key, issue_change = change
        _, work = groups.setdefault(issue_key, (project_key, EntityWork(event)))
        work.add(event, issue_change)
    rows: list[IssueRow] = []
    durations: list[StatusDurationRow] = []
    touched: list[str] = []
    listed: dict[str, tuple[EventT, set[str]]] = {}
    changed_projects: set[str] = set()
    for key, (project_key, work) in groups.items():
        try:
            with acting_for(work.event):
                record, changed = merge_issue_events(key, issues.get(key), work.changes)
                state = IssueState.from_record(record)
                # Rows of every delivered issue, changed or not: the database may lack them after a crash.
                row = issue_row(project_key, state)
                issue_durations = status_duration_rows(project_key, state)
                messages = [incident_message(c) for c in work.changes if isinstance(c, IssueSnapshot)]
                if changed:  # last: a failure above leaves the table as it was
                    issues[key] = record
        except Exception as exc:
            processing_failed(work, letters, exc, "issues")
            continue
        listed.setdefault(project_key, (work.event, set()))[1].add(key)
        if changed:
            changed_projects.add(project_key)
        if row is not None:
            rows.append(row)
        touched.append(key)
        durations.extend(issue_durations)
        for message in messages:
            if message is not None:
                ops_incidents.send_soon(key=message[0], value=message[1])
    for project_key, (event, keys) in listed.items():
        with acting_for(event):
            known = project_issues.get(project_key) or []
            if not keys.issubset(known):
                project_issues[project_key] = sorted(keys.union(known))

    async def write(conn: asyncpg.Connection) -> None:
        await upsert_issues(conn, rows)
        await replace_status_durations(conn, touched, durations)
        await store_dead_letters(conn, letters.letters)

    await database.transaction(write, what="issues")
    letters.publish()
    projection.mark_projects(changed_projects)  # sprint completion depends on the issues
    fresh.remember_when_committed()
    metrics.record_rows("issues", len(rows))
    metrics.record_rows("issue_status_durations", len(durations))
    record_batch(events, fresh, letters, started)


def sprint_event_of(event: SprintEventModel) -> SprintEvent:
    data = event.data
    return SprintEvent(
        project_key=event.project_key,
        id=data.id,
        timestamp=to_micros(event.timestamp),
        name=data.name,
        state=event.state,
        start_date=_micros(data.start_date),
        end_date=_micros(data.end_date),
        complete_date=_micros(data.complete_date),
        committed_points=data.committed_points,
        completed_points=data.completed_points,
    )


async def handle_sprint_batch(events: Sequence[EventT]) -> None:
    """Process one batch of jira.sprints messages."""
    started = time.perf_counter()
    letters = DeadLetterBatch()
    fresh = await skip_done(events)
    groups: dict[str, EntityWork] = {}
    for event in fresh.events:
        sprint = accept(event, SprintEventModel, letters, "project_key", _project_of, sprint_event_of)
        if sprint is not None:
            groups.setdefault(sprint.project_key, EntityWork(event)).add(event, sprint)
    rows: list[SprintRow] = []
    for project_key, work in groups.items():
        try:
            with acting_for(work.event):
                merged, changed = merge_sprint_events(project_sprints.get(project_key) or {}, work.changes)
                # Every sprint of a delivered project: completion is computed from the project's issues.
                snapshots = [s.snapshot for s in issues_of(project_key) if s.snapshot]
                project_rows = sprint_rows(project_key, sprint_views(merged), snapshots)
                if changed:  # last: a failure above leaves the table as it was
                    project_sprints[project_key] = merged
        except Exception as exc:
            processing_failed(work, letters, exc, "sprints")
            continue
        rows.extend(project_rows)

    async def write(conn: asyncpg.Connection) -> None:
        await upsert_sprints(conn, rows)
        await store_dead_letters(conn, letters.letters)

    await database.transaction(write, what="sprints")
    letters.publish()
    projection.wrote_sprints(rows)
    fresh.remember_when_committed()
    metrics.record_rows("sprints", len(rows))
    record_batch(events, fresh, letters, started)


@app.agent(jira_issues, concurrency=1)
async def process_issues(stream: StreamT[bytes]) -> None:
    """jira.issues -> issues table, `issues` and `issue_status_durations` rows, Incident issues
    to ops.incidents."""
    await run_batches(stream, handle_issue_batch, what="jira.issues")


@app.agent(jira_sprints, concurrency=1)
async def process_sprints(stream: StreamT[bytes]) -> None:
    """jira.sprints -> project_sprints table, `sprints` rows."""
    await run_batches(stream, handle_sprint_batch, what="jira.sprints")
