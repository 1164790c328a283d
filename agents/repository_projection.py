"""What the projection writes for one repository, computed from this worker's tables.

One function for the projection's flush (agents.projection) and for the view that answers
what it would write (``GET /projections/{repository_id}``, which ``reconcile projections``
compares with Redis and ``metrics_daily``): the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from stores.git_activity import PullRequestRow, pull_request_rows
from tables.cicd import deployment_index, incident_index
from tables.commits import commit_spans
from tables.daily_metrics import DailyMetrics, daily_metrics
from tables.deployment_state import ship_history
from tables.dora import delivery_of, delivery_snapshot
from tables.git_activity import pull_request_index, repositories
from tables.snapshots import load_repository, whole_since

__all__ = ["SNAPSHOT_WINDOW_DAYS", "RepositoryProjection", "project_repository", "is_projected"]

SNAPSHOT_WINDOW_DAYS = 30  # the window of the snapshot on metrics.dora and in Redis


@dataclass(frozen=True, slots=True)
class RepositoryProjection:
    """The snapshot (metrics.dora, Redis), the ``metrics_daily`` days from ``cutoff`` on (all
    days when None) and the ``pull_requests`` rows of one repository."""

    snapshot: dict[str, Any]
    days: DailyMetrics
    cutoff: date | None
    pull_requests: list[PullRequestRow]


def is_projected(repository_id: str) -> bool:
    """Whether this worker's tables hold anything of the repository (what the projection
    marks after a start or a rebalance); read inside ``reading_partition``."""
    return (
        commit_spans.get(repository_id) is not None
        or repositories.get(repository_id) is not None
        or any(index.knows(repository_id) for index in (deployment_index, incident_index, pull_request_index))
    )


def project_repository(
    repository_id: str, *, end: int, production_environments: Collection[str], retention_days: int
) -> RepositoryProjection:
    """The repository's projection with the snapshot's window ending at ``end`` (µs); read
    inside ``reading_partition`` of the repository's partition."""
    entities = load_repository(repository_id)
    kept_from = whole_since(repository_id, retention_days)
    # Shipping is most of the cost: once for the snapshot, the days and the rows.
    history = ship_history(entities.deployments, entities.commits, production_environments)
    delivery = delivery_of(entities.deployments, entities.commits, production_environments, history=history)
    snapshot = {
        "repository_id": repository_id,
        **delivery_snapshot(
            delivery,
            entities.incidents,
            end=end,
            window_days=SNAPSHOT_WINDOW_DAYS,
            production_environments=production_environments,
        ),
    }
    cutoff = date.fromisoformat(kept_from) if kept_from else None
    # Days before the cutoff were written when they were aged out, whole; the tables may
    # hold only part of them now.
    days = {
        (day, metric): value
        for (day, metric), value in daily_metrics(
            entities.deployments,
            entities.incidents,
            entities.commits,
            entities.pull_requests,
            production_environments,
            history=history,
        ).items()
        if cutoff is None or day >= cutoff
    }
    rows = pull_request_rows(
        entities.pull_requests,
        entities.commits,
        entities.deployments,
        production_environments,
        history=history,
    )
    return RepositoryProjection(snapshot, days, cutoff, rows)
