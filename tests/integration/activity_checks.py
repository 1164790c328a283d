"""What the activity pipeline tests read back and send: the rows of `user_sessions`,
`activity_minutes` and `activity_page_minutes` in the shape of the truth
(tests/integration/activity_truth.py), the dead letters of an activity topic, and produce
helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson

from devtools.kafka_io import produce, produce_records
from devtools.localstack import LocalStack
from tests.db import query
from tests.integration.conftest import wait_for

__all__ = [
    "query",
    "minute_rows",
    "page_minute_rows",
    "session_rows",
    "dead_letter_rows",
    "error_page_rows",
    "DeadLetterSeen",
    "send",
    "send_records",
    "settled",
]


def minute_rows(url: str) -> dict[Any, tuple[int, int]]:
    """(bucket, event type) -> (events, users), summed over the partitions' partial rows."""
    rows = query(
        url,
        "SELECT bucket, event_type, SUM(events) AS e, SUM(users) AS u FROM activity_minutes GROUP BY 1, 2",
    )
    return {(r["bucket"], r["event_type"]): (int(r["e"]), int(r["u"])) for r in rows}


def page_minute_rows(url: str) -> dict[Any, int]:
    """(bucket, page URL) -> views, summed over the partitions' partial rows."""
    rows = query(url, "SELECT bucket, page_url, SUM(views) AS v FROM activity_page_minutes GROUP BY 1, 2")
    return {(r["bucket"], r["page_url"]): int(r["v"]) for r in rows}


def session_rows(url: str) -> dict[str, list[dict[str, Any]]]:
    """Per user: its `user_sessions` rows as the view answers them, newest first."""
    rows = query(url, "SELECT * FROM user_sessions ORDER BY user_id, session_start DESC")
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


DeadLetterSeen = tuple[str, str, str | None]  # (dlq_id, reason, event_id of the original if any)


def _event_id(original: bytes) -> str | None:
    try:
        body = orjson.loads(original)
    except orjson.JSONDecodeError:
        return None
    # An activity event's id, or an ingest event's (a late error).
    found = (body.get("event_id") or body.get("id")) if isinstance(body, dict) else None
    return found if isinstance(found, str) else None


def dead_letter_rows(url: str, topic: str) -> list[DeadLetterSeen]:
    """The dead letters of ``topic`` and of the topics named after it (its -by-user)."""
    rows = query(
        url,
        "SELECT dlq_id, error_reason, original FROM dead_letters WHERE topic LIKE $1 ORDER BY dlq_id",
        f"{topic}%",
    )
    return [(r["dlq_id"], r["error_reason"], _event_id(bytes(r["original"]))) for r in rows]


def send(stack: LocalStack, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    asyncio.run(produce([stack.broker.bootstrap], topic, messages))


def send_records(
    stack: LocalStack, topic: str, records: list[tuple[bytes | None, bytes, int | None]]
) -> None:
    """(key, value, partition) records; a partition of None goes by the key."""
    asyncio.run(produce_records([stack.broker.bootstrap], topic, records))


def settled(check: Callable[[], bool], timeout_s: float, what: Callable[[], str]) -> None:
    wait_for(check, timeout_s, what, poll_s=0.5)


def error_page_rows(url: str) -> dict[tuple[str, str], str | None]:
    """`activity_error_pages` as (user, error id) -> page URL (None: no page view joined)."""
    rows = query(url, "SELECT user_id, error_id, page_url FROM activity_error_pages")
    return {(r["user_id"], r["error_id"]): r["page_url"] for r in rows}
