"""`faust -A app quality check` on a migrated database: rows written at known times, dead
letters and nulls; the command's table and exit status say which checks fail."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from devtools.localstack import LocalStack
from tests.integration.conftest import temporary_database

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def quality_database(stack: LocalStack) -> Iterator[str]:
    with temporary_database(stack, "sei_quality") as url:
        yield url


async def seed(url: str, *, recent: int, per_day_before: int, null_emails: int, dead: int) -> None:
    now = datetime.now(UTC)
    conn = await asyncpg.connect(url)
    try:
        rows: list[tuple[str, str, datetime, str | None, datetime]] = []
        for day in range(1, 9):  # eight days of history before the last 24 h
            for i in range(per_day_before):
                at = now - timedelta(days=day, hours=1, minutes=i % 50)
                rows.append(("repo-q", f"old-{day}-{i}", at, f"a{i}@x.io", at))
        for i in range(recent):
            at = now - timedelta(minutes=10 + i % 60)
            rows.append(("repo-q", f"new-{i}", at, None if i < null_emails else f"b{i}@x.io", at))
        await conn.executemany(
            "INSERT INTO commits (repository_id, sha, committed_at, author_email, message, ingested_at) "
            "VALUES ($1, $2, $3, $4, 'm', $5)",
            rows,
        )
        await conn.executemany(
            'INSERT INTO dead_letters (dlq_id, topic, partition, "offset", original, error_type, error_reason, '
            "error_message, retry_count, failed_at) VALUES ($1, 'git.commits', 0, $2, '\\x00', 'DecodeError', "
            "'invalid_json', 'bad', 0, $3)",
            [(f"dlq_q_{i}", i, now - timedelta(minutes=5)) for i in range(dead)],
        )
    finally:
        await conn.close()


def quality(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    faust = Path(sys.executable).with_name("faust")
    env = {**os.environ, "TIMESCALE_URL": url, "LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [str(faust), "-A", "app", "quality", "check", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_quality_check_passes_on_usual_data_and_fails_on_a_drop(quality_database: str) -> None:
    asyncio.run(seed(quality_database, recent=100, per_day_before=100, null_emails=2, dead=1))
    done = quality(quality_database, "--topic", "git.commits", "--since", "24h", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    found = {f["check"]: f for f in json.loads(done.stdout)}
    assert {c: f["status"] for c, f in found.items()} == {
        "volume": "ok",
        "freshness": "ok",
        "nulls.author_email": "ok",
        "nulls.message": "ok",
        "invalid": "ok",
        "duplicates": "ok",
    }
    assert found["volume"]["value"] == "100" and found["nulls.author_email"]["value"] == "2.0%"

    # Five authors more missing and forty dead letters in the same 24 h: nulls and invalid fail.
    conn_url = quality_database

    async def worsen() -> None:
        conn = await asyncpg.connect(conn_url)
        try:
            await conn.execute(
                "UPDATE commits SET author_email = NULL WHERE sha LIKE 'new-%' AND sha < 'new-5'"
            )
            await conn.executemany(
                'INSERT INTO dead_letters (dlq_id, topic, partition, "offset", original, error_type, error_reason, '
                "error_message, retry_count, failed_at) VALUES ($1, 'git.commits', 1, $2, '\\x00', 'DecodeError', "
                "'invalid_json', 'bad', 0, now())",
                [(f"dlq_w_{i}", i) for i in range(40)],
            )
        finally:
            await conn.close()

    asyncio.run(worsen())
    done = quality(quality_database, "--topic", "git.commits", "--since", "24h")
    assert done.returncode == 1, done.stdout + done.stderr
    table = {line.split()[1]: line.split()[2] for line in done.stdout.splitlines()[1:] if line.strip()}
    assert table["nulls.author_email"] == "FAIL" and table["invalid"] == "FAIL"
    assert table["volume"] == "OK" and table["duplicates"] == "OK"


def test_every_stored_topic_is_checked_and_options_are_checked(quality_database: str) -> None:
    done = quality(quality_database, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    topics = {f["topic"] for f in json.loads(done.stdout)}
    assert {"git.commits", "git.pull_requests", "cicd.deployments", "ops.incidents", "jira.issues"} <= topics
    assert quality(quality_database, "--topic", "no.such").returncode == 2
    assert quality(quality_database, "--since", "yesterday").returncode == 2
