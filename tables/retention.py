"""What a repository's live state may forget: entries older than retention, open items kept.

The live tables hold a repository's last ``STATE_RETENTION_DAYS`` days, counted back from
its latest event's day (event time: a replayed or generated history ages as it would have
live, and a repository without new events keeps its bounded state), and at most
``AGEING_STEP_DAYS`` more between two ageings (``ageing_due``). Older entries are aged out
once nothing inside retention depends on them; the database keeps the full history. An entry is dropped when all of these hold, at the cutoff ``c``:

- a pull request was closed unmerged before ``c``, or merged and shipped by a deployment
  before ``c``, with every review before ``c`` too (open, or merged and not yet deployed:
  kept);
- a commit was committed before ``c``, shipped by a deployment that finished before ``c``,
  and belongs to no kept pull request (an unshipped commit is kept: a later deployment may
  ship it, and its lead time counts then; one shipped by a kept deployment is kept for that
  deployment's lead time; a kept pull request's commits give its first commit and deploy
  time);
- a deployment finished before ``c`` and ships no kept commit (the deployment that shipped
  a kept commit is kept with it, so no later deployment ships it a second time);
- an incident was opened and resolved before ``c`` (an unresolved one is open: kept).

Every commit kept keeps the deployment that first shipped it, so shipping over the kept
state is shipping over the whole history restricted to it; the lead times of deployments
inside retention, the attribution and rework of deployments inside retention and the
stages of pull requests merged or open inside retention are what the whole history gives
(tables/dora, tables/cycle_time). Old deployments kept for a kept pull request count in no
window inside retention (they finished before it).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tables.commit_state import Commit
from tables.cycle_time import timelines
from tables.deployment_state import Deployment, ShippedHistory, ship_history
from tables.incident_state import Incident
from tables.instants import to_micros
from tables.pull_request_state import PullRequest

__all__ = ["AGEING_STEP_DAYS", "AgeingPlan", "ageing_due", "cutoff_day", "cutoff_micros", "plan_ageing"]

# Ageing forgets at least this many days at once. A pass over a repository's retained state
# costs what retention holds (shipping and attribution need it whole), so ageing once per
# day of history cost ``STATE_RETENTION_DAYS`` days of state per day of events; once per
# step it costs ``(retention + step) / step`` days of state per day of events (5 at 120 + 30):
# a constant, for at most ``step`` more days held.
AGEING_STEP_DAYS = 30


def cutoff_day(last_day: str, retention_days: int) -> str:
    """The first ISO day kept when a repository's latest event fell on ``last_day``."""
    return (date.fromisoformat(last_day) - timedelta(days=retention_days)).isoformat()


def ageing_due(first_days: Iterable[str], last_day: str, retention_days: int, step_days: int) -> bool:
    """True when a repository holds a day more than ``retention_days + step_days`` before its
    latest (``first_days``: the first day of each of its indexes): ageing it now forgets a
    step of days or more (AGEING_STEP_DAYS)."""
    limit = cutoff_day(last_day, retention_days + step_days)
    return any(first < limit for first in first_days)


def cutoff_micros(day: str) -> int:
    """Midnight UTC at the start of ``day``, in microseconds."""
    return to_micros(datetime.fromisoformat(day).replace(tzinfo=UTC))


@dataclass(frozen=True, slots=True)
class AgeingPlan:
    """The entries of one repository to delete (ids, numbers, commit shas)."""

    deployments: frozenset[str]
    incidents: frozenset[str]
    pull_requests: frozenset[int]
    commits: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.deployments or self.incidents or self.pull_requests or self.commits)


def _before(moment: int | None, cutoff: int) -> bool:
    return moment is not None and moment < cutoff


def plan_ageing(
    deployments: Iterable[Deployment],
    incidents: Iterable[Incident],
    commits: Iterable[Commit],
    pull_requests: Iterable[PullRequest],
    *,
    cutoff: int,
    production_environments: Collection[str],
    history: ShippedHistory | None = None,
) -> AgeingPlan:
    """What one repository's state may forget at ``cutoff`` (module doc); ``history``: the
    ``ship_history`` of ``deployments`` and ``commits``, when the caller has it already."""
    deployments = list(deployments)
    if history is None:
        history = ship_history(deployments, commits, production_environments)
    known = history.commits
    shipper: dict[str, Deployment] = {}
    for shipment in history.shipments:
        for sha in shipment.shas:
            shipper[sha] = shipment.deployment
    old_pull_requests: set[int] = set()
    kept_pr_shas: set[str] = set()
    for timeline in timelines(
        pull_requests, known.values(), deployments, production_environments, history=history
    ).values():
        pr = timeline.pull_request
        done = timeline.deployed_at if pr.merged_at is not None else pr.closed_at
        moments = [pr.created_at, pr.merged_at, pr.closed_at, *(r.submitted_at for r in pr.reviews)]
        if _before(done, cutoff) and all(m is None or m < cutoff for m in moments):
            old_pull_requests.add(pr.number)
        else:
            kept_pr_shas.update(pr.commit_shas)
            if pr.merge_commit_sha is not None:
                kept_pr_shas.add(pr.merge_commit_sha)
    kept_numbers = {pr.number for pr in pull_requests} - old_pull_requests
    old_commits = {
        sha
        for (_, sha), commit in known.items()
        if commit.committed_at < cutoff
        and sha in shipper
        and shipper[sha].finished_at < cutoff
        and sha not in kept_pr_shas
        and commit.pull_request_number not in kept_numbers
    }
    needed = {shipper[sha].id for (_, sha) in known if sha in shipper and sha not in old_commits}
    old_deployments = {d.id for d in deployments if d.finished_at < cutoff and d.id not in needed}
    old_incidents = {
        i.id
        for i in incidents
        if _before(i.resolved_at, cutoff) and (i.opened_at is None or i.opened_at < cutoff)
    }
    return AgeingPlan(
        frozenset(old_deployments),
        frozenset(old_incidents),
        frozenset(old_pull_requests),
        frozenset(old_commits),
    )
