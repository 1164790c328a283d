"""Jira sprints: field-by-field merge of their events, completion and velocity.

Times are integer microseconds since the epoch, UTC (tables.instants).

- A sprint's identity is its ``id`` within the project. Its events merge field by field,
  the latest non-null value by envelope timestamp winning (METRICS edge rule 12), so any
  order and duplicates give the same state.
- Completed points, completion rate and velocity exist for closed sprints only. Completed
  points are the ones given, else the story points (missing = 0) of the sprint's issues
  (latest snapshot has its ``sprint_id``) resolved at or before ``complete_date``.
- ``velocity_trend`` is the mean velocity of the project's last (up to) 3 closed sprints
  by ``complete_date``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from math import fsum
from typing import Any

from tables.instants import from_micros
from tables.issue_state import Issue
from tables.versioned_fields import Versions, latest_values, merge_values, versions_from_record

__all__ = [
    "Sprint",
    "SprintChange",
    "SprintMetrics",
    "SprintState",
    "merge_sprint",
    "sprint_metrics",
    "sprints_report",
    "velocity_trend",
]

TREND_SPRINTS = 3
_FIELDS = (
    "name",
    "state",
    "start_date",
    "end_date",
    "complete_date",
    "committed_points",
    "completed_points",
)


@dataclass(frozen=True, slots=True)
class Sprint:
    """A sprint as its merged events describe it."""

    project_key: str
    id: str
    name: str | None = None
    state: str | None = None  # "active" | "closed"
    start_date: int | None = None
    end_date: int | None = None
    complete_date: int | None = None
    committed_points: float | None = None
    completed_points: float | None = None  # as given on sprint_closed

    @property
    def closed(self) -> bool:
        return self.state == "closed"


@dataclass(frozen=True, slots=True)
class SprintChange:
    """One ``sprint_started``/``sprint_closed`` event; None where a field is absent."""

    project_key: str
    id: str
    timestamp: int  # the envelope's: orders the field versions
    name: str | None = None
    state: str | None = None
    start_date: int | None = None
    end_date: int | None = None
    complete_date: int | None = None
    committed_points: float | None = None
    completed_points: float | None = None


@dataclass(frozen=True, slots=True)
class SprintState:
    """The table value: per field, the winning ``(field, timestamp, value)``."""

    project_key: str
    id: str
    versions: Versions = field(default=())

    def view(self) -> Sprint:
        """The sprint these versions describe."""
        values = latest_values(self.versions)
        return Sprint(self.project_key, self.id, **{name: values.get(name) for name in _FIELDS})

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready table value."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SprintState:
        """The state stored as ``record`` by to_record."""
        return cls(record["project_key"], record["id"], versions_from_record(record["versions"]))


def merge_sprint(state: SprintState | None, event: SprintChange) -> SprintState:
    """``state`` with ``event`` merged in, field by field (latest non-null wins)."""
    if state is None:
        state = SprintState(event.project_key, event.id)
    elif (state.project_key, state.id) != (event.project_key, event.id):
        raise ValueError(
            f"cannot merge sprint {event.project_key}/{event.id} into {state.project_key}/{state.id}"
        )
    values = {name: getattr(event, name) for name in _FIELDS}
    return SprintState(state.project_key, state.id, merge_values(state.versions, event.timestamp, values))


@dataclass(frozen=True, slots=True)
class SprintMetrics:
    sprint: Sprint
    completed_points: float | None  # closed sprints only
    completion_rate: float | None  # completed / committed; None when committed is 0 or unknown
    velocity: float | None  # the completed points of a closed sprint

    def as_dict(self) -> dict[str, Any]:
        """One sprint of the ``GET /sprints/{project_key}`` answer."""
        sprint = self.sprint
        return {
            "id": sprint.id,
            "name": sprint.name,
            "state": sprint.state,
            **{name: _iso(getattr(sprint, name)) for name in ("start_date", "end_date", "complete_date")},
            "committed_points": sprint.committed_points,
            "completed_points": self.completed_points,
            "completion_rate": self.completion_rate,
            "velocity": self.velocity,
        }


def _iso(moment: int | None) -> str | None:
    return from_micros(moment).isoformat() if moment is not None else None


def _completed_points(sprint: Sprint, issues: Iterable[Issue]) -> float | None:
    if sprint.completed_points is not None:
        return sprint.completed_points
    if sprint.complete_date is None:
        return None  # nothing to compare resolutions with
    done = sprint.complete_date
    return fsum(
        issue.story_points or 0.0
        for issue in issues
        if issue.sprint_id == sprint.id and issue.resolved is not None and issue.resolved <= done
    )


def sprint_metrics(sprint: Sprint, issues: Iterable[Issue]) -> SprintMetrics:
    """Completed points, completion rate and velocity of ``sprint`` (None unless closed)."""
    if not sprint.closed:
        return SprintMetrics(sprint, None, None, None)
    completed = _completed_points(sprint, issues)
    committed = sprint.committed_points
    rate = completed / committed if completed is not None and committed else None
    return SprintMetrics(sprint, completed, rate, completed)


def velocity_trend(metrics: Iterable[SprintMetrics]) -> float | None:
    """Mean velocity of the last (up to) 3 closed sprints by ``complete_date``; None if none."""
    closed = sorted(
        (m for m in metrics if m.sprint.closed),
        # Closed sprints without a complete_date cannot be placed in time: count them oldest.
        key=lambda m: (m.sprint.complete_date is not None, m.sprint.complete_date or 0, m.sprint.id),
    )
    velocities = [m.velocity for m in closed[-TREND_SPRINTS:] if m.velocity is not None]
    return fsum(velocities) / len(velocities) if velocities else None


def sprints_report(sprints: Iterable[Sprint], issues: Iterable[Issue]) -> dict[str, Any]:
    """The ``GET /sprints/{project_key}`` answer (less the key): sprints and ``velocity_trend``."""
    by_sprint: dict[str | None, list[Issue]] = defaultdict(list)
    for issue in issues:
        by_sprint[issue.sprint_id].append(issue)
    ordered = sorted(sprints, key=lambda s: (s.start_date is None, s.start_date or 0, s.id))
    metrics = [sprint_metrics(sprint, by_sprint.get(sprint.id, ())) for sprint in ordered]
    return {
        "sprints": [m.as_dict() for m in metrics],
        "velocity_trend": velocity_trend(metrics),
    }
