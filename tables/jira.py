"""Jira issues and sprints: the state behind ``GET /issues`` and ``GET /sprints``.

- ``issues``: issue key -> IssueState record (latest snapshot and status transitions);
- ``sprints``: ``compose_key(project_key, sprint id)`` -> SprintState record;
- ``issue_index`` / ``sprint_index`` (tables.day_index): per project and UTC day, the issue
  keys / sprint ids with an event on that day, and each project's span of days (a sprint's
  issues are found through it); no value grows with the project's history.
All are written only from events of the project's own partition (jira.issues and
jira.sprints are both keyed by project_key, hence co-partitioned).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tables.day_index import DayIndex
from tables.entity_index import entity_days, entity_spans
from tables.issue_state import Issue, IssueState, Transition, merge_snapshot, merge_transition
from tables.keys import compose_key
from tables.sprint_state import Sprint, SprintChange, SprintState, merge_sprint
from tables.table import keyed_table

__all__ = [
    "issues",
    "issue_index",
    "sprints",
    "sprint_index",
    "sprint_key",
    "IssueChange",
    "merge_issue_changes",
    "merge_sprint_changes",
    "issues_of",
    "sprints_of",
]

issues = keyed_table("issues", help="issue state per key")
sprints = keyed_table("sprints", help="sprint state per (project, id)")
issue_index = DayIndex(entity_days, entity_spans, "issue")
sprint_index = DayIndex(entity_days, entity_spans, "sprint")

IssueChange = Issue | Transition


def merge_issue_changes(
    key: str, current: Mapping[str, Any] | None, incoming: Iterable[IssueChange]
) -> tuple[dict[str, Any], bool]:
    """Issue ``key``'s table value with snapshots and transitions merged; and whether it changed."""
    before = IssueState.from_record(current) if current is not None else None
    after = before if before is not None else IssueState(key)
    for change in incoming:
        if isinstance(change, Issue):
            after = merge_snapshot(after, change)
        else:
            after = merge_transition(after, key, change)
    return after.to_record(), after != before


def sprint_key(project_key: str, sprint_id: str) -> str:
    return compose_key(project_key, sprint_id)


def merge_sprint_changes(
    current: Mapping[str, Any] | None, incoming: Iterable[SprintChange]
) -> tuple[SprintState, bool]:
    """One sprint's table value (or None) with ``incoming`` merged; and whether it changed."""
    before = SprintState.from_record(current) if current is not None else None
    after = before
    for event in incoming:
        after = merge_sprint(after, event)
    if after is None:
        raise ValueError("no sprint events to merge")
    return after, after != before


def issues_of(project_key: str) -> list[IssueState]:
    """Every issue of a project held by this worker."""
    found = []
    for key in issue_index.entries(project_key):
        record = issues.get(key)
        if record is not None:
            found.append(IssueState.from_record(record))
    return found


def sprints_of(project_key: str) -> list[Sprint]:
    """Every sprint of a project held by this worker."""
    found = []
    for sprint_id in sprint_index.entries(project_key):
        record = sprints.get(sprint_key(project_key, sprint_id))
        if record is not None:
            found.append(SprintState.from_record(record).view())
    return found
