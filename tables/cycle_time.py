"""Pull-request cycle time: stage durations of merged PRs and the live state of open ones.

Times are integer microseconds since the epoch, UTC (tables.instants); stage durations are
seconds, summarized in hours by tables.stats. METRICS "Pull-request cycle time", edge rule 9:

- a PR's commits are the commit events carrying its number plus its ``commit_shas``, the
  merge commit excluded; its first commit is ``first_commit_at``, else their earliest time;
- it is deployed by the first deployment that ships its merge commit or any of its commits;
  of commits ageing forgot, the pull request keeps these two times itself
  (tables.pull_request_state);
- stages: coding = first commit -> created, pickup = created -> first review, review =
  first review -> merged, deploy = merged -> deployed, cycle_time = first commit (else
  created) -> deployed (else merged), review_time = created -> first approval; a stage
  lacking an endpoint has no sample, values <= 0 are kept;
- only merged PRs give samples, windowed by ``merged_at``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tables.commit_state import Commit
from tables.deployment_state import (
    DEFAULT_PRODUCTION_ENVIRONMENTS,
    Deployment,
    ShippedHistory,
    ship_history,
    shipped_at,
)
from tables.pull_request_state import PullRequest, PullRequestKey
from tables.stats import SECONDS_PER_HOUR, summarize
from tables.windows import Window

__all__ = [
    "OpenPullRequest",
    "STAGES",
    "StageDurations",
    "Timeline",
    "cycle_time_snapshot",
    "open_state",
    "own_commit_shas",
    "stage_durations",
    "timelines",
    "timelines_snapshot",
]

STAGES = ("coding", "pickup", "review", "deploy", "cycle_time", "review_time")
MICROS_PER_SECOND = 1_000_000
OpenState = Literal["waiting_for_review", "in_review", "merged_undeployed"]


@dataclass(frozen=True, slots=True)
class Timeline:
    """The moments a pull request's stages run between; None where unknown."""

    pull_request: PullRequest
    first_commit_at: int | None
    first_review_at: int | None  # by someone other than the author, any state
    first_approval_at: int | None
    deployed_at: int | None


@dataclass(frozen=True, slots=True)
class StageDurations:
    """Seconds per stage; None where a stage lacks an endpoint."""

    coding: float | None
    pickup: float | None
    review: float | None
    deploy: float | None
    cycle_time: float | None
    review_time: float | None


def own_commit_shas(pull_request: PullRequest, numbered: Iterable[str]) -> set[str]:
    """The shas of a pull request's own commits (METRICS edge rule 9): ``numbered``, the shas
    of the commit events carrying its number, plus its ``commit_shas``, less its merge commit.

    Both sources count, as each may know commits the other does not. The merge commit is
    made when the pull request merges, not while it is worked on: as a commit of its own it
    could become its first commit and date its coding at the merge. It still ships the pull
    request, so callers looking for its deploy time add it back. ``timelines`` and
    tables.retention's ``plan_ageing`` both count by this rule, so what ageing records on a
    kept pull request is what its timeline took from the commits that go."""
    return {*numbered, *pull_request.commit_shas} - {pull_request.merge_commit_sha}


def timelines(
    pull_requests: Iterable[PullRequest],
    commits: Iterable[Commit],
    deployments: Iterable[Deployment],
    production_environments: Collection[str] = DEFAULT_PRODUCTION_ENVIRONMENTS,
    *,
    history: ShippedHistory | None = None,
) -> dict[PullRequestKey, Timeline]:
    """Each pull request's timeline, from the commits and deployments of its repositories
    (``history``: their ``ship_history``, when the caller has it already)."""
    pull_requests = list(pull_requests)
    if not pull_requests:
        return {}
    if history is None:
        history = ship_history(deployments, commits, production_environments)
    known = history.commits
    shipped = shipped_at(history.shipments)
    numbered: dict[PullRequestKey, set[str]] = defaultdict(set)
    for commit in known.values():
        if commit.pull_request_number is not None:
            numbered[(commit.repository_id, commit.pull_request_number)].add(commit.sha)

    result: dict[PullRequestKey, Timeline] = {}
    for pr in pull_requests:
        own = own_commit_shas(pr, numbered.get(pr.key, ()))
        first_commit_at = pr.first_commit_at
        if first_commit_at is None:
            times = [
                known[key].committed_at for key in ((pr.repository_id, sha) for sha in own) if key in known
            ]
            if pr.aged_first_commit_at is not None:  # its commits the tables forgot
                times.append(pr.aged_first_commit_at)
            first_commit_at = min(times) if times else None
        deploy_times = [
            shipped[key]
            for key in ((pr.repository_id, sha) for sha in own | {pr.merge_commit_sha} if sha is not None)
            if key in shipped
        ]
        if pr.aged_deployed_at is not None:
            deploy_times.append(pr.aged_deployed_at)
        result[pr.key] = Timeline(
            pull_request=pr,
            first_commit_at=first_commit_at,
            first_review_at=pr.first_review_at(),
            first_approval_at=pr.first_approval_at(),
            deployed_at=min(deploy_times) if deploy_times else None,
        )
    return result


def _seconds(start: int | None, stop: int | None) -> float | None:
    return None if start is None or stop is None else (stop - start) / MICROS_PER_SECOND


def stage_durations(timeline: Timeline) -> StageDurations:
    """The stage durations of one pull request (meaningful for merged ones)."""
    pr = timeline.pull_request
    deployed_at = timeline.deployed_at
    if deployed_at is not None and pr.merged_at is not None and deployed_at < pr.merged_at:
        # Its commits shipped before it merged (a branch deployed, or an implicit deployment
        # shipping commits by commit time): it is deployed once merged, never a negative stage.
        deployed_at = pr.merged_at
    started = timeline.first_commit_at if timeline.first_commit_at is not None else pr.created_at
    finished = deployed_at if deployed_at is not None else pr.merged_at
    return StageDurations(
        coding=_seconds(timeline.first_commit_at, pr.created_at),
        pickup=_seconds(pr.created_at, timeline.first_review_at),
        review=_seconds(timeline.first_review_at, pr.merged_at),
        deploy=_seconds(pr.merged_at, deployed_at),
        cycle_time=_seconds(started, finished),
        review_time=_seconds(pr.created_at, timeline.first_approval_at),
    )


@dataclass(frozen=True, slots=True)
class OpenPullRequest:
    """A pull request not yet done at ``now``: open, or merged but undeployed."""

    repository_id: str
    number: int
    title: str | None
    author: str | None
    state: OpenState
    age_hours: float | None  # since created
    waiting_for_review_hours: float | None  # since created, while no review has come
    undeployed_hours: float | None  # since merged, while no deployment has shipped it

    def as_dict(self) -> dict[str, Any]:
        """One entry of the ``open_prs`` list."""
        return {
            "repository_id": self.repository_id,
            "number": self.number,
            "title": self.title,
            "author": self.author,
            "state": self.state,
            "age_hours": self.age_hours,
            "waiting_for_review_hours": self.waiting_for_review_hours,
            "undeployed_hours": self.undeployed_hours,
        }


def _hours_since(moment: int | None, now: int) -> float | None:
    return None if moment is None else (now - moment) / MICROS_PER_SECOND / SECONDS_PER_HOUR


def open_state(timeline: Timeline, now: int) -> OpenPullRequest | None:
    """The live state of a pull request at ``now``, or None when done or not yet opened."""
    pr = timeline.pull_request
    waiting: float | None = None
    undeployed: float | None = None
    state: OpenState
    if pr.merged_at is not None and pr.merged_at <= now:
        if timeline.deployed_at is not None and timeline.deployed_at <= now:
            return None
        state, undeployed = "merged_undeployed", _hours_since(pr.merged_at, now)
    elif pr.closed_at is not None and pr.closed_at <= now:
        return None
    elif pr.created_at is not None and pr.created_at <= now:
        if timeline.first_review_at is not None and timeline.first_review_at <= now:
            state = "in_review"
        else:
            state, waiting = "waiting_for_review", _hours_since(pr.created_at, now)
    else:
        return None
    return OpenPullRequest(
        pr.repository_id,
        pr.number,
        pr.title,
        pr.author,
        state,
        _hours_since(pr.created_at, now),
        waiting,
        undeployed,
    )


def cycle_time_snapshot(
    pull_requests: Iterable[PullRequest],
    commits: Iterable[Commit],
    deployments: Iterable[Deployment],
    *,
    end: int,
    window_days: int,
    production_environments: Collection[str] = DEFAULT_PRODUCTION_ENVIRONMENTS,
) -> dict[str, Any]:
    """The ``GET /cycle-time`` answer (less the repository or team) over pooled entities."""
    known = timelines(pull_requests, commits, deployments, production_environments)
    return timelines_snapshot(known, end=end, window_days=window_days)


def timelines_snapshot(known: Mapping[PullRequestKey, Timeline], *, end: int, window_days: int) -> dict[str, Any]:
    """``cycle_time_snapshot`` from timelines already shipped: costs the pull requests, not the commits."""
    window = Window(end, window_days)
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for timeline in known.values():
        if not window.contains(timeline.pull_request.merged_at):
            continue
        durations = stage_durations(timeline)
        for stage in STAGES:
            value = getattr(durations, stage)
            if value is not None:
                samples[stage].append(value)
    live = (open_state(known[key], end) for key in sorted(known))
    return {
        "window_days": window_days,
        "end": window.end_iso(),
        **{stage: summarize(samples[stage]).as_dict() for stage in STAGES},
        "open_prs": [entry.as_dict() for entry in live if entry is not None],
    }
