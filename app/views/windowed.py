"""The shape every windowed metric view shares: parse ``window``/``end``, find the
entities, answer with one of tables.snapshots' answer functions.

A repository's window is answered from the owner's live tables when it starts at or after
the repository's retention cutoff (its latest event's day less STATE_RETENTION_DAYS,
tables.retention); one reaching further back is answered from the database, which keeps
the whole history (header ``X-SEI-Source: database``), or 503 when the database does not
answer.

Every answer reads from the window's first day less STATE_RETENTION_DAYS on (``lookback``),
the live tables' and the database's alike: the deployments before the window bound what the
window's deployments ship, and older incidents attribute nothing the window counts, so the
answer costs what its window holds, not the repository's whole history."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from faust.web import Request, Response, View

from app.logging import get_logger
from app.main import settings
from app.resources import read_database
from app.routing import unavailable_answer
from app.views.params import BadParameter, check_identifier, window_and_end
from runtime.event_context import reading_partition
from runtime.partitioner import partition_of
from stores.teams import read_organization, read_repository, read_team
from tables.instants import utc_day
from tables.snapshots import retained_since
from tables.windows import Window

__all__ = ["Answer", "repository_answer", "team_answer", "organization_answer", "lookback", "read_since"]

log = get_logger("sei.views")

# tables.snapshots.dora_answer / cycle_time_answer: (entities, *, end, window_days,
# production_environments) -> the view's JSON body.
Answer = Callable[..., dict[str, Any]]
# tables.snapshots.live_dora_answer / live_cycle_time_answer: (repository_id, *, since, end,
# window_days, production_environments) -> the same body, from the owner's tables.
LiveAnswer = Callable[..., dict[str, Any]]


def lookback(first_day: date) -> date:
    """The first day an answer for a window starting on ``first_day`` reads (module doc)."""
    return first_day - timedelta(days=settings.state_retention_days)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def read_since(window_days: int, end: int) -> datetime:
    """The instant the database is read from for a ``window_days`` window ending at ``end``."""
    return _midnight(lookback(utc_day(Window(end, window_days).start)))


def _answer(answer: Answer, entities: Any, window_days: int, end: int) -> dict[str, Any]:
    return answer(
        entities,
        end=end,
        window_days=window_days,
        production_environments=settings.production_environments,
    )


async def repository_answer(
    view: View,
    request: Request,
    repository_id: str,
    answer: Answer,
    live: LiveAnswer,
    *,
    known: bool,
    unknown_error: str,
    with_pull_requests: bool,
) -> Response:
    """One repository from the owner's live tables, or from the database for a window
    beyond retention (module doc); 404 with ``unknown_error`` if not ``known``."""
    try:
        window_days, end = window_and_end(request)
    except BadParameter as exc:
        return view.json({"error": str(exc)}, status=400)
    if not known:
        return view.json({"error": unknown_error}, status=404)
    first_day = utc_day(Window(end, window_days).start)  # the window is (start, end]
    with reading_partition(partition_of(repository_id.encode(), settings.topic_partitions)):
        kept_from = retained_since(repository_id, settings.state_retention_days)
    if kept_from is not None and first_day.isoformat() < kept_from:
        try:
            entities = await read_repository(
                read_database,
                repository_id,
                with_pull_requests=with_pull_requests,
                since=_midnight(lookback(first_day)),
            )
        except Exception as exc:
            log.warning(
                "repository_view.database_unavailable",
                repository_id=repository_id,
                error=f"{type(exc).__name__}: {exc}",
            )
            error = (
                f"the window starts before {kept_from}, beyond what the live tables keep "
                f"(STATE_RETENTION_DAYS={settings.state_retention_days}), and the database is not answering; "
                "try again, or ask for a later window"
            )
            return view.json({"error": error}, status=503)
        body: Mapping[str, Any] = _answer(answer, entities, window_days, end)
        return view.json({"repository_id": repository_id, **body}, headers={"X-SEI-Source": "database"})
    # Read from the window's start less the retention: the lookback that ships the window's
    # commits and attributes its incidents as the whole retained state would.
    since = lookback(first_day).isoformat()
    with reading_partition(partition_of(repository_id.encode(), settings.topic_partitions)):
        body = live(
            repository_id,
            since=since,
            end=end,
            window_days=window_days,
            production_environments=settings.production_environments,
        )
    return view.json({"repository_id": repository_id, **body}, headers={"X-SEI-Source": "tables"})


async def team_answer(
    view: View, request: Request, team: str, answer: Answer, *, with_pull_requests: bool
) -> Response:
    """A team's repositories pooled, from the database (stores.teams explains why)."""
    try:
        window_days, end = window_and_end(request)
        check_identifier(team, "team")
    except BadParameter as exc:
        return view.json({"error": str(exc)}, status=400)
    try:
        repositories, entities = await read_team(
            read_database, team, with_pull_requests=with_pull_requests, since=read_since(window_days, end)
        )
    except Exception as exc:
        log.warning("team_view.database_unavailable", team=team, error=f"{type(exc).__name__}: {exc}")
        return unavailable_answer(view, "the database is not answering")
    if not repositories:
        return view.json({"error": f"no repositories for team {team!r}"}, status=404)
    body = _answer(answer, entities, window_days, end)
    return view.json({"team": team, "repositories": repositories, **body})


async def organization_answer(
    view: View, request: Request, answer: Answer, *, with_pull_requests: bool
) -> Response:
    """Every repository the database knows pooled, from the database (as the team views);
    404 while it knows none."""
    try:
        window_days, end = window_and_end(request)
    except BadParameter as exc:
        return view.json({"error": str(exc)}, status=400)
    try:
        teams, entities = await read_organization(
            read_database, with_pull_requests=with_pull_requests, since=read_since(window_days, end)
        )
    except Exception as exc:
        log.warning("organization_view.database_unavailable", error=f"{type(exc).__name__}: {exc}")
        return unavailable_answer(view, "the database is not answering")
    if not teams:
        return view.json({"error": "no repositories yet"}, status=404)
    body = _answer(answer, entities, window_days, end)
    return view.json({"teams": sorted(set(teams.values())), "repositories": sorted(teams), **body})
