"""Deployments and incidents: the state behind ``GET /dora``.

- ``deployments``: ``compose_key(repository_id, deployment id)`` -> Deployment record;
- ``incidents``: ``compose_key(repository_id, incident id)`` -> IncidentState record;
- ``deployment_index`` / ``incident_index`` (tables.day_index): per repository and UTC day,
  the ids with an event on that day (a deployment's ``finished_at``, an incident's event
  times), and each repository's span of days.
One value per entity and per (repository, day) keeps every value and changelog record the
size of one entity or one day, whatever the repository's history (a repository's 4,900
deployments in one value passed the broker's 1 MB limit). All are written only from events
of the repository's own partition (cicd.deployments and ops.incidents are co-partitioned
with git.commits, whose tables hold the commits).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tables.day_index import DayIndex
from tables.deployment_state import Deployment, merge_deployment
from tables.entity_index import entity_days, entity_spans
from tables.incident_state import Incident, IncidentChange, IncidentState, merge_incident
from tables.keys import compose_key
from tables.table import keyed_table

__all__ = [
    "deployments",
    "incidents",
    "deployment_index",
    "incident_index",
    "entity_key",
    "merge_deployments",
    "merge_incident_changes",
    "deployments_of",
    "incidents_of",
]

deployments = keyed_table("deployments", help="deployment per (repository, id)")
incidents = keyed_table("incidents", help="incident per (repository, id)")
deployment_index = DayIndex(entity_days, entity_spans, "deployment")
incident_index = DayIndex(entity_days, entity_spans, "incident")


def entity_key(repository_id: str, entity_id: str) -> str:
    return compose_key(repository_id, entity_id)


def merge_deployments(current: Any, incoming: Iterable[Deployment]) -> tuple[Deployment, bool]:
    """One deployment's table value (or None) with ``incoming`` merged; and whether it changed."""
    before = Deployment.from_record(current) if current is not None else None
    after = before
    for deployment in incoming:
        after = merge_deployment(after, deployment)
    if after is None:
        raise ValueError("no deployment events to merge")
    after = Deployment.from_record(after.to_record())  # lists as tuples, as a stored one reads
    return after, after != before


def merge_incident_changes(current: Any, incoming: Iterable[IncidentChange]) -> tuple[IncidentState, bool]:
    """One incident's table value (or None) with ``incoming`` merged; and whether it changed."""
    before = IncidentState.from_record(current) if current is not None else None
    after = before
    for event in incoming:
        after = merge_incident(after, event)
    if after is None:
        raise ValueError("no incident events to merge")
    return after, after != before


def deployments_of(
    repository_id: str, since: str | None = None, until: str | None = None
) -> list[Deployment]:
    """The repository's deployments listed on days within ``[since, until]`` (ISO days)."""
    found = []
    for deployment_id in deployment_index.entries(repository_id, since, until):
        record = deployments.get(entity_key(repository_id, deployment_id))
        if record is not None:
            found.append(Deployment.from_record(record))
    return found


def incidents_of(repository_id: str, since: str | None = None, until: str | None = None) -> list[Incident]:
    """The repository's incidents with an event on a day within ``[since, until]``."""
    found = []
    for incident_id in incident_index.entries(repository_id, since, until):
        record = incidents.get(entity_key(repository_id, incident_id))
        if record is not None:
            found.append(IncidentState.from_record(record).view())
    return found
