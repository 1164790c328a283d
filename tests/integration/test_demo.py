"""`make demo` end to end: `python -m devtools.demo` as a user runs it, on its own broker and
database. Its DORA, cycle-time and sprint lines equal the truth of the history it sent
(formatted by the same code), the dead letters and curl lines are there, it says OK,
exits 0 and leaves no process or port behind."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from devtools import demo_report as report
from devtools.demo import dora_table, plan
from devtools.localstack import DEFAULT_DATABASE_URL
from tables.instants import to_micros
from tests.org_truth import truth_of

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _processes_mentioning(*needles: str) -> list[str]:
    """Processes (of this user) whose command line or environment names one of ``needles``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            text = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:
            continue
        if any(n.encode() in text for n in needles):
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ")[:120]
            found.append(f"{proc.name}: {command!r}")
    return found


@pytest.fixture
def database_name() -> Iterator[str]:
    name = f"sei_demo_test_{uuid.uuid4().hex[:8]}"
    yield name
    server = os.environ.get("TIMESCALE_URL", DEFAULT_DATABASE_URL)

    async def drop() -> None:
        admin = await asyncpg.connect(urlunsplit(urlsplit(server)._replace(path="/postgres")))
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    asyncio.run(drop())


def test_demo_shows_dora_cycle_time_sprints_dead_letters_and_stops_everything(
    tmp_path: Path, redis_url: str, database_name: str
) -> None:
    end = datetime.now(UTC).date()
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "devtools.demo", "--data-dir", str(tmp_path), "--database", database_name]
        + [
            "--end",
            end.isoformat(),
            "--timeout",
            "70",
            "--repositories",
            "12",
            "--teams",
            "3",
            "--days",
            "60",
        ],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=100,
    )
    elapsed = time.monotonic() - started
    out = done.stdout
    assert done.returncode == 0, f"exit {done.returncode}\n{out}\n{done.stderr[-3000:]}"
    assert elapsed < 75, f"the demo took {elapsed:.0f} s\n{out}"

    # What it printed from the worker's views is the truth of what it sent.
    demo = plan(repositories=12, teams=3, days=60, end=end)
    truth = truth_of(demo.history.events)
    end_us = to_micros(demo.end)
    members = truth.repositories_of(demo.team, demo.history.repositories)
    expected = {
        "dora_first": truth.dora([demo.repositories[0]], end=end_us, window_days=30),
        "dora_second": truth.dora([demo.repositories[1]], end=end_us, window_days=30),
        "dora_team": {"repositories": members, **truth.dora(members, end=end_us, window_days=30)},
    }
    cycle_time = truth.cycle_time(members, end=end_us, window_days=30)
    lines = [
        *dora_table(demo, expected),
        *report.cycle_time_lines(cycle_time),
        *report.open_pr_lines(cycle_time),
        *report.sprint_lines(truth.sprints(demo.project)),
    ]
    assert [line for line in lines if line not in out.splitlines()] == [], out
    for row in dora_table(demo, expected)[1:]:  # every key with its four bands
        assert len(re.findall(r"\b(elite|high|medium|low|no data)\b", row)) == 4, row
    assert "waiting for review" in out and "velocity" in out

    # The rows, the dead letters with their reasons, the URLs, the verdict.
    assert re.search(r"^  commits +[\d,]+ +[\d,]+  ok$", out, re.M), out
    assert "MISMATCH" not in out
    assert "== Dead letters (7)" in out
    for reason in ("invalid_json", "validation", "wrong_key"):
        assert re.search(rf"^  \S+/\d+@\d+ +\w+ +{reason} ", out, re.M), reason
    curls = re.findall(r"^curl -s 'http://127\.0\.0\.1:\d+(/\S+)'$", out, re.M)
    assert {p.split("?")[0] for p in curls} >= {
        f"/dora/{demo.repositories[0]}",
        f"/dora/{demo.repositories[1]}",
        f"/dora/teams/{demo.team}",
        f"/cycle-time/teams/{demo.team}",
        f"/sprints/{demo.project}",
    }
    assert re.search(r"^== OK: ", out, re.M) and "FAIL" not in out
    assert re.search(r"^== the page: http://127\.0\.0\.1:\d+/ ", out, re.M), out

    # Nothing left running: no broker, no worker, nothing on their ports.
    broker_port = int(re.search(r"tansu://127\.0\.0\.1:(\d+)", out).group(1))  # type: ignore[union-attr]
    web_port = int(re.search(r"\(web http://127\.0\.0\.1:(\d+)", out).group(1))  # type: ignore[union-attr]
    assert not _port_open(broker_port) and not _port_open(web_port)
    assert _processes_mentioning(f"tcp://127.0.0.1:{broker_port}", str(tmp_path)) == []
