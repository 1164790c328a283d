"""User activity end to end on the local stack: a history with out-of-order, duplicated,
late and malformed events, keyed by user, by event id and not at all, through the
re-keying and operator agents; the rows and the view equal a truth computed without them
(tests/integration/activity_truth.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.localstack import LocalStack
from devtools.worker_process import WorkerProcess
from tests.integration.activity_checks import (
    dead_letter_rows,
    minute_rows,
    page_minute_rows,
    send,
    session_rows,
    settled,
)
from tests.integration.activity_truth import (
    History,
    generate,
    minutes_of,
    page_minutes_of,
    sessions_of,
)
from tests.integration.conftest import isolated_env, new_worker, temporary_database


@pytest.fixture
def activity_database(stack: LocalStack) -> Iterator[str]:
    with temporary_database(stack, "sei_activity") as url:
        yield url


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
        worker.wait_answering()
        send(stack, topic, history.messages)
        send(stack, topic, [(history.sentinel.user_id.encode(), history.sentinel.value())])

        def all_written() -> bool:
            found = session_rows(activity_database)
            found.pop(sentinel, None)
            return found == truth_sessions

        settled(all_written, 60, lambda: f"sessions written; worker log {worker.log_path}")
        assert minute_rows(activity_database) == truth_minutes
        assert page_minute_rows(activity_database) == truth_pages

        # Late beyond grace: dead-lettered with reason late, nothing written changes.
        send(stack, topic, [(e.event_id.encode(), e.value()) for e in history.late])
        settled(
            lambda: (
                sum(1 for _, reason, _ in dead_letter_rows(activity_database, topic) if reason == "late")
                == len(history.late)
            ),
            30,
            lambda: f"late dead letters: {dead_letter_rows(activity_database, topic)}",
        )
        letters = dead_letter_rows(activity_database, topic)
        assert len([r for r in letters if r[1] != "late"]) == history.malformed
        assert minute_rows(activity_database) == truth_minutes
        assert page_minute_rows(activity_database) == truth_pages
        found = session_rows(activity_database)
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
