"""A team's repositories and their entities read back from the database, for the team views.

A team pools repositories that live in every partition, hence on every worker; rather than
fan a query out to all workers, the team views read the entity rows the workers write
(`deployments`, `incidents`, `commits`, `pull_requests`) and run the same pure functions as
the repository views over the pool (METRICS edge rule 7: samples pooled, not averaged). Any
worker answers without routing; the answer is as fresh as the rows (deployments, incidents
and commits are written before their offsets commit; pull-request rows within the
projection's refresh interval). A repository's team is its latest from `repositories`;
a repository without one belongs to ``unassigned``.

A view reads from a lookback on, not the whole history (``since``: the window's first day
less STATE_RETENTION_DAYS, the lookback the live repository views use, app.views.windowed):
what a window's answer needs, and what a year of history would otherwise make every read cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from app.db import Database
from stores.cicd import read_deployments, read_incidents
from stores.commits import read_commits
from stores.git_activity import read_pull_requests
from tables.repository_state import UNASSIGNED
from tables.snapshots import Entities

__all__ = [
    "team_repositories",
    "team_entities",
    "read_team",
    "read_repository",
    "read_organization",
    "organization_teams",
    "READ_TIMEOUT_S",
    "consistent_read",
]

READ_TIMEOUT_S = 10.0


@asynccontextmanager
async def consistent_read(database: Database) -> AsyncIterator[asyncpg.Connection]:
    """A read-only connection whose reads all see one snapshot (repeatable read), for at
    most READ_TIMEOUT_S: a view answers 503 rather than wait through the write path's retries."""
    pool = await database.pool()
    async with (
        asyncio.timeout(READ_TIMEOUT_S),
        pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        yield conn


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


# Every repository the database knows with its latest team: the same rule as
# _TEAM_REPOSITORIES, over all teams at once.
_ORGANIZATION_TEAMS = f"""
WITH known AS (
    SELECT repository_id FROM repositories
    UNION SELECT repository_id FROM deployments
    UNION SELECT repository_id FROM incidents
    UNION SELECT repository_id FROM pull_requests
)
SELECT k.repository_id, coalesce(r.team, '{UNASSIGNED}') FROM known k LEFT JOIN repositories r USING (repository_id)
ORDER BY 1
"""


async def organization_teams(conn: asyncpg.Connection) -> dict[str, str]:
    """Every repository the database knows -> its latest team (``unassigned`` without one)."""
    return {row[0]: row[1] for row in await conn.fetch(_ORGANIZATION_TEAMS)}


async def team_repositories(conn: asyncpg.Connection, team: str) -> list[str]:
    """The repositories of ``team`` (their latest team), as far as the database knows them."""
    return [row[0] for row in await conn.fetch(_TEAM_REPOSITORIES, team)]


async def team_entities(
    conn: asyncpg.Connection,
    repositories: list[str],
    *,
    with_pull_requests: bool,
    since: datetime | None = None,
) -> Entities:
    """The pooled entities of ``repositories``, each family read by its store (from ``since``
    on and the open items; None: the whole history)."""
    return Entities(
        deployments=await read_deployments(conn, repositories, since),
        incidents=await read_incidents(conn, repositories, since),
        commits=await read_commits(conn, repositories, since),
        pull_requests=await read_pull_requests(conn, repositories, since) if with_pull_requests else [],
    )


async def read_team(
    database: Database, team: str, *, with_pull_requests: bool, since: datetime | None = None
) -> tuple[list[str], Entities]:
    """``team``'s repositories and pooled entities, in one consistent read.

    Raises on a database error or after READ_TIMEOUT_S: a view answers 503 rather than wait
    through the write path's retries.
    """
    async with consistent_read(database) as conn:
        repositories = await team_repositories(conn, team)
        return repositories, await team_entities(
            conn, repositories, with_pull_requests=with_pull_requests, since=since
        )


async def read_repository(
    database: Database, repository_id: str, *, with_pull_requests: bool, since: datetime | None = None
) -> Entities:
    """One repository's entities from the database, which keeps the whole history, for a
    window that reaches past what the live tables keep (STATE_RETENTION_DAYS). Raises as
    read_team."""
    async with consistent_read(database) as conn:
        return await team_entities(conn, [repository_id], with_pull_requests=with_pull_requests, since=since)


async def read_organization(
    database: Database, *, with_pull_requests: bool, since: datetime | None = None
) -> tuple[dict[str, str], Entities]:
    """Every repository with its team, and all their entities pooled, in one consistent read
    (the organization's views and the page split the pool by repository and team). Raises
    as read_team."""
    async with consistent_read(database) as conn:
        teams = await organization_teams(conn)
        return teams, await team_entities(
            conn, list(teams), with_pull_requests=with_pull_requests, since=since
        )
