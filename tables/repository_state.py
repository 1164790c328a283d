"""Repositories: the latest ``repository_updated`` event wins, and a repository's team.

Times are integer microseconds since the epoch, UTC (tables.instants). The whole event with
the latest envelope timestamp wins (EVENTS.md: last write wins by timestamp); a tie keeps
the larger canonical form, so any order and duplicates give the same state. A repository's
latest team applies to its whole history (METRICS edge rule 7); without one it is
``unassigned``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["UNASSIGNED", "Repository", "merge_repository", "team_of"]

UNASSIGNED = "unassigned"


@dataclass(frozen=True, slots=True)
class Repository:
    """One ``repository_updated`` event (the table value is the winning one)."""

    repository_id: str
    timestamp: int
    name: str | None = None
    full_name: str | None = None
    default_branch: str | None = None
    team: str | None = None
    language: str | None = None
    archived: bool | None = None

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready table value."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Repository:
        """The snapshot stored as ``record`` by to_record."""
        return cls(**record)


def merge_repository(current: Repository | None, incoming: Repository) -> Repository:
    """The snapshot that wins: the latest timestamp, then the larger canonical form."""
    if current is None:
        return incoming
    if current.repository_id != incoming.repository_id:
        raise ValueError(f"cannot merge repository {incoming.repository_id} into {current.repository_id}")
    return max(current, incoming, key=lambda s: (s.timestamp, repr(s)))


def team_of(snapshot: Repository | None) -> str:
    """The repository's team, ``unassigned`` when unknown."""
    return snapshot.team if snapshot is not None and snapshot.team else UNASSIGNED
