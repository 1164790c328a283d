"""Topics on a fresh broker (issue 20 part 1): the worker declares every topic before it is
ready or accepts anything; a topic with the wrong partition count is reported, left out,
and the other topics flow.

Each test runs its own broker: the session broker has the source topics created already
(tests/integration/conftest.py), which is what hid this.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaClient
from aiokafka.admin import AIOKafkaAdminClient

from devtools.kafka_io import create_topics, produce
from devtools.localstack import Broker, LocalStack, start_broker
from devtools.org_history import SeiHistory, generate_sei_history
from devtools.worker_process import WorkerProcess, get_answer
from tests.integration.conftest import isolated_env, new_worker, temporary_database, wait_for

pytestmark = pytest.mark.integration

API_KEY = "topics-key-" + uuid.uuid4().hex


@pytest.fixture
def fresh_broker(tmp_path: Path) -> Iterator[Broker]:
    broker = start_broker(log_path=tmp_path / "tansu.log")
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def topics_db(stack: LocalStack) -> Iterator[str]:
    with temporary_database(stack, "sei_topics") as url:
        yield url


def start_worker(stack: LocalStack, broker: Broker, database: str, root: Path, **extra: str) -> WorkerProcess:
    env = isolated_env(
        stack, database, "topics", KAFKA_BROKERS=f"tansu://{broker.bootstrap}", INGEST_API_KEYS=API_KEY, **extra
    )
    return new_worker(env, root, "w").start()


def post_event(worker: WorkerProcess, ident: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    body = {"id": ident, "payload": {"event_type": "metric", "source": "topics-it", "data": {"value": 1}}}
    request = urllib.request.Request(
        f"{worker.url}/ingest",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-API-Key": API_KEY},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null"), dict(exc.headers)


def query(url: str, sql: str, *args: Any) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def broker_partitions(bootstrap: str) -> dict[str, int]:
    async def run() -> dict[str, int]:
        client = AIOKafkaClient(bootstrap_servers=bootstrap)
        await client.bootstrap()
        try:
            cluster = await client.fetch_all_metadata()
        finally:
            await client.close()
        return {t: len(cluster.partitions_for_topic(t) or ()) for t in cluster.topics()}

    return asyncio.run(run())


def distinct_keys(history: SeiHistory, topic: str, field: str) -> int:
    return len({(e["repository_id"], e["data"][field]) for t, e in history.events if t == topic})


def produce_all(bootstrap: str, history: SeiHistory, *, skip: tuple[str, ...] = ()) -> None:
    for topic, messages in history.messages().items():
        if topic not in skip:
            asyncio.run(produce([bootstrap], topic, messages))


def test_fresh_broker_ingest_503_until_verified_and_producer_at_readiness_loses_nothing(
    stack: LocalStack, fresh_broker: Broker, topics_db: str, tmp_path: Path
) -> None:
    worker = start_worker(stack, fresh_broker, topics_db, tmp_path)
    try:
        # From the moment the web server answers: POST /ingest until 40 are accepted.
        answers: list[tuple[int, str | None, str]] = []
        accepted: list[str] = []
        deadline = time.monotonic() + 120
        while len(accepted) < 40 and time.monotonic() < deadline:
            ident = f"topics-{uuid.uuid4().hex[:12]}"
            try:
                status, body, headers = post_event(worker, ident)
            except (OSError, ValueError):
                time.sleep(0.005)
                continue
            answers.append((status, headers.get("Retry-After"), str(body.get("error", ""))))
            if status == 202:
                accepted.append(ident)
        assert len(accepted) == 40, answers[-5:]
        first_accepted = next(i for i, a in enumerate(answers) if a[0] == 202)
        refused = answers[:first_accepted]
        # Usually a few refusals: the web server starts just before declaration (the
        # deterministic case is the blocked worker below).
        assert all(status == 503 and retry == "5" and "events.ingest" in error for status, retry, error in refused)
        assert all(a[0] == 202 for a in answers[first_accepted:])
        wait_for(
            lambda: query(topics_db, "SELECT count(*) FROM ingested_events WHERE id = ANY($1)", accepted) == 40,
            120,
            lambda: f"the 40 accepted events stored (worker exit code {worker.process and worker.process.poll()})",
        )

        # Readiness: 200 once topics, assignment and tables are done; then a producer starts.
        wait_for(lambda: get_answer(f"{worker.url}/health/ready")[0] == 200, 120, "/health/ready 200")
        history = generate_sei_history(repositories=6, teams=2, days=8, prefix=f"tp{uuid.uuid4().hex[:5]}")
        produce_all(fresh_broker.bootstrap, history)

        prefix = history.repositories[0].rsplit("-", 2)[0] + "-%"
        commits = distinct_keys(history, "git.commits", "sha")
        deployments = distinct_keys(history, "cicd.deployments", "id")

        def stored() -> tuple[int, int, int]:
            return (
                query(topics_db, "SELECT count(*) FROM ingested_events WHERE id = ANY($1)", accepted),
                query(topics_db, "SELECT count(DISTINCT (repository_id, sha)) FROM commits WHERE repository_id LIKE $1", prefix),
                query(topics_db, "SELECT count(*) FROM deployments WHERE repository_id LIKE $1", prefix),
            )

        wait_for(lambda: stored() == (40, commits, deployments), 120, lambda: f"stored {stored()} of {(40, commits, deployments)}")
        partitions = broker_partitions(fresh_broker.bootstrap)
        for topic in ("events.ingest", "git.commits", "cicd.deployments", "dlq-events", "metrics.dora"):
            assert partitions[topic] == 8, (topic, partitions)
        status, live, _ = get_answer(f"{worker.url}/health/live")
        assert (status, live) == (200, {"status": "alive"})
        assert worker.process is not None and worker.process.poll() is None
    finally:
        worker.stop()


def test_source_topic_with_wrong_count_reported_left_out_and_others_flow(
    stack: LocalStack, fresh_broker: Broker, topics_db: str, tmp_path: Path
) -> None:
    asyncio.run(create_topics([fresh_broker.bootstrap], ["git.commits"], partitions=4))
    worker = start_worker(stack, fresh_broker, topics_db, tmp_path)
    try:
        worker.wait_answering()
        wait_for(lambda: worker.get("/health")[1]["topics"]["state"] == "mismatch", 60, "the mismatch on /health")
        status, health = worker.get("/health")
        assert (status, health["status"]) == (200, "degraded")
        (problem,) = health["topics"]["problems"]
        assert (problem["topic"], problem["partitions_found"], problem["partitions_needed"]) == ("git.commits", 4, 8)
        assert "recreate 'git.commits' with 8 partitions" in problem["fix"] and "TOPIC_PARTITIONS=4" in problem["fix"]
        ready_status, ready, _ = get_answer(f"{worker.url}/health/ready")
        assert ready_status == 503 and any("git.commits" in r for r in ready["reasons"])
        log = worker.log_path.read_text()
        assert '"event": "topics.partitions_mismatch"' in log and '"partitions_found": 4' in log

        history = generate_sei_history(repositories=6, teams=2, days=8, prefix=f"tw{uuid.uuid4().hex[:5]}")
        produce_all(fresh_broker.bootstrap, history)
        ingest_status, _, _ = post_event(worker, ident := f"topics-{uuid.uuid4().hex[:12]}")
        assert ingest_status == 202
        prefix = history.repositories[0].rsplit("-", 2)[0] + "-%"
        deployments = distinct_keys(history, "cicd.deployments", "id")
        wait_for(
            lambda: query(topics_db, "SELECT count(*) FROM deployments WHERE repository_id LIKE $1", prefix) == deployments
            and query(topics_db, "SELECT count(*) FROM ingested_events WHERE id = $1", ident) == 1,
            120,
            "the deployments and the ingested event",
        )
        # git.commits is not read at all: nothing stored, dead-lettered or committed for it.
        assert query(topics_db, "SELECT count(*) FROM commits") == 0
        assert query(topics_db, "SELECT count(*) FROM dead_letters") == 0
        assert "git.commits" not in worker.get("/stats")[1]["partitions"]
        assert worker.process is not None and worker.process.poll() is None
    finally:
        worker.stop()


def test_changelog_with_wrong_count_holds_everything_until_fixed(
    stack: LocalStack, fresh_broker: Broker, topics_db: str, tmp_path: Path
) -> None:
    """Before the worker is ready nothing is accepted; a table's changelog with the wrong count
    keeps it there (every agent writes tables), and it goes on once the topic is fixed."""
    group = f"topics-{uuid.uuid4().hex[:8]}"
    changelog = f"{group}-commit_days-changelog"
    asyncio.run(create_topics([fresh_broker.bootstrap], [changelog], partitions=2))
    worker = start_worker(stack, fresh_broker, topics_db, tmp_path, CONSUMER_GROUP_ID=group)
    try:
        worker.wait_answering()
        wait_for(lambda: worker.get("/health")[1]["topics"]["state"] == "blocked", 60, "the changelog mismatch")
        status, body, headers = post_event(worker, f"topics-{uuid.uuid4().hex[:12]}")
        assert (status, headers.get("Retry-After")) == (503, "5") and changelog in body["error"]
        ready_status, ready, _ = get_answer(f"{worker.url}/health/ready")
        assert ready_status == 503 and ready["topics"] == "blocked"
        assert any(changelog in r and "'commit_days'" in r for r in ready["reasons"])
        assert worker.get("/health")[1]["consuming"] is False
        assert '"event": "topics.consumption_blocked"' in worker.log_path.read_text()

        async def delete() -> None:
            admin = AIOKafkaAdminClient(bootstrap_servers=fresh_broker.bootstrap)
            await admin.start()
            try:
                await admin.delete_topics([changelog])
            finally:
                await admin.close()

        asyncio.run(delete())
        wait_for(lambda: get_answer(f"{worker.url}/health/ready")[0] == 200, 120, "/health/ready 200 once fixed")
        assert broker_partitions(fresh_broker.bootstrap)[changelog] == 8
        status, _, _ = post_event(worker, ident := f"topics-{uuid.uuid4().hex[:12]}")
        assert status == 202
        wait_for(lambda: query(topics_db, "SELECT count(*) FROM ingested_events WHERE id = $1", ident) == 1, 60, "stored")
    finally:
        worker.stop()


def run_topics(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    faust = Path(sys.executable).with_name("faust")
    return subprocess.run(
        [str(faust), "-A", "app", *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )


def test_topics_command_lists_creates_and_checks_with_exit_codes(fresh_broker: Broker, stack: LocalStack) -> None:
    asyncio.run(create_topics([fresh_broker.bootstrap], ["cicd.deployments"], partitions=3))
    group = f"cli-{uuid.uuid4().hex[:6]}"
    env = {**stack.env, "KAFKA_BROKERS": f"tansu://{fresh_broker.bootstrap}", "CONSUMER_GROUP_ID": group}

    check = run_topics(env, "topics", "check")
    assert check.returncode == 1, check.stderr
    assert "missing: create them with `faust -A app topics create`" in check.stderr
    assert "recreate 'cicd.deployments' with 8 partitions" in check.stderr

    create = run_topics(env, "topics", "create")
    assert create.returncode == 1, create.stderr  # the mismatch is still there
    assert "created git.commits" in create.stdout and f"created {group}-commit_days-changelog" in create.stdout
    assert "cicd.deployments" not in create.stdout

    listed = run_topics(env, "--json", "topics", "list")
    assert listed.returncode == 0, listed.stderr
    rows = {row["topic"]: row for row in json.loads(listed.stdout)}
    assert rows["cicd.deployments"] == {
        "topic": "cicd.deployments", "role": "source", "partitions_needed": 8, "partitions_found": 3, "state": "mismatch"
    }
    assert rows[f"{group}-issues-changelog"]["role"] == "changelog"
    assert {r["state"] for t, r in rows.items() if t != "cicd.deployments"} == {"ok"}
    assert broker_partitions(fresh_broker.bootstrap)["dlq-events"] == 8

    unreachable = run_topics({**env, "KAFKA_BROKERS": "tansu://127.0.0.1:9"}, "topics", "check")
    assert unreachable.returncode == 1 and "(KAFKA_BROKERS)" in unreachable.stderr
