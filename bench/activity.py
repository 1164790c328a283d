"""`python -m bench.activity`: user activity in event time, sei-processor and Quix Streams
side by side on the same history, broker and database.

A generated ``user-activity-events`` history (``devtools.activity_history``: 1,000,000 events
over 100,000 users by default, sessions, skewed pages, out-of-order, duplicated, late and
malformed messages, snappy batches as seed 003 sends them) is produced at once to a topic
per side, and each side is timed from the first message produced until its rows for every
closed minute are in PostgreSQL and add up to the truth (``devtools.activity_truth``),
with its process's RSS sampled over the run.

- Quix Streams (``bench.activity_quix``, its own process): tumbling one-minute counts per
  user and event type, written as rows ``(user_id, bucket, event_type, events)``.
- sei-processor (one worker, ``faust -A app worker``): ``activity_minutes`` (per minute,
  event type and partition: events and distinct users) and ``user_sessions``; then the
  worker is restarted and the time until it is ready with its session state is measured.

Both are compared on what both write exactly: per minute and event type, the events and the
distinct users (summed over the Quix rows; over sei's partitions, a user being counted on one
partition only). The Quix rows are also checked per user against the truth.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench.activity_quix_table import CREATE_TABLE, TABLE
from bench.harness import BenchStack, RssTimeline, bench_stack, print_log_tail
from devtools.activity_history import ActivityHistory, ActivityPlan, generate_activity_history
from devtools.activity_truth import ActivityTruth, activity_truth, checksum
from devtools.kafka_io import create_topics, produce_records

SEI_TOPIC = "user-activity-events"
QUIX_TOPIC = "bench-activity-quix"
TypeMinutes = dict[tuple[int, str], tuple[int, int]]


@dataclass
class SideFigures:
    """What one side did: seconds from first produce to last row, RSS over the run, results."""

    name: str
    seconds: float
    messages: int
    rss: RssTimeline
    type_minutes: TypeMinutes
    notes: str = ""

    def report(self, truth: ActivityTruth) -> str:
        equal = self.type_minutes == truth.type_minutes
        return (
            f"  {self.name}: {self.seconds:.1f} s -> {self.messages / self.seconds:,.0f} messages/s end to end "
            f"({truth.counted / self.seconds:,.0f} counted events/s)\n"
            f"    CPU {self.rss.cpu_seconds:.1f} s ({self.rss.cpu_seconds / self.seconds:.0%} of a core, "
            f"{self.rss.cpu_seconds / self.messages * 1e6:,.0f} µs per message); "
            f"RSS peak {self.rss.peak_mb:.0f} MB; over time: {self.rss.summary()}\n"
            f"    per (minute, event type): {len(self.type_minutes):,} groups, checksum "
            f"{checksum(_flat(self.type_minutes))} "
            f"{'= truth' if equal else '!= truth ' + checksum(_flat(truth.type_minutes))}"
            + (f"\n    {self.notes}" if self.notes else "")
        )


def _flat(type_minutes: TypeMinutes) -> list[tuple[int, str, int, int]]:
    return [(bucket, kind, events, users) for (bucket, kind), (events, users) in type_minutes.items()]


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


async def wait_settled(
    probe: Callable[[], Awaitable[tuple[int, ...]]],
    goal: tuple[int, ...],
    stall_s: float,
    poll_s: float = 0.5,
) -> tuple[float, tuple[int, ...]]:
    """Poll ``probe`` until it answers ``goal``, or has not changed for ``stall_s`` (a side that
    loses or double-counts never reaches it); returns when it last changed and its answer."""
    last = await probe()
    changed = time.monotonic()
    while last != goal and time.monotonic() - changed < stall_s:
        await asyncio.sleep(poll_s)
        now = await probe()
        if now != last:
            last, changed = now, time.monotonic()
    return changed, last


# -- Quix Streams -----------------------------------------------------------------------------


async def run_quix(
    bench: BenchStack, history: ActivityHistory, truth: ActivityTruth, args: argparse.Namespace
) -> SideFigures:
    plan = history.plan
    # Quix derives its changelog topics' retention from the source topic's configs.
    configs = {"retention.ms": "604800000", "retention.bytes": "-1"}
    await create_topics(bench.bootstrap, [QUIX_TOPIC], partitions=plan.partitions, configs=configs)
    conn = await asyncpg.connect(bench.database_url)
    log_path = bench.root / "quix.log"
    command = [
        sys.executable, "-m", "bench.activity_quix",
        "--broker", bench.stack.broker.bootstrap,
        "--topic", QUIX_TOPIC,
        "--database-url", bench.database_url,
        "--group", f"bench-quix-{uuid.uuid4().hex[:6]}",
        "--state-dir", str(bench.root / "quix-state"),
        "--grace-s", str(plan.grace_s),
        "--key-by", plan.key_by,
        "--commit-interval", str(args.quix_commit_interval),
        "--fetch-wait-ms", str(args.quix_fetch_wait_ms),
    ]  # fmt: skip
    try:
        await conn.execute(CREATE_TABLE)
        with open(log_path, "ab") as log:
            child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_for_line(log_path, "ready", child, timeout_s=120)
            closed = _moment(truth.closed_before_ms)

            async def probe() -> tuple[int, ...]:
                row = await conn.fetchrow(
                    f"SELECT count(*), coalesce(sum(events), 0) FROM {TABLE} WHERE bucket < $1", closed
                )
                return int(row[0]), int(row[1])

            with RssTimeline(child.pid) as rss:
                started = time.monotonic()
                await produce_records(
                    bench.bootstrap, QUIX_TOPIC, history.records(), compression_type=args.compression
                )
                produced = time.monotonic()
                done, reached = await wait_settled(
                    probe, (len(truth.user_minutes), truth.events_written), stall_s=args.stall_s
                )
        finally:
            child.terminate()
            child.wait(30)
        print(f"  produce: {len(history) / (produced - started):,.0f} msg/s")
        rows = await conn.fetch(
            f"SELECT user_id, bucket, event_type, events FROM {TABLE} WHERE bucket < $1", closed
        )
        user_minutes = {(r["user_id"], _ms(r["bucket"]), r["event_type"]): r["events"] for r in rows}
        type_minutes: dict[tuple[int, str], tuple[int, int]] = {}
        for (_, bucket, kind), events in user_minutes.items():
            total, users = type_minutes.get((bucket, kind), (0, 0))
            type_minutes[(bucket, kind)] = (total + events, users + 1)
        per_user = checksum((u, b, k, n) for (u, b, k), n in user_minutes.items())
        truth_per_user = checksum((u, b, k, n) for (u, b, k), n in truth.user_minutes.items())
        counts = _last_line(log_path, "counts ")
        notes = (
            f"per (user, minute, event type): {len(user_minutes):,} rows, checksum {per_user} "
            f"{'= truth' if per_user == truth_per_user else '!= truth ' + truth_per_user}"
            f"{'' if reached == (len(truth.user_minutes), truth.events_written) else f' (stalled at {reached})'}; "
            f"{counts}"
        )
        return SideFigures("Quix Streams", done - started, len(history), rss, type_minutes, notes)
    finally:
        await conn.close()


def _wait_for_line(path: Path, text: str, child: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"{child.args} exited with {child.returncode}; see {path}")
        if path.exists() and any(
            line.strip() == text for line in path.read_text(errors="replace").splitlines()
        ):
            return
        time.sleep(0.2)
    raise TimeoutError(f"no {text!r} from {child.args} after {timeout_s} s; see {path}")


def _last_line(path: Path, prefix: str) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.startswith(prefix)]
    return lines[-1] if lines else f"(no {prefix.strip()} line; see {path})"


# -- sei-processor ----------------------------------------------------------------------------


async def sei_type_minutes(conn: asyncpg.Connection, closed_before_ms: int) -> TypeMinutes:
    """Per (minute, event type): events and distinct users, summed over the partitions' rows."""
    rows = await conn.fetch(
        "SELECT bucket, event_type, sum(events) AS events, sum(users) AS users FROM activity_minutes "
        "WHERE bucket < $1 GROUP BY bucket, event_type",
        _moment(closed_before_ms),
    )
    return {(_ms(r["bucket"]), r["event_type"]): (int(r["events"]), int(r["users"])) for r in rows}


async def run_sei(
    bench: BenchStack, history: ActivityHistory, truth: ActivityTruth, args: argparse.Namespace
) -> SideFigures:
    """One worker on ``SEI_TOPIC``: end to end until every closed minute and session is
    written; then SIGTERM and start again on the same data directory, timed until ready with
    the open sessions answered as before."""
    plan = history.plan
    await create_topics(bench.bootstrap, [SEI_TOPIC], partitions=plan.partitions)
    worker = bench.worker(
        "worker",
        ACTIVITY_TOPIC=SEI_TOPIC,
        ACTIVITY_GRACE_S=str(plan.grace_s),
        ACTIVITY_SESSION_GAP_S=str(plan.session_gap_s),
        TOPIC_PARTITIONS=str(plan.partitions),
        BATCH_SIZE=str(args.batch_size),
        CONSUMER_GROUP_ID=f"bench-activity-{uuid.uuid4().hex[:6]}",
    ).start()
    conn = await asyncpg.connect(bench.database_url)
    closed = _moment(truth.closed_before_ms)
    goal = (truth.events_written, len(truth.type_minutes), len(truth.closed_sessions))

    async def probe() -> tuple[int, ...]:
        minutes = await conn.fetchrow(
            "SELECT coalesce(sum(events), 0), count(DISTINCT (bucket, event_type)) FROM activity_minutes "
            "WHERE bucket < $1",
            closed,
        )
        sessions = await conn.fetchval("SELECT count(*) FROM user_sessions")
        return int(minutes[0]), int(minutes[1]), int(sessions)

    try:
        worker.wait_consuming()
        assert worker.process is not None
        with RssTimeline(worker.process.pid) as rss:
            started = time.monotonic()
            await produce_records(
                bench.bootstrap, SEI_TOPIC, history.records(), compression_type=args.compression
            )
            produced = time.monotonic()
            done, reached = await wait_settled(probe, goal, stall_s=args.stall_s)
        print(f"  produce: {len(history) / (produced - started):,.0f} msg/s")
        type_minutes = await sei_type_minutes(conn, truth.closed_before_ms)
        sessions = await conn.fetch("SELECT user_id, session_start, session_end, events FROM user_sessions")
        written = checksum(
            (r["user_id"], _ms(r["session_start"]), _ms(r["session_end"]), r["events"]) for r in sessions
        )
        expected = checksum(
            (user, start, end, n) for (user, start), (end, n) in truth.closed_sessions.items()
        )
        restart_s, answered = restart_to_ready(worker, truth, samples=args.session_samples)
        notes = (
            f"user_sessions: {len(sessions):,} rows, checksum {written} "
            f"{'= truth' if written == expected else '!= truth ' + expected}"
            f"{'' if reached == goal else f' (stalled at {reached} of {goal})'}\n"
            f"    restart (SIGTERM, same data directory) to ready: {restart_s:.1f} s; "
            f"open sessions answered as the truth after it: {answered}"
        )
        return SideFigures("sei-processor", done - started, len(history), rss, type_minutes, notes)
    except BaseException:
        print_log_tail(worker)
        raise
    finally:
        await conn.close()
        worker.stop()


def restart_to_ready(worker: object, truth: ActivityTruth, samples: int) -> tuple[float, str]:
    """Stop the worker, start it on its data directory; seconds until ready, and how many of
    ``samples`` users with an open session ``GET /activity/users/{user_id}`` shows as the truth."""
    from devtools.worker_process import WorkerProcess

    assert isinstance(worker, WorkerProcess)
    worker.stop()
    started = time.monotonic()
    worker.start()
    worker.wait_consuming(600)
    seconds = time.monotonic() - started
    latest = {user: (start, end, n) for (user, start), (end, n) in sorted(truth.open_sessions.items())}
    users = sorted(latest)[:: max(1, len(latest) // samples)][:samples]
    matching = 0
    for user in users:
        status, body = worker.get(f"/activity/users/{user}")
        session = body.get("open_session") if status == 200 and isinstance(body, dict) else None
        if session is not None and session.get("events") == latest[user][2]:
            matching += 1
    return seconds, f"{matching}/{len(users)}"


# -- the run ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--hours", type=float, default=12.0, help="event-time span of the history")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--key-by", choices=("user_id", "event_id"), default="user_id")
    parser.add_argument("--compression", default="snappy", help="producer codec (seed 003 sends snappy)")
    parser.add_argument("--batch-size", type=int, default=500, help="the worker's BATCH_SIZE")
    parser.add_argument("--quix-commit-interval", type=float, default=1.0, help="Quix's checkpoint, s")
    parser.add_argument(
        "--quix-fetch-wait-ms", type=int, default=500, help="Quix's librdkafka fetch.wait.max.ms"
    )
    parser.add_argument("--stall-s", type=float, default=60.0, help="give up after no progress this long")
    parser.add_argument("--session-samples", type=int, default=50, help="open sessions checked after restart")
    parser.add_argument("--quix-only", action="store_true", help="skip the sei-processor side")
    parser.add_argument("--sei-only", action="store_true", help="skip the Quix Streams side")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run both sides this many times, each round on a fresh stack, the order swapped each round",
    )
    args = parser.parse_args()
    plan = ActivityPlan(
        events=args.events,
        users=args.users,
        span_s=round(args.hours * 3600),
        key_by=args.key_by,
        partitions=args.partitions,
    )
    began = time.monotonic()
    history = generate_activity_history(plan)
    truth = activity_truth((item.value for item in history.sent), plan.grace_s, plan.session_gap_s)
    kinds = history.kinds()
    print(
        f"user activity in event time: {plan.events:,} events over {plan.users:,} users, {args.hours:g} h, "
        f"{len(history):,} messages keyed by {plan.key_by}, {plan.partitions} partitions, {args.compression} "
        f"(generated in {time.monotonic() - began:.0f} s)\n"
        f"  sent: {', '.join(f'{kind} {count:,}' for kind, count in sorted(kinds.items()))}\n"
        f"  truth: {truth.events_written:,} events in {len(truth.type_minutes):,} closed (minute, event type) "
        f"groups, {len(truth.user_minutes):,} (user, minute, event type) rows, "
        f"{len(truth.closed_sessions):,} closed and {len(truth.open_sessions):,} open sessions; "
        f"left out: late {truth.late:,}, duplicates {truth.duplicates:,}, malformed {truth.malformed:,}, "
        f"in open minutes {truth.open_events:,}"
    )
    ratios = [
        ratio
        for number in range(1, args.rounds + 1)
        if (ratio := run_round(number, history, truth, args)) is not None
    ]
    if len(ratios) > 1:
        print(
            f"over {len(ratios)} rounds, sei-processor / Quix Streams: "
            f"{', '.join(f'{r:.2f}x' for r in ratios)}; median {statistics.median(ratios):.2f}x"
        )


def run_round(
    number: int, history: ActivityHistory, truth: ActivityTruth, args: argparse.Namespace
) -> float | None:
    """Both sides (or the one asked for) on a fresh stack; sei's events/s over Quix's.

    A machine's speed drifts over minutes (two runs of the same code here differed by a
    third), so later rounds swap the order: a drift then favours each side in turn."""
    if args.rounds > 1:
        print(f"round {number}:", flush=True)
    sides = [side for side, skip in (("quix", args.sei_only), ("sei", args.quix_only)) if not skip]
    if number % 2 == 0:
        sides.reverse()
    figures: dict[str, SideFigures] = {}
    with bench_stack("activity") as bench:
        for side in sides:
            run = run_quix if side == "quix" else run_sei
            figures[side] = asyncio.run(run(bench, history, truth, args))
            print(figures[side].report(truth), flush=True)
    if len(figures) < 2:
        return None
    quix, sei = figures["quix"], figures["sei"]
    print(
        f"  sei-processor / Quix Streams: {quix.seconds / sei.seconds:.2f}x the events/s; results "
        f"{'equal' if sei.type_minutes == quix.type_minutes == truth.type_minutes else 'DIFFER'}",
        flush=True,
    )
    return quix.seconds / sei.seconds


if __name__ == "__main__":
    main()
