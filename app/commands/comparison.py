"""Reconciliation math: the database against the live tables, per (repository, UTC day).

Three views of one bucket must agree: the ``commits`` rows (counted and summed), the
``commits_daily_stats`` row and the worker's live table. A side that has nothing for a
bucket counts as zero commits. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

__all__ = [
    "DayCounts",
    "NONE",
    "Bucket",
    "Difference",
    "compare_buckets",
    "window_days",
    "day_bounds",
    "counts_from_view",
    "repair_targets",
]

Bucket = tuple[str, date]


@dataclass(frozen=True, slots=True)
class DayCounts:
    """COUNT(*), SUM(additions), SUM(deletions) of one bucket (a sum of nothing is None)."""

    commit_count: int
    total_additions: int | None = None
    total_deletions: int | None = None

    def __str__(self) -> str:
        def number(value: int | None) -> str:
            return "?" if value is None else str(value)

        return (
            f"{self.commit_count} commits (+{number(self.total_additions)} -{number(self.total_deletions)})"
        )

    def as_dict(self) -> dict[str, int | None]:
        return {
            "commit_count": self.commit_count,
            "total_additions": self.total_additions,
            "total_deletions": self.total_deletions,
        }


NONE = DayCounts(0)


@dataclass(frozen=True, slots=True)
class Difference:
    """A bucket whose three views disagree (None: that side has nothing for it)."""

    repository_id: str
    day: date
    rows: DayCounts | None
    daily_stats: DayCounts | None
    live: DayCounts | None

    @property
    def bucket(self) -> Bucket:
        return self.repository_id, self.day

    def describe(self) -> str:
        def side(counts: DayCounts | None) -> str:
            return "nothing" if counts is None else str(counts)

        return (
            f"{self.repository_id} {self.day.isoformat()}: commits rows {side(self.rows)}; "
            f"commits_daily_stats {side(self.daily_stats)}; live table {side(self.live)}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "repository_id": self.repository_id,
            "day": self.day.isoformat(),
            "database_rows": None if self.rows is None else self.rows.as_dict(),
            "database_daily_stats": None if self.daily_stats is None else self.daily_stats.as_dict(),
            "live": None if self.live is None else self.live.as_dict(),
        }


def compare_buckets(
    rows: Mapping[Bucket, DayCounts],
    daily_stats: Mapping[Bucket, DayCounts],
    live: Mapping[Bucket, DayCounts],
) -> list[Difference]:
    """Every bucket where rows, daily stats and live table differ, sorted."""
    differences = []
    for bucket in sorted(set(rows) | set(daily_stats) | set(live)):
        sides = (rows.get(bucket), daily_stats.get(bucket), live.get(bucket))
        if len({NONE if side is None else side for side in sides}) > 1:
            differences.append(Difference(bucket[0], bucket[1], *sides))
    return differences


def window_days(now: datetime, window: timedelta) -> tuple[date, date]:
    """The UTC days touched by the window ending ``now`` (first, last; both inclusive).

    Buckets are whole days, so a window that starts mid-day checks that whole day.
    """
    end = now.astimezone(UTC)
    return (end - window).date(), end.date()


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[start of ``first``, start of the day after ``last``) in UTC."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    return start, end


def counts_from_view(answer: Mapping[str, Any]) -> dict[Bucket, DayCounts]:
    """``GET /commits/{repository_id}/daily`` as buckets (days with no commit left out)."""
    repository_id = str(answer["repository_id"])
    buckets = {}
    for entry in answer.get("days", []):
        counts = DayCounts(entry["commit_count"], entry["total_additions"], entry["total_deletions"])
        if counts != NONE:
            buckets[(repository_id, date.fromisoformat(entry["day"]))] = counts
    return buckets


def repair_targets(differences: Iterable[Difference]) -> dict[str, set[date]]:
    """The days to re-send, per repository."""
    targets: dict[str, set[date]] = {}
    for difference in differences:
        targets.setdefault(difference.repository_id, set()).add(difference.day)
    return targets
