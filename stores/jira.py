"""Rows of `issues`, `issue_status_durations` and `sprints`, and their upserts.

An issue row exists once its snapshot names ``created`` (`issues` is a hypertable on it);
its status durations are written from the transitions whatever the snapshot. A sprint row
holds the computed completion (METRICS "Sprints"), which depends on the project's issues:
it is rebuilt whenever the project's issues or sprints change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from tables.instants import from_micros
from tables.issue_state import Issue, IssueState, cycle_time_days, time_in_status
from tables.sprint_state import Sprint, sprints_report

__all__ = [
    "IssueRow",
    "StatusDurationRow",
    "SprintRow",
    "issue_row",
    "status_duration_rows",
    "sprint_rows",
    "upsert_issues",
    "replace_status_durations",
    "upsert_sprints",
]


@dataclass(frozen=True, slots=True)
class IssueRow:
    issue_key: str
    created_at: datetime
    project_key: str
    summary: str | None
    issue_type: str | None
    status: str | None
    status_category: str | None
    assignee: str | None
    story_points: float | None
    sprint_id: str | None
    resolved_at: datetime | None
    cycle_time_days: float | None
    repository_id: str | None


@dataclass(frozen=True, slots=True)
class StatusDurationRow:
    issue_key: str
    project_key: str
    status: str
    seconds: float


@dataclass(frozen=True, slots=True)
class SprintRow:
    project_key: str
    sprint_id: str
    name: str | None
    state: str | None
    start_date: datetime | None
    end_date: datetime | None
    complete_date: datetime | None
    committed_points: float | None
    completed_points: float | None
    completion_rate: float | None
    velocity: float | None

    @property
    def key(self) -> tuple[str, str]:
        return self.project_key, self.sprint_id


def issue_row(project_key: str, state: IssueState) -> IssueRow | None:
    """The issue's row, or None while its snapshot (with ``created``) is unknown."""
    snapshot = state.snapshot
    if snapshot is None or snapshot.created is None:
        return None
    return IssueRow(
        issue_key=state.key,
        created_at=from_micros(snapshot.created),
        project_key=project_key,
        summary=snapshot.summary,
        issue_type=snapshot.issue_type,
        status=snapshot.status,
        status_category=snapshot.status_category,
        assignee=snapshot.assignee,
        story_points=snapshot.story_points,
        sprint_id=snapshot.sprint_id,
        resolved_at=from_micros(snapshot.resolved),
        cycle_time_days=cycle_time_days(snapshot),
        repository_id=snapshot.repository_id,
    )


def status_duration_rows(project_key: str, state: IssueState) -> list[StatusDurationRow]:
    return [
        StatusDurationRow(state.key, project_key, status, seconds)
        for status, seconds in sorted(time_in_status(state.transitions).items())
    ]


def sprint_rows(
    project_key: str, sprints: Iterable[Sprint], issues: Iterable[Issue]
) -> list[SprintRow]:
    """The rows of ``sprints`` of one project, completion computed from its issues."""
    report = sprints_report(sprints, issues)
    return [_sprint_row(project_key, entry) for entry in report["sprints"]]


def _sprint_row(project_key: str, entry: dict[str, Any]) -> SprintRow:
    def when(name: str) -> datetime | None:
        value = entry[name]
        return datetime.fromisoformat(value) if value is not None else None

    return SprintRow(
        project_key=project_key,
        sprint_id=entry["id"],
        name=entry["name"],
        state=entry["state"],
        start_date=when("start_date"),
        end_date=when("end_date"),
        complete_date=when("complete_date"),
        committed_points=entry["committed_points"],
        completed_points=entry["completed_points"],
        completion_rate=entry["completion_rate"],
        velocity=entry["velocity"],
    )


_ISSUE_COLUMNS = (
    "project_key, summary, issue_type, status, status_category, assignee, story_points, sprint_id, "
    "resolved_at, cycle_time_days, repository_id"
)
_ISSUE_NAMES = [c.strip() for c in _ISSUE_COLUMNS.split(",")]

# An issue whose created time changed (a later snapshot corrected it) keeps no row under the old one.
_UPSERT_ISSUES = f"""
WITH x AS (
    SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::text[], $8::text[], $9::float8[], $10::text[], $11::timestamptz[], $12::float8[],
                         $13::text[])
        AS x(issue_key, created_at, {_ISSUE_COLUMNS})
), stale AS (
    DELETE FROM issues i USING x WHERE i.issue_key = x.issue_key AND i.created_at <> x.created_at
)
INSERT INTO issues AS i (issue_key, created_at, {_ISSUE_COLUMNS})
SELECT * FROM x
ON CONFLICT (issue_key, created_at) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in _ISSUE_NAMES)}, updated_at = now()
WHERE ({", ".join(f"i.{c}" for c in _ISSUE_NAMES)}) IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in _ISSUE_NAMES)})
"""

# The statuses of the given issues are exactly the incoming ones (a status never entered has no row).
_REPLACE_DURATIONS = """
WITH x AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[]) AS x(issue_key, project_key, status, seconds)
), stale AS (
    DELETE FROM issue_status_durations d
    WHERE d.issue_key = ANY($5::text[])
      AND NOT EXISTS (SELECT 1 FROM x WHERE x.issue_key = d.issue_key AND x.status = d.status)
)
INSERT INTO issue_status_durations AS d (issue_key, project_key, status, seconds)
SELECT * FROM x
ON CONFLICT (issue_key, status) DO UPDATE SET project_key = EXCLUDED.project_key, seconds = EXCLUDED.seconds,
    updated_at = now()
WHERE (d.project_key, d.seconds) IS DISTINCT FROM (EXCLUDED.project_key, EXCLUDED.seconds)
"""

_SPRINT_COLUMNS = "name, state, start_date, end_date, complete_date, committed_points, completed_points, completion_rate, velocity"
_SPRINT_NAMES = [c.strip() for c in _SPRINT_COLUMNS.split(",")]
_UPSERT_SPRINTS = f"""
INSERT INTO sprints AS s (project_key, sprint_id, {_SPRINT_COLUMNS})
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[],
                     $7::timestamptz[], $8::float8[], $9::float8[], $10::float8[], $11::float8[])
ON CONFLICT (project_key, sprint_id) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in _SPRINT_NAMES)}, updated_at = now()
WHERE ({", ".join(f"s.{c}" for c in _SPRINT_NAMES)}) IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in _SPRINT_NAMES)})
"""


async def upsert_issues(conn: asyncpg.Connection, rows: Sequence[IssueRow]) -> None:
    if not rows:
        return
    await conn.execute(
        _UPSERT_ISSUES,
        [r.issue_key for r in rows],
        [r.created_at for r in rows],
        [r.project_key for r in rows],
        [r.summary for r in rows],
        [r.issue_type for r in rows],
        [r.status for r in rows],
        [r.status_category for r in rows],
        [r.assignee for r in rows],
        [r.story_points for r in rows],
        [r.sprint_id for r in rows],
        [r.resolved_at for r in rows],
        [r.cycle_time_days for r in rows],
        [r.repository_id for r in rows],
    )


async def replace_status_durations(
    conn: asyncpg.Connection, issue_keys: Sequence[str], rows: Sequence[StatusDurationRow]
) -> None:
    """Make the status durations of ``issue_keys`` exactly ``rows``."""
    if not issue_keys:
        return
    await conn.execute(
        _REPLACE_DURATIONS,
        [r.issue_key for r in rows],
        [r.project_key for r in rows],
        [r.status for r in rows],
        [r.seconds for r in rows],
        list(issue_keys),
    )


async def upsert_sprints(conn: asyncpg.Connection, rows: Sequence[SprintRow]) -> None:
    if not rows:
        return
    await conn.execute(
        _UPSERT_SPRINTS,
        [r.project_key for r in rows],
        [r.sprint_id for r in rows],
        [r.name for r in rows],
        [r.state for r in rows],
        [r.start_date for r in rows],
        [r.end_date for r in rows],
        [r.complete_date for r in rows],
        [r.committed_points for r in rows],
        [r.completed_points for r in rows],
        [r.completion_rate for r in rows],
        [r.velocity for r in rows],
    )
