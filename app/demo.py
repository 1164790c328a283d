"""`make demo`: the main job on the embedded default, start to finish.

Starts the local stack, migrates a fresh demo database, starts a worker, produces a
realistic stream of commits (many repositories, authors and days, with duplicates and
malformed messages), waits until the worker has processed all of it, prints what landed,
then stops everything it started.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from app.kafka_io import create_topics, produce
from app.localstack import free_port, fresh_database, local_stack
from app.sample_data import generate_commit_stream
from app.worker_process import WorkerProcess

COMMITS = int(os.environ.get("DEMO_COMMITS", "20000"))


def say(text: str) -> None:
    print(text, flush=True)


async def landed(url: str) -> dict[str, object]:
    conn = await asyncpg.connect(url)
    try:
        commits = await conn.fetchval("SELECT count(*) FROM commits")
        days = await conn.fetch(
            "SELECT repository_id, day::date AS day, commit_count, total_additions, total_deletions "
            "FROM commits_daily_stats ORDER BY commit_count DESC, repository_id, day LIMIT 5"
        )
        totals = await conn.fetchrow(
            "SELECT count(*) AS rows, coalesce(sum(commit_count), 0)::bigint AS commits FROM commits_daily_stats"
        )
        return {
            "commits": commits,
            "top_days": days,
            "daily_rows": totals["rows"],
            "daily_commits": totals["commits"],
        }
    finally:
        await conn.close()


def wait_processed(worker: WorkerProcess, expected: int, timeout_s: float = 300) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    last = -1
    while time.monotonic() < deadline:
        _, stats = worker.get("/stats")
        topic = stats["topics"].get("git.commits", {})
        consumed = topic.get("consumed", 0)
        if consumed != last:
            say(f"  consumed {consumed:>7,} / {expected:,}")
            last = consumed
        if consumed >= expected:
            return dict(topic)
        time.sleep(1.0)
    raise TimeoutError(f"worker consumed {last} of {expected} messages in {timeout_s} s")


def main() -> int:
    root = Path(os.environ.get("DATA_DIR", "data")).resolve() / "demo"
    shutil.rmtree(root / "worker", ignore_errors=True)  # the broker is fresh: so is local state
    root.mkdir(parents=True, exist_ok=True)
    with local_stack(root.parent, log_dir=root) as stack:
        say("== local stack\n" + stack.describe())
        demo_db = urlunsplit(urlsplit(stack.database_url)._replace(path="/sei_demo"))
        env = {**stack.env, "TIMESCALE_URL": demo_db, "BATCH_TIMEOUT_MS": "1000"}
        say("== fresh database sei_demo, migrated: alembic upgrade head")
        asyncio.run(fresh_database(demo_db))
        asyncio.run(create_topics([stack.broker.bootstrap], ["git.commits"], partitions=8))
        worker = WorkerProcess(env, root / "worker", free_port(), root / "worker.log").start()
        try:
            say(f"== worker: faust -A app worker (web {worker.url}, log {worker.log_path})")
            worker.wait_ready()
            stream = generate_commit_stream(commits=COMMITS, repositories=20, days=30, malformed=20)
            say(
                f"== producing {len(stream.messages):,} messages to git.commits: {stream.unique_commits:,} commits, "
                f"{stream.duplicates:,} duplicates, {stream.malformed} malformed"
            )
            started = time.monotonic()
            asyncio.run(produce([stack.broker.bootstrap], "git.commits", stream.messages))
            topic = wait_processed(worker, len(stream.messages))
            elapsed = time.monotonic() - started
            say(f"== processed in {elapsed:.1f} s ({len(stream.messages) / elapsed:,.0f} messages/s)")
            result = asyncio.run(landed(demo_db))
            say(
                f"== database: {result['commits']:,} rows in commits (expected {stream.unique_commits:,} unique)"
            )
            say(
                f"   commits_daily_stats: {result['daily_rows']} rows, {result['daily_commits']:,} commits counted"
            )
            for row in result["top_days"]:  # type: ignore[attr-defined]
                say(
                    f"   {row['repository_id']} {row['day']}: {row['commit_count']} commits "
                    f"+{row['total_additions']} -{row['total_deletions']}"
                )
            say(f"== /stats git.commits: {json.dumps(topic)}")
            say(f"== /health: {json.dumps(worker.get('/health')[1])}")
            ok = result["commits"] == stream.unique_commits == result["daily_commits"]
            say("== OK: every unique commit landed once" if ok else "== MISMATCH: see above")
            return 0 if ok else 1
        finally:
            worker.stop()
            say("== stopped worker and local stack")


if __name__ == "__main__":
    sys.exit(main())
