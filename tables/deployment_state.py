"""Deployments, and which commits each deployment ships (lead time for changes).

Times are integer microseconds since the epoch, UTC (tables.instants); lead times are
seconds, as tables.stats expects.

- A commit's identity is (repository_id, sha). Redeliveries merge to the earliest time
  and the smallest known pull-request number, so conflicting copies resolve the same way
  in any order.
- A deployment's identity is (repository_id, id). Of several events the whole event with
  the latest ``finished_at`` wins (METRICS edge rule 5); a tie keeps the larger canonical
  form. Only successful production deployments count for DORA and ship commits.
- Deployments ship in ``finished_at`` order: the listed ``commit_shas`` when given (an
  empty list counts as given), else every commit of the repository committed at or before
  ``finished_at``; a commit is shipped at most once, by the first deployment that ships it
  (METRICS 2, edge rule 6). Shipping is recomputed from whole state, so a late deployment
  or a commit arriving after its deployment lands where event time puts it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from tables.commit_state import Commit, CommitKey, collapse_commits

__all__ = [
    "DEFAULT_PRODUCTION_ENVIRONMENTS",
    "Deployment",
    "DeploymentKey",
    "Shipment",
    "ShippedHistory",
    "collapse_deployments",
    "lead_times",
    "merge_deployment",
    "ship_history",
    "ship_known_commits",
    "shipped_at",
]

DEFAULT_PRODUCTION_ENVIRONMENTS: frozenset[str] = frozenset({"production"})
MICROS_PER_SECOND = 1_000_000

DeploymentKey = tuple[str, str]  # (repository_id, deployment id)


@dataclass(frozen=True, slots=True)
class Deployment:
    repository_id: str
    id: str
    environment: str
    status: str  # "success" | "failure"
    finished_at: int
    started_at: int | None = None
    commit_sha: str | None = None
    commit_shas: tuple[str, ...] | None = None  # None: not given; () is given and ships nothing
    pull_request_numbers: tuple[int, ...] | None = None

    @property
    def key(self) -> DeploymentKey:
        return self.repository_id, self.id

    def is_dora_deployment(
        self, production_environments: Collection[str] = DEFAULT_PRODUCTION_ENVIRONMENTS
    ) -> bool:
        """True for a successful production deployment: a deployment for the four keys."""
        return self.status == "success" and self.environment in production_environments

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready table value."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Deployment:
        """The deployment stored as ``record`` by to_record."""
        fields = dict(record)
        for name in ("commit_shas", "pull_request_numbers"):
            if fields.get(name) is not None:
                fields[name] = tuple(fields[name])
        return cls(**fields)


def _precedence(deployment: Deployment) -> tuple[int, str]:
    return deployment.finished_at, repr(deployment)


def merge_deployment(current: Deployment | None, incoming: Deployment) -> Deployment:
    """The deployment event that wins: the latest ``finished_at`` (edge rule 5)."""
    if current is None:
        return incoming
    if current.key != incoming.key:
        raise ValueError(f"cannot merge deployment {incoming.key} into {current.key}")
    return max(current, incoming, key=_precedence)


def collapse_deployments(deployments: Iterable[Deployment]) -> dict[DeploymentKey, Deployment]:
    """One merged deployment per identity."""
    merged: dict[DeploymentKey, Deployment] = {}
    for deployment in deployments:
        merged[deployment.key] = merge_deployment(merged.get(deployment.key), deployment)
    return merged


@dataclass(frozen=True, slots=True)
class Shipment:
    """A deployment and the shas it ships (sorted; listed shas without a commit included)."""

    deployment: Deployment
    shas: tuple[str, ...]


def ship_known_commits(
    deployments: Iterable[Deployment],
    known: Mapping[CommitKey, Commit],
    production_environments: Collection[str] = DEFAULT_PRODUCTION_ENVIRONMENTS,
) -> list[Shipment]:
    """What each deployment ships, in ``(finished_at, id)`` order per repository (edge rule
    6), from commits already collapsed (``collapse_commits``): the metrics collapse a
    repository's history once (it only grows, and the projection reads it on every refresh)."""
    by_repository: dict[str, list[Deployment]] = defaultdict(list)
    for deployment in collapse_deployments(deployments).values():
        if deployment.is_dora_deployment(production_environments):
            by_repository[deployment.repository_id].append(deployment)
    if not by_repository:
        return []
    commits_by_repository: dict[str, list[Commit]] = defaultdict(list)
    for commit in known.values():
        if commit.repository_id in by_repository:
            commits_by_repository[commit.repository_id].append(commit)

    shipments: list[Shipment] = []
    for repository_id in sorted(by_repository):
        pending = sorted(commits_by_repository[repository_id], key=lambda c: (c.committed_at, c.sha))
        # Every commit before `cursor` was passed by an implicit deployment, hence shipped.
        cursor = 0
        shipped: set[str] = set()
        for deployment in sorted(by_repository[repository_id], key=lambda d: (d.finished_at, d.id)):
            if deployment.commit_shas is not None:
                ships = set(deployment.commit_shas) - shipped
            else:
                ships = set()
                while cursor < len(pending) and pending[cursor].committed_at <= deployment.finished_at:
                    ships.add(pending[cursor].sha)
                    cursor += 1
                ships -= shipped
            shipped |= ships
            shipments.append(Shipment(deployment, tuple(sorted(ships))))
    return shipments


@dataclass(frozen=True, slots=True)
class ShippedHistory:
    """Commits collapsed and what each deployment ships, of one repository or a pool:
    computed once for the computations that share them (ageing needs three; shipping is the
    largest part of each)."""

    commits: dict[CommitKey, Commit]
    shipments: list[Shipment]


def ship_history(
    deployments: Iterable[Deployment],
    commits: Iterable[Commit],
    production_environments: Collection[str] = DEFAULT_PRODUCTION_ENVIRONMENTS,
) -> ShippedHistory:
    """``commits`` collapsed and ``ship_known_commits`` over them."""
    known = collapse_commits(commits)
    return ShippedHistory(known, ship_known_commits(deployments, known, production_environments))


def lead_times(shipment: Shipment, commits: Mapping[CommitKey, Commit]) -> list[float]:
    """Seconds from each shipped commit to the deployment; unknown shas and values <= 0 left out."""
    deployment = shipment.deployment
    samples: list[float] = []
    for sha in shipment.shas:
        commit = commits.get((deployment.repository_id, sha))
        if commit is not None and commit.committed_at < deployment.finished_at:
            samples.append((deployment.finished_at - commit.committed_at) / MICROS_PER_SECOND)
    return samples


def shipped_at(shipments: Iterable[Shipment]) -> dict[CommitKey, int]:
    """(repository_id, sha) -> ``finished_at`` of the deployment that shipped it."""
    return {
        (shipment.deployment.repository_id, sha): shipment.deployment.finished_at
        for shipment in shipments
        for sha in shipment.shas
    }
