"""The shape every windowed metric view shares: parse ``window``/``end``, find the
entities, answer with one of tables.snapshots' answer functions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from faust.web import Request, Response, View

from app.entity_store import read_team
from app.logging import get_logger
from app.main import settings
from app.resources import read_database
from app.routing import unavailable_answer
from app.views.params import BadParameter, check_identifier, window_and_end

__all__ = ["Answer", "repository_answer", "team_answer"]

log = get_logger("sei.views")

# tables.snapshots.dora_answer / cycle_time_answer: (entities, *, end, window_days,
# production_environments) -> the view's JSON body.
Answer = Callable[..., dict[str, Any]]


def _answer(answer: Answer, entities: Any, window_days: int, end: int) -> dict[str, Any]:
    return answer(
        entities,
        end=end,
        window_days=window_days,
        production_environments=settings.production_environments,
    )


def repository_answer(
    view: View,
    request: Request,
    repository_id: str,
    answer: Answer,
    *,
    known: bool,
    unknown_error: str,
    load: Callable[[], Any],
) -> Response:
    """One repository from the owner's live tables; 404 with ``unknown_error`` if not ``known``."""
    try:
        window_days, end = window_and_end(request)
    except BadParameter as exc:
        return view.json({"error": str(exc)}, status=400)
    if not known:
        return view.json({"error": unknown_error}, status=404)
    body: Mapping[str, Any] = _answer(answer, load(), window_days, end)
    return view.json({"repository_id": repository_id, **body})


async def team_answer(
    view: View, request: Request, team: str, answer: Answer, *, with_pull_requests: bool
) -> Response:
    """A team's repositories pooled, from the database (app.entity_store explains why)."""
    try:
        window_days, end = window_and_end(request)
        check_identifier(team, "team")
    except BadParameter as exc:
        return view.json({"error": str(exc)}, status=400)
    try:
        repositories, entities = await read_team(read_database, team, with_pull_requests=with_pull_requests)
    except Exception as exc:
        log.warning("team_view.database_unavailable", team=team, error=f"{type(exc).__name__}: {exc}")
        return unavailable_answer(view, "the database is not answering")
    if not repositories:
        return view.json({"error": f"no repositories for team {team!r}"}, status=404)
    body = _answer(answer, entities, window_days, end)
    return view.json({"team": team, "repositories": repositories, **body})
