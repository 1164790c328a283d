"""What the projection writes for one repository, answered by the worker that owns it:
``reconcile projections`` compares this with Redis and ``metrics_daily``, and asks for a
rewrite when they differ."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.web import Request, Response, View

from agents.projection import projection
from agents.repository_projection import RepositoryProjection, is_projected, project_repository
from app.main import app, settings
from app.routing import routed_by_source_key
from app.topics import git_commits
from app.views.params import parse_end
from models.fields import MAX_EVENT_TIME, MIN_EVENT_TIME
from runtime.event_context import reading_partition
from runtime.partitioner import partition_of
from tables.git_activity import repositories
from tables.instants import to_micros
from tables.repository_state import Repository, team_of

__all__ = ["parse_projection_end", "projection_answer"]

_END_ERROR = (
    "end must be an ISO-8601 timestamp or microseconds since the epoch, between 1990-01-01 and "
    "2100-01-01, e.g. 2026-11-01T00:00:00Z"
)


def parse_projection_end(text: str | None) -> int:
    """``?end=``: ISO-8601 (as the snapshot's ``end`` field) or epoch microseconds; default
    now. ValueError outside the event times' range."""
    if text is not None and text.strip().lstrip("-").isdigit():
        micros = int(text)
        if not to_micros(MIN_EVENT_TIME) <= micros <= to_micros(MAX_EVENT_TIME):
            raise ValueError(text)
        return micros
    return parse_end(text)


def projection_answer(projected: RepositoryProjection) -> dict[str, Any]:
    """The view's JSON body: the snapshot as Redis holds it, the days as ``metrics_daily`` rows
    (day -> metric -> value) from the cutoff on."""
    days: dict[str, dict[str, float]] = {}
    for (day, metric), value in sorted(projected.days.items()):
        days.setdefault(day.isoformat(), {})[metric] = value
    return {
        "repository_id": projected.snapshot["repository_id"],
        "end": projected.snapshot["end"],
        "cutoff": projected.cutoff.isoformat() if projected.cutoff else None,
        "snapshot": projected.snapshot,
        "days": days,
    }


def _team(record: Mapping[str, Any] | None) -> str:
    return team_of(Repository.from_record(record) if record is not None else None)


@app.page("/projections/{repository_id}")
class RepositoryProjectionView(View):
    """The Redis snapshot (window ending at ``end``) and the repository's ``metrics_daily`` days
    from its retention cutoff on, as the projection would write them now.

    Query: ``end`` = the snapshot window's end, ISO-8601 or epoch microseconds (default now).
    """

    @routed_by_source_key(git_commits, "repository_id")
    async def get(self, request: Request, repository_id: str) -> Response:
        try:
            end = parse_projection_end(request.query.get("end"))
        except ValueError:
            return self.json({"error": _END_ERROR}, status=400)
        with reading_partition(partition_of(repository_id.encode(), settings.topic_partitions)):
            if not is_projected(repository_id):
                return self.json(
                    {"error": f"the tables hold nothing of repository {repository_id!r}"}, status=404
                )
            projected = project_repository(
                repository_id,
                end=end,
                production_environments=settings.production_environments,
                retention_days=settings.state_retention_days,
            )
        return self.json(projection_answer(projected))


@app.page("/projections/{repository_id}/refresh")
class RefreshProjection(View):
    """Make the owner forget what it last wrote for the repository and re-project it (and
    re-pool its team) at its next tick: 202, the rewrite follows within a second or two."""

    @routed_by_source_key(git_commits, "repository_id")
    async def post(self, request: Request, repository_id: str) -> Response:
        with reading_partition(partition_of(repository_id.encode(), settings.topic_partitions)):
            if not is_projected(repository_id):
                return self.json(
                    {"error": f"the tables hold nothing of repository {repository_id!r}"}, status=404
                )
            team = _team(repositories.get(repository_id))
        projection.refresh_repository(repository_id, team)
        return self.json({"repository_id": repository_id, "team": team, "refreshing": True}, status=202)
