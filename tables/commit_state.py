"""Commits per (repository, UTC day): the state behind `commits_daily_stats`.

A day bucket maps each commit version, ``"<sha> <committed_at µs>"`` (the database's
natural key within the bucket), to its numbers. Merging a version is commutative and
idempotent: the same events in any order and any multiplicity give the same bucket, so a
redelivered commit changes nothing. Conflicting numbers for one version (a producer bug)
resolve to the smallest tuple, deterministically.

One bucket per repository-day keeps table writes to one per bucket per batch, and values
small (ids and numbers of one day's commits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["CommitVersion", "DailyTotals", "merge_version", "is_canonical", "day_totals", "version_key"]

CommitDay = dict[str, list[Any]]


@dataclass(frozen=True, slots=True)
class CommitVersion:
    sha: str
    committed_at: int  # microseconds since the epoch, UTC (tables.instants)
    additions: int | None
    deletions: int | None
    files_changed: int | None
    pull_request_number: int | None

    @property
    def key(self) -> str:
        return version_key(self.sha, self.committed_at)

    def numbers(self) -> list[int | None]:
        return [self.additions, self.deletions, self.files_changed, self.pull_request_number]


def version_key(sha: str, committed_at: int) -> str:
    return f"{sha} {committed_at}"


def _order(numbers: list[Any]) -> tuple[int, ...]:
    return tuple(-1 if n is None else n for n in numbers)


def merge_version(day: CommitDay, version: CommitVersion) -> bool:
    """Merge one commit version into its day bucket; True when the bucket changed."""
    incoming = version.numbers()
    current = day.get(version.key)
    if current is not None and _order(current) <= _order(incoming):
        return False
    day[version.key] = incoming
    return True


def is_canonical(day: CommitDay, version: CommitVersion) -> bool:
    """True when ``version``'s numbers are the ones the bucket keeps."""
    return day.get(version.key) == version.numbers()


@dataclass(frozen=True, slots=True)
class DailyTotals:
    """COUNT(*), SUM(additions), SUM(deletions) as SQL computes them (NULLs skipped, a
    sum over no known value is NULL)."""

    commit_count: int
    total_additions: int | None
    total_deletions: int | None


def day_totals(day: CommitDay) -> DailyTotals:
    additions = [n[0] for n in day.values() if n[0] is not None]
    deletions = [n[1] for n in day.values() if n[1] is not None]
    return DailyTotals(
        commit_count=len(day),
        total_additions=sum(additions) if additions else None,
        total_deletions=sum(deletions) if deletions else None,
    )
