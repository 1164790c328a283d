"""Table recovery on the local broker: true end offsets, fetch limits, restart, rebuild,
rebalance.

Each test runs its own consumer group (hence its own changelog topics) against its own
database, so its tables and rows contain exactly its own history.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiokafka
import asyncpg
import pytest
from faust.transport import by_url
from faust.types import TP

from devtools.kafka_io import create_topics, produce
from devtools.localstack import LocalStack
from devtools.sample_data import generate_commit_stream
from devtools.worker_process import WorkerProcess, get_answer
from runtime.transport import (
    KafkaTransport,
    TansuTransport,
    resolve_end_offsets,
    set_fetch_limits,
    start_probe,
)
from tests.integration.commit_truth import commit_truth, is_settling, live_daily
from tests.integration.conftest import isolated_env, new_worker, temporary_database, wait_for

pytestmark = pytest.mark.integration


async def end_offsets(bootstrap: str, topic: str, partitions: int) -> tuple[dict[TP, int], dict[TP, int]]:
    consumer = await start_probe([bootstrap], "test-end-offsets")
    try:
        tps = [aiokafka.TopicPartition(topic, p) for p in range(partitions)]
        reported = {TP(tp.topic, tp.partition): o for tp, o in (await consumer.end_offsets(tps)).items()}
        resolved = await resolve_end_offsets(consumer, reported)
        # The worker's probe lives as long as the worker: assigned, it would keep fetching.
        assert consumer.assignment() == set()
        return reported, resolved
    finally:
        await consumer.stop()


def test_tansu_end_offsets_after_batched_produce_are_resolved(stack: LocalStack) -> None:
    topic = f"offsets-{uuid.uuid4().hex[:8]}"
    bootstrap = stack.broker.bootstrap
    asyncio.run(create_topics([bootstrap], [topic], partitions=2))
    messages = [(b"k", b"v%d" % i) for i in range(1000)]
    asyncio.run(produce([bootstrap], topic, messages, linger_ms=50))
    reported, resolved = asyncio.run(end_offsets(bootstrap, topic, 2))
    assert sum(resolved.values()) == 1000
    # The broker bug itself, pinned: when a future Tansu answers ListOffsets right, this
    # fails and the tansu:// transport can go.
    assert sum(reported.values()) < 1000
    assert by_url(f"tansu://{bootstrap}") is TansuTransport
    assert by_url(f"sei-kafka://{bootstrap}") is KafkaTransport


async def produce_single_record_batches(bootstrap: str, topic: str, count: int) -> None:
    """``count`` records, each in a record batch of its own, then one batch of three
    tombstones last (ageing's shape at the end of a long changelog partition)."""
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=100, linger_ms=2)
    await producer.start()
    try:
        sent = [await producer.send(topic, b"x" * 50, key=b"k%d" % (n % 100), partition=0) for n in range(count)]
        await asyncio.gather(*sent)
        tombstones = producer.create_batch()
        for n in range(3):  # what a 100-byte batch holds
            assert tombstones.append(key=b"k%d" % n, value=None, timestamp=None) is not None
        tombstones.close()
        await (await producer.send_batch(tombstones, topic, partition=0))
    finally:
        await producer.stop()


def test_tansu_end_offsets_of_a_partition_of_40000_batches_are_resolved(stack: LocalStack) -> None:
    """A year's changelog partition holds tens of thousands of record batches; the broker
    lists them for every fetch and gives up listing at the fetch's max wait. The probe's
    wait lets it list them all: a restart at the year's end failed on this."""
    topic = f"offsets-{uuid.uuid4().hex[:8]}"
    bootstrap = stack.broker.bootstrap
    asyncio.run(create_topics([bootstrap], [topic], partitions=1))
    asyncio.run(produce_single_record_batches(bootstrap, topic, 40_000))
    reported, resolved = asyncio.run(end_offsets(bootstrap, topic, 1))
    assert resolved == {TP(topic, 0): 40_003}
    assert reported[TP(topic, 0)] < 40_003  # the reported end is inside the last batch


async def deliveries(bootstrap: str, topic: str, min_bytes: int, max_wait_ms: int) -> int:
    """How many reads deliver RECORDS small records produced SPACING_S apart to a consumer
    with these limits (a fetch the broker holds returns the records sent meanwhile at once)."""
    consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers=bootstrap)
    set_fetch_limits(consumer, min_bytes, max_wait_ms)
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    await consumer.start()

    async def send() -> None:
        for n in range(RECORDS):
            await producer.send_and_wait(topic, b"small-%d" % n, key=b"k")
            await asyncio.sleep(SPACING_S)

    try:
        consumer.assign([aiokafka.TopicPartition(topic, 0)])
        await consumer.seek_to_end()
        await consumer.getmany(timeout_ms=100)
        sending = asyncio.ensure_future(send())
        started = time.monotonic()
        received = reads = 0
        while received < RECORDS:
            # A consumer that never delivers (aiokafka with a 0 ms wait spins) must fail
            # the test, not hang the suite.
            assert time.monotonic() - started < 30, f"{received} of {RECORDS} records read"
            batch = await consumer.getmany(timeout_ms=1000)
            if batch:
                reads += 1
                received += sum(len(records) for records in batch.values())
        await sending
        return reads
    finally:
        await consumer.stop()
        await producer.stop()


RECORDS = 5
SPACING_S = 0.1


def test_fetch_limits_let_the_broker_hold_a_fetch(stack: LocalStack) -> None:
    # What KAFKA_FETCH_MIN_BYTES / KAFKA_FETCH_MAX_WAIT_MS rely on: the consumer takes the
    # limits set after it is built, and the broker holds a fetch until min bytes or max wait.
    # Counted, not timed: five records sent over 0.4 s fall into at most two windows of a
    # broker holding each fetch 1.2 s (load only widens the windows); with 1 byte / 10 ms
    # they arrive about one per read (at least three reads, leaving room for a slow poller).
    topic = f"fetch-{uuid.uuid4().hex[:8]}"
    bootstrap = stack.broker.bootstrap
    asyncio.run(create_topics([bootstrap], [topic], partitions=1))
    assert asyncio.run(deliveries(bootstrap, topic, 1, 10)) >= 3
    assert asyncio.run(deliveries(bootstrap, topic, 1024 * 1024, 1200)) <= 2


@pytest.fixture
def own_database(stack: LocalStack) -> Iterator[str]:
    with temporary_database(stack, "sei_recovery") as url:
        yield url


@pytest.fixture
def group_env(stack: LocalStack, own_database: str) -> dict[str, str]:
    return isolated_env(stack, own_database, "recovery")


def database_daily(url: str, prefix: str) -> tuple[int, dict[Any, Any]]:
    async def read() -> tuple[int, dict[Any, Any]]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetchval(
                "SELECT count(*) FROM commits WHERE repository_id LIKE $1", f"{prefix}-%"
            )
            daily = await conn.fetch(
                "SELECT repository_id, day, commit_count, total_additions, total_deletions "
                "FROM commits_daily_stats WHERE repository_id LIKE $1",
                f"{prefix}-%",
            )
            return rows, {(r[0], r[1].date()): (r[2], r[3], r[4]) for r in daily}
        finally:
            await conn.close()

    return asyncio.run(read())


def no_consistency_errors(worker: WorkerProcess) -> bool:
    text = worker.log_path.read_text(errors="replace")
    return "ConsistencyError" not in text and "higher than highwater" not in text


def produce_commits(stack: LocalStack, prefix: str, commits: int, seed: int) -> list[tuple[bytes, bytes]]:
    stream = generate_commit_stream(
        commits=commits,
        repositories=10,
        days=30,
        duplicate_rate=0.05,
        malformed=0,
        seed=seed,
        repository_prefix=prefix,
    )
    asyncio.run(produce([stack.broker.bootstrap], "git.commits", stream.messages))
    return stream.messages


@pytest.mark.parametrize(
    "wipe_local_state",
    [
        pytest.param(False, id="restart-with-local-state"),
        pytest.param(True, id="full-rebuild-from-changelog"),
    ],
)
def test_worker_restart_tables_and_database_equal_truth(
    stack: LocalStack, group_env: dict[str, str], own_database: str, tmp_path: Path, wipe_local_state: bool
) -> None:
    prefix = f"rst{uuid.uuid4().hex[:6]}"
    worker = new_worker(group_env, tmp_path, "w").start()
    try:
        worker.wait_answering()
        # The group reads git.commits from the start: everything other tests sent too.
        first = produce_commits(stack, prefix, 20_000, seed=21)
        wait_for(
            lambda: database_daily(own_database, prefix)[0] >= len(commit_truth(first)[0]), 180, "first half"
        )
        worker.stop()
        if wipe_local_state:
            shutil.rmtree(worker.data_dir)
        worker.start()
        worker.wait_answering()
        second = produce_commits(stack, prefix, 20_000, seed=22)
        rows, daily = commit_truth(first + second)
        wait_for(
            lambda: database_daily(own_database, prefix)[0] >= len(rows),
            180,
            lambda: (
                f"second half: {database_daily(own_database, prefix)[0]} of {len(rows)} rows; {worker.get('/stats')}"
            ),
        )
        count, db_daily = database_daily(own_database, prefix)
        assert count == len(rows)
        assert db_daily == daily
        repositories = sorted({repo for repo, _ in daily})
        wait_for(lambda: live_daily(worker.get, repositories) == daily, 60, "live tables equal the truth")
        assert no_consistency_errors(worker)
    finally:
        worker.stop()


def test_rebalance_second_worker_joins_and_leaves_tables_equal_truth(
    stack: LocalStack, group_env: dict[str, str], own_database: str, tmp_path: Path
) -> None:
    prefix = f"reb{uuid.uuid4().hex[:6]}"
    env = {**group_env, "TABLE_STANDBY_REPLICAS": "1"}
    first = new_worker(env, tmp_path, "a").start()
    second = new_worker(env, tmp_path, "b")
    try:
        first.wait_consuming()  # the group formed: the second worker joins it later
        part1 = produce_commits(stack, prefix, 10_000, seed=31)
        second.start()
        second.wait_consuming()
        part2 = produce_commits(stack, prefix, 10_000, seed=32)
        rows, daily = commit_truth(part1 + part2)
        wait_for(
            lambda: database_daily(own_database, prefix)[0] >= len(rows),
            240,
            lambda: (
                f"both parts: {database_daily(own_database, prefix)[0]} of {len(rows)} rows; "
                f"{first.get('/stats')} {second.get('/stats')}"
            ),
        )
        repositories = sorted({repo for repo, _ in daily})
        for worker in (first, second):
            wait_for(
                lambda w=worker: live_daily(w.get, repositories) == daily,
                90,
                f"{worker.data_dir.name} answers truth",
            )
        second.stop()
        part3 = produce_commits(stack, prefix, 5_000, seed=33)
        rows, daily = commit_truth(part1 + part2 + part3)
        wait_for(
            lambda: database_daily(own_database, prefix)[0] >= len(rows),
            240,
            lambda: (
                f"third part: {database_daily(own_database, prefix)[0]} of {len(rows)} rows; {first.get('/stats')}"
            ),
        )
        count, db_daily = database_daily(own_database, prefix)
        assert count == len(rows)
        assert db_daily == daily
        wait_for(lambda: live_daily(first.get, repositories) == daily, 90, "the remaining worker answers truth")
        assert no_consistency_errors(first) and no_consistency_errors(second)
    except BaseException:
        for worker in (first, second):
            worker.dump_tasks()  # their stacks, in their logs, to see what a stuck worker waits on
        raise
    finally:
        second.stop()
        first.stop()


def test_a_query_while_the_group_rebalances_answers_503_with_retry_after(
    stack: LocalStack, group_env: dict[str, str], tmp_path: Path
) -> None:
    # The first worker is frozen (SIGSTOP) while a member: the group cannot finish the second
    # worker's join until the frozen one's session expires, and until then the second
    # worker knows no owner for any partition.
    env = {**group_env, "KAFKA_SESSION_TIMEOUT_MS": "20000"}
    first = new_worker(env, tmp_path, "a").start()
    second = new_worker(env, tmp_path, "b")
    try:
        first.wait_consuming()
        assert first.process is not None
        first.process.send_signal(signal.SIGSTOP)
        frozen = time.monotonic()
        second.start()
        second.wait_answering()  # answering, not yet consuming
        status, answer, headers = get_answer(f"{second.url}/commits/repo-never-seen/daily")
        assert time.monotonic() - frozen < 20, "the second worker answered only after the session expired"
        assert status == 503 and is_settling(status, answer), answer
        assert "'repo-never-seen'" in answer["error"] and "rebalancing" in answer["error"]
        assert headers.get("Retry-After") == "2"
        # Once the frozen member is evicted the group settles and the same query is answered.
        wait_for(
            lambda: second.get("/commits/repo-never-seen/daily")[0] == 404,
            90,
            lambda: f"the settled group answering: {second.get('/commits/repo-never-seen/daily')}",
        )
    finally:
        if first.process is not None and first.process.poll() is None:
            first.process.send_signal(signal.SIGCONT)
        second.stop()
        first.stop()


def test_a_restarted_worker_never_answers_from_part_of_its_tables(
    stack: LocalStack, group_env: dict[str, str], own_database: str, tmp_path: Path
) -> None:
    """From its first answer on, a worker rebuilding its tables from the changelogs answers
    503 (settling) or the whole truth: never "no commits" nor part of the numbers."""
    prefix = f"part{uuid.uuid4().hex[:6]}"
    worker = new_worker(group_env, tmp_path, "w").start()
    try:
        worker.wait_answering()
        messages = produce_commits(stack, prefix, 20_000, seed=51)
        rows, daily = commit_truth(messages)
        wait_for(lambda: database_daily(own_database, prefix)[0] >= len(rows), 180, "the rows")
        repositories = sorted({repo for repo, _ in daily})
        wait_for(lambda: live_daily(worker.get, repositories) == daily, 60, "live tables equal the truth")
        worker.stop()
        shutil.rmtree(worker.data_dir)  # the tables come back from their changelogs only
        worker.start()
        seen: Counter[str] = Counter()
        deadline = time.monotonic() + 180
        while seen["truth"] < 3 and time.monotonic() < deadline:
            try:
                live = live_daily(worker.get, repositories)
            except OSError:  # the web server is not listening yet
                time.sleep(0.05)
                continue
            except AssertionError as exc:  # an answer neither settling nor 200
                raise AssertionError(f"while restoring: {exc}") from None
            if live is None:
                seen["settling"] += 1
                time.sleep(0.02)
                continue
            assert live == daily, "a 200 answer with part of the numbers"
            seen["truth"] += 1
        assert seen["truth"] == 3, seen
        print(f"\nanswers while restoring: {dict(seen)}")
        assert no_consistency_errors(worker)
    finally:
        worker.stop()


def test_a_query_for_a_dead_workers_partition_answers_503_not_500(
    stack: LocalStack, group_env: dict[str, str], tmp_path: Path
) -> None:
    # Until its session times out, a killed worker still owns its partitions: the others
    # forward its keys' queries to an address where nothing listens any more.
    env = {**group_env, "KAFKA_SESSION_TIMEOUT_MS": "30000", "TABLE_STANDBY_REPLICAS": "0"}
    first = new_worker(env, tmp_path, "a").start()
    second = new_worker(env, tmp_path, "b")
    try:
        first.wait_consuming()
        second.start()
        second.wait_consuming()
        wait_for(lambda: first.get("/health")[1].get("consuming"), 90, "the first worker consuming again")
        first.kill()
        killed = time.monotonic()
        answers = [get_answer(f"{second.url}/commits/never-seen-{n}/daily") for n in range(16)]
        assert time.monotonic() - killed < 30, "asked only after the dead worker's session expired"
        statuses = Counter(status for status, _, _ in answers)
        assert set(statuses) <= {404, 503}, answers  # the owner's 404, or 503: never a 500
        dead = [(answer, headers) for status, answer, headers in answers if status == 503]
        assert dead, "no key of the dead worker's partitions among the sixteen"
        for answer, headers in dead:
            assert "does not answer" in answer["error"] and headers.get("Retry-After") == "2", answer
    finally:
        second.stop()
        first.stop()
