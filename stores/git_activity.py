"""Rows of `pull_requests` and `repositories`, and their upserts (one statement per batch).

A pull-request row holds the PR's fields, its review timeline and its stage durations
(METRICS "Pull-request cycle time"), which depend on the repository's commits and
deployments too: the row is rebuilt from table state whenever any of them changes. Rows
exist once the PR's ``created_at`` is known: `pull_requests` is a hypertable on it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import orjson

from tables.commit_state import Commit
from tables.cycle_time import stage_durations, timelines
from tables.deployment_state import Deployment
from tables.instants import from_micros, to_micros
from tables.pull_request_state import PullRequest, Review
from tables.repository_state import Repository
from tables.stats import SECONDS_PER_HOUR

__all__ = [
    "PullRequestRow",
    "RepositoryRow",
    "pull_request_rows",
    "repository_row",
    "upsert_pull_requests",
    "upsert_repositories",
    "reviews_to_json",
    "reviews_from_json",
]

_SEPARATOR = chr(31)  # arrays of arrays must be rectangular: each row's shas travel as one string


@dataclass(frozen=True, slots=True)
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
    commit_shas: tuple[str, ...]
    reviews: str  # JSON list
    coding_hours: float | None
    pickup_hours: float | None
    review_hours: float | None
    deploy_hours: float | None
    cycle_time_hours: float | None
    review_time_hours: float | None

    @property
    def key(self) -> tuple[str, int]:
        return self.repository_id, self.number


@dataclass(frozen=True, slots=True)
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
) -> list[PullRequestRow]:
    """The rows of ``pull_requests`` (those with a known ``created_at``), stages included."""
    rows = []
    for timeline in timelines(pull_requests, commits, deployments, production_environments).values():
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


_PR_COLUMNS = (
    "title, author, base_branch, state, first_commit_at, first_review_at, first_approval_at, merged_at, "
    "closed_at, deployed_at, merge_commit_sha, commit_shas, reviews, coding_hours, pickup_hours, review_hours, "
    "deploy_hours, cycle_time_hours, review_time_hours"
)
_PR_UPDATES = ", ".join(f"{c.strip()} = EXCLUDED.{c.strip()}" for c in _PR_COLUMNS.split(","))
_PR_OLD = ", ".join(f"p.{c.strip()}" for c in _PR_COLUMNS.split(","))
_PR_NEW = ", ".join(f"EXCLUDED.{c.strip()}" for c in _PR_COLUMNS.split(","))

# A PR whose created_at changed (a later event corrected it) leaves no row under the old time.
_UPSERT_PULL_REQUESTS = f"""
WITH x AS (
    SELECT * FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[],
                         $12::timestamptz[], $13::timestamptz[], $14::text[], $15::text[], $16::text[],
                         $17::float8[], $18::float8[], $19::float8[], $20::float8[], $21::float8[], $22::float8[])
        AS x(repository_id, number, created_at, title, author, base_branch, state, first_commit_at,
             first_review_at, first_approval_at, merged_at, closed_at, deployed_at, merge_commit_sha,
             commit_shas, reviews, coding_hours, pickup_hours, review_hours, deploy_hours, cycle_time_hours,
             review_time_hours)
), stale AS (
    DELETE FROM pull_requests p USING x
    WHERE p.repository_id = x.repository_id AND p.number = x.number AND p.created_at <> x.created_at
)
INSERT INTO pull_requests AS p (repository_id, number, created_at, {_PR_COLUMNS})
SELECT repository_id, number, created_at, title, author, base_branch, state, first_commit_at, first_review_at,
       first_approval_at, merged_at, closed_at, deployed_at, merge_commit_sha,
       string_to_array(commit_shas, chr(31)), reviews::jsonb, coding_hours, pickup_hours, review_hours,
       deploy_hours, cycle_time_hours, review_time_hours
FROM x
ON CONFLICT (repository_id, number, created_at) DO UPDATE SET {_PR_UPDATES}, updated_at = now()
WHERE ({_PR_OLD}) IS DISTINCT FROM ({_PR_NEW})
"""

_UPSERT_REPOSITORIES = """
INSERT INTO repositories AS r (repository_id, name, full_name, default_branch, team, language, archived,
                               last_event_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[],
                     $8::timestamptz[])
ON CONFLICT (repository_id) DO UPDATE SET
    name = EXCLUDED.name, full_name = EXCLUDED.full_name, default_branch = EXCLUDED.default_branch,
    team = EXCLUDED.team, language = EXCLUDED.language, archived = EXCLUDED.archived,
    last_event_at = EXCLUDED.last_event_at, updated_at = now()
WHERE (r.name, r.full_name, r.default_branch, r.team, r.language, r.archived, r.last_event_at)
    IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.full_name, EXCLUDED.default_branch, EXCLUDED.team,
                      EXCLUDED.language, EXCLUDED.archived, EXCLUDED.last_event_at)
"""


async def upsert_pull_requests(conn: asyncpg.Connection, rows: Sequence[PullRequestRow]) -> None:
    if not rows:
        return
    await conn.execute(
        _UPSERT_PULL_REQUESTS,
        [r.repository_id for r in rows],
        [r.number for r in rows],
        [r.created_at for r in rows],
        [r.title for r in rows],
        [r.author for r in rows],
        [r.base_branch for r in rows],
        [r.state for r in rows],
        [r.first_commit_at for r in rows],
        [r.first_review_at for r in rows],
        [r.first_approval_at for r in rows],
        [r.merged_at for r in rows],
        [r.closed_at for r in rows],
        [r.deployed_at for r in rows],
        [r.merge_commit_sha for r in rows],
        [_SEPARATOR.join(r.commit_shas) for r in rows],
        [r.reviews for r in rows],
        [r.coding_hours for r in rows],
        [r.pickup_hours for r in rows],
        [r.review_hours for r in rows],
        [r.deploy_hours for r in rows],
        [r.cycle_time_hours for r in rows],
        [r.review_time_hours for r in rows],
    )


async def upsert_repositories(conn: asyncpg.Connection, rows: Sequence[RepositoryRow]) -> None:
    if not rows:
        return
    await conn.execute(
        _UPSERT_REPOSITORIES,
        [r.repository_id for r in rows],
        [r.name for r in rows],
        [r.full_name for r in rows],
        [r.default_branch for r in rows],
        [r.team for r in rows],
        [r.language for r in rows],
        [r.archived for r in rows],
        [r.last_event_at for r in rows],
    )
