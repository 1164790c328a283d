"""git.commits end to end on the real stack: Tansu, PostgreSQL, Redis, a worker process."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from devtools.kafka_io import produce
from devtools.localstack import LocalStack
from devtools.sample_data import generate_commit_stream
from devtools.worker_process import WorkerProcess
from tests.integration.commit_truth import commit_truth, daily_from_view
from tests.integration.conftest import consumed, wait_consumed

pytestmark = pytest.mark.integration

PREFIX = "pipe"


def metric_sum(text: str, name: str, topic: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and f'topic="{topic}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def snapshot(db: Any) -> tuple[list[Any], list[Any]]:
    rows = db(
        "SELECT repository_id, sha, committed_at, author_email, message, files_changed, additions, deletions, "
        "source, xmin::text AS version FROM commits WHERE repository_id LIKE $1 ORDER BY 1, 2, 3",
        f"{PREFIX}-%",
    )
    daily = db(
        "SELECT repository_id, day, commit_count, total_additions, total_deletions, xmin::text AS version "
        "FROM commits_daily_stats WHERE repository_id LIKE $1 ORDER BY 1, 2",
        f"{PREFIX}-%",
    )
    return [tuple(r) for r in rows], [tuple(r) for r in daily]


def test_commits_land_once_with_daily_stats_and_survive_restart_and_resend(
    stack: LocalStack, worker: WorkerProcess, db: Any
) -> None:
    stream = generate_commit_stream(
        commits=5000,
        repositories=20,
        days=30,
        duplicate_rate=0.1,
        malformed=20,
        seed=11,
        repository_prefix=PREFIX,
    )
    expected_rows, expected_daily = commit_truth(stream.messages)
    assert len(expected_rows) == 5000
    dead_before = db("SELECT count(*) FROM dead_letters WHERE message_key = 'repo-broken'::bytea")[0][0]
    _, before = worker.get("/stats")
    failed_before = before["topics"].get("git.commits", {}).get("failed", 0)
    start = consumed(worker, "git.commits")

    asyncio.run(produce([stack.broker.bootstrap], "git.commits", stream.messages))
    wait_consumed(worker, "git.commits", start + len(stream.messages))

    rows, daily = snapshot(db)
    assert {(r[0], r[1], r[2]) for r in rows} == expected_rows
    assert len(rows) == len(expected_rows)
    assert all(r[3] == r[3].strip().lower() for r in rows if r[3])  # normalized emails
    assert {(r[0], r[1].date()): (r[2], r[3], r[4]) for r in daily} == expected_daily

    _, stats = worker.get("/stats")
    assert stats["topics"]["git.commits"]["failed"] - failed_before == 20
    dead = db(
        "SELECT topic, error_type, error_reason, original, message_key FROM dead_letters "
        "WHERE message_key = 'repo-broken'::bytea"
    )
    assert len(dead) - dead_before == 20
    assert {r["topic"] for r in dead} == {"git.commits"}
    malformed = {v for k, v in stream.messages if k == b"repo-broken"}
    assert {bytes(r["original"]) for r in dead} == malformed  # original bytes kept exactly
    assert {r["error_type"] for r in dead} == {"DecodeError", "ValidationError"}
    metrics = worker.get_text("/metrics")
    assert 'dlq_messages_total{error_type="ValidationError"}' in metrics
    assert metric_sum(metrics, "processor_messages_failed_total", "git.commits") >= 20
    assert metric_sum(metrics, "processor_messages_consumed_total", "git.commits") >= len(stream.messages)
    assert "processor_processing_duration_seconds_bucket" in metrics
    assert "processor_batch_size{" in metrics
    repositories = sorted({repo for repo, _ in expected_daily})
    live: dict[Any, Any] = {}
    for repo in repositories:
        status, answer = worker.get(f"/commits/{repo}/daily")
        assert status == 200
        live.update(daily_from_view(answer))
    assert live == expected_daily
    assert worker.get("/commits/no-such-repo/daily")[0] == 404
    status, health = worker.get("/health")
    assert (status, health["status"]) == (200, "healthy")
    assert health["kafka_connected"] and health["timescale_connected"] and health["redis_connected"]

    # Restart on the same local state, then deliver everything again: nothing changes,
    # not even a row version (xmin): no duplicate, no rewrite.
    worker.stop()
    worker.start()
    worker.wait_answering()
    asyncio.run(produce([stack.broker.bootstrap], "git.commits", stream.messages))
    wait_consumed(worker, "git.commits", len(stream.messages))
    assert snapshot(db) == (rows, daily)
    _, stats = worker.get("/stats")
    assert stats["topics"]["git.commits"]["dedupe_skipped"] > len(stream.messages) // 2  # Redis knew them
