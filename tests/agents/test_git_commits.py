"""The git.commits agent under Faust's test_context: tables and rows, no broker."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import orjson

from tables.commit_state import day_totals
from tables.keys import compose_key


def commit(
    sha: str, *, repo: str = "agent-repo", additions: int = 10, when: str = "2025-10-01T12:00:00Z"
) -> bytes:
    return orjson.dumps(
        {
            "event_type": "commit_created",
            "timestamp": when,
            "source": "github",
            "repository_id": repo,
            "data": {"sha": sha, "author": "A@B.c", "additions": additions, "deletions": 1},
        }
    )


async def rows(url: str, repo: str) -> list[Any]:
    conn = await asyncpg.connect(url)
    try:
        return list(
            await conn.fetch("SELECT sha, additions FROM commits WHERE repository_id = $1 ORDER BY sha", repo)
        )
    finally:
        await conn.close()


async def test_commits_agent_redelivery_changes_nothing(app: Any, agent_database: str) -> None:
    from agents.git import process_commits
    from tables.commits import commit_days, commit_repository_days

    async with process_commits.test_context() as agent:
        for sha in ("a1", "a2", "a1", "a2"):  # each delivered twice
            await agent.put(commit(sha), key=b"agent-repo")
        await agent.put(b"{broken", key=b"agent-repo")
        await agent.put(commit("x9", repo="other"), key=b"agent-repo")  # wrong key: refused
        for _ in range(100):
            if await rows(agent_database, "agent-repo"):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        bucket = commit_days[compose_key("agent-repo", "2025-10-01")]
        assert day_totals(bucket).commit_count == 2
        assert day_totals(bucket).total_additions == 20
        assert commit_repository_days["agent-repo"] == ["2025-10-01"]
    assert [tuple(r) for r in await rows(agent_database, "agent-repo")] == [("a1", 10), ("a2", 10)]
    assert await rows(agent_database, "other") == []
