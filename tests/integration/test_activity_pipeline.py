"""User activity end to end on the local stack: a history with out-of-order, duplicated,
late and malformed events, keyed by user, by event id and not at all, through the
re-keying and operator agents, and error events on the ingest topic (naming a user or
not, duplicated, late) joined with page views; the rows and the views equal a truth
computed without them (tests/integration/activity_truth.py)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from devtools.activity_history import ActivityPlan, generate_activity_history
from devtools.activity_truth import activity_truth
from devtools.kafka_io import create_topics, produce_records
from devtools.localstack import LocalStack
from devtools.worker_process import WorkerProcess
from tables.windowing.watermark import Marker
from tests.integration.activity_checks import (
    dead_letter_rows,
    error_page_rows,
    minute_rows,
    page_minute_rows,
    send,
    send_records,
    session_rows,
    settled,
)
from tests.integration.activity_truth import (
    History,
    error_pages_of,
    errors_by_page_of,
    generate,
    ingest_errors,
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
    ingest = f"ingest-{uuid.uuid4().hex[:6]}"
    env = isolated_env(
        stack, activity_database, "sei-activity", ACTIVITY_TOPIC=topic, INGEST_TOPIC=ingest, ACTIVITY_IDLE_S="2"
    )
    history: History = generate(seed=7)
    assert history.sentinel is not None
    sentinel = history.sentinel.user_id
    truth_sessions = sessions_of(history.events)
    truth_minutes = minutes_of(history.events)
    truth_pages = page_minutes_of(history.events)
    errors = ingest_errors(history, seed=7)
    truth_errors = error_pages_of(history.events, errors.errors)
    truth_by_page = errors_by_page_of(truth_errors)
    # The history exercises both sides of every case.
    assert sum(page is None for page in truth_errors.values()) >= 5 and len(truth_by_page) >= 5
    assert len(errors.errors) > len(truth_errors) and len(errors.messages) > len(errors.errors)
    worker: WorkerProcess = new_worker(env, tmp_path, "activity").start()
    try:
        worker.wait_answering()
        # Half the ingest partitions hold nothing: they hold the join back only until
        # they are idle (read to their end offset, 0, for ACTIVITY_IDLE_S).
        send_records(stack, ingest, [(key, value, n % 4) for n, (key, value) in enumerate(errors.messages)])
        send(stack, topic, history.messages)
        send(stack, topic, [(history.sentinel.user_id.encode(), history.sentinel.value())])

        def all_written() -> bool:
            found = session_rows(activity_database)
            found.pop(sentinel, None)
            return found == truth_sessions and error_page_rows(activity_database) == truth_errors

        def difference() -> str:
            found = error_page_rows(activity_database)
            wrong = {k: (found.get(k), v) for k, v in truth_errors.items() if found.get(k, "-") != v}
            extra = set(found) - set(truth_errors)
            return f"rows written: {len(wrong)} errors differ {list(wrong.items())[:3]}, extra {list(extra)[:3]}; log {worker.log_path}"

        settled(all_written, 60, difference)
        assert minute_rows(activity_database) == truth_minutes
        assert page_minute_rows(activity_database) == truth_pages

        # Late beyond grace: dead-lettered with reason late, nothing written changes.
        send(stack, topic, [(e.event_id.encode(), e.value()) for e in history.late])
        send_records(stack, ingest, [(e.event_id.encode(), e.value(), 0) for e in errors.late])
        late_ids = sorted(e.event_id for e in history.late)
        late_error_ids = sorted(e.event_id for e in errors.late)
        settled(
            lambda: (
                sorted(str(e) for _, reason, e in dead_letter_rows(activity_database, topic) if reason == "late")
                == late_ids
                # Late errors are filed under their ingest coordinates.
                and sorted(str(e) for _, _, e in dead_letter_rows(activity_database, ingest)) == late_error_ids
            ),
            30,
            lambda: (
                f"late dead letters: {dead_letter_rows(activity_database, topic)} "
                f"{dead_letter_rows(activity_database, ingest)}"
            ),
        )
        assert {reason for _, reason, _ in dead_letter_rows(activity_database, ingest)} == {"late"}
        letters = dead_letter_rows(activity_database, topic)
        assert len([r for r in letters if r[1] != "late"]) == history.malformed
        assert minute_rows(activity_database) == truth_minutes
        assert page_minute_rows(activity_database) == truth_pages
        assert error_page_rows(activity_database) == truth_errors
        found = session_rows(activity_database)
        found.pop(history.sentinel.user_id, None)
        assert found == truth_sessions

        # Errors by page, from the rows; the span covers every error of the history.
        first = min(e.time for e in errors.errors).replace(second=0, microsecond=0)
        last = max(e.time for e in errors.errors).replace(second=0, microsecond=0) + timedelta(minutes=1)
        status, answer = worker.get(
            f"/activity/errors-by-page?from={quote(first.isoformat())}&to={quote(last.isoformat())}"
        )
        assert status == 200 and answer == truth_by_page, answer
        status, answer = worker.get(f"/activity/errors-by-page?from={quote(first.isoformat())}")
        assert status == 400 and answer["error"].startswith("to is required")

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
        assert f'processor_late_events_total{{topic="{ingest}"}} {len(errors.late)}.0' in metrics
    finally:
        worker.stop()


class _BusyIngest:
    """Ingest events into every partition of ``topic`` every 0.1 s, until stopped: what
    the ingest errors' reader turns into markers on the internal topic, non-stop."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self.bootstrap, self.topic, self.partitions = bootstrap, topic, partitions
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
        await producer.start()
        try:
            while not self.stop.is_set():
                moment = datetime.now(UTC).isoformat()
                for partition in range(self.partitions):
                    value = orjson.dumps(
                        {"id": uuid.uuid4().hex, "timestamp": moment, "payload": {"event_type": "metric", "data": {}}}
                    )
                    await producer.send(self.topic, value, partition=partition)
                    self.sent += 1
                await asyncio.sleep(0.1)
        finally:
            await producer.stop()


@pytest.mark.parametrize("busy_ingest", [False, True], ids=["quiet-ingest", "busy-ingest"])
def test_a_backlog_met_at_first_start_goes_the_direct_route_at_once(
    stack: LocalStack, activity_database: str, tmp_path: Path, busy_ingest: bool
) -> None:
    """A fresh group with a backlog in the source topic, and records in the internal topic
    that no operator has handled yet (a previous owner's): the one worker applies the events
    it reads itself from its first batch, and their markers once the internal topic's
    records are handled. Before, it sent a barrier there and waited for its own consumer to
    read it back, while that consumer was held by the source records filling the agent's
    buffer: 10 s per batch, and nothing written in two minutes. Then, waiting for the
    internal topic to be handled while sending each batch through it, it never went
    direct while the backlog lasted. With a busy ingest topic (its reader sends markers to
    the internal topic every 0.5 s, handled in batches that wait up to BATCH_TIMEOUT_MS)
    the internal topic is never all handled at once: the markers wait only for what was
    there when the events went direct."""
    topic = f"activity-{uuid.uuid4().hex[:6]}"
    internal = f"{topic}-by-user"
    ingest = f"ingest-{uuid.uuid4().hex[:6]}"
    plan = ActivityPlan(events=12_000, users=1_500, span_s=3600, late=0.0, partitions=8)
    history = generate_activity_history(plan)
    truth = activity_truth((item.value for item in history.sent), plan.grace_s, plan.session_gap_s)
    bootstrap = [stack.broker.bootstrap]
    asyncio.run(create_topics(bootstrap, [topic, internal, ingest], partitions=plan.partitions))
    # What an earlier version left there: barriers (idle markers of no input), skipped.
    left = orjson.dumps(Marker("barrier:0:1", None, idle=True).to_record())
    asyncio.run(produce_records(bootstrap, internal, [(None, left, n % 8) for n in range(8_000)]))
    asyncio.run(produce_records(bootstrap, topic, history.records()))
    env = isolated_env(
        stack,
        activity_database,
        "sei-activity-backlog",
        ACTIVITY_TOPIC=topic,
        INGEST_TOPIC=ingest,
        ACTIVITY_GRACE_S=str(plan.grace_s),
        ACTIVITY_SESSION_GAP_S=str(plan.session_gap_s),
        BATCH_SIZE="500",
        BATCH_TIMEOUT_MS="5000",  # the default
    )
    expected = {
        (datetime.fromtimestamp(bucket / 1000, tz=UTC), kind): counts
        for (bucket, kind), counts in truth.type_minutes.items()
    }
    ingesting = _BusyIngest(stack.broker.bootstrap, ingest, plan.partitions)
    if busy_ingest:
        ingesting.thread.start()
    started = time.monotonic()
    worker: WorkerProcess = new_worker(env, tmp_path, "activity-backlog").start()
    try:

        def closed_minutes() -> dict[object, tuple[int, int]]:
            return {k: v for k, v in minute_rows(activity_database).items() if k in expected}

        settled(
            lambda: closed_minutes() == expected,
            120,
            lambda: f"{sum(e for e, _ in closed_minutes().values())} of {truth.events_written} events; log {worker.log_path}",
        )
        # The events did not go through the internal topic: it was read for what was
        # there, the markers of the first moments and the ingest reader's.
        consumed = re.search(
            rf'processor_messages_consumed_total{{topic="{internal}"}} ([0-9.e+]+)', worker.get_text("/metrics")
        )
        ingest_markers = 8 * 8 * 3 * (time.monotonic() - started) if busy_ingest else 0
        assert consumed is not None and float(consumed.group(1)) < 8_000 + 1_000 + ingest_markers, consumed
        log = worker.log_path.read_text()
        assert '"event": "activity.direct_route"' in log and '"event": "activity.direct_markers"' in log
        assert not busy_ingest or ingesting.sent > 0
    finally:
        ingesting.stop.set()
        worker.stop()
