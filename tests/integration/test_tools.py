"""The operator commands on the real stack: `faust -A app dlq|replay|reconcile` run as
subprocesses against Tansu, PostgreSQL and a worker process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from devtools.kafka_io import produce
from devtools.localstack import LocalStack
from devtools.worker_process import WorkerProcess
from models.dead_letter import REPLAY_HEADER
from tests.dead_letter_bytes import decode_original
from tests.integration.commit_truth import commit_truth, daily_from_view
from tests.integration.conftest import consumed, wait_consumed, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "git.commits"


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def commit_event(repository_id: str, sha: str, when: datetime, **data: object) -> bytes:
    body: dict[str, object] = {
        "sha": sha,
        "author": "dev@example.com",
        "message": "Fix bug",
        "files_changed": 2,
        "additions": 10,
        "deletions": 3,
        "committed_at": iso(when),
    }
    body.update(data)
    event = {
        "event_type": "commit_created",
        "timestamp": iso(when),
        "source": "github",
        "repository_id": repository_id,
        "data": body,
    }
    return orjson.dumps(event)


def unique(prefix: str) -> str:
    return f"tools-{prefix}-{uuid.uuid4().hex[:10]}"


class Tools:
    """Runs `faust -A app ...` with the worker's environment."""

    def __init__(self, worker: WorkerProcess, env: dict[str, str]) -> None:
        self.env = {**os.environ, **env, "WEB_PORT": str(worker.web_port)}

    def run(self, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[bytes]:
        faust = Path(sys.executable).with_name("faust")
        return subprocess.run(
            [str(faust), "-A", "app", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )

    def ok(self, *args: str, code: int = 0, timeout_s: float = 300) -> str:
        done = self.run(*args, timeout_s=timeout_s)
        assert done.returncode == code, explain(args, done)
        return done.stdout.decode()


def explain(args: tuple[str, ...], done: subprocess.CompletedProcess[bytes]) -> str:
    return (
        f"`faust -A app {' '.join(args)}` exited {done.returncode}\n"
        f"--- stdout\n{done.stdout.decode(errors='replace')}\n--- stderr\n{done.stderr.decode(errors='replace')[-4000:]}"
    )


@pytest.fixture
def tools(worker: WorkerProcess, worker_env: dict[str, str]) -> Tools:
    return Tools(worker, worker_env)


def send(stack: LocalStack, messages: list[tuple[bytes, bytes]]) -> None:
    asyncio.run(produce([stack.broker.bootstrap], TOPIC, messages))


def count(db: Any, sql: str, *args: object) -> int:
    return int(db(sql, *args)[0][0])


def settle(stack: LocalStack, worker: WorkerProcess, db: Any) -> int:
    """Send a marker commit and wait until it is stored: everything sent before it on its
    partition is processed. Returns the worker's consumed count after the marker."""
    repository_id = unique("marker")
    start = consumed(worker, TOPIC)
    send(stack, [(repository_id.encode(), commit_event(repository_id, "m1", datetime.now(UTC)))])
    wait_for(
        lambda: count(db, "SELECT count(*) FROM commits WHERE repository_id = $1", repository_id) == 1,
        120,
        "the marker commit to be stored",
    )
    wait_consumed(worker, TOPIC, start + 1)
    return consumed(worker, TOPIC)


def test_dlq_list_show_and_replay_corrected_commit_lands_exactly_once(
    stack: LocalStack, worker: WorkerProcess, tools: Tools, db: Any, tmp_path: Path
) -> None:
    repository_id = unique("dlq")
    key = repository_id.encode()
    when = datetime.now(UTC) - timedelta(hours=1)
    good = commit_event(repository_id, "sha-good", when, additions=10, deletions=3)
    bad = commit_event(repository_id, "sha-fixed", when, additions=-5, deletions=1)  # negative count
    send(stack, [(key, good), (key, bad)])
    wait_for(
        lambda: count(db, "SELECT count(*) FROM dead_letters WHERE message_key = $1", key) == 1,
        120,
        "the malformed commit to be dead-lettered",
    )
    wait_for(
        lambda: count(db, "SELECT count(*) FROM commits WHERE repository_id = $1", repository_id) == 1,
        60,
        "the good commit",
    )
    stored = db('SELECT dlq_id, partition, "offset" FROM dead_letters WHERE message_key = $1', key)[0]
    dlq_id = stored["dlq_id"]

    listed = json.loads(
        tools.ok(
            "dlq", "list", "--topic", TOPIC, "--error-type", "ValidationError", "--json", "--limit", "1000"
        )
    )
    entry = next(e for e in listed if e["dlq_id"] == dlq_id)
    assert (entry["partition"], entry["offset"], entry["key"]) == (
        stored["partition"],
        stored["offset"],
        repository_id,
    )
    assert (entry["replay_count"], entry["replayed_at"]) == (0, None)
    lines = tools.ok("dlq", "list", "--since", iso(when - timedelta(hours=1))).splitlines()
    line = next(line for line in lines if line.startswith(dlq_id))
    assert f"{TOPIC}/{stored['partition']}/{stored['offset']}" in line
    assert "ValidationError" in line and line.endswith("not replayed")

    record = json.loads(tools.ok("dlq", "show", dlq_id))
    assert decode_original(record["original_encoding"], record["original_message"]) == bad
    assert record["error"]["type"] == "ValidationError" and "additions" in record["error"]["message"]
    assert record["metadata"]["topic"] == TOPIC and record["metadata"]["offset"] == stored["offset"]
    assert record["metadata"]["key"] == repository_id
    assert record["replay"] == {"replayed": False, "replay_count": 0, "replayed_at": None}
    assert tools.run("dlq", "show", dlq_id, "--raw").stdout == bad  # the exact original bytes
    missing = tools.run("dlq", "show", "dlq_no_such_record")
    assert missing.returncode == 1 and b"no dead letter with dlq_id 'dlq_no_such_record'" in missing.stderr

    corrected = tmp_path / "corrected.json"
    corrected.write_bytes(commit_event(repository_id, "sha-fixed", when, additions=5, deletions=1))
    dry = tools.ok("dlq", "replay", "--dlq-id", dlq_id, "--value-file", str(corrected), "--dry-run")
    assert f"would send {dlq_id}" in dry and "corrected payload" in dry

    start = consumed(worker, TOPIC)
    first = tools.ok("dlq", "replay", "--dlq-id", dlq_id, "--value-file", str(corrected))
    assert f"sent {dlq_id} -> {TOPIC}" in first and "replayed 1, skipped 0, failed 0" in first
    wait_for(
        lambda: count(db, "SELECT count(*) FROM commits WHERE repository_id = $1", repository_id) == 2,
        120,
        "the corrected commit",
    )
    second = tools.run("dlq", "replay", "--dlq-id", dlq_id, "--value-file", str(corrected))
    assert second.returncode == 0, explain(("dlq", "replay"), second)
    assert b"nothing to replay" in second.stdout and b"already replayed 1x" in second.stderr

    # Everything sent so far is processed: exactly one replayed message reached the worker.
    assert settle(stack, worker, db) == start + 2
    rows = db(
        "SELECT sha, additions, deletions FROM commits WHERE repository_id = $1 ORDER BY sha", repository_id
    )
    assert [tuple(r) for r in rows] == [("sha-fixed", 5, 1), ("sha-good", 10, 3)]
    daily = db(
        "SELECT day, commit_count, total_additions, total_deletions FROM commits_daily_stats WHERE repository_id = $1",
        repository_id,
    )
    assert [tuple(r)[1:] for r in daily] == [(2, 15, 4)]
    assert daily[0]["day"].date() == when.date()
    letter = db("SELECT replay_count, replayed_at FROM dead_letters WHERE dlq_id = $1", dlq_id)[0]
    assert letter["replay_count"] == 1 and letter["replayed_at"] is not None
    assert (
        count(db, "SELECT count(*) FROM dead_letters WHERE message_key = $1", key) == 1
    )  # accepted this time

    unknown = tools.run("dlq", "replay", "--dlq-id", "dlq_no_such_record")
    assert unknown.returncode == 1 and b"no dead letter with --dlq-id dlq_no_such_record" in unknown.stderr
    nothing = tools.run("dlq", "replay", "--error-type", f"NoSuchError{uuid.uuid4().hex[:6]}")
    assert nothing.returncode == 1 and b"no dead letters match --error-type" in nothing.stderr


def test_dlq_replay_seed_001_range_dry_run_sends_nothing_then_replays_once(
    stack: LocalStack, worker: WorkerProcess, tools: Tools, db: Any
) -> None:
    repository_id = unique("range")
    key = repository_id.encode()
    broken = [b"{not json", b'{"event_type": "commit_created", "repository_id": "%s", "data": {}}' % key]
    send(stack, [(key, value) for value in broken])
    wait_for(
        lambda: count(db, "SELECT count(*) FROM dead_letters WHERE message_key = $1", key) == 2,
        120,
        "both malformed messages to be dead-lettered",
    )
    letters = db(
        'SELECT dlq_id, partition, "offset" FROM dead_letters WHERE message_key = $1 ORDER BY "offset"', key
    )
    partition = letters[0]["partition"]
    assert letters[1]["partition"] == partition  # one key, one partition
    in_range = count(
        db,
        'SELECT count(*) FROM dead_letters WHERE topic = $1 AND partition = $2 AND "offset" BETWEEN $3 AND $4',
        TOPIC,
        partition,
        letters[0]["offset"],
        letters[1]["offset"],
    )
    selection = [
        "--topic",
        TOPIC,
        "--partition",
        str(partition),
        "--start-offset",
        str(letters[0]["offset"]),
        "--end-offset",
        str(letters[1]["offset"]),
    ]

    start = consumed(worker, TOPIC)
    dry = tools.ok("dlq", "replay", *selection, "--dry-run")
    assert all(f"would send {letter['dlq_id']}" in dry for letter in letters)
    assert dry.count("would send ") == in_range and "nothing sent" in dry
    assert settle(stack, worker, db) == start + 1  # only the marker
    assert count(db, "SELECT sum(replay_count) FROM dead_letters WHERE message_key = $1", key) == 0

    # For real: still malformed, so each comes back as a new dead letter marked as a retry.
    replayed = tools.ok("dlq", "replay", *selection)
    assert f"replayed {in_range}, skipped 0, failed 0" in replayed
    wait_for(
        lambda: count(db, "SELECT count(*) FROM dead_letters WHERE message_key = $1", key) == 4,
        120,
        "the replayed messages to be dead-lettered again",
    )
    again = db(
        'SELECT retry_count, headers FROM dead_letters WHERE message_key = $1 AND retry_count > 0 ORDER BY "offset"',
        key,
    )
    replay_of = {json.loads(row["headers"])[REPLAY_HEADER] for row in again}
    assert replay_of == {letter["dlq_id"] for letter in letters}
    twice = tools.ok("dlq", "replay", *selection)
    assert f"replayed 0, skipped {in_range}" in twice or "nothing to replay" in twice
    assert count(db, "SELECT count(*) FROM dead_letters WHERE message_key = $1", key) == 4


def test_reconcile_detects_deleted_row_and_repair_restores_it(
    stack: LocalStack, worker: WorkerProcess, tools: Tools, db: Any
) -> None:
    repository_id = unique("reconcile")
    now = datetime.now(UTC)
    whens = [now - timedelta(minutes=10 + 7 * i) for i in range(5)]
    messages = [
        (repository_id.encode(), commit_event(repository_id, f"sha-{i}", when, additions=i + 1, deletions=i))
        for i, when in enumerate(whens)
    ]
    send(stack, messages)
    wait_for(
        lambda: count(db, "SELECT count(*) FROM commits WHERE repository_id = $1", repository_id) == 5,
        120,
        "5 commits",
    )
    settle(stack, worker, db)

    clean = tools.ok("reconcile", "--window", "24h")
    assert "database and live tables agree" in clean
    assert "checked " in clean

    victim = db(
        "SELECT sha, committed_at FROM commits WHERE repository_id = $1 AND sha = 'sha-2'", repository_id
    )[0]
    db("DELETE FROM commits WHERE repository_id = $1 AND sha = $2", repository_id, victim["sha"])
    day = victim["committed_at"].astimezone(UTC).date().isoformat()

    found = tools.ok("reconcile", "--window", "24h", code=1)
    assert f"DIFFERS {repository_id} {day}" in found, found
    report = json.loads(tools.ok("reconcile", "--window", "24h", "--json", code=1))
    difference = next(d for d in report["differences"] if d["repository_id"] == repository_id)
    assert difference["day"] == day
    live_total = sum(1 for when in whens if when.date().isoformat() == day)
    assert difference["database_rows"]["commit_count"] == live_total - 1
    assert difference["live"]["commit_count"] == live_total
    assert difference["database_daily_stats"]["commit_count"] == live_total

    repaired = tools.ok("reconcile", "--window", "24h", "--repair", "--repair-timeout", "180", timeout_s=400)
    assert f"REPAIRED {repository_id} {day}" in repaired, repaired
    assert (
        count(
            db,
            "SELECT count(*) FROM commits WHERE repository_id = $1 AND sha = $2",
            repository_id,
            victim["sha"],
        )
        == 1
    )
    assert "database and live tables agree" in tools.ok("reconcile", "--window", "24h")
    only = tools.ok("reconcile", "--window", "90m", "--repository", repository_id)
    assert only.startswith("checked 1 repositories")

    # A row the stream never had cannot be repaired by re-sending: reported, exit 1, no wait.
    ghost = unique("ghost")
    db("INSERT INTO commits (repository_id, sha, committed_at) VALUES ($1, 'sha-ghost', $2)", ghost, now)
    try:
        unrepairable = tools.ok("reconcile", "--repository", ghost, "--repair", code=1, timeout_s=120)
        assert f"NOT REPAIRED {ghost} {now.date().isoformat()}" in unrepairable
        assert "no source event in git.commits" in unrepairable
    finally:
        db("DELETE FROM commits WHERE repository_id = $1", ghost)


def snapshot(db: Any, repository_id: str) -> tuple[list[Any], list[Any]]:
    rows = db(
        "SELECT repository_id, sha, committed_at, author_email, message, files_changed, additions, deletions, "
        "source, xmin::text AS version FROM commits WHERE repository_id = $1 ORDER BY 1, 2, 3",
        repository_id,
    )
    daily = db(
        "SELECT repository_id, day, commit_count, total_additions, total_deletions, xmin::text AS version "
        "FROM commits_daily_stats WHERE repository_id = $1 ORDER BY 1, 2",
        repository_id,
    )
    return [tuple(r) for r in rows], [tuple(r) for r in daily]


def test_replay_of_processed_time_range_changes_nothing(
    stack: LocalStack, worker: WorkerProcess, tools: Tools, db: Any
) -> None:
    repository_id = unique("replay")
    key = repository_id.encode()
    now = datetime.now(UTC)
    messages = [
        (
            key,
            commit_event(
                repository_id, f"sha-{i:03d}", now - timedelta(hours=i % 30), additions=i, deletions=i % 4
            ),
        )
        for i in range(60)
    ]
    messages += messages[:10]  # producer redeliveries
    settle(stack, worker, db)
    since = datetime.now(UTC)
    send(stack, messages)
    wait_for(
        lambda: count(db, "SELECT count(*) FROM commits WHERE repository_id = $1", repository_id) == 60,
        120,
        "60 commits",
    )
    settle(stack, worker, db)
    before = snapshot(db, repository_id)
    expected_rows, expected_daily = commit_truth(messages)
    assert len(before[0]) == len(expected_rows) == 60

    dry = tools.ok("replay", "--topic", TOPIC, "--from-timestamp", iso(since), "--dry-run")
    assert f"would re-send {len(messages) + 1}" in dry  # ours and the marker after them
    start = consumed(worker, TOPIC)
    done = tools.ok("replay", "--topic", TOPIC, "--from-timestamp", iso(since))
    assert f"re-sent {len(messages) + 1} of" in done, done
    wait_consumed(worker, TOPIC, start + len(messages) + 1)
    settle(stack, worker, db)

    assert snapshot(db, repository_id) == before  # not even a row version changed
    status, answer = worker.get(f"/commits/{repository_id}/daily")
    assert status == 200 and daily_from_view(answer) == expected_daily

    # The copies just sent are not replayed again; their originals are.
    again = tools.ok("replay", "--topic", TOPIC, "--from-timestamp", iso(since), "--dry-run")
    assert f"skipped {len(messages) + 1} copies of earlier replays" in again, again
    empty = tools.run(
        "replay", "--topic", TOPIC, "--from-timestamp", "2001-01-01", "--to-timestamp", "2001-01-02"
    )
    assert empty.returncode == 1 and b"no records of git.commits have a timestamp in" in empty.stderr
    reversed_range = tools.run(
        "replay",
        "--topic",
        TOPIC,
        "--from-timestamp",
        iso(since),
        "--to-timestamp",
        iso(since - timedelta(hours=1)),
    )
    assert reversed_range.returncode == 2 and b"must be before --to-timestamp" in reversed_range.stderr
    unknown = tools.run(
        "replay", "--topic", f"no-such-{uuid.uuid4().hex[:6]}", "--from-timestamp", iso(since)
    )
    assert unknown.returncode == 2 and b"no such topic" in unknown.stderr
