"""Issues and sprints over HTTP, answered by the worker that owns the project."""

from __future__ import annotations

from faust.web import Request, Response, View

from app.main import app
from app.routing import routed_by_source_key
from app.topics import jira_issues, jira_sprints
from tables.snapshots import issue_answer, project_issues_answer, sprints_answer


def project_of(key: str) -> str:
    """``PROJ-123`` -> ``PROJ``; a project key (Jira's have no ``-``) is its own."""
    return key.rsplit("-", 1)[0] if "-" in key else key


@app.page("/issues/{key}")
class Issues(View):
    """``/issues/PROJ-123``: the issue's fields, ``cycle_time_days`` and ``time_in_status``
    (seconds per status); ``/issues/PROJ``: every issue of the project, with state and cycle
    time."""

    @routed_by_source_key(jira_issues, "key", project_of)
    async def get(self, request: Request, key: str) -> Response:
        answer = issue_answer(key) if "-" in key else project_issues_answer(key)
        if answer is None:
            return self.json({"error": f"no issue or project {key!r}"}, status=404)
        return self.json(answer)


@app.page("/sprints/{project_key}")
class Sprints(View):
    """The project's sprints (active and closed) with committed and completed points,
    completion rate and velocity, and the velocity trend of the last 3 closed sprints."""

    @routed_by_source_key(jira_sprints, "project_key")
    async def get(self, request: Request, project_key: str) -> Response:
        answer = sprints_answer(project_key)
        if answer is None:
            return self.json({"error": f"no sprints for project {project_key!r}"}, status=404)
        return self.json(answer)
