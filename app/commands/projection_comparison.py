"""Reconciliation math of the projections: what Redis and ``metrics_daily`` hold against what
the projection computes now (``GET /projections/{id}``) and what the team pooling sums. No I/O.

Three kinds of difference, each naming what a repair rewrites (its ``target``):
- ``snapshot``: the Redis snapshot is missing or differs, field by field, from the
  recomputation at the snapshot's own ``end`` (a moving window is not a difference);
- ``repository``: a repository's ``metrics_daily`` rows from its retention cutoff on differ
  from the recomputed days (a row on one side only, or a value off by more than the
  tolerance of float sums);
- ``team``: a team's rows differ from the sums of its repositories' rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Literal

__all__ = [
    "Kind",
    "Days",
    "SnapshotDifference",
    "DayDifference",
    "Difference",
    "same_value",
    "compare_snapshot",
    "compare_days",
    "days_from_view",
    "snapshot_age_s",
    "repair_repositories",
]

Kind = Literal["snapshot", "repository", "team"]
Days = Mapping[tuple[date, str], float]  # (day, metric) -> value
# Values are counts and sums of seconds (float); the database's sums add them in another
# order. 1e-9 relative is far below a microsecond on any sum of real durations.
REL_TOL = 1e-9
ABS_TOL = 1e-6


@dataclass(frozen=True, slots=True)
class SnapshotDifference:
    """A repository's Redis snapshot: missing (``redis`` None) or some fields differ."""

    repository_id: str
    redis: Mapping[str, Any] | None
    recomputed: Mapping[str, Any]
    fields: tuple[tuple[str, Any, Any], ...] = ()  # (dotted path, Redis, recomputed)

    kind: ClassVar[Kind] = "snapshot"

    @property
    def target(self) -> tuple[Kind, str]:
        return self.kind, self.repository_id

    def describe(self) -> str:
        if self.redis is None:
            return f"snapshot {self.repository_id}: no snapshot in Redis"
        shown = "; ".join(f"{path} redis {a!r}, recomputed {b!r}" for path, a, b in self.fields)
        return f"snapshot {self.repository_id} (end {self.recomputed.get('end')}): {shown}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "repository_id": self.repository_id,
            "redis": None if self.redis is None else dict(self.redis),
            "recomputed": dict(self.recomputed),
            "fields": [{"field": path, "redis": a, "recomputed": b} for path, a, b in self.fields],
        }


@dataclass(frozen=True, slots=True)
class DayDifference:
    """One (subject, day, metric) of ``metrics_daily`` (None: that side has no row)."""

    kind: Kind  # repository | team
    subject: str
    day: date
    metric: str
    database: float | None
    expected: float | None

    @property
    def target(self) -> tuple[Kind, str]:
        return self.kind, self.subject

    def describe(self) -> str:
        def side(value: float | None) -> str:
            return "no row" if value is None else f"{value:g}"

        expected = "recomputed" if self.kind == "repository" else "sum of its repositories"
        return (
            f"metrics_daily {self.kind} {self.subject} {self.day.isoformat()} {self.metric}: "
            f"database {side(self.database)}, {expected} {side(self.expected)}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "day": self.day.isoformat(),
            "metric": self.metric,
            "database": self.database,
            "expected": self.expected,
        }


Difference = SnapshotDifference | DayDifference


def same_value(a: float, b: float) -> bool:
    """Equal within the tolerance of float sums."""
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Dotted path -> leaf value of a JSON object (the fields a difference names)."""
    if isinstance(value, Mapping):
        found: dict[str, Any] = {}
        for key in value:
            found.update(_leaves(value[key], f"{path}.{key}" if path else str(key)))
        return found
    return {path: value}


_ABSENT = object()


def compare_snapshot(
    repository_id: str, redis: Mapping[str, Any] | None, recomputed: Mapping[str, Any]
) -> SnapshotDifference | None:
    """None when Redis holds exactly the recomputed snapshot; else what differs."""
    if redis is None:
        return SnapshotDifference(repository_id, None, recomputed)
    if redis == recomputed:
        return None
    stored, fresh = _leaves(redis), _leaves(recomputed)
    fields = tuple(
        (path, stored.get(path), fresh.get(path))
        for path in sorted(set(stored) | set(fresh))
        if stored.get(path, _ABSENT) != fresh.get(path, _ABSENT)
    )
    return SnapshotDifference(repository_id, redis, recomputed, fields)


def compare_days(
    kind: Kind, subject: str, database: Days, expected: Days, *, since: date | None = None
) -> list[DayDifference]:
    """Every (day, metric) from ``since`` on (None: all) where the rows and the expected days
    differ, sorted."""
    differences = []
    for day, metric in sorted(set(database) | set(expected)):
        if since is not None and day < since:
            continue
        stored, wanted = database.get((day, metric)), expected.get((day, metric))
        if stored is None or wanted is None or not same_value(stored, wanted):
            differences.append(DayDifference(kind, subject, day, metric, stored, wanted))
    return differences


def days_from_view(answer: Mapping[str, Any]) -> dict[tuple[date, str], float]:
    """The ``days`` of ``GET /projections/{id}`` (day -> metric -> value) as (day, metric) -> value."""
    return {
        (date.fromisoformat(day), metric): float(value)
        for day, metrics in answer.get("days", {}).items()
        for metric, value in metrics.items()
    }


def snapshot_age_s(snapshot: Mapping[str, Any], now: datetime) -> float | None:
    """Seconds since the snapshot's ``end`` (when the projection wrote it); None without one."""
    end = snapshot.get("end")
    if not isinstance(end, str):
        return None
    try:
        return (now - datetime.fromisoformat(end)).total_seconds()
    except ValueError:
        return None


def repair_repositories(differences: Iterable[Difference], teams: Mapping[str, str]) -> set[str]:
    """The repositories to re-project: those with a difference, and every repository of a
    differing team (its re-pooling rewrites the team's rows); ``teams``: repository -> team."""
    repositories: set[str] = set()
    differing_teams: set[str] = set()
    for difference in differences:
        kind, subject = difference.target
        if kind == "team":
            differing_teams.add(subject)
        else:
            repositories.add(subject)
    repositories.update(r for r, team in teams.items() if team in differing_teams)
    return repositories
