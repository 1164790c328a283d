"""git.pull_requests and git.repositories -> entity tables, `repositories` rows, the
repository lookup cache in Redis, and marks for the projections.

Both topics are keyed by repository_id and co-partitioned with git.commits and
cicd.deployments, so a pull request's commits and deployments are in this worker's tables.
`pull_requests` rows carry stage durations derived from those too: agents.projection writes
them (within REFRESH_S, and all of them again after a restart or rebalance); this agent keeps
the durable record, the table's changelog, written before the batch's offsets commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import orjson
from faust import StreamT
from faust.types import EventT

from agents.batches import run_batches
from agents.entity_batch import Applied, EntityFamily, handle_entity_batch
from agents.projection import projection
from agents.retention import age_batch_owners
from app.main import app
from app.resources import cache
from app.topics import git_pull_requests, git_repositories
from models.git_activity import PullRequestMessage, RepositoryMessage
from stores.git_activity import RepositoryRow, repository_row, upsert_repositories
from tables.day_index import day_of
from tables.git_activity import (
    merge_pull_request_changes,
    merge_repository_changes,
    pull_request_index,
    pull_request_key,
    pull_requests,
    repositories,
)
from tables.instants import to_micros
from tables.pull_request_state import PullRequestChange, Review
from tables.repository_state import Repository, team_of

__all__ = [
    "process_pull_requests",
    "process_repositories",
    "handle_pull_request_batch",
    "handle_repository_batch",
    "pull_request_change_of",
    "REPOSITORY_CACHE_KEY",
]

REPOSITORY_CACHE_KEY = "processor:cache:repo:{}"  # seed 000's lookup cache
REPOSITORY_CACHE_TTL_S = 86_400


def pull_request_change_of(event: PullRequestMessage) -> PullRequestChange:
    """The merge input of one event; its type's own time defaults to the envelope timestamp."""
    data, kind, moment = event.data, event.event_type, to_micros(event.moment)
    return PullRequestChange(
        repository_id=event.repository_id,
        number=data.number,
        timestamp=to_micros(event.timestamp),
        author=data.author,
        title=data.title,
        base_branch=data.base_branch,
        created_at=moment if kind == "pull_request_opened" else to_micros(data.created_at),
        first_commit_at=to_micros(data.first_commit_at),
        merged_at=moment if kind == "pull_request_merged" else to_micros(data.merged_at),
        merge_commit_sha=data.merge_commit_sha,
        closed_at=moment if kind == "pull_request_closed" else to_micros(data.closed_at),
        commit_shas=data.commit_shas or (),
        review=Review(moment, data.reviewer, data.state) if kind == "pull_request_review_submitted" else None,
    )


def _keyed_pr_event(event: PullRequestMessage) -> tuple[str, PullRequestChange]:
    return pull_request_key(event.repository_id, event.data.number), pull_request_change_of(event)


def repository_snapshot_of(event: RepositoryMessage) -> Repository:
    data = event.data
    return Repository(
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


def _apply_pull_request(key: str, changes: list[PullRequestChange]) -> Applied:
    record, is_new = merge_pull_request_changes(pull_requests.get(key), changes)
    if is_new:
        pull_requests[key] = record
    # The repository's index lists the PR by number, under every day one of its events names.
    moments = {
        m
        for c in changes
        for m in (
            c.timestamp,
            c.created_at,
            c.merged_at,
            c.closed_at,
            c.review.submitted_at if c.review else None,
        )
        if m is not None
    }
    return Applied(
        changed=is_new,
        owner=changes[0].repository_id,
        effects=changes[0].number,
        days=tuple(sorted({day_of(m) for m in moments})),
    )


def _finish_pull_requests(applied: Mapping[str, Applied]) -> None:
    # Rows come from the projection (stage durations need the repository's commits and deployments).
    projection.mark_repositories({o.owner for o in applied.values() if o.changed and o.owner is not None})


PULL_REQUESTS: EntityFamily[PullRequestMessage, PullRequestChange] = EntityFamily(
    name="pull_requests",
    model=PullRequestMessage,
    key_field="repository_id",
    key_of=_repository_of,
    change_of=_keyed_pr_event,
    apply=_apply_pull_request,
    age=age_batch_owners,
    index=pull_request_index,
    index_entry=lambda key, applied: applied.effects,
    finish=_finish_pull_requests,
)


async def handle_pull_request_batch(events: Sequence[EventT[Any]]) -> None:
    """Process one batch of git.pull_requests messages."""
    await handle_entity_batch(events, PULL_REQUESTS)


def _apply_repository(repository_id: str, changes: list[Repository]) -> Applied:
    current = repositories.get(repository_id)
    record, is_new = merge_repository_changes(current, changes)
    after = Repository.from_record(record)
    # Every delivered repository's row, changed or not: the database may lack it after a crash.
    row = repository_row(after)
    moved: set[str] = set()
    if is_new:
        before = Repository.from_record(current) if current is not None else None
        moved = {team_of(before), team_of(after)}
        repositories[repository_id] = record  # last: a failure above leaves the table as it was
    return Applied(row, is_new, effects=moved)


async def _write_repositories(conn: asyncpg.Connection, applied: Mapping[str, Applied]) -> None:
    await upsert_repositories(conn, [outcome.rows for outcome in applied.values()])


async def _finish_repositories(applied: Mapping[str, Applied]) -> None:
    # A team change moves the repository's history between two teams' metrics_daily rows.
    projection.mark_teams({team for outcome in applied.values() for team in outcome.effects})
    projection.mark_repositories(applied)
    await cache.set_values(
        {REPOSITORY_CACHE_KEY.format(key): _cached(outcome.rows) for key, outcome in applied.items()},
        REPOSITORY_CACHE_TTL_S,
    )


REPOSITORIES: EntityFamily[RepositoryMessage, Repository] = EntityFamily(
    name="repositories",
    model=RepositoryMessage,
    key_field="repository_id",
    key_of=_repository_of,
    change_of=lambda event: (event.repository_id, repository_snapshot_of(event)),
    apply=_apply_repository,
    write=_write_repositories,
    rows_written=lambda applied: {"repositories": len(applied)},
    finish=_finish_repositories,
)


async def handle_repository_batch(events: Sequence[EventT[Any]]) -> None:
    """Process one batch of git.repositories messages."""
    await handle_entity_batch(events, REPOSITORIES)


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
