"""The organization at a glance: the DORA and cycle-time answers of the organization, each
team and each repository, from one pool of entities read once.

Each scope's numbers are ``tables.snapshots.dora_answer`` and ``cycle_time_answer`` over
that scope's entities, exactly what ``GET /dora/...`` and ``GET /cycle-time/...`` answer
for it (the team views pool the same rows; METRICS edge rule 7): the page is another
rendering of the JSON views, never another computation.

Shipping (commits to deployments) is most of an answer's cost and does not depend on the
window or the scope: a repository's deployments ship only its own commits (edge rule 6).
So each repository is shipped once (``Shipped``) and a team's or the organization's
delivery and timelines are its repositories' put together in the pool's order, which is what
shipping the pool gives; answering each of the 3 windows for the 3 scopes a repository is in
then costs the window. Shipping every scope and window anew cost 18 shippings of every
commit per refresh (6 s for two months of a 200-repository organization).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tables.cycle_time import Timeline, timelines, timelines_snapshot
from tables.deployment_state import ship_history
from tables.dora import Delivery, delivery_of, delivery_snapshot
from tables.incident_state import Incident
from tables.pull_request_state import PullRequestKey
from tables.snapshots import Entities

__all__ = [
    "WINDOWS",
    "ORGANIZATION",
    "ScopeAnswers",
    "Overview",
    "split_by_repository",
    "scope_answers",
    "Shipped",
    "shipped_of",
    "pooled",
    "overview_of",
    "waiting_for_review",
]

WINDOWS = (7, 30, 90)
ORGANIZATION = "organization"
OPEN_PRS_WINDOW = 30  # open pull requests are a state at ``end``: any window's answer lists them


@dataclass(frozen=True, slots=True)
class ScopeAnswers:
    """One scope's answers: days -> the /dora body, days -> the /cycle-time body (less its
    open pull requests), and the open pull requests waiting for review, oldest first."""

    dora: dict[int, dict[str, Any]]
    cycle_time: dict[int, dict[str, Any]]
    waiting: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Overview:
    """Every scope's answers at one ``end``: the organization, teams and repositories."""

    end: int
    teams: dict[str, list[str]]  # team -> its repositories, sorted
    organization: ScopeAnswers | None
    by_team: dict[str, ScopeAnswers] = field(default_factory=dict)
    by_repository: dict[str, ScopeAnswers] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.teams


def split_by_repository(pool: Entities) -> dict[str, Entities]:
    """The pool's entities of each repository (a repository with none of a kind has [])."""
    parts: dict[str, tuple[list[Any], list[Any], list[Any], list[Any]]] = defaultdict(
        lambda: ([], [], [], [])
    )
    kinds: tuple[list[Any], ...] = (pool.deployments, pool.incidents, pool.commits, pool.pull_requests)
    for index, kind in enumerate(kinds):
        for entity in kind:
            parts[entity.repository_id][index].append(entity)
    return {repository: Entities(*lists) for repository, lists in parts.items()}


def waiting_for_review(open_prs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The open pull requests waiting for a first review, the longest waiting first."""
    waiting = [pr for pr in open_prs if pr["state"] == "waiting_for_review"]
    return sorted(
        waiting, key=lambda pr: (-(pr["waiting_for_review_hours"] or 0.0), pr["repository_id"], pr["number"])
    )


@dataclass(frozen=True, slots=True)
class Shipped:
    """What a scope's answers need whatever the window: its DORA delivery (deployments with
    their lead-time samples), its pull requests' timelines, and its incidents."""

    delivery: Delivery
    timelines: dict[PullRequestKey, Timeline]
    incidents: list[Incident]


def shipped_of(entities: Entities, production_environments: Collection[str]) -> Shipped:
    """One repository's (or pool's) entities shipped once, for both families."""
    counted = any(d.is_dora_deployment(production_environments) for d in entities.deployments)
    history = (
        ship_history(entities.deployments, entities.commits, production_environments)
        if counted or entities.pull_requests
        else None
    )
    return Shipped(
        delivery_of(entities.deployments, entities.commits, production_environments, history=history),
        timelines(
            entities.pull_requests,
            entities.commits,
            entities.deployments,
            production_environments,
            history=history,
        ),
        list(entities.incidents),
    )


def pooled(parts: Mapping[str, Shipped], repositories: Iterable[str]) -> Shipped:
    """The repositories' shipped parts put together in ``repositories``' order: equal to
    ``shipped_of`` their pooled entities (module doc)."""
    chosen = [parts[r] for r in repositories if r in parts]
    lead_times: dict[Any, list[float]] = {}
    known: dict[PullRequestKey, Timeline] = {}
    for part in chosen:
        lead_times.update(part.delivery.lead_times)
        known.update(part.timelines)
    return Shipped(
        Delivery([d for p in chosen for d in p.delivery.counted], lead_times),
        known,
        [i for p in chosen for i in p.incidents],
    )


def scope_answers(
    shipped: Shipped,
    *,
    end: int,
    production_environments: Collection[str],
    windows: Iterable[int] = WINDOWS,
) -> ScopeAnswers:
    """``dora_answer`` and ``cycle_time_answer`` of one scope for each window, from its
    shipped parts."""
    dora: dict[int, dict[str, Any]] = {}
    cycle: dict[int, dict[str, Any]] = {}
    waiting: list[dict[str, Any]] = []
    for days in windows:
        dora[days] = delivery_snapshot(
            shipped.delivery,
            shipped.incidents,
            end=end,
            window_days=days,
            production_environments=production_environments,
        )
        answer = timelines_snapshot(shipped.timelines, end=end, window_days=days)
        open_prs = answer.pop("open_prs", [])
        if days == OPEN_PRS_WINDOW:
            waiting = waiting_for_review(open_prs)
        cycle[days] = answer
    return ScopeAnswers(dora, cycle, waiting)


def overview_of(
    teams_of: Mapping[str, str],
    pool: Entities,
    *,
    end: int,
    production_environments: Collection[str],
    windows: Iterable[int] = WINDOWS,
) -> Overview:
    """Every scope's answers from the organization's pool (``teams_of``: repository -> its
    latest team, as stores.teams reads it)."""
    windows = tuple(windows)
    teams: dict[str, list[str]] = defaultdict(list)
    for repository, team in sorted(teams_of.items()):
        teams[team].append(repository)
    if not teams:
        return Overview(end, {}, None)
    parts = {
        repository: shipped_of(entities, production_environments)
        for repository, entities in split_by_repository(pool).items()
    }
    empty = Shipped(Delivery([], {}), {}, [])

    def answers(shipped: Shipped) -> ScopeAnswers:
        return scope_answers(
            shipped, end=end, production_environments=production_environments, windows=windows
        )

    return Overview(
        end,
        dict(sorted(teams.items())),
        answers(pooled(parts, teams_of)),
        {team: answers(pooled(parts, members)) for team, members in sorted(teams.items())},
        {repository: answers(parts.get(repository, empty)) for repository in sorted(teams_of)},
    )
