"""kill -9 the worker three times while 100,000 events stream in: nothing lost, nothing
counted twice, in the database and in the live tables."""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from devtools.kafka_io import produce
from devtools.localstack import LocalStack
from devtools.sample_data import generate_commit_stream
from tests.integration.commit_truth import commit_truth, live_daily
from tests.integration.conftest import wait_for
from tests.reliability.conftest import fault_env, new_worker, query

pytestmark = pytest.mark.integration

EVENTS = 100_000


def database_state(url: str, prefix: str) -> tuple[int, dict[Any, Any]]:
    rows = query(url, "SELECT count(*) FROM commits WHERE repository_id LIKE $1", f"{prefix}-%")[0][0]
    daily = query(
        url,
        "SELECT repository_id, day, commit_count, total_additions, total_deletions FROM commits_daily_stats "
        "WHERE repository_id LIKE $1",
        f"{prefix}-%",
    )
    return rows, {(r[0], r[1].date()): (r[2], r[3], r[4]) for r in daily}


def test_kill9_three_times_while_streaming_loses_and_doubles_nothing(
    stack: LocalStack, own_database: str, tmp_path: Path
) -> None:
    prefix = f"crash{uuid.uuid4().hex[:6]}"
    stream = generate_commit_stream(
        commits=int(EVENTS / 1.1), repositories=40, days=30, duplicate_rate=0.1, malformed=0, seed=41,
        repository_prefix=prefix,
    )
    messages = stream.messages
    rows, daily = commit_truth(messages)
    worker = new_worker(fault_env(stack, own_database), tmp_path, "w").start()
    worker.wait_answering()

    def stream_in() -> None:  # ten chunks over ~20 s, as a collector would send them
        for i in range(10):
            chunk = messages[i * len(messages) // 10 : (i + 1) * len(messages) // 10]
            asyncio.run(produce([stack.broker.bootstrap], "git.commits", chunk))
            time.sleep(2)

    producer = threading.Thread(target=stream_in)
    started = time.monotonic()
    producer.start()
    rng = random.Random(7)
    recoveries: list[float] = []
    try:
        for _ in range(3):
            time.sleep(rng.uniform(3, 8))
            worker.kill()  # SIGKILL: no flush, no commit, no goodbye
            restarted = time.monotonic()
            worker.start()
            worker.wait_answering()
            before = database_state(own_database, prefix)[0]
            wait_for(lambda b=before: database_state(own_database, prefix)[0] > b or database_state(own_database, prefix)[0] == len(rows), 120, "the restarted worker writing again")
            recoveries.append(time.monotonic() - restarted)
        producer.join(120)
        wait_for(
            lambda: database_state(own_database, prefix)[0] >= len(rows),
            300,
            lambda: f"all rows: {database_state(own_database, prefix)[0]} of {len(rows)}; {worker.get('/stats')}",
        )
        count, db_daily = database_state(own_database, prefix)
        assert count == len(rows)  # zero lost, zero duplicated rows (natural key)
        assert db_daily == daily  # zero double-counted in the aggregates
        repositories = sorted({repo for repo, _ in daily})

        # A restart's last rebalance may still be settling (the killed member's session
        # expiring): live_daily asks again while the views say so.
        wait_for(lambda: live_daily(worker.get, repositories) == daily, 60, "live tables equal to the truth")
        dead = query(own_database, "SELECT count(*) FROM dead_letters")[0][0]
        assert dead == 0
        print(
            f"\nkill -9 x3: {len(messages):,} events ({len(rows):,} unique commits) in "
            f"{time.monotonic() - started:.0f} s; lost 0, double-counted 0; "
            f"restart-to-writing {', '.join(f'{s:.1f}' for s in recoveries)} s"
        )
    finally:
        worker.stop()
