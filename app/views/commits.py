"""Live commit tables over HTTP, answered by the worker that owns the repository."""

from __future__ import annotations

from datetime import date

from faust.web import Request, Response, View

from app.main import app
from app.routing import routed_by_source_key
from app.topics import git_commits
from tables.commit_state import day_totals
from tables.commits import commit_days, commit_spans
from tables.day_index import days_in
from tables.keys import compose_key


@app.page("/commits/{repository_id}/daily")
class CommitsDaily(View):
    """Per-day commit count and additions/deletions of one repository, from the live table.

    Query: ``from`` / ``to`` (ISO dates, inclusive) narrow the days.
    """

    @routed_by_source_key(git_commits, "repository_id")
    async def get(self, request: Request, repository_id: str) -> Response:
        try:
            first = date.fromisoformat(request.query.get("from", "0001-01-01"))
            last = date.fromisoformat(request.query.get("to", "9999-12-31"))
        except ValueError:
            return self.json({"error": "from/to must be ISO dates (YYYY-MM-DD)"}, status=400)
        span = commit_spans.get(repository_id)
        if not span:
            return self.json({"error": f"no commits for repository {repository_id!r}"}, status=404)
        answer = []
        for day in days_in(span, first.isoformat(), last.isoformat()):
            bucket = commit_days.get(compose_key(repository_id, day))
            if not bucket:
                continue
            totals = day_totals(bucket)
            answer.append(
                {
                    "day": day,
                    "commit_count": totals.commit_count,
                    "total_additions": totals.total_additions,
                    "total_deletions": totals.total_deletions,
                }
            )
        return self.json({"repository_id": repository_id, "days": answer})
