"""User activity on two workers, one killed (-9) mid-stream and restarted on its data
directory: the rows, the dead letters and the views equal a truth computed without the
agents (tests/integration/activity_truth.py); nothing lost, nothing counted twice. Error
events on the ingest topic go through the errors-by-page join alongside."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from devtools.localstack import LocalStack
from devtools.worker_process import WorkerProcess
from runtime.partitioner import partition_of
from tests.integration.activity_checks import (
    dead_letter_rows,
    error_page_rows,
    minute_rows,
    page_minute_rows,
    query,
    send,
    send_records,
    session_rows,
    settled,
)
from tests.integration.activity_truth import (
    closing_records,
    error_pages_of,
    errors_by_page_of,
    generate,
    ingest_errors,
    minutes_of,
    page_minutes_of,
    sessions_of,
)
from tests.integration.commit_truth import is_settling
from tests.integration.conftest import isolated_env, new_worker, wait_for

pytestmark = pytest.mark.integration

PARTITIONS = 8  # TOPIC_PARTITIONS: the source topic's and the internal topic's


def _reads(worker: WorkerProcess, topic: str) -> dict[int, int]:
    """The partitions of ``topic`` this worker has read records from, with the last offset."""
    _, stats = worker.get("/stats")
    return {int(p): int(o["read"] or -1) for p, o in stats["partitions"].get(topic, {}).items()}


def _consumed(worker: WorkerProcess, topic: str) -> int:
    _, stats = worker.get("/stats")
    return int(stats["topics"].get(topic, {}).get("consumed", 0))


def _consuming(worker: WorkerProcess) -> bool:
    return bool(worker.get("/health")[1].get("consuming"))


def _view(worker: WorkerProcess, user: str) -> object:
    """The user's answer once the group has settled (a 503 while it rebalances is asked again)."""
    answer: list[object] = []

    def answered() -> bool:
        status, body = worker.get(f"/activity/users/{user}")
        if is_settling(status, body):
            return False
        assert status == 200, (status, body)
        answer.append(body)
        return True

    wait_for(answered, 60, f"{worker.url} answering for {user}")
    return answer[-1]


def test_kill9_one_of_two_activity_workers_midstream_rows_and_views_equal_truth(
    stack: LocalStack, own_database: str, tmp_path: Path
) -> None:
    topic = f"activity-{uuid.uuid4().hex[:6]}"
    internal = f"{topic}-by-user"
    ingest = f"ingest-{uuid.uuid4().hex[:6]}"
    # Closing events in every partition of both topics end the history: no input needs to
    # go idle. With the default 30 s, a partition read to its end while the victim took
    # longer than that to restart went idle, and its next events, arriving after other
    # partitions' closing markers, were late (the documented cost of idleness,
    # docs/windowing.md): a timing of the machine, not what this test is about.
    env = isolated_env(
        stack,
        own_database,
        "activity-crash",
        ACTIVITY_TOPIC=topic,
        INGEST_TOPIC=ingest,
        ACTIVITY_IDLE_S="600",
    )
    history = generate(seed=11, users=30, bursts=6, burst_sizes=(3, 9, 20, 40), late_events=6)
    assert history.sentinel is not None
    sentinel = history.sentinel.user_id
    truth_sessions = sessions_of(history.events)
    truth_minutes = minutes_of(history.events)
    truth_pages = page_minutes_of(history.events)
    errors = ingest_errors(history, seed=11, late_errors=2)
    truth_errors = error_pages_of(history.events, errors.errors)
    truth_by_page = errors_by_page_of(truth_errors)
    late_ids = {e.event_id for e in history.late}
    late_error_ids = sorted(e.event_id for e in errors.late)
    late_user = history.late[0].user_id
    late_partition = partition_of(late_user.encode(), PARTITIONS)
    latest_late = max(e.time for e in history.late)
    messages = history.messages
    cuts = [len(messages) * share // 10 for share in (4, 6, 8)]
    first, second, third, rest = (messages[a:b] for a, b in zip([0, *cuts], [*cuts, None], strict=True))
    # The errors in the same shares, each part sent just before the activity part it goes with.
    error_cuts = [len(errors.messages) * share // 10 for share in (4, 6, 8)]
    error_parts = [
        errors.messages[a:b] for a, b in zip([0, *error_cuts], [*error_cuts, None], strict=True)
    ]
    # Keyed by event id: spread over the source partitions, re-keyed to the late user's partition.
    early_late: list[tuple[bytes | None, bytes]] = [
        (e.event_id.encode(), e.value()) for e in history.late[:3]
    ]
    final_late: list[tuple[bytes | None, bytes]] = [
        (e.event_id.encode(), e.value()) for e in history.late[3:]
    ]

    workers = [new_worker(env, tmp_path, name).start() for name in ("a", "b")]
    try:
        for worker in workers:
            worker.wait_consuming()
        wait_for(lambda: all(_consuming(w) for w in workers), 90, "both workers consuming")

        # Part one: both workers process some, and the late user's partition has closed a
        # minute after the late events' times (its watermark passed them: they are late
        # now, and on any replay of the partition, whose markers precede them).
        send(stack, ingest, error_parts[0])
        send(stack, topic, first)
        settled(
            lambda: (
                all(_consumed(w, internal) > 0 for w in workers)
                and query(
                    own_database,
                    "SELECT count(*) FROM activity_minutes WHERE partition = $1 AND bucket > $2",
                    late_partition,
                    latest_late,
                )[0][0]
                > 0
            ),
            60,
            lambda: f"both workers processing part one: {[w.get('/stats')[1]['topics'] for w in workers]}",
        )
        # The victim: the owner of the late user's partition (the one read furthest, should
        # a rebalance have moved it).
        victim = max(workers, key=lambda w: _reads(w, internal).get(late_partition, -2))
        survivor = workers[1 - workers.index(victim)]

        # Part two with late events: killed once it has dead-lettered one, before its next
        # offset commit most likely (every 2.8 s), so what it did is delivered again.
        send(stack, ingest, error_parts[1])
        send(stack, topic, early_late + second)
        settled(
            lambda: any(reason == "late" for _, reason, _ in dead_letter_rows(own_database, topic)),
            60,
            lambda: f"a late dead letter; victim log {victim.log_path}",
        )
        victim.kill()
        killed = time.monotonic()

        # Part three while it is dead: the survivor takes its partitions over.
        send(stack, ingest, error_parts[2])
        send(stack, topic, third)
        settled(
            lambda: late_partition in _reads(survivor, internal),
            60,
            lambda: f"the survivor reading partition {late_partition}; log {survivor.log_path}",
        )
        taken_over = time.monotonic() - killed

        # Restarted on the same data directory; the rest, late events, the closing events.
        victim.start()
        victim.wait_consuming()
        send(stack, ingest, error_parts[3])
        send(stack, topic, rest + final_late)
        send_records(stack, topic, list(closing_records(history.sentinel, PARTITIONS)))
        send(stack, ingest, [(e.event_id.encode(), e.value()) for e in errors.late])
        send_records(stack, ingest, errors.closing_records(PARTITIONS))

        def all_written() -> bool:
            found = session_rows(own_database)
            found.pop(sentinel, None)
            return found == truth_sessions and error_page_rows(own_database) == truth_errors

        def difference() -> str:
            found = session_rows(own_database)
            found.pop(sentinel, None)
            wrong = {u: (found.get(u), s) for u, s in truth_sessions.items() if found.get(u) != s}
            joined = error_page_rows(own_database)
            wrong_errors = {k: (joined.get(k, "-"), v) for k, v in truth_errors.items() if joined.get(k, "-") != v}
            return (
                f"sessions equal to the truth: {len(wrong)} users differ, e.g. {list(wrong.items())[:2]}; "
                f"errors joined: {len(wrong_errors)} differ, e.g. {list(wrong_errors.items())[:2]}, "
                f"{len(set(joined) - set(truth_errors))} extra; "
                f"logs {victim.log_path} {survivor.log_path}"
            )

        settled(all_written, 90, difference)
        assert minute_rows(own_database) == truth_minutes
        assert page_minute_rows(own_database) == truth_pages

        # Dead letters: the malformed ones and the late ones, each once (a message
        # delivered again has the same coordinates, dlq_id; a copy the re-keying sent
        # again is skipped by the operator, agents.activity_source, or, sent before a
        # marker covered its original, filed under the same source coordinates).
        settled(
            lambda: (
                {e for _, reason, e in dead_letter_rows(own_database, topic) if reason == "late"} == late_ids
            ),
            30,
            lambda: f"late dead letters of {sorted(late_ids)}: {dead_letter_rows(own_database, topic)}",
        )
        letters = dead_letter_rows(own_database, topic)
        late_letters = [event_id or "" for _, reason, event_id in letters if reason == "late"]
        assert sorted(late_letters) == sorted(late_ids), letters
        assert len([r for r in letters if r[1] != "late"]) == history.malformed, letters
        # Late errors, each once, filed under their ingest coordinates (whichever copy the
        # re-keying sent was judged); nothing else of the ingest topic is dead-lettered.
        settled(
            lambda: sorted(str(e) for _, _, e in dead_letter_rows(own_database, ingest)) == late_error_ids,
            30,
            lambda: f"late errors {late_error_ids}: {dead_letter_rows(own_database, ingest)}",
        )
        assert {reason for _, reason, _ in dead_letter_rows(own_database, ingest)} == {"late"}

        # The view from either worker (routed to the owner) equals the truth.
        wait_for(lambda: all(_consuming(w) for w in workers), 90, "both workers consuming")
        views: Counter[str] = Counter()
        for (_, page), count in truth_pages.items():
            views[page] += count
        truth_top = [
            {"page_url": p, "views": v} for p, v in sorted(views.items(), key=lambda i: (-i[1], i[0]))[:10]
        ]
        buckets = sorted(bucket for bucket, _ in truth_pages)
        span = (buckets[0].isoformat(), (buckets[-1] + timedelta(minutes=1)).isoformat())
        error_times = [e.time.replace(second=0, microsecond=0) for e in errors.errors]
        error_span = (min(error_times).isoformat(), (max(error_times) + timedelta(minutes=1)).isoformat())
        sample = [late_user, *[u for u in truth_sessions if u != late_user][:7]]
        for worker in workers:
            for user in sample:
                answer = _view(worker, user)
                assert answer == {
                    "user_id": user,
                    "open_session": None,
                    "sessions": truth_sessions[user][:10],
                }
            closing = _view(worker, sentinel)
            assert isinstance(closing, dict) and closing["open_session"]["events"] == PARTITIONS
            status, top = worker.get(f"/activity/top-pages?from={quote(span[0])}&to={quote(span[1])}&k=10")
            assert status == 200 and top["pages"] == truth_top, top
            status, by_page = worker.get(
                f"/activity/errors-by-page?from={quote(error_span[0])}&to={quote(error_span[1])}"
            )
            assert status == 200 and by_page == truth_by_page, by_page
        print(
            f"\nactivity kill -9: {len(messages):,} messages ({len(history.events):,} events), "
            f"{len(errors.messages):,} ingest messages ({len(truth_errors):,} errors joined), "
            f"survivor took over in {taken_over:.1f} s"
        )
    except BaseException:
        for worker in workers:
            worker.dump_tasks()
        raise
    finally:
        for worker in workers:
            worker.stop()
