"""Answers computed from one worker's tables: the live views and the projections read these.

Each loads the state of one repository (or project) from the co-partitioned tables, at
most its retained days (tables.retention) and open items, and hands it to the pure
functions, so a late event counts where its event time puts it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from tables.cicd import deployment_index, deployments_of, incident_index, incidents_of
from tables.commit_state import Commit
from tables.commits import commit_spans, repository_commits
from tables.cycle_time import cycle_time_snapshot, timelines, timelines_snapshot
from tables.deployment_state import Deployment
from tables.dora import Delivery, delivery_of, delivery_snapshot, dora_snapshot
from tables.entity_index import entity_spans
from tables.git_activity import pull_request_index, pull_requests_of
from tables.incident_state import Incident
from tables.issue_state import IssueState, cycle_time_days, issue_report
from tables.jira import issue_index, issues, issues_of, sprint_index, sprints_of
from tables.keys import compose_key
from tables.pull_request_state import PullRequest
from tables.retention import cutoff_day
from tables.shipping_memo import shipping_memo
from tables.sprint_state import sprints_report

__all__ = [
    "Entities",
    "latest_day",
    "load_repository",
    "retained_since",
    "whole_since",
    "mark_whole_since",
    "dora_answer",
    "live_dora_answer",
    "cycle_time_answer",
    "live_cycle_time_answer",
    "issue_answer",
    "project_issues_answer",
    "sprints_answer",
]


@dataclass(frozen=True, slots=True)
class Entities:
    """Everything the DORA and cycle-time math needs, of one repository or a team's pool."""

    deployments: list[Deployment]
    incidents: list[Incident]
    commits: list[Commit]
    pull_requests: list[PullRequest]


def load_repository(
    repository_id: str, *, with_pull_requests: bool = True, since: str | None = None
) -> Entities:
    """A repository's entities from this worker's tables: those with an event on a day from
    ``since`` (ISO; default all it holds) on, its open items, and all its commits held
    (kept commits older than ``since`` may be shipped by a deployment after it).

    Commits count only through the deployments that ship them and the pull requests they
    belong to; without either they are not read.
    """
    deployments = deployments_of(repository_id, since)
    pull_requests = pull_requests_of(repository_id, since) if with_pull_requests else []
    needs_commits = bool(deployments or pull_requests)
    return Entities(
        deployments,
        incidents_of(repository_id, since),
        repository_commits(repository_id) if needs_commits else [],
        pull_requests,
    )


def latest_day(repository_id: str) -> str | None:
    """The ISO day of the repository's latest event this worker holds (its spans' last days)."""
    spans = [commit_spans.get(repository_id)] + [
        index.span(repository_id) for index in (deployment_index, incident_index, pull_request_index)
    ]
    lasts = [span[1] for span in spans if span]
    return max(lasts) if lasts else None


def retained_since(repository_id: str, retention_days: int) -> str | None:
    """The first ISO day whose state the tables keep whole for the repository (its
    retention cutoff), None when they hold nothing of it."""
    last = latest_day(repository_id)
    return None if last is None else cutoff_day(last, retention_days)


_AGED = "aged"  # the key kind, in entity_spans, of the day a repository is held whole from


def whole_since(repository_id: str, retention_days: int) -> str | None:
    """The first ISO day every entity of which the tables hold: the cutoff of the
    repository's last ageing (agents.retention; it ages a step of days at once, so it may be
    older than ``retained_since``). Without one (never aged, or aged by a worker that did
    not record it): ``retained_since``."""
    marked = entity_spans.get(compose_key(_AGED, repository_id))
    return str(marked) if marked is not None else retained_since(repository_id, retention_days)


def mark_whole_since(repository_id: str, day: str) -> None:
    """Record the cutoff of an ageing (whole_since); under ``acting_for`` an event of the
    repository's partition."""
    key = compose_key(_AGED, repository_id)
    shipping_memo.forget((repository_id,))  # what the tables hold of it changed
    if entity_spans.get(key) != day:
        entity_spans[key] = day


def dora_answer(
    entities: Entities, *, end: int, window_days: int, production_environments: Collection[str]
) -> dict[str, Any]:
    """The ``GET /dora`` answer (less the repository or team)."""
    return dora_snapshot(
        entities.deployments,
        entities.incidents,
        entities.commits,
        end=end,
        window_days=window_days,
        production_environments=production_environments,
    )


def live_dora_answer(
    repository_id: str, *, since: str, end: int, window_days: int, production_environments: Collection[str]
) -> dict[str, Any]:
    """``dora_answer`` of one repository from this worker's tables, its entities from
    ``since`` on; what shipping gave kept until the repository changes (tables.shipping_memo)."""
    environments = frozenset(production_environments)
    key = ("delivery", repository_id, since, environments)
    delivery = shipping_memo.get(key)
    if isinstance(delivery, Delivery):
        incidents = incidents_of(repository_id, since)
    else:
        entities = load_repository(repository_id, with_pull_requests=False, since=since)
        delivery = delivery_of(entities.deployments, entities.commits, environments)
        samples = sum(len(s) for s in delivery.lead_times.values())
        shipping_memo.put(key, delivery, len(delivery.counted) + samples)
        incidents = entities.incidents
    return delivery_snapshot(
        delivery, incidents, end=end, window_days=window_days, production_environments=environments
    )


def live_cycle_time_answer(
    repository_id: str, *, since: str, end: int, window_days: int, production_environments: Collection[str]
) -> dict[str, Any]:
    """``cycle_time_answer`` of one repository from this worker's tables, from ``since`` on;
    the pull requests' timelines kept until the repository changes (tables.shipping_memo)."""
    environments = frozenset(production_environments)
    key = ("timelines", repository_id, since, environments)
    known = shipping_memo.get(key)
    if not isinstance(known, dict):
        entities = load_repository(repository_id, with_pull_requests=True, since=since)
        known = timelines(entities.pull_requests, entities.commits, entities.deployments, environments)
        shipping_memo.put(key, known, len(known))
    return timelines_snapshot(known, end=end, window_days=window_days)


def cycle_time_answer(
    entities: Entities, *, end: int, window_days: int, production_environments: Collection[str]
) -> dict[str, Any]:
    """The ``GET /cycle-time`` answer (less the repository or team)."""
    return cycle_time_snapshot(
        entities.pull_requests,
        entities.commits,
        entities.deployments,
        end=end,
        window_days=window_days,
        production_environments=production_environments,
    )


def issue_answer(issue_key: str) -> dict[str, Any] | None:
    """The ``GET /issues/{issue_key}`` answer, or None for an unknown issue."""
    record = issues.get(issue_key)
    return issue_report(IssueState.from_record(record)) if record is not None else None


def project_issues_answer(project_key: str) -> dict[str, Any] | None:
    """The ``GET /issues/{project_key}`` answer: each issue's state and cycle time."""
    if not issue_index.knows(project_key):
        return None
    listed = []
    for state in issues_of(project_key):
        snapshot = state.snapshot
        listed.append(
            {
                "key": state.key,
                "issue_type": snapshot.issue_type if snapshot else None,
                "status": snapshot.status if snapshot else None,
                "status_category": snapshot.status_category if snapshot else None,
                "cycle_time_days": cycle_time_days(snapshot),
            }
        )
    return {"project_key": project_key, "issues": listed}


def sprints_answer(project_key: str) -> dict[str, Any] | None:
    """The ``GET /sprints/{project_key}`` answer, or None for a project without sprints."""
    if not sprint_index.knows(project_key):
        return None
    snapshots = [s.snapshot for s in issues_of(project_key) if s.snapshot is not None]
    return {"project_key": project_key, **sprints_report(sprints_of(project_key), snapshots)}
