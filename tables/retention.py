"""What a repository's live state may forget: entries older than retention, open items kept.

The live tables hold a repository's last ``STATE_RETENTION_DAYS`` days, counted back from
its latest event's day (event time: a replayed or generated history ages as it would have
live, and a repository without new events keeps its bounded state), and at most
``AGEING_STEP_DAYS`` more between two ageings (``ageing_due``). Older entries are aged out
once nothing inside retention depends on them; the database keeps the full history. An entry is dropped when all of these hold, at the cutoff ``c``:

- a pull request was closed unmerged before ``c``, or merged and shipped by a deployment
  before ``c``, with every review before ``c`` too (open, or merged and not yet deployed:
  kept);
- a commit was committed before ``c`` and shipped by a deployment that finished before
  ``c`` (an unshipped commit is kept: a later deployment may ship it, and its lead time
  counts then). A kept pull request's old commits go too: what its timeline took from them
  (its first commit time, its deploy time) is recorded on it first (``AgeingPlan.kept``,
  tables.pull_request_state), so a pull request left open for a year holds no commits or
  deployments older than retention;
- a deployment finished before ``c`` and ships no kept commit (the deployment that shipped
  a kept commit is kept with it, so no later deployment ships it a second time);
- an incident was opened and resolved before ``c`` (an unresolved one is open: kept).

Every commit kept keeps the deployment that first shipped it, so shipping over the kept
state is shipping over the whole history restricted to it; the lead times of deployments
inside retention, the attribution and rework of deployments inside retention and the
stages of pull requests merged or open inside retention are what the whole history gives
(tables/dora, tables/cycle_time).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tables.commit_state import Commit
from tables.cycle_time import own_commit_shas, timelines
from tables.deployment_state import Deployment, ShippedHistory, ship_history
from tables.incident_state import Incident
from tables.instants import to_micros
from tables.pull_request_state import PullRequest, PullRequestState, record_aged_commits

__all__ = [
    "AGEING_STEP_DAYS",
    "AgeingPlan",
    "KeptPullRequest",
    "ageing_due",
    "cutoff_day",
    "cutoff_micros",
    "plan_ageing",
]

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
class KeptPullRequest:
    """What a kept pull request records before ageing (tables.pull_request_state): the
    earliest time of its commits about to go, and the earliest time one of its commits (or
    its merge commit) shipped before the cutoff; listed only when that changes its record."""

    number: int
    first_commit_at: int | None
    deployed_at: int | None


@dataclass(frozen=True, slots=True)
class AgeingPlan:
    """The entries of one repository to delete (ids, numbers, commit shas), and what the
    kept pull requests must record before their old commits go."""

    deployments: frozenset[str]
    incidents: frozenset[str]
    pull_requests: frozenset[int]
    commits: frozenset[str]
    kept: tuple[KeptPullRequest, ...] = ()

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
    old_commits = {
        sha
        for (_, sha), commit in known.items()
        if commit.committed_at < cutoff and sha in shipper and shipper[sha].finished_at < cutoff
    }
    numbered: dict[int, set[str]] = defaultdict(set)
    for (_, sha), commit in known.items():
        if commit.pull_request_number is not None:
            numbered[commit.pull_request_number].add(sha)
    old_pull_requests: set[int] = set()
    kept: list[KeptPullRequest] = []
    for timeline in timelines(
        pull_requests, known.values(), deployments, production_environments, history=history
    ).values():
        pr = timeline.pull_request
        done = timeline.deployed_at if pr.merged_at is not None else pr.closed_at
        moments = [pr.created_at, pr.merged_at, pr.closed_at, *(r.submitted_at for r in pr.reviews)]
        if _before(done, cutoff) and all(m is None or m < cutoff for m in moments):
            old_pull_requests.add(pr.number)
            continue
        own = own_commit_shas(pr, numbered.get(pr.number, ()))
        first_commit_at = min(
            (known[(pr.repository_id, sha)].committed_at for sha in own & old_commits), default=None
        )
        # Every ship time before the cutoff, not only the old commits': a deployment that
        # lists a sha no commit event brought ships it, and is aged out all the same.
        deployed_at = min(
            (
                shipper[sha].finished_at
                for sha in own | {pr.merge_commit_sha}
                if sha in shipper and shipper[sha].finished_at < cutoff
            ),
            default=None,
        )
        recorded = record_aged_commits(
            PullRequestState(
                pr.repository_id,
                pr.number,
                aged_first_commit_at=pr.aged_first_commit_at,
                aged_deployed_at=pr.aged_deployed_at,
            ),
            first_commit_at,
            deployed_at,
        )
        if (recorded.aged_first_commit_at, recorded.aged_deployed_at) != (
            pr.aged_first_commit_at,
            pr.aged_deployed_at,
        ):
            kept.append(KeptPullRequest(pr.number, first_commit_at, deployed_at))
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
        tuple(sorted(kept, key=lambda k: k.number)),
    )
