"""The four keys and rework rate over a rolling window: the ``GET /dora`` answer.

Inputs are entities (tables.deployment_state, tables.incident_state) of one repository or
pooled over a team's repositories: shipping and attribution run per repository, and the
samples of all of them are pooled (METRICS edge rule 7), so a team snapshot is the same call
as a repository's. Times are integer microseconds since the epoch, UTC. Definitions are
METRICS.md 1-5; "no data" makes every field of that metric object null (edge rule 2).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tables.commit_state import Commit
from tables.deployment_state import (
    DEFAULT_PRODUCTION_ENVIRONMENTS,
    Deployment,
    DeploymentKey,
    ShippedHistory,
    collapse_deployments,
    lead_times,
    ship_history,
)
from tables.incident_state import Incident, attribute_incidents
from tables.instants import utc_day
from tables.stats import percentile, summarize
from tables.windows import Window

__all__ = [
    "Band",
    "change_failure_band",
    "Delivery",
    "deploy_days_median",
    "delivery_of",
    "delivery_snapshot",
    "deployment_frequency_band",
    "dora_snapshot",
    "is_rework",
    "lead_time_band",
    "restore_band",
]

Band = Literal["elite", "high", "medium", "low"]
MICROS_PER_SECOND = 1_000_000
WEEK_DAYS = 7
MONTH_DAYS = 30
HOURS_PER_DAY = 24


def deploy_days_median(finish_times: Iterable[int], window: Window, slice_days: int) -> float | None:
    """Median over the window's slices of the distinct UTC days with a deployment; None without slices."""
    times = list(finish_times)
    counts = sorted(
        len({utc_day(moment) for moment in times if part.contains(moment)})
        for part in window.slices(slice_days)
    )
    return percentile(counts, 50) if counts else None


def deployment_frequency_band(per_week: float | None, per_month: float | None, deployments: int) -> Band:
    """DORA 2023 as DevLake: elite >= 5 deploy days a week, high >= 1, medium >= 1 a month."""
    if per_week is not None and per_week >= 5:
        return "elite"
    if per_week is not None and per_week >= 1:
        return "high"
    # A window shorter than a month has no month slice: then one deployment is enough.
    if (per_month >= 1) if per_month is not None else deployments >= 1:
        return "medium"
    return "low"


def lead_time_band(p50_hours: float) -> Band:
    """Elite < 1 day, high < 1 week, medium < 30 days, else low (strict, on p50)."""
    return _duration_band(p50_hours, (HOURS_PER_DAY, WEEK_DAYS * HOURS_PER_DAY, MONTH_DAYS * HOURS_PER_DAY))


def restore_band(p50_hours: float) -> Band:
    """Elite < 1 hour, high < 1 day, medium < 1 week, else low (strict, on p50)."""
    return _duration_band(p50_hours, (1, HOURS_PER_DAY, WEEK_DAYS * HOURS_PER_DAY))


def _duration_band(hours: float, limits: Sequence[float]) -> Band:
    bands: tuple[Band, Band, Band] = ("elite", "high", "medium")
    for band, limit in zip(bands, limits, strict=True):
        if hours < limit:
            return band
    return "low"


def change_failure_band(failed: int, deployments: int) -> Band:
    """Elite <= 5 %, high <= 10 %, medium <= 15 %, else low (inclusive, on the fraction)."""
    # Compared in integers, so a rate exactly on a limit is never lost to float rounding.
    limits: tuple[tuple[Band, int], ...] = (("elite", 5), ("high", 10), ("medium", 15))
    for band, percent in limits:
        if failed * 100 <= percent * deployments:
            return band
    return "low"


def is_rework(deployment: Deployment, incidents: Iterable[Incident]) -> bool:
    """True when ``deployment`` finished while an incident of its repository was open."""
    finished = deployment.finished_at
    return any(
        incident.repository_id == deployment.repository_id
        and incident.opened_at is not None
        and incident.opened_at <= finished
        and (incident.resolved_at is None or finished < incident.resolved_at)
        for incident in incidents
    )


@dataclass(frozen=True, slots=True)
class Delivery:
    """The DORA deployments of a repository (or pool), collapsed, with each one's lead-time
    samples: the part of ``GET /dora`` that needs the commits (shipping is most of a query's
    cost), independent of the window, so it can be kept between queries (tables.shipping_memo)."""

    counted: list[Deployment]
    lead_times: dict[DeploymentKey, list[float]]


def delivery_of(
    deployments: Iterable[Deployment],
    commits: Iterable[Commit],
    production_environments: Collection[str] = DEFAULT_PRODUCTION_ENVIRONMENTS,
    *,
    history: ShippedHistory | None = None,
) -> Delivery:
    """Ship ``commits`` to ``deployments`` (edge rule 6) and keep each deployment's samples
    (``history``: their ``ship_history``, when the caller has it already)."""
    counted = [
        d for d in collapse_deployments(deployments).values() if d.is_dora_deployment(production_environments)
    ]
    if not counted:
        return Delivery([], {})
    if history is None:
        history = ship_history(counted, commits, production_environments)
    samples = {shipment.deployment.key: lead_times(shipment, history.commits) for shipment in history.shipments}
    return Delivery(counted, samples)


def dora_snapshot(
    deployments: Iterable[Deployment],
    incidents: Iterable[Incident],
    commits: Iterable[Commit],
    *,
    end: int,
    window_days: int,
    production_environments: Collection[str] = DEFAULT_PRODUCTION_ENVIRONMENTS,
) -> dict[str, Any]:
    """The ``GET /dora`` answer (less the repository or team) for the window ending at ``end``."""
    delivery = delivery_of(deployments, commits, production_environments)
    return delivery_snapshot(
        delivery, incidents, end=end, window_days=window_days, production_environments=production_environments
    )


def delivery_snapshot(
    delivery: Delivery,
    incidents: Iterable[Incident],
    *,
    end: int,
    window_days: int,
    production_environments: Collection[str] = DEFAULT_PRODUCTION_ENVIRONMENTS,
) -> dict[str, Any]:
    """``dora_snapshot`` from a ``Delivery`` already shipped: costs the window, not the commits."""
    window = Window(end, window_days)
    in_window = sorted((d for d in delivery.counted if window.contains(d.finished_at)), key=lambda d: d.key)
    known_incidents = list(incidents)
    return {
        "window_days": window_days,
        "end": window.end_iso(),
        "deployment_frequency": _frequency(in_window, window),
        "lead_time": _lead_time(delivery, in_window),
        "change_failure_rate": _failure_rate(in_window, delivery.counted, known_incidents, production_environments),
        "time_to_restore": _restore(known_incidents, window),
        "rework_rate": _rework(in_window, known_incidents),
    }


def _frequency(in_window: list[Deployment], window: Window) -> dict[str, Any]:
    if not in_window:
        return dict.fromkeys(("deployments", "deploy_days_per_week", "deploy_days_per_month", "band"))
    times = [d.finished_at for d in in_window]
    per_week = deploy_days_median(times, window, WEEK_DAYS)
    per_month = deploy_days_median(times, window, MONTH_DAYS)
    return {
        "deployments": len(in_window),
        "deploy_days_per_week": per_week,
        "deploy_days_per_month": per_month,
        "band": deployment_frequency_band(per_week, per_month, len(in_window)),
    }


def _lead_time(delivery: Delivery, in_window: list[Deployment]) -> dict[str, Any]:
    samples = [seconds for d in in_window for seconds in delivery.lead_times.get(d.key, ())]
    stats = summarize(samples)
    band = lead_time_band(stats.p50_hours) if stats.p50_hours is not None else None
    return {**stats.as_dict(), "band": band}


def _failure_rate(
    in_window: list[Deployment],
    counted: list[Deployment],
    incidents: list[Incident],
    production_environments: Collection[str],
) -> dict[str, Any]:
    if not in_window:
        return dict.fromkeys(("rate", "failed_deployments", "deployments", "band"))
    attributed = set(attribute_incidents(incidents, counted, production_environments).values())
    failed = sum(1 for d in in_window if d.key in attributed)
    return {
        "rate": failed / len(in_window),
        "failed_deployments": failed,
        "deployments": len(in_window),
        "band": change_failure_band(failed, len(in_window)),
    }


def _restore(incidents: list[Incident], window: Window) -> dict[str, Any]:
    samples = [
        (i.resolved_at - i.opened_at) / MICROS_PER_SECOND
        for i in incidents
        if i.opened_at is not None and i.resolved_at is not None and window.contains(i.resolved_at)
    ]
    stats = summarize(samples)
    return {
        **stats.as_dict(),
        "open_incidents": sum(1 for i in incidents if i.is_open_at(window.end)),
        "band": restore_band(stats.p50_hours) if stats.p50_hours is not None else None,
    }


def _rework(in_window: list[Deployment], incidents: list[Incident]) -> dict[str, Any]:
    if not in_window:
        return dict.fromkeys(("rate", "rework_deployments", "deployments"))
    by_repository: dict[str, list[Incident]] = defaultdict(list)
    for incident in incidents:
        by_repository[incident.repository_id].append(incident)
    rework = sum(1 for d in in_window if is_rework(d, by_repository[d.repository_id]))
    return {"rate": rework / len(in_window), "rework_deployments": rework, "deployments": len(in_window)}
