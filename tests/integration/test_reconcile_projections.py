"""`faust -A app reconcile projections` on the real stack: a worker of its own (broker,
database and redis-server, so no other test's snapshots or rows are compared) fed a generated
history; the command run as a subprocess as an operator runs it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import orjson
import pytest
import redis

from devtools.localstack import LocalStack, free_port, wait_for_port
from devtools.org_history import SeiHistory, generate_sei_history
from devtools.worker_process import WorkerProcess
from tables.instants import to_micros
from tests.integration.conftest import isolated_env, new_worker, private_broker, temporary_database, wait_for
from tests.integration.org_checks import feed_history

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
SNAPSHOT_KEY = "processor:snapshot:dora:{}"
AGREE = "Redis snapshots, metrics_daily and the recomputed projections agree"


@contextlib.contextmanager
def own_redis() -> Iterator[str]:
    """A redis-server of this module alone: the snapshot keys SCANned are this worker's only."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed (run .ci/run or make test)"
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


@dataclass
class Fed:
    worker: WorkerProcess
    history: SeiHistory
    env: dict[str, str]
    database: str
    redis: redis.Redis

    def run(self, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[bytes]:
        faust = Path(sys.executable).with_name("faust")
        return subprocess.run(
            [str(faust), "-A", "app", "reconcile", "projections", *args],
            env={**os.environ, **self.env, "WEB_PORT": str(self.worker.web_port)},
            cwd=ROOT,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )

    def reconcile(self, *args: str, code: int = 0, timeout_s: float = 300) -> str:
        done = self.run(*args, timeout_s=timeout_s)
        assert done.returncode == code, (
            f"`reconcile projections {' '.join(args)}` exited {done.returncode}\n--- stdout\n"
            f"{done.stdout.decode(errors='replace')}\n--- stderr\n{done.stderr.decode(errors='replace')[-4000:]}"
        )
        return done.stdout.decode()

    def db(self, sql: str, *args: object) -> list[asyncpg.Record]:
        async def run() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(self.database)
            try:
                return list(await conn.fetch(sql, *args))
            finally:
                await conn.close()

        return asyncio.run(run())

    def snapshot(self, repository_id: str) -> dict[str, Any] | None:
        body = self.redis.get(SNAPSHOT_KEY.format(repository_id))
        return None if body is None else dict(orjson.loads(body))

    def projected(self, repository_id: str, end: str | int) -> dict[str, Any]:
        status, body = self.worker.get(
            f"/projections/{quote(repository_id, safe='')}?end={quote(str(end), safe='')}"
        )
        assert status == 200, body
        return dict(body)


@pytest.fixture(scope="module")
def fed(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fed]:
    """A worker that has processed and projected a 20-day history of 4 repositories in 2 teams."""
    root = tmp_path_factory.mktemp("recon")
    prefix = f"rp{uuid.uuid4().hex[:5]}"
    history = generate_sei_history(repositories=4, teams=2, days=20, seed=11, end=END, prefix=prefix)
    with (
        private_broker(stack, root) as own,
        temporary_database(own, "sei_recon") as url,
        own_redis() as redis_url,
    ):
        env = isolated_env(own, url, "sei-recon", REDIS_URL=redis_url)
        worker = new_worker(env, root, "recon").start()
        client = redis.Redis.from_url(redis_url)
        try:
            worker.wait_answering()
            feed_history(worker, own.broker.bootstrap, history)
            fed = Fed(worker, history, env, url, client)

            def projected() -> bool:
                keys = all(client.exists(SNAPSHOT_KEY.format(r)) for r in history.repositories)
                rows = fed.db(
                    "SELECT count(DISTINCT subject) FROM metrics_daily WHERE scope = 'repository' AND subject = ANY($1)",
                    history.repositories,
                )[0][0]
                return keys and rows == len(history.repositories)

            wait_for(projected, 60, "the snapshots in Redis and the metrics_daily rows")
            yield fed
        finally:
            client.close()
            worker.stop()


def test_projection_view_at_the_snapshots_end_equals_the_redis_body(fed: Fed) -> None:
    # Snapshots written while the history was still arriving are rewritten within the
    # projection interval (10 s) of the last event: wait for the last ones.
    def settled() -> bool:
        for repository_id in fed.history.repositories:
            stored = fed.snapshot(repository_id)
            if stored is None or fed.projected(repository_id, stored["end"])["snapshot"] != stored:
                return False
        return True

    wait_for(settled, 60, "every Redis snapshot to equal the view at its end", poll_s=1.0)
    for repository_id in fed.history.repositories:
        stored = fed.snapshot(repository_id)
        assert stored is not None
        answer = fed.projected(repository_id, stored["end"])
        assert answer["snapshot"] == stored
        assert answer["end"] == stored["end"]
        # The same end as epoch microseconds answers the same.
        micros = to_micros(datetime.fromisoformat(stored["end"]))
        assert fed.projected(repository_id, micros)["snapshot"] == stored
        rows = fed.db(
            "SELECT metric_date, metric, value FROM metrics_daily WHERE scope = 'repository' AND subject = $1",
            repository_id,
        )
        cutoff = answer["cutoff"]
        database = {
            (r["metric_date"].isoformat(), r["metric"]): r["value"]
            for r in rows
            if cutoff is None or r["metric_date"].isoformat() >= cutoff
        }
        recomputed = {
            (day, metric): value
            for day, metrics in answer["days"].items()
            for metric, value in metrics.items()
        }
        assert database == recomputed and recomputed
    assert fed.worker.get("/projections/no-such-repository")[0] == 404
    assert fed.worker.get(f"/projections/{fed.history.repositories[0]}?end=yesterday")[0] == 400


def test_reconcile_projections_agrees_then_finds_tampering_and_repair_restores(fed: Fed) -> None:
    repositories = fed.history.repositories
    # A flush pending after the last event would show as a difference: wait for agreement.
    last: list[str] = []

    def agrees() -> bool:
        done = fed.run(timeout_s=120)
        last[:] = [done.stdout.decode(), done.stderr.decode()[-2000:]]
        return done.returncode == 0

    wait_for(agrees, 90, lambda: f"reconcile projections to agree: {last}", poll_s=1.0)
    clean = fed.reconcile("--dry-run")
    assert AGREE in clean and f"checked {len(repositories)} repositories and 2 teams" in clean
    assert "snapshots: 4 in Redis" in clean

    both = fed.run("--dry-run", "--repair")
    assert both.returncode == 2 and b"--dry-run and --repair exclude each other" in both.stderr

    gone, changed = repositories[0], repositories[1]
    # A team other than the changed repository's: that one's sums move with the changed row.
    team = next(t for t in sorted(set(fed.history.teams.values())) if t != fed.history.teams[changed])
    fed.redis.delete(SNAPSHOT_KEY.format(gone))
    row = fed.db(
        "SELECT metric_date, metric, value FROM metrics_daily WHERE scope = 'repository' AND subject = $1 "
        "AND metric = 'deployments' ORDER BY metric_date DESC LIMIT 1",
        changed,
    )[0]
    fed.db(
        "UPDATE metrics_daily SET value = value + 5 WHERE scope = 'repository' AND subject = $1 "
        "AND metric = 'deployments' AND metric_date = $2",
        changed,
        row["metric_date"],
    )
    team_row = fed.db(
        "SELECT metric_date, metric, value FROM metrics_daily WHERE scope = 'team' AND subject = $1 "
        "ORDER BY metric_date, metric LIMIT 1",
        team,
    )[0]
    fed.db(
        "UPDATE metrics_daily SET value = value + 7 WHERE scope = 'team' AND subject = $1 "
        "AND metric = $2 AND metric_date = $3",
        team,
        team_row["metric"],
        team_row["metric_date"],
    )

    found = fed.reconcile(code=1)
    day = row["metric_date"].isoformat()
    assert f"DIFFERS snapshot {gone}: no snapshot in Redis" in found, found
    assert (
        f"DIFFERS metrics_daily repository {changed} {day} deployments: "
        f"database {row['value'] + 5:g}, recomputed {row['value']:g}" in found
    ), found
    team_day = team_row["metric_date"].isoformat()
    assert (
        f"DIFFERS metrics_daily team {team} {team_day} {team_row['metric']}: "
        f"database {team_row['value'] + 7:g}, sum of its repositories {team_row['value']:g}" in found
    ), found
    # The changed repository's team no longer sums to its rows on that day either.
    moved = fed.history.teams[changed]
    assert f"DIFFERS metrics_daily team {moved} {day} deployments: database " in found, found
    assert found.count("DIFFERS") == 4, found
    report = json.loads(fed.reconcile("--json", code=1))
    kinds = sorted((d["kind"], d.get("repository_id") or d.get("subject")) for d in report["differences"])
    assert kinds == sorted([("snapshot", gone), ("repository", changed), ("team", team), ("team", moved)])
    assert gone not in report["snapshot_age_s"] and len(report["snapshot_age_s"]) == 3

    repaired = fed.reconcile("--repair", "--repair-timeout", "60")
    for line in (
        f"REPAIRED snapshot {gone}",
        f"REPAIRED repository {changed}",
        f"REPAIRED team {team}",
        f"REPAIRED team {moved}",
    ):
        assert line in repaired, repaired
    assert "NOT REPAIRED" not in repaired

    restored = fed.snapshot(gone)
    assert restored is not None and fed.projected(gone, restored["end"])["snapshot"] == restored
    value = fed.db(
        "SELECT value FROM metrics_daily WHERE scope = 'repository' AND subject = $1 AND metric = 'deployments' "
        "AND metric_date = $2",
        changed,
        row["metric_date"],
    )[0]["value"]
    assert value == row["value"] == fed.projected(changed, END.isoformat())["days"][day]["deployments"]
    team_value = fed.db(
        "SELECT value FROM metrics_daily WHERE scope = 'team' AND subject = $1 AND metric = $2 AND metric_date = $3",
        team,
        team_row["metric"],
        team_row["metric_date"],
    )[0]["value"]
    assert team_value == pytest.approx(team_row["value"], rel=1e-12)
    assert AGREE in fed.reconcile()
    only = fed.reconcile("--repository", changed)
    assert only.startswith("checked 1 repositories and 1 teams"), only
