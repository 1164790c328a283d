"""Incidents: field-by-field merge of their events, and attribution to deployments.

Times are integer microseconds since the epoch, UTC (tables.instants).

- An incident's identity is (repository_id, id). Its events merge field by field, the
  latest non-null value by envelope timestamp winning (METRICS edge rule 12, through
  tables.versioned_fields), so the state is the same for any order and duplicates.
- Attribution (METRICS 3, edge rule 6): the deployment named by ``deployment_id`` when the
  incident gives one, and only if it is a successful production deployment of the same
  repository; else the latest such deployment with ``finished_at <= opened_at``; else none.
  It is a function of whole state, so late incidents and deployments re-attribute.
- Jira issues of type ``Incident`` that carry a ``repository_id`` are incidents too
  (opened = ``created``, resolved = ``resolved``; edge rule 11).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from tables.deployment_state import (
    DEFAULT_PRODUCTION_ENVIRONMENTS,
    Deployment,
    DeploymentKey,
    collapse_deployments,
)
from tables.issue_state import Issue
from tables.versioned_fields import Versions, latest_values, merge_values, versions_from_record

__all__ = [
    "Incident",
    "IncidentChange",
    "IncidentKey",
    "IncidentState",
    "attribute_incidents",
    "incident_from_issue",
    "merge_incident",
]

IncidentKey = tuple[str, str]  # (repository_id, incident id)
_FIELDS = ("opened_at", "resolved_at", "deployment_id", "title", "severity", "service")


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident as its merged events describe it."""

    repository_id: str
    id: str
    opened_at: int | None
    resolved_at: int | None = None
    deployment_id: str | None = None
    title: str | None = None
    severity: str | None = None
    service: str | None = None

    @property
    def key(self) -> IncidentKey:
        return self.repository_id, self.id

    def is_open_at(self, moment: int) -> bool:
        """True when opened at or before ``moment`` and not resolved by then."""
        return (
            self.opened_at is not None
            and self.opened_at <= moment
            and (self.resolved_at is None or self.resolved_at > moment)
        )


@dataclass(frozen=True, slots=True)
class IncidentChange:
    """One ``incident_opened``/``incident_resolved`` event; None where a field is absent."""

    repository_id: str
    id: str
    timestamp: int  # the envelope's: orders the field versions
    opened_at: int | None = None
    resolved_at: int | None = None
    deployment_id: str | None = None
    title: str | None = None
    severity: str | None = None
    service: str | None = None


@dataclass(frozen=True, slots=True)
class IncidentState:
    """The table value: per field, the winning ``(field, timestamp, value)``."""

    repository_id: str
    id: str
    versions: Versions = field(default=())

    @property
    def key(self) -> IncidentKey:
        return self.repository_id, self.id

    def view(self) -> Incident:
        """The incident these versions describe."""
        values = latest_values(self.versions)
        return Incident(self.repository_id, self.id, **{name: values.get(name) for name in _FIELDS})

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready table value."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> IncidentState:
        """The state stored as ``record`` by to_record."""
        return cls(record["repository_id"], record["id"], versions_from_record(record["versions"]))


def merge_incident(state: IncidentState | None, event: IncidentChange) -> IncidentState:
    """``state`` with ``event`` merged in, field by field (latest non-null wins)."""
    if state is None:
        state = IncidentState(event.repository_id, event.id)
    elif state.key != (event.repository_id, event.id):
        raise ValueError(f"cannot merge incident {(event.repository_id, event.id)} into {state.key}")
    values = {name: getattr(event, name) for name in _FIELDS}
    return IncidentState(state.repository_id, state.id, merge_values(state.versions, event.timestamp, values))


def incident_from_issue(issue: Issue) -> Incident | None:
    """The incident a Jira issue stands for: type ``Incident`` with a ``repository_id``."""
    if issue.issue_type != "Incident" or issue.repository_id is None:
        return None
    return Incident(
        repository_id=issue.repository_id,
        id=issue.key,
        opened_at=issue.created,
        resolved_at=issue.resolved,
        title=issue.summary,
    )


def attribute_incidents(
    incidents: Iterable[Incident],
    deployments: Iterable[Deployment],
    production_environments: Collection[str] = DEFAULT_PRODUCTION_ENVIRONMENTS,
) -> dict[IncidentKey, DeploymentKey | None]:
    """Each incident's attributed deployment, or None (METRICS 3, edge rule 6)."""
    counted = {
        key: deployment
        for key, deployment in collapse_deployments(deployments).items()
        if deployment.is_dora_deployment(production_environments)
    }
    by_repository: dict[str, list[Deployment]] = defaultdict(list)
    for deployment in counted.values():
        by_repository[deployment.repository_id].append(deployment)
    timelines = {
        repository_id: sorted(listed, key=lambda d: (d.finished_at, d.id))
        for repository_id, listed in by_repository.items()
    }
    finish_times = {
        repository_id: [d.finished_at for d in timeline] for repository_id, timeline in timelines.items()
    }

    attribution: dict[IncidentKey, DeploymentKey | None] = {}
    for incident in incidents:
        target: DeploymentKey | None = None
        if incident.deployment_id is not None:
            named = (incident.repository_id, incident.deployment_id)
            target = named if named in counted else None
        elif incident.opened_at is not None and incident.repository_id in timelines:
            position = bisect_right(finish_times[incident.repository_id], incident.opened_at)
            if position:
                target = timelines[incident.repository_id][position - 1].key
        attribution[incident.key] = target
    return attribution
