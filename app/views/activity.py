"""User-activity views answered from the database (issue 24, docs/windowing.md).

``GET /activity/top-pages`` sums the per-partition page-view partials the activity
operator writes when a minute closes (its watermark passed the minute's end): a written
minute is exact and final, so any worker answers from the rows, without routing. Minutes
still open are not in the answer.
"""

from __future__ import annotations

import asyncio

from faust.web import Request, Response, View

from app.logging import get_logger
from app.main import app
from app.resources import read_database
from app.routing import unavailable_answer
from app.views.params import BadParameter, minute_bound, top_k_count
from stores.activity import read_top_pages
from stores.teams import READ_TIMEOUT_S

log = get_logger("sei.views")


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
