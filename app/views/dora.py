"""DORA metrics over HTTP: per repository from the owner's live tables, per team from the
database (stores.teams explains why)."""

from __future__ import annotations

from faust.web import Request, Response, View

from app.main import app
from app.routing import routed_by_source_key
from app.topics import cicd_deployments
from app.views.windowed import repository_answer, team_answer
from tables.cicd import deployment_index, incident_index
from tables.snapshots import dora_answer, live_dora_answer


@app.page("/dora/{repository_id}")
class RepositoryDora(View):
    """Deployment frequency, lead time, change failure rate, time to restore and rework rate
    of one repository over a rolling window (METRICS.md 1-5).

    Query: ``window`` = 7d, 30d (default) or 90d; ``end`` = the window's end, ISO-8601
    (default now).
    """

    @routed_by_source_key(cicd_deployments, "repository_id")
    async def get(self, request: Request, repository_id: str) -> Response:
        return await repository_answer(
            self,
            request,
            repository_id,
            dora_answer,
            live_dora_answer,
            known=deployment_index.knows(repository_id) or incident_index.knows(repository_id),
            unknown_error=f"no deployments or incidents for repository {repository_id!r}",
            with_pull_requests=False,
        )


@app.page("/dora/teams/{team}")
class TeamDora(View):
    """The same metrics pooled over a team's repositories (their latest team; METRICS edge
    rule 7). Same query parameters."""

    async def get(self, request: Request, team: str) -> Response:
        return await team_answer(self, request, team, dora_answer, with_pull_requests=False)
