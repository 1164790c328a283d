"""`issues`, `issue_status_durations` and `sprints` rows: their mapping by column name and
their upserts.

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

from stores.columns import Columns
from tables.instants import from_micros
from tables.issue_state import Issue, IssueState, cycle_time_days, time_in_status
from tables.sprint_state import Sprint, sprints_report

__all__ = [
    "IssueRow",
    "StatusDurationRow",
    "SprintRow",
    "ISSUE_COLUMNS",
    "STATUS_DURATION_COLUMNS",
    "SPRINT_COLUMNS",
    "issue_row",
    "status_duration_rows",
    "sprint_rows",
    "upsert_issues",
    "replace_status_durations",
    "upsert_sprints",
    "read_sprints",
]


@dataclass(frozen=True, slots=True, kw_only=True)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusDurationRow:
    issue_key: str
    project_key: str
    status: str
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
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
        StatusDurationRow(issue_key=state.key, project_key=project_key, status=status, seconds=seconds)
        for status, seconds in sorted(time_in_status(state.transitions).items())
    ]


def sprint_rows(project_key: str, sprints: Iterable[Sprint], issues: Iterable[Issue]) -> list[SprintRow]:
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


ISSUE_COLUMNS = Columns("issues", IssueRow, key=("issue_key", "created_at"), touched="updated_at")
STATUS_DURATION_COLUMNS = Columns(
    "issue_status_durations", StatusDurationRow, key=("issue_key", "status"), touched="updated_at"
)
SPRINT_COLUMNS = Columns("sprints", SprintRow, key=("project_key", "sprint_id"), touched="updated_at")

# An issue whose created time changed (a later snapshot corrected it) keeps no row under the old one.
_UPSERT_ISSUES = f"""
WITH x AS (SELECT * FROM {ISSUE_COLUMNS.unnest()}
), stale AS (
    DELETE FROM issues i USING x WHERE i.issue_key = x.issue_key AND i.created_at <> x.created_at
)
{ISSUE_COLUMNS.insert()}
SELECT {ISSUE_COLUMNS.selected()} FROM x
{ISSUE_COLUMNS.on_conflict()}
"""

# The statuses of the given issues are exactly the incoming ones (a status never entered has no row).
_REPLACE_DURATIONS = f"""
WITH x AS (SELECT * FROM {STATUS_DURATION_COLUMNS.unnest()}
), stale AS (
    DELETE FROM issue_status_durations d
    WHERE d.issue_key = ANY(${len(STATUS_DURATION_COLUMNS.names) + 1}::text[])
      AND NOT EXISTS (SELECT 1 FROM x WHERE x.issue_key = d.issue_key AND x.status = d.status)
)
{STATUS_DURATION_COLUMNS.insert()}
SELECT {STATUS_DURATION_COLUMNS.selected()} FROM x
{STATUS_DURATION_COLUMNS.on_conflict()}
"""

_UPSERT_SPRINTS = SPRINT_COLUMNS.upsert()
_READ_SPRINTS = SPRINT_COLUMNS.select() + " ORDER BY project_key, start_date NULLS LAST, sprint_id"


async def upsert_issues(conn: asyncpg.Connection, rows: Sequence[IssueRow]) -> None:
    if rows:
        await conn.execute(_UPSERT_ISSUES, *ISSUE_COLUMNS.arrays(rows))


async def replace_status_durations(
    conn: asyncpg.Connection, issue_keys: Sequence[str], rows: Sequence[StatusDurationRow]
) -> None:
    """Make the status durations of ``issue_keys`` exactly ``rows``."""
    if issue_keys:
        await conn.execute(_REPLACE_DURATIONS, *STATUS_DURATION_COLUMNS.arrays(rows), list(issue_keys))


async def read_sprints(conn: asyncpg.Connection) -> list[SprintRow]:
    """Every project's sprint rows (as the projection wrote them from ``sprints_report``),
    by project and start."""
    return [SPRINT_COLUMNS.row_of(r) for r in await conn.fetch(_READ_SPRINTS)]


async def upsert_sprints(conn: asyncpg.Connection, rows: Sequence[SprintRow]) -> None:
    if rows:
        await conn.execute(_UPSERT_SPRINTS, *SPRINT_COLUMNS.arrays(rows))
