"""The organization at a glance: the DORA and cycle-time answers of the organization, each
team and each repository, from one pool of entities read once.

Each scope's numbers are ``tables.snapshots.dora_answer`` and ``cycle_time_answer`` over
that scope's entities, exactly what ``GET /dora/...`` and ``GET /cycle-time/...`` answer
for it (the team views pool the same rows; METRICS edge rule 7): the page is another
rendering of the JSON views, never another computation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tables.snapshots import Entities, cycle_time_answer, dora_answer

__all__ = [
    "WINDOWS",
    "ORGANIZATION",
    "ScopeAnswers",
    "Overview",
    "split_by_repository",
    "pool_of",
    "scope_answers",
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


def pool_of(parts: Mapping[str, Entities], repositories: Iterable[str]) -> Entities:
    """The entities of ``repositories`` pooled (as the team views read them)."""
    chosen = [parts[r] for r in repositories if r in parts]
    return Entities(
        [d for p in chosen for d in p.deployments],
        [i for p in chosen for i in p.incidents],
        [c for p in chosen for c in p.commits],
        [r for p in chosen for r in p.pull_requests],
    )


def waiting_for_review(open_prs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The open pull requests waiting for a first review, the longest waiting first."""
    waiting = [pr for pr in open_prs if pr["state"] == "waiting_for_review"]
    return sorted(
        waiting, key=lambda pr: (-(pr["waiting_for_review_hours"] or 0.0), pr["repository_id"], pr["number"])
    )


def scope_answers(
    entities: Entities,
    *,
    end: int,
    production_environments: Collection[str],
    windows: Iterable[int] = WINDOWS,
) -> ScopeAnswers:
    """``dora_answer`` and ``cycle_time_answer`` of one scope for each window."""
    dora: dict[int, dict[str, Any]] = {}
    cycle: dict[int, dict[str, Any]] = {}
    waiting: list[dict[str, Any]] = []
    for days in windows:
        dora[days] = dora_answer(
            entities, end=end, window_days=days, production_environments=production_environments
        )
        answer = cycle_time_answer(
            entities, end=end, window_days=days, production_environments=production_environments
        )
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
    parts = split_by_repository(pool)
    empty = Entities([], [], [], [])

    def answers(entities: Entities) -> ScopeAnswers:
        return scope_answers(
            entities, end=end, production_environments=production_environments, windows=windows
        )

    return Overview(
        end,
        dict(sorted(teams.items())),
        answers(pool_of(parts, teams_of)),
        {team: answers(pool_of(parts, members)) for team, members in sorted(teams.items())},
        {repository: answers(parts.get(repository, empty)) for repository in sorted(teams_of)},
    )
