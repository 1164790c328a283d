"""Pull-request cycle time over HTTP: per repository from the owner's live tables, per team
from the database (app.entity_store explains why)."""

from __future__ import annotations

from faust.web import Request, Response, View

from app.entity_store import read_team
from app.logging import get_logger
from app.main import app, settings
from app.resources import database
from app.routing import routed_by_source_key
from app.topics import git_pull_requests
from app.views.params import BadParameter, window_and_end
from tables.git_activity import repository_pull_requests
from tables.snapshots import cycle_time_answer, load_repository

log = get_logger("sei.views")


@app.page("/cycle-time/{repository_id}")
class RepositoryCycleTime(View):
    """Each PR stage's p50/p90/p95/mean hours and count over merged PRs of the window, and the
    open PRs (age, waiting for review, merged but undeployed). Query: ``window``, ``end``."""

    @routed_by_source_key(git_pull_requests, "repository_id")
    async def get(self, request: Request, repository_id: str) -> Response:
        try:
            window_days, end = window_and_end(request)
        except BadParameter as exc:
            return self.json({"error": str(exc)}, status=400)
        if repository_id not in repository_pull_requests:
            return self.json({"error": f"no pull requests for repository {repository_id!r}"}, status=404)
        answer = cycle_time_answer(
            load_repository(repository_id),
            end=end,
            window_days=window_days,
            production_environments=settings.production_environments,
        )
        return self.json({"repository_id": repository_id, **answer})


@app.page("/cycle-time/teams/{team}")
class TeamCycleTime(View):
    """The same, pooled over a team's repositories. Same query parameters."""

    async def get(self, request: Request, team: str) -> Response:
        try:
            window_days, end = window_and_end(request)
        except BadParameter as exc:
            return self.json({"error": str(exc)}, status=400)

        try:
            repositories, entities = await read_team(database, team, with_pull_requests=True)
        except Exception as exc:
            log.warning("team_view.database_unavailable", team=team, error=f"{type(exc).__name__}: {exc}")
            return self.json({"error": "the database is not answering; try again"}, status=503)
        if not repositories:
            return self.json({"error": f"no repositories for team {team!r}"}, status=404)
        answer = cycle_time_answer(
            entities,
            end=end,
            window_days=window_days,
            production_environments=settings.production_environments,
        )
        return self.json({"team": team, "repositories": repositories, **answer})
