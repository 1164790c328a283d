"""Duration statistics: p50/p90/p95/mean/count of samples in seconds, reported in hours.

The q-th percentile is the value at rank q/100 * (n - 1) of the ascending samples,
interpolated linearly between the two closest ranks: PostgreSQL's ``percentile_cont`` and
numpy's default method, so live tables and SQL agree (METRICS edge rule 8). Statistics are
computed on seconds and then divided by 3600; no samples give all fields null (edge rule 2).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import fmean

__all__ = ["DurationStats", "NO_DURATIONS", "SECONDS_PER_HOUR", "percentile", "summarize"]

SECONDS_PER_HOUR = 3600


def percentile(ordered: Sequence[float], q: int) -> float:
    """The q-th percentile (0 <= q <= 100) of the ascending ``ordered``, linearly interpolated."""
    if not ordered:
        raise ValueError("percentile of no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    # Integer arithmetic keeps the rank exact; a float rank can land a hair off an index.
    lower, remainder = divmod(q * (len(ordered) - 1), 100)
    low = float(ordered[lower])
    if remainder == 0:
        return low
    return low + (ordered[lower + 1] - low) * (remainder / 100)


@dataclass(frozen=True, slots=True)
class DurationStats:
    """One metric's duration statistics; every field is None when there are no samples."""

    p50_hours: float | None
    p90_hours: float | None
    p95_hours: float | None
    mean_hours: float | None
    count: int | None

    def as_dict(self) -> dict[str, float | int | None]:
        """The JSON object of the HTTP answers: ``{"p50_hours", ..., "count"}``."""
        return {
            "p50_hours": self.p50_hours,
            "p90_hours": self.p90_hours,
            "p95_hours": self.p95_hours,
            "mean_hours": self.mean_hours,
            "count": self.count,
        }


NO_DURATIONS = DurationStats(None, None, None, None, None)


def summarize(samples_seconds: Iterable[float]) -> DurationStats:
    """p50/p90/p95/mean in hours and the count of ``samples_seconds``; all None when empty."""
    ordered = sorted(samples_seconds)
    if not ordered:
        return NO_DURATIONS
    return DurationStats(
        p50_hours=percentile(ordered, 50) / SECONDS_PER_HOUR,
        p90_hours=percentile(ordered, 90) / SECONDS_PER_HOUR,
        p95_hours=percentile(ordered, 95) / SECONDS_PER_HOUR,
        mean_hours=fmean(ordered) / SECONDS_PER_HOUR,
        count=len(ordered),
    )
