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

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import orjson
from faust import StreamT
from faust.types import EventT

from agents.batches import run_batches
from agents.entity_batch import Applied, EntityFamily, handle_entity_batch
from agents.projection import projection
from app.main import app
from app.topics import jira_issues, jira_sprints, ops_incidents
from models.jira import IssueMessage, SprintMessage
from stores.jira import (
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
from tables.day_index import day_of
from tables.incident_state import incident_from_issue
from tables.instants import from_micros, to_micros
from tables.issue_state import Issue, IssueState, Transition
from tables.jira import (
    IssueChange,
    issue_index,
    issues,
    issues_of,
    merge_issue_changes,
    merge_sprint_changes,
    sprint_index,
    sprint_key,
    sprints,
)
from tables.sprint_state import SprintChange

__all__ = [
    "process_issues",
    "process_sprints",
    "handle_issue_batch",
    "handle_sprint_batch",
    "issue_change_of",
    "incident_message",
]


def _project_of(event: Any) -> str:
    return str(event.project_key)


def issue_change_of(event: IssueMessage) -> IssueChange:
    """A snapshot (created/updated) or a transition, as the issue merge takes it."""
    data = event.data
    if event.event_type == "issue_transitioned":
        assert data.to_status is not None and data.transitioned_at is not None  # the model checks it
        return Transition(to_micros(data.transitioned_at), data.to_status, data.from_status)
    return Issue(
        key=data.key,
        timestamp=to_micros(event.timestamp),
        summary=data.summary,
        issue_type=data.issue_type,
        status=data.status,
        status_category=data.status_category,
        assignee=data.assignee,
        story_points=data.story_points,
        sprint_id=None if data.sprint_id is None else str(data.sprint_id),  # str once validated
        created=to_micros(data.created),
        resolved=to_micros(data.resolved),
        repository_id=data.repository_id,
    )


def _keyed_issue_change(event: IssueMessage) -> tuple[str, tuple[str, IssueChange]]:
    return event.data.key, (event.project_key, issue_change_of(event))


def incident_message(snapshot: Issue) -> tuple[bytes, bytes] | None:
    """The ops.incidents (key, value) of the incident an issue stands for
    (tables.incident_state.incident_from_issue), or None."""
    incident = incident_from_issue(snapshot)
    if incident is None:
        return None
    data: dict[str, Any] = {"id": incident.id, "title": incident.title}
    if incident.opened_at is not None:
        data["opened_at"] = from_micros(incident.opened_at).isoformat()
    if incident.resolved_at is not None:
        data["resolved_at"] = from_micros(incident.resolved_at).isoformat()
    value = {
        "event_type": "incident_resolved" if incident.resolved_at is not None else "incident_opened",
        "timestamp": from_micros(snapshot.timestamp).isoformat(),
        "source": "jira",
        "repository_id": incident.repository_id,
        "data": data,
    }
    return incident.repository_id.encode(), orjson.dumps(value)


def _apply_issue(key: str, changes: list[tuple[str, IssueChange]]) -> Applied:
    project_key = changes[0][0]
    record, changed = merge_issue_changes(key, issues.get(key), [change for _, change in changes])
    state = IssueState.from_record(record)
    # Rows of every delivered issue, changed or not: the database may lack them after a crash.
    rows = (issue_row(project_key, state), status_duration_rows(project_key, state))
    messages = [incident_message(c) for _, c in changes if isinstance(c, Issue)]
    if changed:  # last: a failure above leaves the table as it was
        issues[key] = record
    # Listed under every day one of its events names.
    moments = {c.timestamp if isinstance(c, Issue) else c.transitioned_at for _, c in changes}
    return Applied(
        rows,
        changed,
        owner=project_key,
        effects=[m for m in messages if m is not None],
        days=tuple(sorted({day_of(m) for m in moments})),
    )


def _issue_rows(applied: Mapping[str, Applied]) -> list[IssueRow]:
    return [outcome.rows[0] for outcome in applied.values() if outcome.rows[0] is not None]


def _durations(applied: Mapping[str, Applied]) -> list[StatusDurationRow]:
    return [row for outcome in applied.values() for row in outcome.rows[1]]


async def _write_issues(conn: asyncpg.Connection, applied: Mapping[str, Applied]) -> None:
    await upsert_issues(conn, _issue_rows(applied))
    await replace_status_durations(conn, list(applied), _durations(applied))


def _finish_issues(applied: Mapping[str, Applied]) -> None:
    for outcome in applied.values():
        for key, value in outcome.effects:
            ops_incidents.send_soon(key=key, value=value)  # flushed before the offsets commit
    # Sprint completion depends on the issues.
    projection.mark_projects({o.owner for o in applied.values() if o.changed and o.owner is not None})


ISSUES: EntityFamily[IssueMessage, tuple[str, IssueChange]] = EntityFamily(
    name="issues",
    model=IssueMessage,
    key_field="project_key",
    key_of=_project_of,
    change_of=_keyed_issue_change,
    apply=_apply_issue,
    write=_write_issues,
    rows_written=lambda applied: {
        "issues": len(_issue_rows(applied)),
        "issue_status_durations": len(_durations(applied)),
    },
    index=issue_index,
    finish=_finish_issues,
)


async def handle_issue_batch(events: Sequence[EventT[Any]]) -> None:
    """Process one batch of jira.issues messages."""
    await handle_entity_batch(events, ISSUES)


def sprint_change_of(event: SprintMessage) -> SprintChange:
    data = event.data
    return SprintChange(
        project_key=event.project_key,
        id=str(data.id),  # str once validated (SprintId)
        timestamp=to_micros(event.timestamp),
        name=data.name,
        state=event.state,
        start_date=to_micros(data.start_date),
        end_date=to_micros(data.end_date),
        complete_date=to_micros(data.complete_date),
        committed_points=data.committed_points,
        completed_points=data.completed_points,
    )


def _apply_sprints(key: str, sprint_events: list[SprintChange]) -> Applied:
    project_key = sprint_events[0].project_key
    merged, changed = merge_sprint_changes(sprints.get(key), sprint_events)
    # Completion is computed from the project's issues.
    snapshots = [s.snapshot for s in issues_of(project_key) if s.snapshot]
    rows = sprint_rows(project_key, [merged.view()], snapshots)
    if changed:  # last: a failure above leaves the table as it was
        sprints[key] = merged.to_record()
    return Applied(
        rows,
        changed,
        owner=project_key,
        effects=merged.id,
        days=tuple(sorted({day_of(e.timestamp) for e in sprint_events})),
    )


def _sprint_rows(applied: Mapping[str, Applied]) -> list[SprintRow]:
    return [row for outcome in applied.values() for row in outcome.rows]


async def _write_sprints(conn: asyncpg.Connection, applied: Mapping[str, Applied]) -> None:
    await upsert_sprints(conn, _sprint_rows(applied))


def _sprint_change_keyed(event: SprintMessage) -> tuple[str, SprintChange]:
    return sprint_key(event.project_key, str(event.data.id)), sprint_change_of(event)


SPRINTS: EntityFamily[SprintMessage, SprintChange] = EntityFamily(
    name="sprints",
    model=SprintMessage,
    key_field="project_key",
    key_of=_project_of,
    change_of=_sprint_change_keyed,
    apply=_apply_sprints,
    write=_write_sprints,
    rows_written=lambda applied: {"sprints": len(_sprint_rows(applied))},
    index=sprint_index,
    index_entry=lambda key, applied: applied.effects,
    finish=lambda applied: projection.wrote_sprints(_sprint_rows(applied)),
)


async def handle_sprint_batch(events: Sequence[EventT[Any]]) -> None:
    """Process one batch of jira.sprints messages."""
    await handle_entity_batch(events, SPRINTS)


@app.agent(jira_issues, concurrency=1)
async def process_issues(stream: StreamT[bytes]) -> None:
    """jira.issues -> issues table, `issues` and `issue_status_durations` rows, Incident issues
    to ops.incidents."""
    await run_batches(stream, handle_issue_batch, what="jira.issues")


@app.agent(jira_sprints, concurrency=1)
async def process_sprints(stream: StreamT[bytes]) -> None:
    """jira.sprints -> sprints table, `sprints` rows."""
    await run_batches(stream, handle_sprint_batch, what="jira.sprints")
