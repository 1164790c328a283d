"""Deployments and incidents per repository: the state behind ``GET /dora``.

- ``repository_deployments``: repository_id -> {deployment id: Deployment record}
- ``repository_incidents``: repository_id -> {incident id: IncidentState record}
One value per repository keeps a batch to one table write per repository, and a snapshot
to one read; a repository has hundreds of deployments and incidents, not millions. Both
are written only from events of the repository's own partition (cicd.deployments and
ops.incidents are co-partitioned with git.commits, whose tables hold the commits).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tables.deployment_state import Deployment, merge_deployment
from tables.incident_state import Incident, IncidentEvent, IncidentState, merge_incident
from tables.table import keyed_table

__all__ = [
    "repository_deployments",
    "repository_incidents",
    "merge_deployments",
    "merge_incident_events",
    "deployments_of",
    "incidents_of",
]

repository_deployments = keyed_table("repository_deployments", help="deployments per repository")
repository_incidents = keyed_table("repository_incidents", help="incidents per repository")


def merge_deployments(
    current: dict[str, Any], incoming: Iterable[Deployment]
) -> tuple[dict[str, Any], set[str]]:
    """``current`` (a table value) with ``incoming`` merged; and the ids whose state changed."""
    merged = dict(current)
    changed: set[str] = set()
    for deployment in incoming:
        before = Deployment.from_record(merged[deployment.id]) if deployment.id in merged else None
        after = merge_deployment(before, deployment)
        if after != before:
            merged[deployment.id] = after.to_record()
            changed.add(deployment.id)
    return merged, changed


def merge_incident_events(
    current: dict[str, Any], incoming: Iterable[IncidentEvent]
) -> tuple[dict[str, Any], set[str]]:
    """``current`` (a table value) with ``incoming`` merged; and the ids whose state changed."""
    merged = dict(current)
    changed: set[str] = set()
    for event in incoming:
        before = IncidentState.from_record(merged[event.id]) if event.id in merged else None
        after = merge_incident(before, event)
        if after != before:
            merged[event.id] = after.to_record()
            changed.add(event.id)
    return merged, changed


def deployments_of(repository_id: str) -> list[Deployment]:
    return [Deployment.from_record(r) for r in (repository_deployments.get(repository_id) or {}).values()]


def incidents_of(repository_id: str) -> list[Incident]:
    return [IncidentState.from_record(r).view() for r in (repository_incidents.get(repository_id) or {}).values()]
