"""git.* agents. ``git.commits``: decode -> validate -> normalize -> merge into the day
buckets of ``commit_days`` -> upsert `commits` rows and `commits_daily_stats`, one
database transaction per batch (one statement when there is nothing to dead-letter).

The database write starts inside the batch loop's body and runs while the next batch is
prepared (runtime.write_behind); it never raises (transient errors are retried until
the database answers, refused rows dead-lettered), and the batch's messages are acked, so
their offsets committable, only once its rows are durable.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg
from faust import StreamT
from faust.types import EventT

from agents.acceptance import accept
from agents.batches import retried_writes, run_write_behind, skip_done
from agents.dlq import DeadLetterBatch
from agents.entity_batch import processing_failed
from agents.intake import Rejection
from agents.projection import projection
from agents.retention import age_batch_owners
from app.db import is_data_error
from app.logging import get_logger
from app.main import app
from app.resources import database, metrics
from app.topics import git_commits
from models.commits import CommitMessage
from runtime.coalesced import READ_CACHE_KEYS
from runtime.event_context import acting_for
from stores.commits import CommitRow, CommitStore, DailyStatsRow, commit_row, daily_stats_row
from stores.dead_letters import store_dead_letters
from stores.isolating import write_rows_isolating
from tables.commit_state import CommitVersion, TotalsOfWrittenBuckets, is_canonical, merge_version
from tables.commits import commit_days, commit_spans
from tables.day_index import keep_spans
from tables.instants import to_micros
from tables.keys import compose_key

__all__ = ["process_commits", "prepare_commit_batch"]

log = get_logger("sei.agents.commits")
_store = CommitStore()
_writes = retried_writes("git.commits")
# As many buckets as the table's read cache keeps decoded: the ones batches come back to.
_bucket_totals = TotalsOfWrittenBuckets(READ_CACHE_KEYS)


def version_of(event: CommitMessage) -> CommitVersion:
    data = event.data
    return CommitVersion(
        sha=data.sha,
        committed_at=to_micros(event.committed_at),
        additions=data.additions,
        deletions=data.deletions,
        files_changed=data.files_changed,
        pull_request_number=data.pull_request_number,
    )


@dataclass(slots=True)
class DayWork:
    """The commits of one batch that fall into one (repository, day) bucket."""

    repository_id: str
    day: str  # ISO date
    event: EventT[Any]  # any event of the group: all share the repository's partition
    commits: list[tuple[EventT[Any], CommitMessage, CommitVersion]] = field(default_factory=list)


@dataclass(slots=True)
class CommitBatch:
    rows: dict[tuple[str, str, int], tuple[CommitRow, EventT[Any]]] = field(default_factory=dict)
    daily: list[DailyStatsRow] = field(default_factory=list)
    valid: int = 0
    duplicates: int = 0


def apply_day(bucket_key: str, work: DayWork, batch: CommitBatch) -> None:
    """Merge one bucket's commits into the table (one write) and collect its rows.

    Everything is derived before anything is kept: a failure (a bug) leaves the table, the
    totals cache and the batch as they were, and only these events are dead-lettered.
    """
    with acting_for(work.event):
        stored = commit_days.get(bucket_key)
        totals = _bucket_totals.start(bucket_key, stored)
        day = dict(stored or {})
        changed = False
        for _, _, version in work.commits:
            changed |= merge_version(day, version, totals)
        before = stored or {}
        seen: set[str] = set()
        duplicates = 0
        rows: dict[tuple[str, str, int], tuple[CommitRow, EventT[Any]]] = {}
        for event, commit, version in work.commits:
            key = version.key
            if key in before or key in seen:
                duplicates += 1
            seen.add(key)
            # Rows are written for every delivery, changed or not: after a crash the table
            # may already hold what the database never received.
            if is_canonical(day, version):
                rows[(commit.repository_id, version.sha, version.committed_at)] = (commit_row(commit), event)
        daily = daily_stats_row(work.repository_id, date.fromisoformat(work.day), totals.totals())
        if changed:
            commit_days[bucket_key] = day
    _bucket_totals.remember(bucket_key, day if changed else stored or day, totals)
    batch.valid += len(work.commits)
    batch.duplicates += duplicates
    batch.rows.update(rows)
    batch.daily.append(daily)


def index_days(groups: dict[str, DayWork]) -> None:
    """Make sure every bucket of the batch is within its repository's span of days."""
    listed: dict[str, tuple[EventT[Any], set[str]]] = {}
    for work in groups.values():
        listed.setdefault(work.repository_id, (work.event, set()))[1].add(work.day)
    keep_spans(commit_spans, listed)


async def write_commit_batch(batch: CommitBatch, letters: DeadLetterBatch) -> int:
    """Write rows, daily totals and dead letters in one transaction.

    Rows the database refuses (a data error) are isolated and dead-lettered; returns how
    many. Transient errors are retried inside ``database.transaction`` until it answers.
    """
    rows = [row for row, _ in batch.rows.values()]

    async def write_together(conn: asyncpg.Connection) -> bool:
        return await _store.upsert_batch(conn, rows, batch.daily)

    async def write_all(conn: asyncpg.Connection) -> None:
        await _store.upsert_commits(conn, rows)
        await _store.upsert_daily(conn, batch.daily)
        await store_dead_letters(conn, letters.letters)

    try:
        # The usual batch in one statement; dead letters or rows JSON cannot carry in a
        # transaction of several.
        if letters.letters or not await database.statement(write_together, what="commits"):
            await database.transaction(write_all, what="commits")
        refused: list[tuple[CommitRow, Exception]] = []
    except Exception as exc:
        if not is_data_error(exc):
            raise
        refused = await write_rows_isolating(database, rows, _store.upsert_commits, what="commits")
        events = {(row.repository_id, row.sha, row.committed_at): event for row, event in batch.rows.values()}
        for row, error in refused:
            letters.add(
                events[(row.repository_id, row.sha, row.committed_at)],
                Rejection("db_data_error", f"{type(error).__name__}: {error}", type(error).__name__),
            )

        async def write_rest(conn: asyncpg.Connection) -> None:
            await _store.upsert_daily(conn, batch.daily)
            await store_dead_letters(conn, letters.letters)

        await database.transaction(write_rest, what="commits_daily_stats")
    metrics.record_rows("commits", len(rows) - len(refused))
    metrics.record_rows("commits_daily_stats", len(batch.daily))
    return len(refused)


def _repository_of(commit: CommitMessage) -> str:
    return commit.repository_id


def _placed(commit: CommitMessage) -> tuple[CommitMessage, CommitVersion, str, str]:
    day = commit.committed_at.date().isoformat()
    return commit, version_of(commit), day, compose_key(commit.repository_id, day)


def group_by_day(events: Sequence[EventT[Any]], letters: DeadLetterBatch) -> dict[str, DayWork]:
    """Valid commits grouped by (repository, day) bucket; the rest dead-lettered."""
    groups: dict[str, DayWork] = {}
    for event in events:
        placed = accept(event, CommitMessage, letters, "repository_id", _repository_of, _placed)
        if placed is None:
            continue
        commit, version, day, bucket_key = placed
        work = groups.get(bucket_key)
        if work is None:
            work = groups[bucket_key] = DayWork(commit.repository_id, day, event)
        work.commits.append((event, commit, version))
    return groups


async def prepare_commit_batch(events: Sequence[EventT[Any]]) -> Callable[[], Awaitable[None]]:
    """Decode, validate and merge one batch of git.commits messages into the tables;
    returns its database write (and what follows it), not yet started."""
    started = time.perf_counter()
    topic = events[0].message.topic
    batch = CommitBatch()
    letters = DeadLetterBatch()
    fresh = await skip_done(events)
    groups = group_by_day(fresh.events, letters)
    for bucket_key, work in groups.items():
        try:
            apply_day(bucket_key, work, batch)
        except Exception as exc:
            processing_failed([event for event, _, _ in work.commits], letters, exc, f"commits {bucket_key}")
    index_days(groups)
    oldest: dict[str, tuple[EventT[Any], str | None]] = {}
    for work in groups.values():
        known = oldest.get(work.repository_id)
        day = work.day if known is None or known[1] is None else min(known[1], work.day)
        oldest[work.repository_id] = (work.event, day)
    aged = age_batch_owners(oldest)
    prepared = time.perf_counter() - started

    async def write() -> None:
        write_started = time.perf_counter()
        refused = await write_commit_batch(batch, letters)
        if aged:  # what the tables forgot, stored before the batch's offsets commit
            await database.transaction(aged.write, what="aged state")
        letters.publish()
        # Lead times, PR stages and daily buckets of these repositories may have moved.
        projection.mark_repositories({work.repository_id for work in groups.values()})
        fresh.remember_when_committed()
        metrics.record_batch(
            topic,
            consumed=len(events),
            processed=batch.valid - refused + fresh.skipped,
            duplicates=batch.duplicates + fresh.skipped,
            skipped=fresh.skipped,
            seconds=prepared + time.perf_counter() - write_started,
        )

    return write


@app.agent(git_commits, concurrency=1)
async def process_commits(stream: StreamT[bytes]) -> None:
    """git.commits -> commit_days table, `commits` and `commits_daily_stats` rows.

    A batch's database write runs while the next batch is prepared; its messages are
    acked, and so committable, once it is done (runtime.write_behind).
    """
    await run_write_behind(stream, prepare_commit_batch, _writes, what="git.commits")
