"""DORA metrics over HTTP: per repository from the owner's live tables, per team from the
database (app.entity_store explains why)."""

from __future__ import annotations

from faust.web import Request, Response, View

from app.entity_store import read_team
from app.logging import get_logger
from app.main import app, settings
from app.resources import database
from app.routing import routed_by_source_key
from app.topics import cicd_deployments
from app.views.params import BadParameter, window_and_end
from tables.delivery import repository_deployments, repository_incidents
from tables.snapshots import dora_answer, load_repository

log = get_logger("sei.views")


@app.page("/dora/{repository_id}")
class RepositoryDora(View):
    """Deployment frequency, lead time, change failure rate, time to restore and rework rate
    of one repository over a rolling window (METRICS.md 1-5).

    Query: ``window`` = 7d, 30d (default) or 90d; ``end`` = the window's end, ISO-8601
    (default now).
    """

    @routed_by_source_key(cicd_deployments, "repository_id")
    async def get(self, request: Request, repository_id: str) -> Response:
        try:
            window_days, end = window_and_end(request)
        except BadParameter as exc:
            return self.json({"error": str(exc)}, status=400)
        if repository_id not in repository_deployments and repository_id not in repository_incidents:
            return self.json(
                {"error": f"no deployments or incidents for repository {repository_id!r}"}, status=404
            )
        entities = load_repository(repository_id, with_pull_requests=False)
        answer = dora_answer(
            entities,
            end=end,
            window_days=window_days,
            production_environments=settings.production_environments,
        )
        return self.json({"repository_id": repository_id, **answer})


@app.page("/dora/teams/{team}")
class TeamDora(View):
    """The same metrics pooled over a team's repositories (their latest team; METRICS edge
    rule 7). Same query parameters."""

    async def get(self, request: Request, team: str) -> Response:
        try:
            window_days, end = window_and_end(request)
        except BadParameter as exc:
            return self.json({"error": str(exc)}, status=400)

        try:
            repositories, entities = await read_team(database, team, with_pull_requests=False)
        except Exception as exc:
            log.warning("team_view.database_unavailable", team=team, error=f"{type(exc).__name__}: {exc}")
            return self.json({"error": "the database is not answering; try again"}, status=503)
        if not repositories:
            return self.json({"error": f"no repositories for team {team!r}"}, status=404)
        answer = dora_answer(
            entities,
            end=end,
            window_days=window_days,
            production_environments=settings.production_environments,
        )
        return self.json({"team": team, "repositories": repositories, **answer})
