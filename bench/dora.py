"""`python -m bench.dora`: the SEI mixed stream end to end, on one worker and on two.

1. Throughput: a generated history over all seven source topics (commits > pull-request
   events > issue events > deployments > incidents; 5 % redeliveries), ~200,000 events by
   default, produced at once; measured from the first message produced until every message
   is durable (tables and rows: the workers count a batch consumed after its transaction),
   with the workers' peak RSS. Then the same on a fresh stack with a group of two workers.
2. Freshness: a steady 1,000 events/s of another history on the one-worker group, with a
   probe deployment of a new repository every half second; freshness is the time from
   producing the probe to `GET /dora/{probe}` answering it (p50/p95).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaProducer

from bench.harness import BenchStack, SamplerGroup, bench_stack
from devtools.kafka_io import create_topics, produce
from devtools.org_history import SEI_TOPICS, SeiHistory, generate_sei_history, iso
from devtools.worker_process import WorkerProcess

EVENTS_PER_REPOSITORY_DAY = 17  # what generate_sei_history makes, about


def consumed(workers: Sequence[WorkerProcess]) -> int:
    total = 0
    for worker in workers:
        # A benchmark measures the worker's pauses (app.loop_lag), it does not fail on one.
        _, stats = worker.get("/stats", timeout=60.0)
        total += sum(int(topic["consumed"]) for topic in stats["topics"].values())
    return total


def wait_consumed(workers: Sequence[WorkerProcess], count: int, timeout_s: float) -> float:
    """Poll the workers' /stats until they consumed ``count`` messages; the monotonic time then."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if consumed(workers) >= count:
                return time.monotonic()
        except TimeoutError:
            pass  # a worker's event loop held for seconds: bench.year reports the pauses
        time.sleep(0.1)
    raise TimeoutError(f"consumed {consumed(workers)} of {count} in {timeout_s} s")


def incident_issues(history: SeiHistory) -> int:
    """Messages the workers forward to ops.incidents (and consume again) for this history."""
    return sum(
        1
        for topic, event in history.events
        if topic == "jira.issues"
        and event["event_type"] != "issue_transitioned"
        and event["data"].get("issue_type") == "Incident"
        and event["data"].get("repository_id")
    )


def start_group(bench: BenchStack, names: Sequence[str], database_url: str) -> list[WorkerProcess]:
    group = f"bench-{uuid.uuid4().hex[:6]}"
    workers = [
        bench.worker(
            name,
            TIMESCALE_URL=database_url,
            CONSUMER_GROUP_ID=group,
            BATCH_SIZE="500",
            BATCH_TIMEOUT_MS="200",
        )
        for name in names
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.wait_answering()
    return workers


def warm_up(bench: BenchStack, workers: Sequence[WorkerProcess]) -> int:
    """Wait until every worker of the group holds partitions: each consumed a warm-up commit."""
    warm = [
        (
            f"warm-{i}".encode(),
            orjson.dumps(
                {
                    "event_type": "commit_created",
                    "timestamp": iso(datetime.now(UTC)),
                    "repository_id": f"warm-{i}",
                    "data": {"sha": uuid.uuid4().hex},
                }
            ),
        )
        for i in range(32)
    ]
    asyncio.run(produce(bench.bootstrap, "git.commits", warm))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        counts = [consumed([w]) for w in workers]
        if sum(counts) >= len(warm) and all(counts):
            return sum(counts)
        time.sleep(0.2)
    raise TimeoutError("the group did not settle")


def throughput(
    bench: BenchStack, history: SeiHistory, names: Sequence[str], database_url: str
) -> tuple[float, float, list[WorkerProcess]]:
    """Seconds to process ``history`` end to end and the peak RSS (MB) of the largest worker."""
    workers = start_group(bench, names, database_url)
    base = warm_up(bench, workers)
    total = base + len(history) + incident_issues(history)
    with SamplerGroup([w.process.pid for w in workers]) as samplers:  # type: ignore[union-attr]
        started = time.monotonic()
        for topic, messages in history.messages().items():
            asyncio.run(produce(bench.bootstrap, topic, messages))
        done = wait_consumed(workers, total, timeout_s=1800)
    return done - started, samplers.peak_mb, workers


async def steady_stream_freshness(
    bench: BenchStack, worker: WorkerProcess, rate: int, seconds: int
) -> list[float]:
    """Produce ``rate`` events/s of a new history for ``seconds``; probe /dora freshness."""
    history = generate_sei_history(
        repositories=20,
        teams=4,
        days=max(3, rate * seconds // (20 * EVENTS_PER_REPOSITORY_DAY) + 1),
        seed=99,
        prefix="fresh",
    )
    flat = [(topic, key, value) for topic, messages in history.messages().items() for key, value in messages]
    flat.sort(key=lambda item: hash(item[2]))  # interleave the topics
    producer = AIOKafkaProducer(bootstrap_servers=bench.bootstrap, linger_ms=5)
    await producer.start()
    probes: list[tuple[str, float]] = []
    latencies: list[float] = []
    pending: dict[str, float] = {}

    async def poll() -> None:
        loop = asyncio.get_running_loop()
        while pending or len(probes) < seconds * 2:
            for repo, sent_at in list(pending.items()):
                status, _ = await loop.run_in_executor(None, worker.get, f"/dora/{repo}")
                if status == 200:
                    latencies.append(time.monotonic() - sent_at)
                    del pending[repo]
            await asyncio.sleep(0.02)

    poller = asyncio.ensure_future(poll())
    try:
        started = time.monotonic()
        for i, (topic, key, value) in enumerate(flat[: rate * seconds]):
            await producer.send(topic, value=value, key=key)
            if i % (rate // 2) == 0:
                repo = f"probe-{uuid.uuid4().hex[:8]}"
                now = datetime.now(UTC)
                probe = {
                    "event_type": "deployment_finished",
                    "timestamp": iso(now),
                    "repository_id": repo,
                    "data": {
                        "id": "p",
                        "environment": "production",
                        "status": "success",
                        "finished_at": iso(now),
                    },
                }
                await producer.send_and_wait("cicd.deployments", value=orjson.dumps(probe), key=repo.encode())
                pending[repo] = time.monotonic()
                probes.append((repo, pending[repo]))
            ahead = (i + 1) / rate - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
        await asyncio.wait_for(poller, 60)
    finally:
        poller.cancel()
        await producer.stop()
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repositories", type=int, default=50)
    parser.add_argument("--rate", type=int, default=1_000, help="events/s of the freshness run")
    parser.add_argument("--seconds", type=int, default=30, help="length of the freshness run")
    parser.add_argument("--skip-two", action="store_true", help="measure one worker only")
    args = parser.parse_args()
    days = max(1, args.events // (args.repositories * EVENTS_PER_REPOSITORY_DAY))
    history = generate_sei_history(
        repositories=args.repositories, teams=5, days=days, seed=11, prefix="bench"
    )
    counts = {t: sum(1 for topic, _ in history.events if topic == t) for t in SEI_TOPICS}
    print(f"SEI mixed stream: {len(history):,} events, {args.repositories} repositories, {days} days")
    print("  " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    runs = [("one worker", ["one"])] + ([] if args.skip_two else [("two workers", ["two-a", "two-b"])])
    for label, names in runs:
        # Each run on a fresh broker and database: the same stream, nothing else on the topics.
        with bench_stack(f"dora-{len(names)}") as bench:
            asyncio.run(create_topics(bench.bootstrap, SEI_TOPICS, partitions=8))
            seconds, rss, workers = throughput(bench, history, names, bench.database_url)
            print(
                f"  {label}: {seconds:.1f} s -> {len(history) / seconds:,.0f} events/s end to end; "
                f"peak RSS {rss:.0f} MB (largest worker)"
            )
            if len(names) == 1:
                latencies = asyncio.run(steady_stream_freshness(bench, workers[0], args.rate, args.seconds))
                print(
                    f"  freshness at {args.rate:,} events/s, one worker ({len(latencies)} probes): "
                    f"p50 {statistics.median(latencies):.2f} s, p95 {percentile(latencies, 0.95):.2f} s"
                )
            for worker in workers:
                worker.stop()


if __name__ == "__main__":
    main()
