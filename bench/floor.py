"""`python -m bench.floor`: the issue's floor, a minimal Faust app (``take(100)`` + ``COPY``,
bench/floor_app.py) on a fresh local stack, timed like bench.commits: N generated commits
(no duplicates, none malformed) produced at once to ``git.commits``, from the first message
produced until the last row is in PostgreSQL; its CPU per message and peak RSS.

Not part of `make bench`: it says what the worker's extra work (validation, tables and
their changelogs, dedupe, daily totals, upserts) costs against Faust and asyncpg alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

import asyncpg

from bench.floor_app import CREATE_TABLE, TABLE
from bench.harness import BenchStack, ProcessSampler, bench_stack, wait_until
from devtools.kafka_io import create_topics, produce
from devtools.sample_data import generate_commit_stream
from devtools.worker_process import WorkerProcess


async def _rows_reach(conn: asyncpg.Connection, count: int) -> bool:
    return bool(await conn.fetchval(f"SELECT count(*) >= $1 FROM {TABLE}", count))


async def _run(bench: BenchStack, worker: WorkerProcess, commits: int) -> None:
    conn = await asyncpg.connect(bench.database_url)
    try:
        warmup = generate_commit_stream(commits=1, duplicate_rate=0, malformed=0, repository_prefix="warmup", seed=1)
        await produce(bench.bootstrap, "git.commits", warmup.messages)
        await wait_until(lambda: _rows_reach(conn, 1), timeout_s=180, poll_s=0.2)
        stream = generate_commit_stream(commits=commits, duplicate_rate=0, malformed=0)
        with ProcessSampler(worker.process.pid) as sampler:  # type: ignore[union-attr]
            started = time.monotonic()
            await produce(bench.bootstrap, "git.commits", stream.messages)
            done = await wait_until(lambda: _rows_reach(conn, len(stream.messages) + 1), timeout_s=900, poll_s=0.1)
        sent = len(stream.messages)
        print(
            f"  bare Faust take(100) + COPY: {done - started:.1f} s -> {sent / (done - started):,.0f} messages/s "
            f"end to end; CPU {sampler.cpu_seconds / sent * 1e6:,.0f} µs per message; peak RSS {sampler.peak_mb:.0f} MB"
        )
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=100_000)
    args = parser.parse_args()
    print(f"the floor: {args.commits:,} commits, a minimal Faust app (bench/floor_app.py)")
    with bench_stack("floor") as bench:

        async def prepare() -> None:
            await create_topics(bench.bootstrap, ["git.commits"], partitions=8)
            conn = await asyncpg.connect(bench.database_url)
            try:
                await conn.execute(CREATE_TABLE)
            finally:
                await conn.close()

        asyncio.run(prepare())
        # `faust` puts its own directory first on sys.path, not the project's.
        pythonpath = os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])
        worker = bench.worker(
            "floor-worker",
            app="bench.floor_app",
            FLOOR_BROKER=f"kafka://{bench.bootstrap[0]}",
            FLOOR_DATABASE=bench.database_url,
            PYTHONPATH=pythonpath,
        ).start()
        try:
            asyncio.run(_run(bench, worker, args.commits))
        finally:
            worker.stop()


if __name__ == "__main__":
    main()
