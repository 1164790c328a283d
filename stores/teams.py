"""A team's entities read back from the database, for the team views.

A team pools repositories that live in every partition, hence on every worker; rather than
fan a query out to all workers, the team views read the entity rows the workers write
(`deployments`, `incidents`, `commits`, `pull_requests`) and run the same pure functions as
the repository views over the pool (METRICS edge rule 7: samples pooled, not averaged). Any
worker answers without routing; the answer is as fresh as the rows (deployments, incidents
and commits are written before their offsets commit; pull-request rows within the
projection's refresh interval). A repository's team is its latest from `repositories`;
a repository without one belongs to ``unassigned``.
"""

from __future__ import annotations

import asyncio

import asyncpg

from app.db import Database
from stores.git_activity import reviews_from_json
from tables.commit_state import Commit
from tables.deployment_state import Deployment
from tables.incident_state import Incident
from tables.instants import to_micros
from tables.pull_request_state import PullRequest
from tables.repository_state import UNASSIGNED
from tables.snapshots import Entities

__all__ = ["team_repositories", "team_entities", "read_team", "read_repository", "READ_TIMEOUT_S"]

READ_TIMEOUT_S = 10.0

_TEAM_REPOSITORIES = f"""
WITH known AS (
    SELECT repository_id FROM repositories
    UNION SELECT repository_id FROM deployments
    UNION SELECT repository_id FROM incidents
    UNION SELECT repository_id FROM pull_requests
)
SELECT k.repository_id FROM known k LEFT JOIN repositories r USING (repository_id)
WHERE coalesce(r.team, '{UNASSIGNED}') = $1
ORDER BY 1
"""
_DEPLOYMENTS = """
SELECT repository_id, deployment_id, environment, status, started_at, finished_at, commit_sha, commit_shas,
       pull_request_numbers
FROM deployments WHERE repository_id = ANY($1::text[])
"""
_INCIDENTS = """
SELECT repository_id, incident_id, opened_at, resolved_at, deployment_id, title, severity, service
FROM incidents WHERE repository_id = ANY($1::text[])
"""
_COMMITS = "SELECT repository_id, sha, committed_at, pull_request_number FROM commits WHERE repository_id = ANY($1::text[])"
_PULL_REQUESTS = """
SELECT repository_id, number, author, title, base_branch, created_at, first_commit_at, merged_at,
       merge_commit_sha, closed_at, commit_shas, reviews::text AS reviews
FROM pull_requests WHERE repository_id = ANY($1::text[])
"""


def _tuple(values: list[object] | None) -> tuple[object, ...] | None:
    return None if values is None else tuple(values)


async def team_repositories(conn: asyncpg.Connection, team: str) -> list[str]:
    """The repositories of ``team`` (their latest team), as far as the database knows them."""
    return [row[0] for row in await conn.fetch(_TEAM_REPOSITORIES, team)]


async def team_entities(
    conn: asyncpg.Connection, repositories: list[str], *, with_pull_requests: bool
) -> Entities:
    """The pooled entities of ``repositories``."""
    deployments = [
        Deployment(
            r["repository_id"],
            r["deployment_id"],
            r["environment"],
            r["status"],
            to_micros(r["finished_at"]),
            to_micros(r["started_at"]),
            r["commit_sha"],
            _tuple(r["commit_shas"]),  # type: ignore[arg-type]
            _tuple(r["pull_request_numbers"]),  # type: ignore[arg-type]
        )
        for r in await conn.fetch(_DEPLOYMENTS, repositories)
    ]
    incidents = [
        Incident(
            r["repository_id"],
            r["incident_id"],
            to_micros(r["opened_at"]),
            to_micros(r["resolved_at"]),
            r["deployment_id"],
            r["title"],
            r["severity"],
            r["service"],
        )
        for r in await conn.fetch(_INCIDENTS, repositories)
    ]
    commits = [
        Commit(r["repository_id"], r["sha"], to_micros(r["committed_at"]), r["pull_request_number"])
        for r in await conn.fetch(_COMMITS, repositories)
    ]
    pull_requests = []
    if with_pull_requests:
        pull_requests = [
            PullRequest(
                r["repository_id"],
                r["number"],
                author=r["author"],
                title=r["title"],
                base_branch=r["base_branch"],
                created_at=to_micros(r["created_at"]),
                first_commit_at=to_micros(r["first_commit_at"]),
                merged_at=to_micros(r["merged_at"]),
                merge_commit_sha=r["merge_commit_sha"],
                closed_at=to_micros(r["closed_at"]),
                commit_shas=tuple(r["commit_shas"] or ()),
                reviews=reviews_from_json(r["reviews"]),
            )
            for r in await conn.fetch(_PULL_REQUESTS, repositories)
        ]
    return Entities(deployments, incidents, commits, pull_requests)


async def read_team(database: Database, team: str, *, with_pull_requests: bool) -> tuple[list[str], Entities]:
    """``team``'s repositories and pooled entities, in one consistent read.

    Raises on a database error or after READ_TIMEOUT_S: a view answers 503 rather than wait
    through the write path's retries.
    """
    pool = await database.pool()
    async with (
        asyncio.timeout(READ_TIMEOUT_S),
        pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        repositories = await team_repositories(conn, team)
        return repositories, await team_entities(conn, repositories, with_pull_requests=with_pull_requests)


async def read_repository(database: Database, repository_id: str, *, with_pull_requests: bool) -> Entities:
    """One repository's entities from the database: its whole history, for a window that
    reaches past what the live tables keep (STATE_RETENTION_DAYS). Raises as read_team."""
    pool = await database.pool()
    async with (
        asyncio.timeout(READ_TIMEOUT_S),
        pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        return await team_entities(conn, [repository_id], with_pull_requests=with_pull_requests)
