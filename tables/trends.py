"""Weekly trends of the DORA keys from `metrics_daily`'s additive buckets (tables.daily_metrics).

A week's value is the ratio of the week's sums (METRICS edge rule 7: samples pooled, not
averaged): deployments per week, mean lead time and time to restore in hours, change
failure and rework rates. Durations are means here because percentiles are not additive;
the page says so next to each sparkline. A week without the denominator's samples is None
(a gap in the line, not a zero).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta

__all__ = ["WEEKS", "TREND_KEYS", "weekly_trends", "week_starts"]

WEEKS = 12
SECONDS_PER_HOUR = 3600.0
TREND_KEYS = ("deployment_frequency", "lead_time", "change_failure_rate", "time_to_restore", "rework_rate")


def week_starts(last_day: date, weeks: int = WEEKS) -> list[date]:
    """The first day of each of the ``weeks`` 7-day weeks ending with ``last_day``, oldest first."""
    first = last_day - timedelta(days=7 * weeks - 1)
    return [first + timedelta(days=7 * index) for index in range(weeks)]


def _ratio(top: float, bottom: float, scale: float = 1.0) -> float | None:
    return top / bottom / scale if bottom else None


def weekly_trends(
    days: Iterable[tuple[date, str, float]], *, last_day: date, weeks: int = WEEKS
) -> dict[str, list[float | None]]:
    """TREND_KEYS -> one value per week (oldest first) from (day, metric, value) buckets of
    one subject or a pool (buckets of one day and metric are summed)."""
    first = last_day - timedelta(days=7 * weeks - 1)
    sums: list[dict[str, float]] = [defaultdict(float) for _ in range(weeks)]
    for day, metric, value in days:
        if first <= day <= last_day:
            sums[(day - first).days // 7][metric] += value
    return {
        "deployment_frequency": [week.get("deployments", 0.0) for week in sums],
        "lead_time": [
            _ratio(w.get("lead_time_seconds_sum", 0.0), w.get("lead_time_count", 0.0), SECONDS_PER_HOUR)
            for w in sums
        ],
        "change_failure_rate": [
            _ratio(w.get("failed_deployments", 0.0), w.get("deployments", 0.0)) for w in sums
        ],
        "time_to_restore": [
            _ratio(w.get("restore_seconds_sum", 0.0), w.get("incidents_resolved", 0.0), SECONDS_PER_HOUR)
            for w in sums
        ],
        "rework_rate": [_ratio(w.get("rework_deployments", 0.0), w.get("deployments", 0.0)) for w in sums],
    }
