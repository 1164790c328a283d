"""User activity over HTTP (docs/activity.md, docs/windowing.md).

- ``GET /activity/users/{user_id}``: a user's open and latest closed sessions, from the
  owner's live tables (routed to the worker holding the user's partition).
- ``GET /activity/top-pages``: sums the per-partition page-view partials the activity
  operator writes when a minute closes (its watermark passed the minute's end): a written
  minute is exact and final, so any worker answers from the rows, without routing. Minutes
  still open are not in the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from faust.web import Request, Response, View

from agents.activity_partition import RULES
from app.logging import get_logger
from app.main import app, settings
from app.resources import read_database
from app.routing import routed_by_source_key, unavailable_answer
from app.topics import user_activity_by_user
from app.views.params import BadParameter, check_identifier, minute_bound, top_k_count
from runtime.event_context import reading_partition
from runtime.partitioner import partition_of
from stores.activity import UserSessionRow, read_top_pages, read_user_sessions
from stores.teams import READ_TIMEOUT_S
from tables.activity import activity_partitions, activity_users, partition_key
from tables.activity_state import PartitionActivityState, UserActivityState
from tables.instants import from_micros

__all__ = ["TopPages", "UserActivity", "session_answer"]

log = get_logger("sei.views.activity")
DEFAULT_SESSIONS = 10
MAX_SESSIONS = 100


def session_answer(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A session's fields (``Session.fields()``) as the view shows them: times in ISO-8601."""
    return {
        **fields,
        "session_start": from_micros(int(fields["session_start"])).isoformat(),
        "session_end": from_micros(int(fields["session_end"])).isoformat(),
    }


def _row_answer(row: UserSessionRow) -> dict[str, Any]:
    return {
        "session_start": row.session_start.isoformat(),
        "session_end": row.session_end.isoformat(),
        "duration_s": row.duration_s,
        "events": row.events,
        "page_views": row.page_views,
        "pages": list(row.pages),
        "pages_truncated": row.pages_truncated,
        "entry_page": row.entry_page,
        "exit_page": row.exit_page,
        "bounce": row.bounce,
        "client_session_ids": list(row.client_session_ids),
        "client_sessions_truncated": row.client_sessions_truncated,
    }


def _limit(request: Request) -> int:
    text = request.query.get("limit")
    if text is None:
        return DEFAULT_SESSIONS
    if not text.isdigit() or not 1 <= int(text) <= MAX_SESSIONS:
        raise BadParameter(f"limit must be a whole number from 1 to {MAX_SESSIONS}")
    return int(text)


@app.page("/activity/users/{user_id}")
class UserActivity(View):
    """``{"user_id", "open_session": fields so far or null, "sessions": latest closed,
    newest first}``. Query: ``limit`` (closed sessions, default 10, at most 100)."""

    @routed_by_source_key(user_activity_by_user, "user_id")
    async def get(self, request: Request, user_id: str) -> Response:
        try:
            check_identifier(user_id, "user_id")
            limit = _limit(request)
        except BadParameter as exc:
            return self.json({"error": str(exc)}, status=400)
        partition = partition_of(user_id.encode(), settings.topic_partitions)
        with reading_partition(partition):
            record = activity_users.get(user_id)
            kept = activity_partitions.get(partition_key(partition))
        watermark = None if kept is None else PartitionActivityState.from_record(kept).watermark.watermark
        # What the watermark closed is closed, whether or not the agent has visited it yet.
        closed, sessions = UserActivityState.from_record(record).sessions.close(watermark, RULES.sessions)
        answers = [session_answer(s.fields()) for s in (*reversed(closed), *sessions.recent_sessions())]
        if len(answers) < limit:
            try:
                rows = await read_database.statement(
                    lambda conn: read_user_sessions(conn, user_id, limit), what="activity view"
                )
            except Exception as exc:
                log.warning("activity_view.database_unavailable", error=f"{type(exc).__name__}: {exc}")
                rows = []
            shown = {a["session_start"] for a in answers}
            answers += [a for a in map(_row_answer, rows) if a["session_start"] not in shown]
            answers.sort(key=lambda a: a["session_start"], reverse=True)
        if record is None and not answers:
            return self.json({"error": f"no activity for user {user_id!r}"}, status=404)
        current = sessions.current
        return self.json(
            {
                "user_id": user_id,
                "open_session": None if current is None else session_answer(current.fields()),
                "sessions": answers[:limit],
            }
        )


@app.page("/activity/top-pages")
class TopPages(View):
    """The ``k`` most viewed pages over ``[from, to)``, across all partitions and workers.

    Query: ``from`` and ``to`` (required; ISO-8601 on whole minutes, ``from`` before
    ``to``), ``k`` (1-1000, default 10). Ordered by views descending, then URL.
    """

    async def get(self, request: Request) -> Response:
        try:
            start = minute_bound(request.query, "from")
            end = minute_bound(request.query, "to")
            k = top_k_count(request.query)
        except BadParameter as exc:
            return self.json({"error": str(exc)}, status=400)
        if end <= start:
            return self.json({"error": "to must be after from"}, status=400)
        try:
            pool = await read_database.pool()
            async with asyncio.timeout(READ_TIMEOUT_S), pool.acquire() as conn:
                pages = await read_top_pages(conn, start, end, k)
        except Exception as exc:
            log.warning("top_pages_view.database_unavailable", error=f"{type(exc).__name__}: {exc}")
            return unavailable_answer(self, "the database is not answering")
        return self.json(
            {
                "from": start.isoformat(),
                "to": end.isoformat(),
                "pages": [{"page_url": url, "views": views} for url, views in pages],
            }
        )
