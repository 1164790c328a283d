"""Ageing a repository's live state out of the tables (tables.retention says what goes).

Runs inside the entity agents' batches, for the repositories of the batch, under
``acting_for`` one of the repository's events: the deletes land in the repository's
changelog partitions as tombstones (so a restarted worker recovers the aged state), and
they are committed with the batch's offsets like any table write. What is deleted was
written to the database by batches whose offsets committed long before (retention is
counted in days, the database write comes before each offset commit); `metrics_daily`
days before the cutoff are left as they are (agents.projection). A repository is looked
at once per day of its latest event (a few span reads), and aged when it holds a day older
than retention plus AGEING_STEP_DAYS (tables.retention): one pass over its retained state
per step of history, a constant cost per event.

A pass is synchronous and costs the repository's retained state (a full monorepo's: a
second or more). Repositories that started together come due together, so a batch ages
repositories until AGEING_BUDGET_S of passes is spent and leaves the others due for their
next batch: the event loop is held for about one pass, not for hundreds (a year of a
200-repository organization held it 5.4 s when they all came due).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import asyncpg
from faust.types import EventT, TableT

from app.logging import get_logger
from app.main import settings
from runtime.event_context import acting_for
from stores.git_activity import PullRequestRow, pull_request_rows, upsert_pull_requests
from stores.metrics import upsert_repository_days
from tables.cicd import deployment_index, deployments, entity_key, incident_index, incidents
from tables.commits import commit_days, commit_spans
from tables.daily_metrics import DailyMetrics, daily_metrics
from tables.day_index import CARRIED, DayIndex, days_in
from tables.deployment_state import ship_history
from tables.git_activity import pull_request_index, pull_request_key, pull_requests
from tables.keys import compose_key
from tables.pull_request_state import PullRequestState, record_aged_commits
from tables.retention import AGEING_STEP_DAYS, AgeingPlan, ageing_due, cutoff_day, cutoff_micros, plan_ageing
from tables.snapshots import latest_day, load_repository, mark_whole_since

__all__ = ["Aged", "AgeingClock", "age_batch_owners", "age_owners", "age_repository"]

log = get_logger("sei.retention")

AGEING_BUDGET_S = 0.2


def _old(span: Any, cutoff: str) -> bool:
    return bool(span) and span[0] < cutoff


def _delete(table: TableT[str, Any], key: str) -> None:
    if key in table:
        try:
            del table[key]  # a tombstone on the changelog
        except KeyError:  # held only as a pending write (runtime.coalesced): never sent
            pass


def _age_index(index: DayIndex, owner: str, cutoff: str, dropped: Iterable[Any]) -> int:
    """Delete the owner's days before ``cutoff``; entries still kept and listed on no later
    day move to its carried list; returns the days deleted."""
    span = index.span(owner)
    if span is None or span[0] >= cutoff:
        return 0
    gone = set(dropped)
    later = set(index.listed(owner, since=cutoff))
    carried = set(index.carried(owner))
    deleted = 0
    for day in days_in(span, until=_day_before(cutoff)):
        key = index.day_key(owner, day)
        listed = index.days.get(key)
        if listed is None:
            continue
        carried.update(entry for entry in listed if entry not in later)
        _delete(index.days, key)
        deleted += 1
    carried -= gone
    carried_key = index.day_key(owner, CARRIED)
    if sorted(carried) != index.carried(owner):
        if carried:
            index.days[carried_key] = sorted(carried)
        else:
            _delete(index.days, carried_key)
    index.set_span(owner, (cutoff, span[1]))
    return deleted


def _day_before(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


def _age_commits(repository_id: str, cutoff: str, dropped: frozenset[str]) -> int:
    """Drop the shipped old commits from the day buckets before ``cutoff``: a bucket left
    empty is deleted, one with commits still kept (unshipped) is rewritten without the
    others; the span starts at the oldest bucket left. Returns the buckets deleted."""
    span = commit_spans.get(repository_id)
    if span is None or not _old(span, cutoff):
        return 0
    deleted = 0
    first = cutoff
    for day in days_in(span, until=_day_before(cutoff)):
        key = compose_key(repository_id, day)
        bucket = commit_days.get(key)
        if bucket is None:
            continue
        kept = {k: v for k, v in bucket.items() if k.rsplit(" ", 1)[0] not in dropped}
        if not kept:
            _delete(commit_days, key)
            deleted += 1
            continue
        first = min(first, day)
        if len(kept) != len(bucket):
            commit_days[key] = kept
    if list(span) != [first, span[1]]:
        commit_spans[repository_id] = [first, span[1]]
    return deleted


@dataclass(slots=True)
class Aged:
    """What ageing dropped, and the rows the database must hold before the tables forget:
    the dropped pull requests' rows (the projection may not have written them yet, in a
    backfill) and the `metrics_daily` buckets of the days aged out."""

    plans: dict[str, AgeingPlan] = field(default_factory=dict)
    pull_requests: list[PullRequestRow] = field(default_factory=list)
    days: dict[str, DailyMetrics] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.pull_requests or self.days)

    async def write(self, conn: asyncpg.Connection) -> None:
        await upsert_pull_requests(conn, self.pull_requests)
        await upsert_repository_days(conn, self.days)


class AgeingClock:
    """When a repository is looked at (age_repository ages it if a step of days is due):
    again when its latest day moves (once per day of its history), or when a batch writes
    state older than its cutoff (a backfill, a late event), then at most every
    ``late_interval_s`` seconds (a backfill sends many such batches, and a late day older
    than the step makes each look an ageing, a pass over the repository's retained state)."""

    def __init__(self, late_interval_s: float = 10.0, capacity: int = 100_000) -> None:
        self.late_interval_s = late_interval_s
        self.capacity = capacity
        self._aged: dict[str, tuple[str, float]] = {}

    def due(self, repository_id: str, day: str, *, late: bool, now: float) -> bool:
        last = self._aged.get(repository_id)
        if last is None or last[0] != day:
            return True
        return late and now - last[1] >= self.late_interval_s

    def done(self, repository_id: str, day: str, now: float) -> None:
        if len(self._aged) >= self.capacity:
            self._aged.clear()  # forgetting costs one more look per repository, nothing else
        self._aged[repository_id] = (day, now)


def age_repository(
    repository_id: str,
    *,
    retention_days: int,
    production_environments: Collection[str],
    aged: Aged,
    step_days: int = AGEING_STEP_DAYS,
) -> AgeingPlan | None:
    """Age one repository's state out of the tables (module doc) when it holds a day older
    than ``retention_days + step_days``; called under ``acting_for`` an event of its
    partition. Adds what was dropped and the rows to store to ``aged``; returns the plan,
    None if it was not due."""
    last = latest_day(repository_id)
    if last is None:
        return None
    cutoff = cutoff_day(last, retention_days)
    spans = [commit_spans.get(repository_id)] + [
        index.span(repository_id) for index in (deployment_index, incident_index, pull_request_index)
    ]
    # The entity indexes start at the last ageing's cutoff (or at an older day a late event
    # wrote). The commit span is not asked: it starts at the oldest unshipped commit kept,
    # which may stay old for ever, and commits are aged with the deployments that ship them.
    if not ageing_due((span[0] for span in spans[1:] if span), last, retention_days, step_days):
        return None
    entities = load_repository(repository_id)
    history = ship_history(entities.deployments, entities.commits, production_environments)
    plan = plan_ageing(
        entities.deployments,
        entities.incidents,
        entities.commits,
        entities.pull_requests,
        cutoff=cutoff_micros(cutoff),
        production_environments=production_environments,
        history=history,
    )
    # The days leaving the tables, whole: from the oldest day the entity indexes still hold
    # (the last cutoff) to this one. Their buckets are final as far as the tables know.
    firsts = [span[0] for span in spans[1:] if span]
    oldest = min(firsts) if firsts else cutoff
    buckets = daily_metrics(
        entities.deployments,
        entities.incidents,
        entities.commits,
        entities.pull_requests,
        production_environments,
        history=history,
    )
    leaving = {
        (day, metric): value for (day, metric), value in buckets.items() if oldest <= day.isoformat() < cutoff
    }
    if leaving:
        aged.days[repository_id] = leaving
    dropped = [pr for pr in entities.pull_requests if pr.number in plan.pull_requests]
    aged.pull_requests.extend(
        pull_request_rows(
            dropped, entities.commits, entities.deployments, production_environments, history=history
        )
    )
    aged.plans[repository_id] = plan
    # What kept pull requests take from their old commits is on them before the commits
    # go (a crash in between leaves both, which give the same timeline); then entities,
    # then the indexes: a crash in between leaves index entries of missing entities, which
    # readers skip, and the next ageing completes.
    for kept in plan.kept:
        key = pull_request_key(repository_id, kept.number)
        record = pull_requests.get(key)
        if record is not None:
            state = PullRequestState.from_record(record)
            pull_requests[key] = record_aged_commits(
                state, kept.first_commit_at, kept.deployed_at
            ).to_record()
    for deployment_id in plan.deployments:
        _delete(deployments, entity_key(repository_id, deployment_id))
    for incident_id in plan.incidents:
        _delete(incidents, entity_key(repository_id, incident_id))
    for number in plan.pull_requests:
        _delete(pull_requests, pull_request_key(repository_id, number))
    days = _age_commits(repository_id, cutoff, plan.commits)
    days += _age_index(deployment_index, repository_id, cutoff, plan.deployments)
    days += _age_index(incident_index, repository_id, cutoff, plan.incidents)
    days += _age_index(pull_request_index, repository_id, cutoff, plan.pull_requests)
    mark_whole_since(repository_id, cutoff)
    log.info(
        "retention.aged",
        repository_id=repository_id,
        cutoff=cutoff,
        deployments=len(plan.deployments),
        incidents=len(plan.incidents),
        pull_requests=len(plan.pull_requests),
        commits=len(plan.commits),
        kept_pull_requests=len(plan.kept),
        days=days,
    )
    return plan


_clock = AgeingClock()


def age_owners(
    owners: Mapping[str, tuple[EventT[Any], str | None]],
    *,
    retention_days: int,
    production_environments: Collection[str],
    budget_s: float = AGEING_BUDGET_S,
) -> Aged:
    """Age each repository of a batch (repository -> an event of its partition and the
    oldest day the batch wrote) that is due (AgeingClock), under ``acting_for`` the event,
    until ``budget_s`` of passes is spent (module doc); the rows returned go into the batch's
    database transaction. A failure (a bug) is logged and costs the ageing only: the batch's
    own writes stand, and the repository is looked at again on its next batch."""
    aged = Aged()
    started = time.perf_counter()
    for repository_id, (event, oldest) in owners.items():
        if aged.plans and time.perf_counter() - started >= budget_s:
            break  # the rest stay due (not marked done): their next batch ages them
        last = latest_day(repository_id)
        if last is None:
            continue
        late = oldest is not None and oldest < cutoff_day(last, retention_days)
        now = time.monotonic()
        if not _clock.due(repository_id, last, late=late, now=now):
            continue
        try:
            with acting_for(event):
                age_repository(
                    repository_id,
                    retention_days=retention_days,
                    production_environments=production_environments,
                    aged=aged,
                )
        except Exception:
            log.exception("retention.failed", repository_id=repository_id)
            continue
        _clock.done(repository_id, last, now)
    return aged


def age_batch_owners(owners: Mapping[str, tuple[EventT[Any], str | None]]) -> Aged:
    """age_owners with the worker's STATE_RETENTION_DAYS and PRODUCTION_ENVIRONMENTS."""
    return age_owners(
        owners,
        retention_days=settings.state_retention_days,
        production_environments=settings.production_environments,
    )
