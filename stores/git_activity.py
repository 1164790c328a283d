"""`pull_requests` and `repositories` rows: their mapping by column name, their upserts (one
statement per batch) and the pull requests' read.

A pull-request row holds the PR's fields, its review timeline and its stage durations
(METRICS "Pull-request cycle time"), which depend on the repository's commits and
deployments too: the row is rebuilt from table state whenever any of them changes. Rows
exist once the PR's ``created_at`` is known: `pull_requests` is a hypertable on it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import asyncpg
import orjson

from stores.columns import Columns
from tables.commit_state import Commit
from tables.cycle_time import stage_durations, timelines
from tables.deployment_state import Deployment, ShippedHistory
from tables.instants import from_micros, to_micros
from tables.pull_request_state import PullRequest, Review
from tables.repository_state import Repository
from tables.stats import SECONDS_PER_HOUR

__all__ = [
    "PullRequestRow",
    "RepositoryRow",
    "PULL_REQUEST_COLUMNS",
    "REPOSITORY_COLUMNS",
    "pull_request_rows",
    "pull_request_of_row",
    "repository_row",
    "upsert_pull_requests",
    "upsert_repositories",
    "read_pull_requests",
    "reviews_to_json",
    "reviews_from_json",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PullRequestRow:
    repository_id: str
    number: int
    created_at: datetime
    title: str | None
    author: str | None
    base_branch: str | None
    state: str  # open | merged | closed
    first_commit_at: datetime | None
    first_review_at: datetime | None
    first_approval_at: datetime | None
    merged_at: datetime | None
    closed_at: datetime | None
    deployed_at: datetime | None
    merge_commit_sha: str | None
    commit_shas: Annotated[Sequence[str], "text[]"]
    reviews: Annotated[str, "jsonb"]  # JSON list: reviews_to_json
    coding_hours: float | None
    pickup_hours: float | None
    review_hours: float | None
    deploy_hours: float | None
    cycle_time_hours: float | None
    review_time_hours: float | None

    @property
    def key(self) -> tuple[str, int]:
        return self.repository_id, self.number


@dataclass(frozen=True, slots=True, kw_only=True)
class RepositoryRow:
    repository_id: str
    name: str | None
    full_name: str | None
    default_branch: str | None
    team: str | None
    language: str | None
    archived: bool | None
    last_event_at: datetime


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / SECONDS_PER_HOUR


def reviews_to_json(reviews: Iterable[Review]) -> str:
    """The reviews column: ``[{"submitted_at": ISO, "reviewer", "state"}, ...]``."""
    return orjson.dumps(
        [{"submitted_at": _iso(r.submitted_at), "reviewer": r.reviewer, "state": r.state} for r in reviews]
    ).decode()


def _iso(micros: int | None) -> str | None:
    return None if micros is None else from_micros(micros).isoformat()


def reviews_from_json(text: str | None) -> tuple[Review, ...]:
    """The reviews back from their column."""
    reviews = []
    for item in orjson.loads(text or "[]"):
        moment = item.get("submitted_at")
        reviews.append(
            Review(
                to_micros(datetime.fromisoformat(moment)) if moment is not None else None,
                item.get("reviewer"),
                item.get("state"),
            )
        )
    return tuple(reviews)


def pull_request_rows(
    pull_requests: Iterable[PullRequest],
    commits: Iterable[Commit],
    deployments: Iterable[Deployment],
    production_environments: Collection[str],
    *,
    history: ShippedHistory | None = None,
) -> list[PullRequestRow]:
    """The rows of ``pull_requests`` (those with a known ``created_at``), stages included
    (``history``: the ``ship_history`` of ``deployments`` and ``commits``, when the caller has it)."""
    rows = []
    shipped = timelines(pull_requests, commits, deployments, production_environments, history=history)
    for timeline in shipped.values():
        pr = timeline.pull_request
        if pr.created_at is None:
            continue
        stages = stage_durations(timeline)
        state = "merged" if pr.merged_at is not None else "closed" if pr.closed_at is not None else "open"
        rows.append(
            PullRequestRow(
                repository_id=pr.repository_id,
                number=pr.number,
                created_at=from_micros(pr.created_at),
                title=pr.title,
                author=pr.author,
                base_branch=pr.base_branch,
                state=state,
                first_commit_at=from_micros(timeline.first_commit_at),
                first_review_at=from_micros(timeline.first_review_at),
                first_approval_at=from_micros(timeline.first_approval_at),
                merged_at=from_micros(pr.merged_at),
                closed_at=from_micros(pr.closed_at),
                deployed_at=from_micros(timeline.deployed_at),
                merge_commit_sha=pr.merge_commit_sha,
                commit_shas=pr.commit_shas,
                reviews=reviews_to_json(pr.reviews),
                coding_hours=_hours(stages.coding),
                pickup_hours=_hours(stages.pickup),
                review_hours=_hours(stages.review),
                deploy_hours=_hours(stages.deploy),
                cycle_time_hours=_hours(stages.cycle_time),
                review_time_hours=_hours(stages.review_time),
            )
        )
    return sorted(rows, key=lambda r: r.key)


def repository_row(snapshot: Repository) -> RepositoryRow:
    return RepositoryRow(
        repository_id=snapshot.repository_id,
        name=snapshot.name,
        full_name=snapshot.full_name,
        default_branch=snapshot.default_branch,
        team=snapshot.team,
        language=snapshot.language,
        archived=snapshot.archived,
        last_event_at=from_micros(snapshot.timestamp),
    )


PULL_REQUEST_COLUMNS = Columns(
    "pull_requests", PullRequestRow, key=("repository_id", "number", "created_at"), touched="updated_at"
)
REPOSITORY_COLUMNS = Columns("repositories", RepositoryRow, key=("repository_id",), touched="updated_at")

# A PR whose created_at changed (a later event corrected it) leaves no row under the old time.
_UPSERT_PULL_REQUESTS = f"""
WITH x AS (SELECT * FROM {PULL_REQUEST_COLUMNS.unnest()}
), stale AS (
    DELETE FROM pull_requests p USING x
    WHERE p.repository_id = x.repository_id AND p.number = x.number AND p.created_at <> x.created_at
)
{PULL_REQUEST_COLUMNS.insert()}
SELECT {PULL_REQUEST_COLUMNS.selected()} FROM x
{PULL_REQUEST_COLUMNS.on_conflict()}
"""
_UPSERT_REPOSITORIES = REPOSITORY_COLUMNS.upsert()
_READ_PULL_REQUESTS = PULL_REQUEST_COLUMNS.select() + ' WHERE "repository_id" = ANY($1::text[])'
# From a lookback on: pull requests with an event from then on, and the open ones whatever their age.
_READ_PULL_REQUESTS_SINCE = _READ_PULL_REQUESTS + (
    ' AND ("created_at" >= $2 OR "merged_at" >= $2 OR "closed_at" >= $2'
    ' OR ("merged_at" IS NULL AND "closed_at" IS NULL))'
)


async def upsert_pull_requests(conn: asyncpg.Connection, rows: Sequence[PullRequestRow]) -> None:
    if rows:
        # In key order: the agent, the ageing and the projection write the same rows from
        # concurrent transactions, and rows locked in different orders deadlocked.
        ordered = sorted(rows, key=lambda row: (row.repository_id, row.number, row.created_at))
        await conn.execute(_UPSERT_PULL_REQUESTS, *PULL_REQUEST_COLUMNS.arrays(ordered))


async def upsert_repositories(conn: asyncpg.Connection, rows: Sequence[RepositoryRow]) -> None:
    if rows:
        await conn.execute(_UPSERT_REPOSITORIES, *REPOSITORY_COLUMNS.arrays(rows))


def pull_request_of_row(row: PullRequestRow) -> PullRequest:
    """The pull request as the metrics read it (its stage columns are derived from it)."""
    return PullRequest(
        repository_id=row.repository_id,
        number=row.number,
        author=row.author,
        title=row.title,
        base_branch=row.base_branch,
        created_at=to_micros(row.created_at),
        first_commit_at=to_micros(row.first_commit_at),
        merged_at=to_micros(row.merged_at),
        merge_commit_sha=row.merge_commit_sha,
        closed_at=to_micros(row.closed_at),
        commit_shas=tuple(row.commit_shas or ()),
        reviews=reviews_from_json(row.reviews),
    )


async def read_pull_requests(
    conn: asyncpg.Connection, repositories: Sequence[str], since: datetime | None = None
) -> list[PullRequest]:
    """Every pull request of ``repositories`` that has a row (a known ``created_at``);
    ``since``: only those open or with an event from then on."""
    if since is None:
        records = await conn.fetch(_READ_PULL_REQUESTS, list(repositories))
    else:
        records = await conn.fetch(_READ_PULL_REQUESTS_SINCE, list(repositories), since)
    return [pull_request_of_row(PULL_REQUEST_COLUMNS.row_of(r)) for r in records]
