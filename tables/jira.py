"""Jira issues and sprints: the state behind ``GET /issues`` and ``GET /sprints``.

- ``issues``: issue key -> IssueState record (latest snapshot and status transitions);
- ``project_issues``: project_key -> sorted issue keys (a sprint's issues are found through it);
- ``project_sprints``: project_key -> {sprint id: SprintState record}; a project has tens of
  sprints, so one value per project keeps a sprint report to one read.
All are written only from events of the project's own partition (jira.issues and
jira.sprints are both keyed by project_key, hence co-partitioned).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tables.issue_state import IssueSnapshot, IssueState, Transition, merge_snapshot, merge_transition
from tables.sprint_state import Sprint, SprintEvent, SprintState, merge_sprint
from tables.table import keyed_table

__all__ = [
    "issues",
    "project_issues",
    "project_sprints",
    "IssueChange",
    "merge_issue_events",
    "merge_sprint_events",
    "issues_of",
    "sprint_views",
    "sprints_of",
]

issues = keyed_table("issues", help="issue state per key")
project_issues = keyed_table("project_issues", help="issue keys per project")
project_sprints = keyed_table("project_sprints", help="sprints per project")

IssueChange = IssueSnapshot | Transition


def merge_issue_events(
    key: str, current: Mapping[str, Any] | None, incoming: Iterable[IssueChange]
) -> tuple[dict[str, Any], bool]:
    """Issue ``key``'s table value with snapshots and transitions merged; and whether it changed."""
    before = IssueState.from_record(current) if current is not None else None
    after = before if before is not None else IssueState(key)
    for change in incoming:
        if isinstance(change, IssueSnapshot):
            after = merge_snapshot(after, change)
        else:
            after = merge_transition(after, key, change)
    return after.to_record(), after != before


def merge_sprint_events(
    current: Mapping[str, Any], incoming: Iterable[SprintEvent]
) -> tuple[dict[str, Any], set[str]]:
    """A project's sprints value with ``incoming`` merged; and the ids whose state changed."""
    merged = dict(current)
    changed: set[str] = set()
    for event in incoming:
        before = SprintState.from_record(merged[event.id]) if event.id in merged else None
        after = merge_sprint(before, event)
        if after != before:
            merged[event.id] = after.to_record()
            changed.add(event.id)
    return merged, changed


def issues_of(project_key: str) -> list[IssueState]:
    """Every issue of a project held by this worker."""
    found = []
    for key in project_issues.get(project_key) or []:
        record = issues.get(key)
        if record is not None:
            found.append(IssueState.from_record(record))
    return found


def sprint_views(records: Mapping[Any, Any]) -> list[Sprint]:
    """The sprints of a ``project_sprints`` value (sprint id -> SprintState record)."""
    return [SprintState.from_record(r).view() for r in records.values()]


def sprints_of(project_key: str) -> list[Sprint]:
    return sprint_views(project_sprints.get(project_key) or {})
