"""Commits: one commit as the metrics see it (``Commit``, merged from its copies), and the
commits per (repository, UTC day), the state behind `commits_daily_stats`.

A day bucket maps each commit version, ``"<sha> <committed_at µs>"`` (the database's
natural key within the bucket), to its numbers. Merging a version is commutative and
idempotent: the same events in any order and any multiplicity give the same bucket, so a
redelivered commit changes nothing. Conflicting numbers for one version (a producer bug)
resolve to the smallest tuple, deterministically.

One bucket per repository-day keeps table writes to one per bucket per batch, and values
small (ids and numbers of one day's commits).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = [
    "Commit",
    "CommitKey",
    "collapse_commits",
    "merge_commit",
    "CommitVersion",
    "DailyTotals",
    "RunningTotals",
    "TotalsOfWrittenBuckets",
    "merge_version",
    "is_canonical",
    "day_totals",
    "version_key",
]

CommitDay = dict[str, list[Any]]
CommitKey = tuple[str, str]  # (repository_id, sha)


@dataclass(frozen=True, slots=True)
class Commit:
    repository_id: str
    sha: str
    committed_at: int  # data.committed_at, else the envelope timestamp (edge rule 13)
    pull_request_number: int | None = None

    @property
    def key(self) -> CommitKey:
        return self.repository_id, self.sha

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready table value."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Commit:
        """The commit stored as ``record`` by to_record."""
        return cls(**record)


def merge_commit(current: Commit | None, incoming: Commit) -> Commit:
    """One commit from two copies: the earliest time, the smallest known PR number."""
    if current is None:
        return incoming
    if current.key != incoming.key:
        raise ValueError(f"cannot merge commit {incoming.key} into {current.key}")
    numbers = [n for n in (current.pull_request_number, incoming.pull_request_number) if n is not None]
    return Commit(
        current.repository_id,
        current.sha,
        min(current.committed_at, incoming.committed_at),
        min(numbers) if numbers else None,
    )



def collapse_commits(commits: Iterable[Commit]) -> dict[CommitKey, Commit]:
    """One merged commit per identity."""
    merged: dict[CommitKey, Commit] = {}
    for commit in commits:
        merged[commit.key] = merge_commit(merged.get(commit.key), commit)
    return merged


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


def merge_version(day: CommitDay, version: CommitVersion, totals: RunningTotals | None = None) -> bool:
    """Merge one commit version into its day bucket; True when the bucket changed.

    ``totals``, when given, are the bucket's running totals and follow the change."""
    incoming = version.numbers()
    current = day.get(version.key)
    if current is not None and _order(current) <= _order(incoming):
        return False
    day[version.key] = incoming
    if totals is not None:
        totals.swap(current, incoming)
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


@dataclass(slots=True)
class RunningTotals:
    """A bucket's ``day_totals`` kept up to date merge by merge.

    Recomputing the totals is a pass over the whole bucket, and a batch of commits spread
    over many days touches almost as many buckets as it holds commits: in bench.commits
    (100,000 commits over 1,500 buckets) that pass was 9 % of the worker's CPU and grows
    with the buckets. The known-value counts keep SQL's rule that a sum over no known
    value is NULL.
    """

    count: int = 0
    additions: int = 0
    additions_known: int = 0
    deletions: int = 0
    deletions_known: int = 0

    @classmethod
    def of(cls, day: CommitDay) -> RunningTotals:
        running = cls()
        for numbers in day.values():
            running.swap(None, numbers)
        return running

    def swap(self, old: list[Any] | None, new: list[Any]) -> None:
        """Account for one version's numbers going from ``old`` (None: a new version) to ``new``."""
        if old is None:
            self.count += 1
        else:
            if old[0] is not None:
                self.additions -= old[0]
                self.additions_known -= 1
            if old[1] is not None:
                self.deletions -= old[1]
                self.deletions_known -= 1
        if new[0] is not None:
            self.additions += new[0]
            self.additions_known += 1
        if new[1] is not None:
            self.deletions += new[1]
            self.deletions_known += 1

    def totals(self) -> DailyTotals:
        return DailyTotals(
            commit_count=self.count,
            total_additions=self.additions if self.additions_known else None,
            total_deletions=self.deletions if self.deletions_known else None,
        )


class TotalsOfWrittenBuckets:
    """Running totals of the bucket values last written, for the next batch to start from.

    An entry holds the very bucket object it was computed for, and is used only when the
    table hands that same object back (``is``): table values are never mutated in place
    (runtime.coalesced), so an identical object has identical totals. A value the table
    decoded anew (after a rebalance, or evicted from its cache) is another object, and its
    totals are computed from it. Bounded: the oldest entries go first.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, tuple[CommitDay, RunningTotals]] = OrderedDict()

    def start(self, key: str, stored: CommitDay | None) -> RunningTotals:
        """Totals of ``stored`` (the bucket as the table holds it), to be changed freely."""
        if stored is None:
            return RunningTotals()
        entry = self._entries.get(key)
        if entry is not None and entry[0] is stored:
            return replace(entry[1])
        return RunningTotals.of(stored)

    def remember(self, key: str, written: CommitDay, totals: RunningTotals) -> None:
        """``written`` was just set in the table, and ``totals`` are its totals."""
        entries = self._entries
        entries.pop(key, None)
        if len(entries) >= self.capacity:
            entries.popitem(last=False)
        entries[key] = (written, totals)

    def clear(self) -> None:
        self._entries.clear()
