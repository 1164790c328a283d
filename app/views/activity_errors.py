"""``GET /activity/errors-by-page``: the errors-by-page join's results (docs/activity.md).

Counts the `activity_error_pages` rows the activity operator writes when the join's
watermark passes an error (agents.activity_join): a written error is final, so any worker
answers from the rows, without routing, exact across partitions and workers. Errors the
watermark has not passed yet are not in the answer.
"""

from __future__ import annotations

import asyncio

from faust.web import Request, Response, View

from app.logging import get_logger
from app.main import app
from app.resources import read_database
from app.routing import unavailable_answer
from app.views.params import BadParameter, minute_bound
from stores.activity_errors import read_errors_by_page
from stores.teams import READ_TIMEOUT_S

__all__ = ["ErrorsByPage"]

log = get_logger("sei.views.activity")


@app.page("/activity/errors-by-page")
class ErrorsByPage(View):
    """``[{"page_url", "errors", "users"}]``: per page, the errors in ``[from, to)`` whose
    user viewed that page last within 60 s before, and how many distinct users had them.

    Query: ``from`` and ``to`` (required; ISO-8601 on whole minutes, ``from`` before
    ``to``). Ordered by errors descending, then users descending, then URL.
    """

    async def get(self, request: Request) -> Response:
        try:
            start = minute_bound(request.query, "from")
            end = minute_bound(request.query, "to")
        except BadParameter as exc:
            return self.json({"error": str(exc)}, status=400)
        if end <= start:
            return self.json({"error": "to must be after from"}, status=400)
        try:
            pool = await read_database.pool()
            async with asyncio.timeout(READ_TIMEOUT_S), pool.acquire() as conn:
                pages = await read_errors_by_page(conn, start, end)
        except Exception as exc:
            log.warning("errors_by_page_view.database_unavailable", error=f"{type(exc).__name__}: {exc}")
            return unavailable_answer(self, "the database is not answering")
        return self.json(
            [{"page_url": url, "errors": errors, "users": users} for url, errors, users in pages]
        )
