"""`make bench`: git.commits end to end on one worker vs a seed-style consumer.

Sends N commits (default 100,000) to a ready worker and measures from the first message
produced until the last row is in PostgreSQL and commits_daily_stats adds up; samples the
worker's peak RSS; then does the same job with a seed-style consumer (aiokafka, one
awaited INSERT per message) and prints the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg
from aiokafka import AIOKafkaConsumer

from bench.harness import ProcessSampler, bench_stack, fresh_database, print_log_tail, wait_until
from devtools.kafka_io import create_topics, produce
from devtools.sample_data import generate_commit_stream

SEED_STYLE_INSERT = """
INSERT INTO commits (sha, repository_id, author_email, message, files_changed, additions, deletions, committed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING
"""


async def database_has(conn: asyncpg.Connection, commits: int) -> bool:
    # The daily totals first: a sum over ~1,500 rows, where counting `commits` scans up to
    # 100,000, ten times a second, on the cores the worker and the broker need.
    daily = await conn.fetchval("SELECT coalesce(sum(commit_count), 0) FROM commits_daily_stats")
    if daily != commits:
        return False
    return bool(await conn.fetchval("SELECT count(*) FROM commits") == commits)


async def run_worker_bench(
    bench: object, messages: list[tuple[bytes, bytes]], unique: int, batch_size: int
) -> tuple[float, float]:
    from bench.harness import BenchStack

    assert isinstance(bench, BenchStack)
    await create_topics(bench.bootstrap, ["git.commits"], partitions=8)
    worker = bench.worker("worker", BATCH_SIZE=str(batch_size)).start()
    conn = await asyncpg.connect(bench.database_url)
    try:
        worker.wait_answering()
        warmup = generate_commit_stream(
            commits=1, duplicate_rate=0, malformed=0, repository_prefix="warmup", seed=1
        )
        await produce(bench.bootstrap, "git.commits", warmup.messages)
        await wait_until(lambda: database_has(conn, 1), timeout_s=120, poll_s=0.2)
        broker_pid = bench.stack.broker.process.pid
        with ProcessSampler(worker.process.pid) as rss, ProcessSampler(broker_pid) as broker:  # type: ignore[union-attr]
            started = time.monotonic()
            await produce(bench.bootstrap, "git.commits", messages)
            produced = time.monotonic()
            done = await wait_until(lambda: database_has(conn, unique + 1), timeout_s=900, poll_s=0.1)
        print(f"  produce: {len(messages) / (produced - started):,.0f} msg/s")
        print(
            f"  worker CPU: {rss.cpu_seconds:.1f} s -> {rss.cpu_seconds / len(messages) * 1e6:,.0f} µs per commit "
            f"({rss.cpu_seconds / (done - started):.0%} of a core); broker CPU {broker.cpu_seconds:.1f} s "
            f"({broker.cpu_seconds / (done - started):.0%} of a core)"
        )
        return done - started, rss.peak_mb
    except BaseException:
        print_log_tail(worker)
        raise
    finally:
        await conn.close()
        worker.stop()


async def run_seed_style(bootstrap: list[str], url: str, messages: int) -> float:
    """aiokafka consumer, one awaited INSERT per message, as seeds 003/004 describe."""
    import orjson

    conn = await asyncpg.connect(url)
    consumer = AIOKafkaConsumer(
        "git.commits",
        bootstrap_servers=bootstrap,
        group_id="seed-style",
        auto_offset_reset="earliest",
        enable_auto_commit=True,
    )
    await consumer.start()
    seen = 0
    started = time.monotonic()
    try:
        async for message in consumer:
            event = orjson.loads(message.value)
            data = event["data"]
            from datetime import datetime

            when = datetime.fromisoformat(data.get("committed_at") or event["timestamp"])
            await conn.execute(
                SEED_STYLE_INSERT,
                data["sha"],
                event["repository_id"],
                data.get("author"),
                data.get("message"),
                data.get("files_changed"),
                data.get("additions"),
                data.get("deletions"),
                when,
            )
            seen += 1
            if seen >= messages:
                break
    finally:
        await consumer.stop()
        await conn.close()
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=100, help="the worker's BATCH_SIZE")
    parser.add_argument(
        "--worker-only", action="store_true", help="skip the seed-style consumer (for A/B runs of the worker)"
    )
    args = parser.parse_args()
    stream = generate_commit_stream(
        commits=args.commits, repositories=50, days=30, duplicate_rate=0, malformed=0
    )
    with bench_stack("commits") as bench:
        print(
            f"git.commits end to end: {args.commits:,} commits, 50 repositories, 30 days, "
            f"one worker, BATCH_SIZE={args.batch_size}"
        )
        seconds, rss_mb = asyncio.run(
            run_worker_bench(bench, stream.messages, stream.unique_commits, args.batch_size)
        )
        rate = args.commits / seconds
        print(
            f"  sei-processor: {seconds:.1f} s -> {rate:,.0f} commits/s end to end; worker peak RSS {rss_mb:.0f} MB"
        )
        if args.worker_only:
            return
        seed_url = bench.database_url + "_seed"
        asyncio.run(fresh_database(seed_url))
        seed_seconds = asyncio.run(run_seed_style(bench.bootstrap, seed_url, args.commits + 1))
        seed_rate = (args.commits + 1) / seed_seconds
        print(
            f"  seed-style consumer (one awaited INSERT per message): {seed_seconds:.1f} s -> {seed_rate:,.0f}/s"
        )
        print(f"  ratio: {rate / seed_rate:.1f}x")


if __name__ == "__main__":
    main()
