"""SIGTERM while a batch is in the middle of its database write.

The write is held back by a lock on `commits`; meanwhile no offset may be committed; the
worker gets SIGTERM; the lock is released a few seconds later. The batch must be written
and its offsets committed before the worker exits (within 30 s), and a restarted worker
must read every message after the committed offsets exactly once: nothing lost, nothing
read twice.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from devtools.kafka_io import create_topics
from devtools.localstack import Broker, LocalStack
from devtools.sample_data import generate_commit_stream
from tests.integration.commit_truth import commit_truth
from tests.integration.conftest import wait_for
from tests.reliability.conftest import fault_env, new_worker, query
from tests.reliability.test_bad_input import send_all

pytestmark = pytest.mark.integration

PARTITIONS = 8
COMMIT_INTERVAL_S = 2.8  # Faust's broker_commit_interval


class TableLock:
    """Holds ACCESS EXCLUSIVE on a table from a thread until released."""

    def __init__(self, url: str, table: str) -> None:
        self.url, self.table = url, table
        self.held = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._hold()), daemon=True)

    async def _hold(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            async with conn.transaction():
                await conn.execute(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE")
                self.held.set()
                while not self.release.is_set():
                    await asyncio.sleep(0.05)
        finally:
            await conn.close()

    def __enter__(self) -> TableLock:
        self.thread.start()
        assert self.held.wait(10), "could not lock the table"
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(10)


def committed_offsets(bootstrap: str, group: str) -> dict[int, int]:
    async def fetch() -> dict[int, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            answer = {}
            for partition in range(PARTITIONS):
                offset = await consumer.committed(TopicPartition("git.commits", partition))
                answer[partition] = offset or 0
            return answer
        finally:
            await consumer.stop()

    return asyncio.run(fetch())


def waiting_on_lock(url: str) -> int:
    return int(
        query(
            url,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
            "AND query LIKE '%INSERT INTO commits %'",
        )[0][0]
    )


def test_sigterm_mid_batch_flushes_commits_and_restart_reads_nothing_twice(
    stack: LocalStack, own_database: str, private_broker: Broker, tmp_path: Path
) -> None:
    prefix = f"term{uuid.uuid4().hex[:6]}"
    bootstrap = private_broker.bootstrap
    asyncio.run(create_topics([bootstrap], ["git.commits"], partitions=PARTITIONS))
    env = fault_env(stack, own_database, KAFKA_BROKERS=f"tansu://{bootstrap}", BATCH_SIZE="200")
    messages = generate_commit_stream(
        commits=3000, repositories=12, days=20, duplicate_rate=0.05, malformed=0, seed=81, repository_prefix=prefix
    ).messages
    expected_rows, _ = commit_truth(messages)
    first = new_worker(env, tmp_path, "first").start()
    try:
        first.wait_answering()
        with TableLock(own_database, "commits"):
            sent = asyncio.run(send_all(bootstrap, [(k, v, []) for k, v in messages]))
            wait_for(lambda: waiting_on_lock(own_database) > 0, 60, "a batch write waiting on the lock")
            # The agent has gone on to the next batch while this one's write waits
            # (runtime.write_behind): commits come and go, and commit none of it.
            time.sleep(2 * COMMIT_INTERVAL_S + 1)
            held = committed_offsets(bootstrap, env["CONSUMER_GROUP_ID"])
            assert sum(held.values()) == 0, f"offsets committed before their rows were durable: {held}"
            first.process.send_signal(signal.SIGTERM)
            terminated_at = time.monotonic()
            time.sleep(3)  # the worker is shutting down with the batch still unwritten
            assert first.process.poll() is None, "the worker exited with its batch unwritten"
        exit_code = first.process.wait(40)
        shutdown_s = time.monotonic() - terminated_at
    finally:
        first.stop()
    assert exit_code == 0, f"worker exited with {exit_code}"
    assert 3 < shutdown_s < 30, f"shutdown took {shutdown_s:.1f} s"

    # The committed offsets and the durable rows describe the same messages: the held
    # batch was written and committed, nothing unwritten was committed. (Its size is not
    # fixed: take() also yields on its BATCH_TIMEOUT_MS timer, with what it holds.)
    committed = committed_offsets(bootstrap, env["CONSUMER_GROUP_ID"])
    assert sum(committed.values()) > 0, committed
    below = [messages[i] for i, meta in enumerate(sent) if meta.offset < committed[meta.partition]]
    durable = {
        (r["repository_id"], r["sha"])
        for r in query(own_database, "SELECT repository_id, sha FROM commits WHERE repository_id LIKE $1", f"{prefix}-%")
    }
    assert {(repo, sha) for repo, sha, _ in commit_truth(below)[0]} == durable

    # A restarted worker reads exactly the rest, once.
    second = new_worker(env, tmp_path, "second").start()
    try:
        second.wait_answering()
        wait_for(
            lambda: len(query(own_database, "SELECT 1 FROM commits WHERE repository_id LIKE $1", f"{prefix}-%"))
            >= len(expected_rows),
            120,
            "every row after the restart",
        )

        def consumed() -> int:
            return int(second.get("/stats")[1]["topics"].get("git.commits", {}).get("consumed", 0))

        remaining = len(messages) - sum(committed.values())
        wait_for(lambda: consumed() >= remaining, 60, lambda: f"the rest consumed: {consumed()} of {remaining}")
        time.sleep(2)  # anything read twice would show up here
        assert consumed() == remaining
    finally:
        second.stop()
