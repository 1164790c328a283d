"""Pull-request cycle time over HTTP: per repository from the owner's live tables, per team
from the database (stores.teams explains why)."""

from __future__ import annotations

from faust.web import Request, Response, View

from app.main import app
from app.routing import routed_by_source_key
from app.topics import git_pull_requests
from app.views.windowed import repository_answer, team_answer
from tables.git_activity import pull_request_index
from tables.snapshots import cycle_time_answer, live_cycle_time_answer


@app.page("/cycle-time/{repository_id}")
class RepositoryCycleTime(View):
    """Each PR stage's p50/p90/p95/mean hours and count over merged PRs of the window, and the
    open PRs (age, waiting for review, merged but undeployed). Query: ``window``, ``end``."""

    @routed_by_source_key(git_pull_requests, "repository_id")
    async def get(self, request: Request, repository_id: str) -> Response:
        return await repository_answer(
            self,
            request,
            repository_id,
            cycle_time_answer,
            live_cycle_time_answer,
            known=pull_request_index.knows(repository_id),
            unknown_error=f"no pull requests for repository {repository_id!r}",
            with_pull_requests=True,
        )


@app.page("/cycle-time/teams/{team}")
class TeamCycleTime(View):
    """The same, pooled over a team's repositories. Same query parameters."""

    async def get(self, request: Request, team: str) -> Response:
        return await team_answer(self, request, team, cycle_time_answer, with_pull_requests=True)
