"""SEI metrics end to end on the real stack: a generated 60-day history of 20 repositories
in 4 teams (commits, pull requests, repositories, deployments, incidents, Jira issues and
sprints; late events and redeliveries included) through the broker, the worker(s), their
tables and PostgreSQL. Every HTTP answer, the entity rows and metrics_daily equal the truth
computed in the test from the same events (tests.org_truth); the projections reach
metrics.dora and Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from aiokafka import AIOKafkaConsumer

from devtools.localstack import LocalStack
from devtools.org_history import generate_sei_history
from devtools.worker_process import WorkerProcess
from tables.instants import to_micros
from tests.integration.conftest import isolated_env, new_worker, temporary_database, wait_for
from tests.integration.org_checks import (
    http_mismatches,
    jsonable,
    metrics_daily_mismatches,
    mismatches,
    produce_history,
    row_mismatches,
    window_sums,
)
from tests.org_truth import truth_of

pytestmark = pytest.mark.integration

# Today's UTC midnight: the projections' 30-day snapshot (ending now) then covers the history.
END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def settled(check: Callable[[], list[str]], timeout_s: float, what: str) -> None:
    """Wait until ``check`` finds nothing wrong; fail with what it still finds."""
    last: list[str] = []

    def ok() -> bool:
        nonlocal last
        last = check()
        return not last

    wait_for(ok, timeout_s, lambda: f"{what}: {len(last)} mismatches, first {last[:8]}", poll_s=1.0)


async def latest_snapshots(bootstrap: str, repositories: set[str]) -> dict[str, dict[str, Any]]:
    consumer = AIOKafkaConsumer("metrics.dora", bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    latest: dict[str, dict[str, Any]] = {}
    try:
        for _ in range(15):
            for batch in (await consumer.getmany(timeout_ms=300, max_records=10_000)).values():
                for record in batch:
                    if record.key is not None and record.key.decode() in repositories:
                        latest[record.key.decode()] = orjson.loads(record.value)
        return latest
    finally:
        await consumer.stop()


def test_sei_history_answers_rows_and_projections_equal_truth(
    stack: LocalStack, worker: WorkerProcess, database_url: str, redis_url: str
) -> None:
    prefix = f"m{uuid.uuid4().hex[:5]}"
    history = generate_sei_history(repositories=20, teams=4, days=60, seed=17, end=END, prefix=prefix)
    truth = truth_of(history.events)
    sample = truth.dora(history.repositories, end=to_micros(END), window_days=30)
    assert sample["lead_time"]["count"] > 100 and sample["change_failure_rate"]["failed_deployments"] > 3
    produce_history(stack.broker.bootstrap, history)

    settled(lambda: http_mismatches(worker, history, truth, END), 150, "HTTP answers")
    settled(lambda: row_mismatches(database_url, history, truth), 30, "entity rows")
    settled(lambda: metrics_daily_mismatches(database_url, history, truth), 30, "metrics_daily")

    # metrics_daily agrees with the API over whole-day windows ending at midnight.
    for repo in history.repositories[:5]:
        _, answer = worker.get(f"/dora/{repo}?window=30d&end={END.isoformat().replace('+00:00', 'Z')}")
        sums = window_sums(
            database_url, repo, ("deployments", "lead_time_count", "incidents_resolved"), END, 30
        )
        assert sums.get("deployments") == answer["deployment_frequency"]["deployments"]
        assert sums.get("lead_time_count") == answer["lead_time"]["count"]
        assert sums.get("incidents_resolved") == answer["time_to_restore"]["count"]

    # The projections: the latest 30-day snapshot of each repository on metrics.dora and in Redis.
    def published() -> list[str]:
        latest = asyncio.run(latest_snapshots(stack.broker.bootstrap, set(history.repositories)))
        found = [f"metrics.dora: no snapshot of {r}" for r in history.repositories if r not in latest]
        client = redis.Redis.from_url(redis_url)
        for repo, snapshot in latest.items():
            end = to_micros(datetime.fromisoformat(snapshot["end"]))
            expected = jsonable({"repository_id": repo, **truth.dora([repo], end=end, window_days=30)})
            found.extend(f"metrics.dora {repo}{m}" for m in mismatches(snapshot, expected))
            cached = client.get(f"processor:snapshot:dora:{repo}")
            if cached is None or orjson.loads(cached)["repository_id"] != repo:
                found.append(f"redis: no snapshot of {repo}")
        return found

    settled(published, 40, "published snapshots")
    assert worker.get("/dora/teams/no-such-team")[0] == 404
    assert worker.get(f"/cycle-time/{history.repositories[0]}?window=12d")[0] == 400
    assert worker.get(f"/dora/{history.repositories[0]}?end=yesterday")[0] == 400
    assert worker.get("/issues/NOPE-1")[0] == 404 and worker.get("/sprints/NOPE")[0] == 404


@pytest.fixture
def own_database(stack: LocalStack) -> Iterator[str]:
    with temporary_database(stack, "sei_two") as url:
        yield url


def test_two_workers_answer_every_key_alike(stack: LocalStack, own_database: str, tmp_path: Path) -> None:
    """Two workers in one new group: each answers every repository, team, issue and project
    (routed to the owner where the state is live), equal to the truth."""
    env = isolated_env(stack, own_database, "sei-two")
    prefix = f"t{uuid.uuid4().hex[:5]}"
    history = generate_sei_history(repositories=8, teams=2, days=30, seed=23, end=END, prefix=prefix)
    truth = truth_of(history.events)
    first, second = new_worker(env, tmp_path, "a").start(), new_worker(env, tmp_path, "b").start()
    try:
        first.wait_answering()
        second.wait_answering()
        produce_history(stack.broker.bootstrap, history)
        settled(lambda: http_mismatches(first, history, truth, END), 150, "answers of worker a")
        assert not http_mismatches(second, history, truth, END)
        settled(lambda: row_mismatches(own_database, history, truth), 30, "entity rows")
        settled(lambda: metrics_daily_mismatches(own_database, history, truth), 30, "metrics_daily")
        _, stats_a = first.get("/stats")
        _, stats_b = second.get("/stats")
        for topic in ("git.commits", "git.pull_requests"):  # both workers did part of the work
            assert stats_a["topics"].get(topic, {}).get("consumed", 0) > 0
            assert stats_b["topics"].get(topic, {}).get("consumed", 0) > 0
    finally:
        second.stop()
        first.stop()
