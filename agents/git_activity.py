"""git.pull_requests and git.repositories -> entity tables, `repositories` rows, the
repository lookup cache in Redis, and marks for the projections.

Both topics are keyed by repository_id and co-partitioned with git.commits and
cicd.deployments, so a pull request's commits and deployments are in this worker's tables.
`pull_requests` rows carry stage durations derived from those too: agents.projection writes
them (within REFRESH_S, and all of them again after a restart or rebalance); this agent keeps
the durable record, the table's changelog, written before the batch's offsets commit.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson
from faust import StreamT
from faust.types import EventT

from agents.acceptance import accept
from agents.batches import run_batches, skip_done
from agents.dlq import DeadLetterBatch, store_dead_letters
from agents.entity_batch import EntityWork, processing_failed, record_batch
from agents.git_activity_sink import RepositoryRow, repository_row, upsert_repositories
from agents.projection import projection
from app.main import app
from app.resources import cache, database, metrics
from app.topics import git_pull_requests, git_repositories
from models.git_events import PullRequestEventModel, RepositoryEvent
from tables.event_context import acting_for
from tables.git_activity import (
    merge_pull_request_events,
    merge_repository_events,
    pull_request_key,
    pull_requests,
    repositories,
    repository_pull_requests,
)
from tables.instants import to_micros
from tables.pull_request_state import PullRequestEvent, Review
from tables.repository_state import RepositorySnapshot, team_of

__all__ = [
    "process_pull_requests",
    "process_repositories",
    "handle_pull_request_batch",
    "handle_repository_batch",
    "pull_request_event_of",
    "REPOSITORY_CACHE_KEY",
]

REPOSITORY_CACHE_KEY = "processor:cache:repo:{}"  # seed 000's lookup cache
REPOSITORY_CACHE_TTL_S = 86_400


def _micros(moment: Any) -> int | None:
    return None if moment is None else to_micros(moment)


def pull_request_event_of(event: PullRequestEventModel) -> PullRequestEvent:
    """The merge input of one event; its type's own time defaults to the envelope timestamp."""
    data, kind, moment = event.data, event.event_type, to_micros(event.moment)
    return PullRequestEvent(
        repository_id=event.repository_id,
        number=data.number,
        timestamp=to_micros(event.timestamp),
        author=data.author,
        title=data.title,
        base_branch=data.base_branch,
        created_at=moment if kind == "pull_request_opened" else _micros(data.created_at),
        first_commit_at=_micros(data.first_commit_at),
        merged_at=moment if kind == "pull_request_merged" else _micros(data.merged_at),
        merge_commit_sha=data.merge_commit_sha,
        closed_at=moment if kind == "pull_request_closed" else _micros(data.closed_at),
        commit_shas=data.commit_shas or (),
        review=Review(moment, data.reviewer, data.state) if kind == "pull_request_review_submitted" else None,
    )


def _keyed_pr_event(event: PullRequestEventModel) -> tuple[str, PullRequestEvent]:
    return pull_request_key(event.repository_id, event.data.number), pull_request_event_of(event)


def repository_snapshot_of(event: RepositoryEvent) -> RepositorySnapshot:
    data = event.data
    return RepositorySnapshot(
        repository_id=event.repository_id,
        timestamp=to_micros(event.timestamp),
        name=data.name,
        full_name=data.full_name,
        default_branch=data.default_branch,
        team=data.team,
        language=data.language,
        archived=data.archived,
    )


def _repository_of(event: Any) -> str:
    return str(event.repository_id)


async def _store_letters(letters: DeadLetterBatch, what: str) -> None:
    if len(letters):
        await database.transaction(lambda conn: store_dead_letters(conn, letters.letters), what=what)


def index_pull_requests(listed: dict[str, tuple[EventT, set[int]]]) -> None:
    """Make sure every PR of the batch is in its repository's index (checked on every delivery:
    a crash between the two changelog writes is completed by the redelivery)."""
    for repository_id, (event, numbers) in listed.items():
        with acting_for(event):
            known = repository_pull_requests.get(repository_id) or []
            if not numbers.issubset(known):
                repository_pull_requests[repository_id] = sorted(numbers.union(known))


async def handle_pull_request_batch(events: Sequence[EventT]) -> None:
    """Process one batch of git.pull_requests messages."""
    started = time.perf_counter()
    letters = DeadLetterBatch()
    fresh = await skip_done(events)
    groups: dict[str, EntityWork] = {}
    listed: dict[str, tuple[EventT, set[int]]] = {}
    for event in fresh.events:
        change = accept(event, PullRequestEventModel, letters, "repository_id", _repository_of, _keyed_pr_event)
        if change is None:
            continue
        key, pr_event = change
        groups.setdefault(key, EntityWork(event)).add(event, pr_event)
    changed: set[str] = set()
    for key, work in groups.items():
        first: PullRequestEvent = work.changes[0]
        try:
            with acting_for(work.event):
                record, is_new = merge_pull_request_events(pull_requests.get(key), work.changes)
                if is_new:
                    pull_requests[key] = record
        except Exception as exc:
            processing_failed(work, letters, exc, "pull_requests")
            continue
        listed.setdefault(first.repository_id, (work.event, set()))[1].add(first.number)
        if is_new:
            changed.add(first.repository_id)
    index_pull_requests(listed)
    await _store_letters(letters, "git.pull_requests dead letters")
    letters.publish()
    projection.mark_repositories(changed)
    fresh.remember_when_committed()
    record_batch(events, fresh, letters, started)


async def handle_repository_batch(events: Sequence[EventT]) -> None:
    """Process one batch of git.repositories messages."""
    started = time.perf_counter()
    letters = DeadLetterBatch()
    fresh = await skip_done(events)
    groups: dict[str, EntityWork] = {}
    for event in fresh.events:
        snapshot = accept(event, RepositoryEvent, letters, "repository_id", _repository_of, repository_snapshot_of)
        if snapshot is not None:
            groups.setdefault(snapshot.repository_id, EntityWork(event)).add(event, snapshot)
    rows: list[RepositoryRow] = []
    teams: set[str] = set()
    for repository_id, work in groups.items():
        try:
            with acting_for(work.event):
                current = repositories.get(repository_id)
                record, is_new = merge_repository_events(current, work.changes)
                after = RepositorySnapshot.from_record(record)
                # Every delivered repository's row, changed or not: the database may lack it after a crash.
                row = repository_row(after)
                moved: set[str] = set()
                if is_new:
                    before = RepositorySnapshot.from_record(current) if current is not None else None
                    moved = {team_of(before), team_of(after)}
                    repositories[repository_id] = record  # last: a failure above leaves the table as it was
        except Exception as exc:
            processing_failed(work, letters, exc, "repositories")
            continue
        rows.append(row)
        teams.update(moved)

    async def write(conn: asyncpg.Connection) -> None:
        await upsert_repositories(conn, rows)
        await store_dead_letters(conn, letters.letters)

    await database.transaction(write, what="repositories")
    letters.publish()
    # A team change moves the repository's history between two teams' metrics_daily rows.
    projection.mark_teams(teams)
    projection.mark_repositories({row.repository_id for row in rows})
    await cache.set_values(
        {REPOSITORY_CACHE_KEY.format(row.repository_id): _cached(row) for row in rows}, REPOSITORY_CACHE_TTL_S
    )
    fresh.remember_when_committed()
    metrics.record_rows("repositories", len(rows))
    record_batch(events, fresh, letters, started)


def _cached(row: RepositoryRow) -> bytes:
    return orjson.dumps(
        {
            "repository_id": row.repository_id,
            "name": row.name,
            "full_name": row.full_name,
            "default_branch": row.default_branch,
            "team": row.team,
            "language": row.language,
            "archived": row.archived,
            "updated_at": row.last_event_at.isoformat(),
        }
    )


@app.agent(git_pull_requests, concurrency=1)
async def process_pull_requests(stream: StreamT[bytes]) -> None:
    """git.pull_requests -> pull_requests table (rows: agents.projection)."""
    await run_batches(stream, handle_pull_request_batch, what="git.pull_requests")


@app.agent(git_repositories, concurrency=1)
async def process_repositories(stream: StreamT[bytes]) -> None:
    """git.repositories -> repositories table, `repositories` rows, Redis lookup cache."""
    await run_batches(stream, handle_repository_batch, what="git.repositories")
