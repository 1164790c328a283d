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
    from agents.commits import process_commits
    from tables.commits import commit_days, commit_spans

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
        assert commit_spans["agent-repo"] == ["2025-10-01", "2025-10-01"]
    assert [tuple(r) for r in await rows(agent_database, "agent-repo")] == [("a1", 10), ("a2", 10)]
    assert await rows(agent_database, "other") == []


async def daily_row(url: str, repo: str) -> tuple[Any, ...] | None:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT commit_count, total_additions, total_deletions FROM commits_daily_stats WHERE repository_id = $1",
            repo,
        )
        return None if row is None else tuple(row)
    finally:
        await conn.close()


async def test_commits_agent_daily_totals_carried_batch_to_batch_equal_a_recount(
    app: Any, agent_database: str
) -> None:
    """The daily row comes from totals carried over from the previous batch's write:
    after new commits, redeliveries and a conflicting version replacing its numbers, it
    still equals the recount of the bucket and of the stored rows."""
    from agents.commits import process_commits
    from tables.commits import commit_days

    repo = "carried-repo"
    batches = [
        [commit("c1", repo=repo, additions=9), commit("c2", repo=repo, additions=4)],
        [commit("c1", repo=repo, additions=9), commit("c3", repo=repo, additions=7)],  # c1 again
        [commit("c1", repo=repo, additions=3)],  # conflicting numbers: the smaller are kept
        [commit("c4", repo=repo, additions=1), commit("c2", repo=repo, additions=4)],
    ]
    async with process_commits.test_context() as agent:
        for batch in batches:
            for value in batch:
                await agent.put(value, key=repo.encode())
            await asyncio.sleep(0.2)  # lets the batch be taken before the next one
        expected = (4, 3 + 4 + 7 + 1, 4)
        for _ in range(100):
            if await daily_row(agent_database, repo) == expected:
                break
            await asyncio.sleep(0.05)
        bucket = commit_days[compose_key(repo, "2025-10-01")]
        recount = day_totals(bucket)
        assert (recount.commit_count, recount.total_additions, recount.total_deletions) == expected
    assert await daily_row(agent_database, repo) == expected
    stored = await rows(agent_database, repo)
    assert (len(stored), sum(r["additions"] for r in stored)) == expected[:2]


async def test_commits_agent_acks_a_batch_only_once_its_rows_are_durable(app: Any, agent_database: str) -> None:
    """Write-behind: while a batch's write waits on the database, its messages are not acked
    (not committable), though the batch loop's body has returned; the write acks them."""
    from agents.commits import _writes, process_commits

    blocker = await asyncpg.connect(agent_database)
    holding = blocker.transaction()
    await holding.start()
    await blocker.execute("LOCK TABLE commits IN ACCESS EXCLUSIVE MODE")  # the write waits on it
    try:
        async with process_commits.test_context() as agent:
            try:
                events = [await agent.put(commit(f"held-{i}", repo="held-repo"), key=b"held-repo") for i in range(3)]
                for _ in range(100):
                    if _writes.in_flight:
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.3)  # the batch body has long returned
                assert _writes.in_flight
                held = [event.message.acked for event in events]
            finally:
                await holding.rollback()  # the agent must not stop with its write held
            await _writes.wait()
            assert held == [False, False, False]
            assert [event.message.acked for event in events] == [True, True, True]
            assert len(await rows(agent_database, "held-repo")) == 3
    finally:
        await blocker.close()


async def test_commits_agent_failure_in_one_bucket_dead_letters_it_and_keeps_nothing_of_it(
    app: Any, agent_database: str, monkeypatch: Any
) -> None:
    """A bug met deriving one (repository, day) bucket's rows costs that bucket's events:
    dead-lettered, the bucket left as it was in the table, no row or day total of it; the
    other buckets of the batch are written and the agent goes on."""
    import agents.commits as git
    from agents.commits import process_commits
    from tables.commits import commit_days

    real = git.commit_row

    def commit_row_with_a_bug(event: Any) -> Any:
        if event.repository_id == "bug-repo":
            raise RuntimeError("a bug met deriving this commit's row")
        return real(event)

    monkeypatch.setattr(git, "commit_row", commit_row_with_a_bug)
    async with process_commits.test_context() as agent:
        await agent.put(commit("b1", repo="bug-repo"), key=b"bug-repo")
        await agent.put(commit("g1", repo="fine-repo"), key=b"fine-repo")
        await agent.put(commit("b2", repo="bug-repo"), key=b"bug-repo")
        for _ in range(100):
            if await rows(agent_database, "fine-repo"):
                break
            await asyncio.sleep(0.05)
        await agent.put(commit("g2", repo="fine-repo"), key=b"fine-repo")  # the agent goes on
        for _ in range(100):
            if len(await rows(agent_database, "fine-repo")) == 2:
                break
            await asyncio.sleep(0.05)
        assert compose_key("bug-repo", "2025-10-01") not in commit_days
        assert day_totals(commit_days[compose_key("fine-repo", "2025-10-01")]).commit_count == 2
    assert [r["sha"] for r in await rows(agent_database, "fine-repo")] == ["g1", "g2"]
    assert await rows(agent_database, "bug-repo") == []
    assert await daily_row(agent_database, "bug-repo") is None
    assert await daily_row(agent_database, "fine-repo") == (2, 20, 2)
    conn = await asyncpg.connect(agent_database)
    try:
        dead = await conn.fetch("SELECT error_reason FROM dead_letters WHERE message_key = $1", b"bug-repo")
    finally:
        await conn.close()
    assert [r["error_reason"] for r in dead] == ["processing_error", "processing_error"]
