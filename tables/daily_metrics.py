"""Daily buckets of one repository's metrics: the rows of ``metrics_daily``.

Every value is additive (a count or a sum of seconds), so a team's day is the sum of its
repositories' days and any window's mean is ``sum / count`` over its days; percentiles are
not additive and are answered from entity state (``GET /dora``, ``GET /cycle-time``). Days
are UTC calendar days of the moment that places the sample, as the windows of METRICS.md
place it:

- ``deployments``, ``failed_deployments`` (>= 1 attributed incident), ``rework_deployments``:
  successful production deployments by ``finished_at``;
- ``failed_deployment_attempts``: production deployments with status failure;
- ``lead_time_count`` / ``lead_time_seconds_sum``: lead-time samples by deployment day;
- ``incidents_opened`` by ``opened_at``; ``incidents_resolved`` / ``restore_seconds_sum`` by
  ``resolved_at`` (incidents with both times);
- ``pull_requests_merged`` and ``<stage>_count`` / ``<stage>_seconds_sum`` per PR stage, by
  ``merged_at``.
A (day, metric) exists when its day has the metric's subject; zero is 0 (e.g. a day with
deployments and no failure has ``failed_deployments`` 0).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import date

from tables.commit_state import Commit
from tables.cycle_time import STAGES, stage_durations, timelines
from tables.deployment_state import (
    DEFAULT_PRODUCTION_ENVIRONMENTS,
    Deployment,
    ShippedHistory,
    collapse_deployments,
    lead_times,
    ship_history,
)
from tables.dora import is_rework
from tables.incident_state import Incident, attribute_incidents
from tables.instants import utc_day
from tables.pull_request_state import PullRequest

__all__ = ["DailyMetrics", "daily_metrics", "METRIC_NAMES"]

MICROS_PER_SECOND = 1_000_000
DailyMetrics = dict[tuple[date, str], float]
METRIC_NAMES = (
    "deployments",
    "failed_deployments",
    "rework_deployments",
    "failed_deployment_attempts",
    "lead_time_count",
    "lead_time_seconds_sum",
    "incidents_opened",
    "incidents_resolved",
    "restore_seconds_sum",
    "pull_requests_merged",
    *(f"{stage}_{part}" for stage in STAGES for part in ("count", "seconds_sum")),
)


def daily_metrics(
    deployments: Iterable[Deployment],
    incidents: Iterable[Incident],
    commits: Iterable[Commit],
    pull_requests: Iterable[PullRequest],
    production_environments: Collection[str] = DEFAULT_PRODUCTION_ENVIRONMENTS,
    *,
    history: ShippedHistory | None = None,
) -> DailyMetrics:
    """(UTC day, metric) -> value over the whole history of one repository (or a pool)
    (``history``: the ``ship_history`` of ``deployments`` and ``commits``, when the caller
    has it already)."""
    totals: DailyMetrics = defaultdict(float)
    known_deployments = list(collapse_deployments(deployments).values())
    known_incidents = list(incidents)
    counted = [d for d in known_deployments if d.is_dora_deployment(production_environments)]
    # Commits only matter through what deployments ship (without a deployment that counts,
    # not even for the pull requests' first commits).
    shipped = None
    if counted:
        shipped = history if history is not None else ship_history(counted, commits, production_environments)
    known_commits = shipped.commits if shipped is not None else {}

    attributed = set(attribute_incidents(known_incidents, counted, production_environments).values())
    by_repository: dict[str, list[Incident]] = defaultdict(list)
    for incident in known_incidents:
        by_repository[incident.repository_id].append(incident)
    for deployment in counted:
        day = utc_day(deployment.finished_at)
        totals[(day, "deployments")] += 1
        totals[(day, "failed_deployments")] += deployment.key in attributed
        totals[(day, "rework_deployments")] += is_rework(deployment, by_repository[deployment.repository_id])
    for deployment in known_deployments:
        if deployment.environment in production_environments and deployment.status == "failure":
            totals[(utc_day(deployment.finished_at), "failed_deployment_attempts")] += 1

    for shipment in shipped.shipments if shipped is not None else ():
        samples = lead_times(shipment, known_commits)
        if samples:
            day = utc_day(shipment.deployment.finished_at)
            totals[(day, "lead_time_count")] += len(samples)
            totals[(day, "lead_time_seconds_sum")] += sum(samples)

    for incident in known_incidents:
        if incident.opened_at is None:
            continue
        totals[(utc_day(incident.opened_at), "incidents_opened")] += 1
        if incident.resolved_at is not None:
            day = utc_day(incident.resolved_at)
            totals[(day, "incidents_resolved")] += 1
            totals[(day, "restore_seconds_sum")] += (
                incident.resolved_at - incident.opened_at
            ) / MICROS_PER_SECOND

    for timeline in timelines(
        pull_requests, known_commits.values(), counted, production_environments, history=shipped
    ).values():
        merged_at = timeline.pull_request.merged_at
        if merged_at is None:
            continue
        day = utc_day(merged_at)
        totals[(day, "pull_requests_merged")] += 1
        durations = stage_durations(timeline)
        for stage in STAGES:
            seconds = getattr(durations, stage)
            if seconds is not None:
                totals[(day, f"{stage}_count")] += 1
                totals[(day, f"{stage}_seconds_sum")] += seconds
    return dict(totals)
