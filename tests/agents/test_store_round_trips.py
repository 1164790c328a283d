"""Entities written by their family's store come back from its read unchanged, on a real
PostgreSQL: every field reaches its own column and returns from it (the team views pool
what these reads return)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from models.commits import CommitMessage
from stores.cicd import upsert_deployments, upsert_incidents
from stores.commits import CommitStore, commit_row, read_commits
from stores.git_activity import pull_request_rows, upsert_pull_requests
from stores.teams import team_entities
from tables.commit_state import Commit
from tables.deployment_state import Deployment
from tables.incident_state import Incident
from tables.pull_request_state import PullRequest, Review

REPO = "round-trip-repo"
T = 1_759_320_000_123_456  # 2025-10-01T12:00:00.123456Z in microseconds
TABLES = ("deployments", "incidents", "pull_requests", "commits")


@pytest.fixture
async def conn(agent_database: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(agent_database)

    async def clean() -> None:
        for table in TABLES:
            await connection.execute(f"DELETE FROM {table} WHERE repository_id = $1", REPO)

    await clean()
    try:
        yield connection
    finally:
        await clean()
        await connection.close()


DEPLOYMENTS = [
    Deployment(REPO, "d-all", "production", "success", T + 60, T, "sha-1", ("sha-1", "sha-2"), (7, 8)),
    Deployment(REPO, "d-none", "staging", "failure", T + 120),  # nothing optional given
    Deployment(REPO, "d-empty", "production", "success", T + 180, commit_shas=(), pull_request_numbers=()),
]
INCIDENTS = [
    Incident(REPO, "i-all", T, T + 3_600_000_000, "d-all", "outage", "sev1", "api"),
    Incident(REPO, "i-none", None),
]
PULL_REQUESTS = [
    PullRequest(
        REPO,
        7,
        author="ann",
        title="Add a thing",
        base_branch="main",
        created_at=T - 7_200_000_000,
        first_commit_at=T - 9_000_000_000,
        merged_at=T - 60_000_000,
        merge_commit_sha="sha-1",
        commit_shas=("sha-1", "sha-2"),
        reviews=(Review(T - 3_600_000_000, "bob", "approved"), Review(None, None, "commented")),
    ),
    PullRequest(REPO, 8, created_at=T - 1_000_000),  # open, nothing else known
]


async def test_cicd_and_pull_request_entities_come_back_as_written(conn: asyncpg.Connection) -> None:
    await upsert_deployments(conn, DEPLOYMENTS)
    await upsert_incidents(conn, INCIDENTS)
    await upsert_pull_requests(conn, pull_request_rows(PULL_REQUESTS, [], DEPLOYMENTS, {"production"}))
    read = await team_entities(conn, [REPO], with_pull_requests=True)
    assert sorted(read.deployments, key=lambda d: d.id) == sorted(DEPLOYMENTS, key=lambda d: d.id)
    assert sorted(read.incidents, key=lambda i: i.id) == INCIDENTS
    assert sorted(read.pull_requests, key=lambda p: p.number) == PULL_REQUESTS
    assert (await team_entities(conn, [REPO], with_pull_requests=False)).pull_requests == []


def commit_message(sha: str, when: str, **data: object) -> CommitMessage:
    return CommitMessage.model_validate(
        {"event_type": "commit_created", "timestamp": when, "repository_id": REPO, "data": {"sha": sha, **data}}
    )


async def test_commits_come_back_as_the_metrics_read_them(conn: asyncpg.Connection) -> None:
    messages = [
        commit_message("sha-1", "2025-10-01T12:00:00.123456Z", pull_request_number=7, message="one"),
        commit_message("sha-2", "2025-10-01T13:00:00Z"),
    ]
    await CommitStore().upsert_commits(conn, [commit_row(m) for m in messages])
    assert sorted(await read_commits(conn, [REPO]), key=lambda c: c.sha) == [
        Commit(REPO, "sha-1", T, 7),
        Commit(REPO, "sha-2", T + 3_600_000_000 - 123_456, None),
    ]
