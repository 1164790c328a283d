"""`python -m bench.year`: a year of a 200-repository organization through one worker.

The organization is generate_sei_history's (all seven SEI topics, ~17 events per
repository-day) plus a monorepo with 20 production deployments and 300 commits a day and
its pull requests; the year ends at today's midnight, so `/dora` with its default end asks
about the last days, as a user would. It is produced month by month; after each month is
consumed the table prints, for that month: events/s (first message produced to last
consumed), worker CPU per event, the worker's peak RSS and RocksDB's part of it at the
month's end (its shared block cache, memtables included, and the files' index and filter
blocks), the largest changelog record written
during the month (read back from the changelog topics), and `/dora` latency for the
monorepo (the first query after the month, which ships its commits, then p50/p95 of
100 more), and the longest the worker's event loop was held during the month
(app.loop_lag: every view and probe waited that long), and `proj s`: how long after the
month was consumed a projection flush ended (what dashboards reading `metrics_daily` and
Redis waited for the month; "> 60" when none did within a minute). After month 12 the
worker is restarted on its local state and the time to ready (tables recovered,
consuming) printed.

The full year is 1.38 million events (generate_sei_history makes about 17 a repository-day,
the monorepo 420); ``--scale`` shrinks the organization (and, below 0.25, the monorepo's
daily volume in proportion to ``--scale * 4``) so a reduced run finishes in minutes, and
above 1 grows it (``--scale 4``: 800 repositories, 5 million events).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.dora import consumed, percentile, wait_consumed, warm_up
from bench.harness import BenchStack, ProcessSampler, bench_stack
from devtools.kafka_io import create_topics, produce
from devtools.org_history import SEI_TOPICS, generate_sei_history, iso
from devtools.worker_process import WorkerProcess

MONOREPO = "monorepo"
Message = tuple[bytes, bytes]


def _event(event_type: str, moment: datetime, data: Mapping[str, object]) -> bytes:
    return orjson.dumps(
        {
            "event_type": event_type,
            "timestamp": iso(moment),
            "source": "bench",
            "repository_id": MONOREPO,
            "data": data,
        }
    )


def monorepo_day(day: datetime, index: int, deployments: int, commits: int) -> Iterator[tuple[str, Message]]:
    """One day of the monorepo: ``commits`` commits (one in ten a pull request's, merged
    that day after a review), ``deployments`` implicit production deployments, and an
    incident every seventh day."""
    key = MONOREPO.encode()
    step = timedelta(days=1) / max(commits, 1)
    for n in range(commits):
        moment = day + step * n
        data: dict[str, object] = {"sha": f"m{index:03d}{n:05d}", "committed_at": iso(moment), "additions": 7}
        if n % 10 == 0:
            number = index * 1_000 + n // 10 + 1
            data["pull_request_number"] = number
            opened, merged = moment + timedelta(minutes=20), moment + timedelta(hours=3)
            yield "git.pull_requests", (key, _event("pull_request_opened", opened, {"number": number}))
            review = {"number": number, "reviewer": "rev@example.com", "state": "approved"}
            yield (
                "git.pull_requests",
                (key, _event("pull_request_review_submitted", opened + timedelta(hours=1), review)),
            )
            merge = {"number": number, "merged_at": iso(merged), "merge_commit_sha": f"mm{number}"}
            yield "git.pull_requests", (key, _event("pull_request_merged", merged, merge))
        yield "git.commits", (key, _event("commit_created", moment, data))
    for n in range(deployments):
        moment = day + timedelta(days=1) * (n + 0.5) / deployments
        data = {
            "id": f"d{index:03d}-{n}",
            "environment": "production",
            "status": "success",
            "finished_at": iso(moment),
        }
        yield "cicd.deployments", (key, _event("deployment_finished", moment, data))
    if index % 7 == 3:
        opened = day + timedelta(hours=13)
        incident = {"id": f"i{index}", "opened_at": iso(opened), "title": "errors up"}
        yield "ops.incidents", (key, _event("incident_opened", opened, incident))
        resolved = {"id": f"i{index}", "resolved_at": iso(opened + timedelta(hours=2))}
        yield "ops.incidents", (key, _event("incident_resolved", opened + timedelta(hours=2), resolved))


def year_by_month(
    repositories: int, deployments: int, commits: int, end: datetime
) -> list[dict[str, list[Message]]]:
    """Twelve months of messages per topic, split by envelope timestamp."""
    start = end - timedelta(days=365)
    org = generate_sei_history(
        repositories=repositories, teams=max(1, repositories // 10), days=365, seed=7, end=end
    )
    months: list[dict[str, list[Message]]] = [{} for _ in range(12)]

    def month_of(moment: datetime) -> int:
        return min(11, max(0, int((moment - start) / timedelta(days=365) * 12)))

    for topic, messages in org.messages().items():
        for key, value in messages:
            moment = datetime.fromisoformat(orjson.loads(value)["timestamp"].replace("Z", "+00:00"))
            months[month_of(moment)].setdefault(topic, []).append((key, value))
    for index in range(365):
        day = start + timedelta(days=index)
        for topic, message in monorepo_day(day, index, deployments, commits):
            months[month_of(day)].setdefault(topic, []).append(message)
    return months


class ChangelogWatch:
    """Reads the changelog records written since the last look; keeps the largest size."""

    def __init__(self, bootstrap: list[str]) -> None:
        self.bootstrap = bootstrap
        self.positions: dict[TopicPartition, int] = {}

    async def largest_since_last(self, quiet_s: float = 2.0) -> tuple[int, str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            topics = [t for t in await admin.list_topics() if t.endswith("-changelog")]
        finally:
            await admin.close()
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        largest, where = 0, ""
        try:
            parts = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
            if not parts:
                await consumer.stop()
                return 0, ""
            consumer.assign(parts)
            for tp in parts:
                consumer.seek(tp, self.positions.get(tp, 0))
            quiet_until = time.monotonic() + quiet_s
            while time.monotonic() < quiet_until:
                batches = await consumer.getmany(timeout_ms=300, max_records=5_000)
                for tp, records in batches.items():
                    if records:
                        quiet_until = time.monotonic() + quiet_s
                    for record in records:
                        size = len(record.value or b"") + len(record.key or b"")
                        if size > largest:
                            largest, where = size, tp.topic
                        self.positions[tp] = record.offset + 1
        finally:
            await consumer.stop()
        return largest, where


def settle(workers: list[WorkerProcess], quiet_s: float = 1.0) -> int:
    """The consumed count once it stopped moving for ``quiet_s``."""
    last, since = consumed(workers), time.monotonic()
    while time.monotonic() - since < quiet_s:
        time.sleep(0.2)
        now = consumed(workers)
        if now != last:
            last, since = now, time.monotonic()
    return last


def dora_latencies(worker: WorkerProcess, queries: int = 100) -> list[float]:
    """The first query after the month ships the monorepo's commits (tables.shipping_memo);
    the ``queries`` after it find them shipped, as a dashboard's refreshes do."""
    seconds = []
    for _ in range(queries + 1):
        started = time.perf_counter()
        status, _ = worker.get(f"/dora/{MONOREPO}?window=30d")
        seconds.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"/dora/{MONOREPO} answered {status}")
    return seconds


def rocksdb_mb(worker: WorkerProcess) -> float:
    """RocksDB's share of the worker's RSS now: its shared block cache (memtables included)
    and the open files' index and filter blocks (processor_rocksdb_memory_bytes)."""
    total = 0.0
    for line in worker.get_text("/metrics").splitlines():
        if line.startswith(('processor_rocksdb_memory_bytes{part="block_cache"}', 'processor_rocksdb_memory_bytes{part="table_readers"}')):
            total += float(line.split()[-1])
    return total / 2**20


def projection_caught_up(worker: WorkerProcess, since: float, timeout_s: float = 60.0) -> float | None:
    """Seconds from ``since`` (unix time: the month consumed) until a projection flush ended
    after it (processor_projection_last_flush_timestamp_seconds): how long dashboards reading
    `metrics_daily` and Redis waited for the month; None if none did within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in worker.get_text("/metrics").splitlines():
            if line.startswith("processor_projection_last_flush_timestamp_seconds "):
                flushed = float(line.split()[-1])
                if flushed >= since:
                    return max(0.0, flushed - since)
        time.sleep(0.5)
    return None


def longest_pause(worker: WorkerProcess, since: float) -> float:
    """The longest the worker's event loop was held since ``since`` (unix time; app.loop_lag)."""
    _, stats = worker.get("/stats")
    return max((lag for at, lag in stats["event_loop"]["notable_lags"] if at >= since), default=0.0)


def run(bench: BenchStack, args: argparse.Namespace) -> None:
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    repositories = max(2, round(200 * args.scale))
    volume = min(1.0, args.scale * 4)
    deployments, commits = max(2, round(20 * volume)), max(10, round(300 * volume))
    months = year_by_month(repositories, deployments, commits, end)
    total = sum(len(m) for month in months for m in month.values())
    print(
        f"a year: {repositories} repositories + a monorepo ({deployments} deployments, {commits} commits a day): "
        f"{total:,} events"
    )
    asyncio.run(create_topics(bench.bootstrap, SEI_TOPICS, partitions=8))
    worker = bench.worker("year", BATCH_SIZE="500", BATCH_TIMEOUT_MS="200")
    worker.start()
    worker.wait_consuming()
    expected = warm_up(bench, [worker])
    watch = ChangelogWatch(bench.bootstrap)
    print(
        f"{'month':>5} {'events':>9} {'events/s':>9} {'CPU ms/ev':>9} {'RSS MB':>7} {'RocksDB':>7} {'max rec B':>10} {'dora 1st':>9} {'p50':>6} {'p95 ms':>7} {'stall ms':>8} {'proj s':>6}"
    )
    for number, month in enumerate(months[: args.months], start=1):
        events = sum(len(m) for m in month.values())
        expected += events
        month_began = time.time()
        with ProcessSampler(worker.process.pid) as sampler:  # type: ignore[union-attr]
            started = time.monotonic()
            for topic, messages in month.items():
                asyncio.run(produce(bench.bootstrap, topic, messages))
            done = wait_consumed([worker], expected, timeout_s=3600)
            # The Jira incidents the worker forwards come back on ops.incidents: wait for quiet.
            expected = settle([worker])
            cpu = sampler.cpu_so_far()
        projected = projection_caught_up(worker, time.time())
        largest, where = asyncio.run(watch.largest_since_last())
        latencies = dora_latencies(worker)
        print(
            f"{number:>5} {events:>9,} {events / (done - started):>9,.0f} {1000 * cpu / events:>9.3f} "
            f"{sampler.peak_mb:>7.0f} {rocksdb_mb(worker):>7.1f} {largest:>10,} {1000 * latencies[0]:>9.1f} "
            f"{1000 * statistics.median(latencies[1:]):>6.1f} {1000 * percentile(latencies[1:], 0.95):>7.1f} "
            f"{1000 * longest_pause(worker, month_began):>8.0f} "
            + (f"{projected:>6.1f}" if projected is not None else f"{'> 60':>6}")
            + (f"  ({where.split('-')[-2]})" if where else "")
        )
    worker.stop()
    started = time.monotonic()
    worker.start()
    worker.wait_consuming(600)
    print(f"restart to ready at month {number} (local state, tables recovered): {time.monotonic() - started:.1f} s")
    print(f"consumed after restart: {consumed([worker]):,}")
    worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of the 200-repository organization"
    )
    parser.add_argument(
        "--months", type=int, default=12, help="stop after this many months (a diagnosis run; the targets are at 12)"
    )
    args = parser.parse_args()
    with bench_stack("year") as bench:
        run(bench, args)


if __name__ == "__main__":
    main()
