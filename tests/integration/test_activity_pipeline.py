"""User activity end to end on the local stack: a history with out-of-order, duplicated,
late and malformed events, keyed by user, by event id and not at all, through the
re-keying and operator agents; the rows and the view equal a truth computed without them
(tests/integration/activity_truth.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from devtools.kafka_io import produce
from devtools.localstack import LocalStack
from devtools.worker_process import WorkerProcess
from tests.integration.activity_truth import (
    History,
    generate,
    minutes_of,
    page_minutes_of,
    sessions_of,
)
from tests.integration.conftest import isolated_env, new_worker, temporary_database, wait_for


def _query(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


def _minutes(url: str) -> dict[Any, tuple[int, int]]:
    rows = _query(
        url,
        "SELECT bucket, event_type, SUM(events) AS e, SUM(users) AS u FROM activity_minutes GROUP BY 1, 2",
    )
    return {(r["bucket"], r["event_type"]): (int(r["e"]), int(r["u"])) for r in rows}


def _page_minutes(url: str) -> dict[Any, int]:
    rows = _query(url, "SELECT bucket, page_url, SUM(views) AS v FROM activity_page_minutes GROUP BY 1, 2")
    return {(r["bucket"], r["page_url"]): int(r["v"]) for r in rows}


def _sessions(url: str) -> dict[str, list[dict[str, Any]]]:
    rows = _query(url, "SELECT * FROM user_sessions ORDER BY user_id, session_start DESC")
    found: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        found.setdefault(r["user_id"], []).append(
            {
                "session_start": r["session_start"].isoformat(),
                "session_end": r["session_end"].isoformat(),
                "duration_s": r["duration_s"],
                "events": r["events"],
                "page_views": r["page_views"],
                "pages": list(r["pages"]),
                "pages_truncated": r["pages_truncated"],
                "entry_page": r["entry_page"],
                "exit_page": r["exit_page"],
                "bounce": r["bounce"],
                "client_session_ids": list(r["client_session_ids"]),
                "client_sessions_truncated": r["client_sessions_truncated"],
            }
        )
    return found


def _late_letters(url: str, topic: str) -> list[asyncpg.Record]:
    return _query(
        url,
        "SELECT error_reason AS reason, error_type, topic FROM dead_letters WHERE topic LIKE $1",
        f"{topic}%",
    )


def settled(check: Callable[[], bool], timeout_s: float, what: Callable[[], str]) -> None:
    wait_for(check, timeout_s, what, poll_s=0.5)


@pytest.fixture
def activity_database(stack: LocalStack) -> Iterator[str]:
    with temporary_database(stack, "sei_activity") as url:
        yield url


def _send(stack: LocalStack, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    asyncio.run(produce([stack.broker.bootstrap], topic, messages))


def test_activity_history_rows_and_view_equal_truth(
    stack: LocalStack, activity_database: str, tmp_path: Path
) -> None:
    topic = f"activity-{uuid.uuid4().hex[:6]}"
    env = isolated_env(stack, activity_database, "sei-activity", ACTIVITY_TOPIC=topic, ACTIVITY_IDLE_S="2")
    history: History = generate(seed=7)
    assert history.sentinel is not None
    sentinel = history.sentinel.user_id
    truth_sessions = sessions_of(history.events)
    truth_minutes = minutes_of(history.events)
    truth_pages = page_minutes_of(history.events)
    worker: WorkerProcess = new_worker(env, tmp_path, "activity").start()
    try:
        worker.wait_ready()
        _send(stack, topic, history.messages)
        _send(stack, topic, [(history.sentinel.user_id.encode(), history.sentinel.value())])

        def all_written() -> bool:
            found = _sessions(activity_database)
            found.pop(sentinel, None)
            return found == truth_sessions

        settled(all_written, 60, lambda: f"sessions written; worker log {worker.log_path}")
        assert _minutes(activity_database) == truth_minutes
        assert _page_minutes(activity_database) == truth_pages

        # Late beyond grace: dead-lettered with reason late, nothing written changes.
        _send(stack, topic, [(e.event_id.encode(), e.value()) for e in history.late])
        settled(
            lambda: (
                sum(1 for r in _late_letters(activity_database, topic) if r["reason"] == "late")
                == len(history.late)
            ),
            30,
            lambda: f"late dead letters: {_late_letters(activity_database, topic)}",
        )
        letters = _late_letters(activity_database, topic)
        assert len([r for r in letters if r["reason"] != "late"]) == history.malformed
        assert _minutes(activity_database) == truth_minutes
        assert _page_minutes(activity_database) == truth_pages
        found = _sessions(activity_database)
        found.pop(history.sentinel.user_id, None)
        assert found == truth_sessions

        # The view, from the live tables (and the database beyond what they keep).
        for user, sessions in list(truth_sessions.items())[:8]:
            status, answer = worker.get(f"/activity/users/{user}")
            assert status == 200, answer
            assert answer["open_session"] is None
            assert answer["sessions"] == sessions[:10]
        status, answer = worker.get(f"/activity/users/{history.sentinel.user_id}")
        assert status == 200 and answer["open_session"]["events"] == 1 and answer["sessions"] == []
        assert worker.get("/activity/users/nobody-at-all")[0] == 404
        metrics = worker.get_text("/metrics")
        assert f'processor_late_events_total{{topic="{topic}"}} 3.0' in metrics
    finally:
        worker.stop()
