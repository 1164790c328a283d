"""`make demo`: the main job on the embedded default, start to finish.

Starts the local stack, migrates a fresh demo database, starts a worker, produces a
generated engineering history of several teams on the seven SEI topics (with redeliveries
and a malformed message per topic), waits until the worker has stored all of it, then
prints what the worker's views answer (DORA, cycle time, open PRs, a sprint), the rows
behind them and the dead letters, checks the rows against the events sent, and stops
everything it started. The demo database is left in place to explore (``--database``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as clock
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from devtools import demo_report as report
from devtools import demo_rows as rows
from devtools.kafka_io import create_topics, produce
from devtools.localstack import LocalStack, free_port, fresh_database, local_stack
from devtools.org_history import (
    SEI_TOPICS,
    SeiHistory,
    expected_rows,
    generate_sei_history,
    malformed_messages,
)
from devtools.worker_process import WorkerProcess

__all__ = ["DemoPlan", "plan", "dora_table", "main"]


def say(text: str = "") -> None:
    print(text, flush=True)


@dataclass(frozen=True)
class DemoPlan:
    """The history the demo sends and the keys whose answers it shows."""

    history: SeiHistory
    malformed: dict[str, list[tuple[bytes, bytes]]]
    end: datetime
    repositories: tuple[str, str]
    team: str
    project: str

    def messages(self) -> dict[str, list[tuple[bytes, bytes]]]:
        """Each topic's messages, its malformed one in the middle of the stream."""
        by_topic = self.history.messages()
        for topic, broken in self.malformed.items():
            middle = len(by_topic[topic]) // 2
            by_topic[topic][middle:middle] = broken
        return by_topic

    def paths(self) -> dict[str, str]:
        """The views shown, by what they show."""
        window = f"window=30d&end={quote(self.end.isoformat().replace('+00:00', 'Z'))}"
        first, second = self.repositories
        return {
            "dora_first": f"/dora/{first}?{window}",
            "dora_second": f"/dora/{second}?{window}",
            "dora_team": f"/dora/teams/{self.team}?{window}",
            "cycle_time": f"/cycle-time/teams/{self.team}?{window}",
            "sprints": f"/sprints/{self.project}",
        }


def plan(*, repositories: int, teams: int, days: int, end: date, seed: int = 5) -> DemoPlan:
    """The demo's history ending at midnight UTC of ``end``, and the keys it shows: two
    repositories of the first team, that team, its Jira project."""
    end_at = datetime.combine(end, clock(), tzinfo=UTC)
    history = generate_sei_history(
        repositories=repositories,
        teams=teams,
        days=days,
        seed=seed,
        end=end_at,
        prefix="demo",
        ship_merged_only=True,
    )
    team = history.teams[history.repositories[0]]
    members = [r for r in history.repositories if history.teams[r] == team]
    return DemoPlan(
        history,
        malformed_messages(history),
        end_at,
        (members[0], members[1]),
        team,
        history.projects[0],
    )


def wait_stored(
    worker: WorkerProcess, url: str, sent: dict[str, int], expected: dict[str, int], timeout_s: float
) -> dict[str, int]:
    """Show progress until every message is consumed and the rows are what the events make
    (or ``timeout_s`` passes); the last row counts."""
    total = sum(sent.values())
    deadline = time.monotonic() + timeout_s
    shown, last = -1.0, ""
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        if worker.process is not None and worker.process.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.process.returncode}; see {worker.log_path}")
        _, stats = worker.get("/stats")
        topics = stats["topics"]
        # ops.incidents also carries the incidents forwarded from Jira: cap each at what was sent.
        consumed = sum(min(topics.get(t, {}).get("consumed", 0), n) for t, n in sent.items())
        counts = rows.row_counts(url) if consumed >= total else counts
        settled = consumed >= total and all(counts.get(t) == n for t, n in expected.items())
        behind = [t for t, n in expected.items() if counts.get(t) != n]
        line = f"  consumed {consumed:>6,} / {total:,}" + (
            "  (the worker is joining its group)"
            if not consumed
            else f"; rows still to come in {', '.join(behind)}"
            if counts and behind
            else ""
        )
        if settled or (line != last and time.monotonic() - shown >= 1) or time.monotonic() - shown >= 5:
            say(line)
            shown, last = time.monotonic(), line
        if settled:
            break
        time.sleep(0.5)
    return counts or rows.row_counts(url)


def answers(worker: WorkerProcess, paths: dict[str, str]) -> dict[str, Any]:
    got: dict[str, Any] = {}
    for name, path in paths.items():
        status, body = worker.get(path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body}")
        got[name] = body
    return got


def dora_table(demo: DemoPlan, got: dict[str, Any]) -> list[str]:
    """The DORA table of the two repositories and the team (``got``: answers by ``paths`` name)."""
    first, second = demo.repositories
    team_size = len(got["dora_team"]["repositories"])
    return report.dora_lines(
        [
            (first, got["dora_first"]),
            (second, got["dora_second"]),
            (f"team {demo.team} ({team_size})", got["dora_team"]),
        ]
    )


def show_answers(demo: DemoPlan, got: dict[str, Any]) -> None:
    say(f"\n== DORA, 30 days to {demo.end:%Y-%m-%d} (GET /dora/..., /dora/teams/...)")
    for line in dora_table(demo, got):
        say(line)
    say(f"\n== Cycle time of {demo.team}, PRs merged in those 30 days (GET /cycle-time/teams/...)")
    for line in report.cycle_time_lines(got["cycle_time"]):
        say(line)
    say(f"\n== Open PRs of {demo.team} waiting for a first review")
    for line in report.open_pr_lines(got["cycle_time"]):
        say(line)
    say(f"\n== Sprints of {demo.project} (GET /sprints/{demo.project})")
    for line in report.sprint_lines(got["sprints"]):
        say(line)


def show_rows(demo: DemoPlan, url: str, counts: dict[str, int], expected: dict[str, int]) -> None:
    first = demo.repositories[0]
    say(f"\n== Database {urlsplit(url).path.lstrip('/')}: the rows behind them")
    for line in report.count_lines(counts, expected):
        say(line)
    say(f"  latest production deployments of {first}:")
    for line in report.deployment_lines(rows.latest_deployments(url, first)):
        say(line)
    say(f"  latest deployed pull requests of {first} (stage hours):")
    for line in report.pull_request_lines(rows.deployed_pull_requests(url, first)):
        say(line)
    say(f"  metrics_daily of {first}, last day with deployments:")
    say(report.daily_line(rows.daily_metrics(url, first)))


def show_dead_letters(url: str) -> list[asyncpg.Record]:
    letters = rows.dead_letters(url)
    say(f"\n== Dead letters ({len(letters)}): table dead_letters, topic dlq-events")
    for line in report.dead_letter_lines(letters):
        say(line)
    return letters


def verdict(
    demo: DemoPlan, counts: dict[str, int], expected: dict[str, int], letters: list[asyncpg.Record]
) -> tuple[bool, str]:
    malformed = {(topic, value) for topic, messages in demo.malformed.items() for _, value in messages}
    events = demo.history.events
    unique = len({(topic, repr(event)) for topic, event in events})  # a redelivery is the same object
    return report.verdict(len(events) + len(malformed), unique, malformed, counts, expected, letters)


@contextlib.contextmanager
def running_worker(env: dict[str, str], root: Path, port: int) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(env, root / "worker", port, root / "worker.log").start()
    try:
        yield worker
    finally:
        worker.stop()


def demo_database(stack: LocalStack, name: str) -> str:
    return urlunsplit(urlsplit(stack.database_url)._replace(path=f"/{name}"))


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    root = Path(args.data_dir).resolve() / "demo"
    shutil.rmtree(root / "worker", ignore_errors=True)  # the broker is fresh: so is local state
    root.mkdir(parents=True, exist_ok=True)
    demo = plan(repositories=args.repositories, teams=args.teams, days=args.days, end=args.end)
    by_topic = demo.messages()
    expected = expected_rows(demo.history) | {"dead_letters": sum(map(len, demo.malformed.values()))}
    with local_stack(root.parent, log_dir=root) as stack:
        say("== local stack\n" + stack.describe())
        url = demo_database(stack, args.database)
        env = {**stack.env, "TIMESCALE_URL": url, "BATCH_TIMEOUT_MS": "300"}
        asyncio.run(fresh_database(url))
        asyncio.run(create_topics([stack.broker.bootstrap], SEI_TOPICS, partitions=8))
        say(f"== fresh database {args.database} (alembic upgrade head), topics created")
        with running_worker(env, root, args.port or free_port()) as worker:
            say(f"== worker: faust -A app worker (web {worker.url}, log {worker.log_path})")
            h = demo.history
            say(
                f"== producing {sum(map(len, by_topic.values())):,} messages on {len(by_topic)} topics: "
                f"{len(h.repositories)} repositories of {len(set(h.teams.values()))} teams, "
                f"{len(h.projects)} Jira projects, {args.days} days"
            )
            for topic, messages in by_topic.items():
                asyncio.run(produce([stack.broker.bootstrap], topic, messages))
            worker.wait_answering()
            counts = wait_stored(
                worker, url, {t: len(m) for t, m in by_topic.items()}, expected, args.timeout
            )
            say(f"== stored in {time.monotonic() - started:.0f} s from the start")
            show_answers(demo, answers(worker, demo.paths()))
            show_rows(demo, url, counts, expected)
            letters = show_dead_letters(url)
            ok, line = verdict(demo, counts, expected, letters)
            say(
                "\n== Try them while a worker runs (`make demo DEMO_ARGS=--serve` keeps this one up until ^C)"
            )
            for path in [*demo.paths().values(), "/stats", "/health"]:
                say(f"curl -s '{worker.url}{path}'")
            if stack.database_origin == "server":
                say(f"psql '{url}' -c 'SELECT * FROM sprints'")
            else:
                say(f"database {url} (embedded: stops with the demo; `make stack` starts it again)")
            say(f"\n== {line}")
            if args.serve:
                say(f"== serving on {worker.url} until ^C")
                with contextlib.suppress(KeyboardInterrupt):
                    signal.pause()
    say(f"== stopped the worker and the local stack; {time.monotonic() - started:.0f} s in all")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repositories", type=int, default=12)
    parser.add_argument("--teams", type=int, default=3)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument(
        "--end",
        type=date.fromisoformat,
        default=datetime.now(UTC).date(),
        help="history ends at this UTC midnight",
    )
    parser.add_argument("--database", default="sei_demo", help="dropped, created and left for you to explore")
    parser.add_argument("--data-dir", default=os.environ.get("DATA_DIR", "data"))
    parser.add_argument("--port", type=int, default=0, help="the worker's web port (a free one by default)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the rows")
    parser.add_argument("--serve", action="store_true", help="keep the worker up until ^C after the report")
    args = parser.parse_args(argv)
    if args.teams < 1 or args.repositories < 2 * args.teams or args.days < 15:
        parser.error("--repositories must be at least twice --teams (two of a team are shown), --days >= 15")
    # The broker and the worker run in their own sessions: a terminal closed or a `kill`
    # must unwind through the teardown too, as ^C does.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda signum, _: sys.exit(128 + signum))
    try:
        return run(args)
    except (RuntimeError, TimeoutError) as exc:  # everything started is stopped by now
        say(f"== FAIL: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
