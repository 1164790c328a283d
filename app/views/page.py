"""The live page: ``GET /``, ``/teams/{team}``, ``/repositories/{repository_id}``.

Served by every worker, from the database like the team views (stores.teams explains why):
one consistent read of every repository's entities, split by team and repository and run
through the JSON views' own functions (tables.overview), plus the trends of
`metrics_daily`, the sprint rows and the dead letters of the last hour. That read is shared
by every viewer and redone at most every REFRESH_S (longer when it is slow:
``SLOW_FACTOR`` times its last duration), only while someone looks; the math runs in a
thread so the worker's event loop keeps consuming. Pipeline health (events/s, lag, the
database circuit) is this worker's own and read at each request.

The page updates by short polling (docs/page.md): the script asks for ``?part=live`` every
few seconds with the ETag it has; an unchanged part is a 304.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from faust.exceptions import ConsumerNotStarted
from faust.web import Request, Response, View

from app.logging import get_logger
from app.main import app, settings
from app.resources import database, metrics, read_database
from app.topics import SOURCES
from app.views.page_render import (
    ASSETS,
    Health,
    PageContext,
    SprintBar,
    TopicHealth,
    render_live,
    render_missing,
    render_page,
)
from app.views.params import parse_window
from app.views.service import partition_offsets
from app.views.windowed import read_since
from stores.activity import read_top_pages
from stores.dead_letters import count_dead_letters_since
from stores.jira import SprintRow, read_sprints
from stores.logs import read_incidents
from stores.metrics import MetricsDailyRow, read_days_since
from stores.teams import consistent_read, organization_teams, team_entities
from tables.instants import to_micros
from tables.overview import ORGANIZATION, WINDOWS, Overview, overview_of
from tables.snapshots import Entities
from tables.trends import week_starts, weekly_trends

__all__ = ["Snapshot", "Refresher", "refresher", "RateSampler"]

log = get_logger("sei.page")

REFRESH_S = 1.0
SLOW_FACTOR = 2.0
RATE_SPAN_S = 15.0  # events/s is measured over about this long
# The activity and log families' panels: what their JSON views answer for these spans.
ACTIVITY_SPAN = timedelta(hours=1)
TOP_PAGES = 10
INCIDENT_SPAN = timedelta(hours=24)
INCIDENTS = 5
ASSET_TYPES = {"page.css": "text/css", "page.js": "text/javascript"}
_ASSETS = {name: (ASSETS / name).read_bytes() for name in ASSET_TYPES}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One shared read of the organization and what the page makes of it."""

    overview: Overview
    trends: dict[str, dict[str, list[float | None]]]
    sprints: dict[str, list[SprintBar]]
    dead_letters_hour: dict[str, int]
    top_pages: list[tuple[str, int]]  # the last hour's closed minutes (GET /activity/top-pages)
    incidents: list[dict[str, Any]]  # the last day's log anomaly incidents (GET /anomalies)
    as_of: str
    computed_at: float
    took_s: float


def _trends(
    rows: list[MetricsDailyRow], teams: Mapping[str, str], last_day: Any
) -> dict[str, dict[str, list[float | None]]]:
    by_scope: dict[str, list[tuple[Any, str, float]]] = {ORGANIZATION: []}
    for row in rows:
        bucket = (row.metric_date, row.metric, row.value)
        if row.scope == "repository":
            by_scope.setdefault(f"repository:{row.subject}", []).append(bucket)
            if row.subject in teams:
                by_scope[ORGANIZATION].append(bucket)
        elif row.scope == "team":
            by_scope.setdefault(f"team:{row.subject}", []).append(bucket)
    return {scope: weekly_trends(days, last_day=last_day) for scope, days in by_scope.items()}


def _sprints(rows: list[SprintRow]) -> dict[str, list[SprintBar]]:
    projects: dict[str, list[SprintBar]] = {}
    for row in rows:
        projects.setdefault(row.project_key, []).append(
            SprintBar(row.name, row.state, row.velocity, row.committed_points, row.completed_points)
        )
    return projects


def _build(
    teams: dict[str, str], entities: Entities, days: list[MetricsDailyRow], end: int, last_day: Any
) -> tuple[Overview, dict[str, dict[str, list[float | None]]]]:
    overview = overview_of(teams, entities, end=end, production_environments=settings.production_environments)
    return overview, _trends(days, teams, last_day)


class Refresher:
    """The latest Snapshot, recomputed on demand at most every REFRESH_S (one at a time)."""

    def __init__(self) -> None:
        self._latest: Snapshot | None = None
        self._running: asyncio.Future[Snapshot] | None = None

    def _fresh(self, snapshot: Snapshot) -> bool:
        age = time.monotonic() - snapshot.computed_at
        return age < max(REFRESH_S, SLOW_FACTOR * snapshot.took_s)

    async def latest(self) -> Snapshot:
        """A fresh snapshot; the last one while the database does not answer (raises when
        there is none)."""
        if self._latest is not None and self._fresh(self._latest):
            return self._latest
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._compute())
        try:
            self._latest = await asyncio.shield(self._running)
        except Exception as exc:
            log.warning("page.read_failed", error=f"{type(exc).__name__}: {exc}")
            if self._latest is None:
                raise
        return self._latest

    async def _compute(self) -> Snapshot:
        started = time.monotonic()
        now = datetime.now(UTC)
        last_day = now.date()
        async with consistent_read(read_database) as conn:
            teams = await organization_teams(conn)
            # What the longest window needs (app.views.windowed), not the whole history.
            since = read_since(max(WINDOWS), to_micros(now))
            entities = await team_entities(conn, list(teams), with_pull_requests=True, since=since)
            days = await read_days_since(conn, week_starts(last_day)[0])
            sprint_rows = await read_sprints(conn)
            dead = await count_dead_letters_since(conn, now - timedelta(hours=1))
            minute = now.replace(second=0, microsecond=0)
            top_pages = await read_top_pages(conn, minute - ACTIVITY_SPAN, minute, TOP_PAGES)
            incidents = await read_incidents(conn, None, now - INCIDENT_SPAN, INCIDENTS)
        overview, trends = await asyncio.to_thread(_build, teams, entities, days, to_micros(now), last_day)
        took = time.monotonic() - started
        log.debug("page.refreshed", repositories=len(teams), took_s=round(took, 3))
        return Snapshot(
            overview,
            trends,
            _sprints(sprint_rows),
            dead,
            top_pages,
            incidents,
            now.strftime("%H:%M:%S"),
            time.monotonic(),
            took,
        )


refresher = Refresher()


class RateSampler:
    """Events/s per topic from this worker's processed counters, sampled at each page
    request and every few seconds (a timer), over about RATE_SPAN_S."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, dict[str, int]]] = deque(maxlen=64)

    def sample(self) -> None:
        now = time.monotonic()
        self._samples.append((now, {topic: stats.processed for topic, stats in metrics.topics.items()}))
        while len(self._samples) > 2 and now - self._samples[1][0] > RATE_SPAN_S:
            self._samples.popleft()

    def rates(self) -> dict[str, float]:
        """Topic -> events/s; empty until two samples are a second apart."""
        self.sample()
        (first_at, first), (last_at, last) = self._samples[0], self._samples[-1]
        span = last_at - first_at
        if span < 1.0:
            return {}
        return {topic: (count - first.get(topic, 0)) / span for topic, count in last.items()}

    def rate(self, rates: Mapping[str, float], topic: str) -> float | None:
        """A topic's events/s: 0 for a topic without a batch since the start once rates exist."""
        return rates.get(topic, 0.0) if rates else None


sampler = RateSampler()


@app.timer(5.0)  # type: ignore[untyped-decorator]  # faust marks App.timer no_type_check
async def _sample_rates() -> None:
    sampler.sample()


def _assigned_topics() -> set[str]:
    try:
        return {tp.topic for tp in app.consumer.assignment()}
    except ConsumerNotStarted:  # topics are still being declared (app.topic_declaration)
        return set()


def _lag(partitions: Mapping[str, Mapping[str, int | None]]) -> int | None:
    lags = [p["lag"] for p in partitions.values() if p["lag"] is not None]
    return sum(lags) if lags else None


def _health(dead: Mapping[str, int]) -> Health:
    offsets = partition_offsets(app.monitor)
    rates = sampler.rates()
    shown = _assigned_topics() | set(offsets) | set(metrics.topics) | set(dead)
    topics = [
        TopicHealth(name, sampler.rate(rates, name), _lag(offsets.get(name, {})), dead.get(name, 0))
        for name in (topic.get_topic_name() for topic in SOURCES)
        if name in shown
    ]
    since = database.circuit_open_since
    return Health(topics, None if since is None else time.monotonic() - since, sum(dead.values()))


async def _page(view: View, request: Request, kind: str, name: str) -> Response:
    try:
        window = parse_window(request.query.get("window", "30d"))
    except ValueError:
        return view.text("window must be one of 7d, 30d, 90d", status=400)
    try:
        snapshot = await refresher.latest()
    except Exception:
        return view.text(
            "the database is not answering; this page reads it: try again in a few seconds",
            status=503,
            headers={"Retry-After": "5"},
        )
    overview = snapshot.overview
    if kind == "team" and name not in overview.teams:
        return view.html(render_missing("team", name, overview.teams), status=404)
    if kind == "repository" and not any(name in members for members in overview.teams.values()):
        known = [r for members in overview.teams.values() for r in members]
        return view.html(render_missing("repository", name, known), status=404)
    context = PageContext(
        kind,
        name,
        window,
        overview,
        snapshot.trends,
        _health(snapshot.dead_letters_hour),
        snapshot.sprints,
        snapshot.as_of,
        snapshot.top_pages,
        snapshot.incidents,
    )
    live = render_live(context)
    etag = '"' + hashlib.sha1(live.encode(), usedforsecurity=False).hexdigest()[:20] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "X-SEI-As-Of": snapshot.as_of}
    if request.query.get("part") == "live":
        if request.headers.get("If-None-Match") == etag:
            return view.bytes(b"", status=304, headers=headers)
        return view.html(live, headers=headers)
    return view.html(render_page(context).replace('data-etag=""', f"data-etag={etag}", 1), headers=headers)


@app.page("/")
class OrganizationPage(View):
    """The organization: its keys, its teams and repositories, cycle time, waiting pull
    requests, sprint velocity and pipeline health. Query: ``window`` (7d, 30d, 90d),
    ``part=live`` (the live part only, for the page's script)."""

    async def get(self, request: Request) -> Response:
        return await _page(self, request, ORGANIZATION, "")


@app.page("/teams/{team}")
class TeamPage(View):
    """One team: its keys, its repositories, cycle time and waiting pull requests."""

    async def get(self, request: Request, team: str) -> Response:
        return await _page(self, request, "team", team)


@app.page("/repositories/{repository_id}")
class RepositoryPage(View):
    """One repository: its keys, cycle time and waiting pull requests."""

    async def get(self, request: Request, repository_id: str) -> Response:
        return await _page(self, request, "repository", repository_id)


@app.page("/assets/{name}")
class PageAssets(View):
    """The page's stylesheet and script (shipped with the package; nothing else is served)."""

    async def get(self, request: Request, name: str) -> Response:
        body = _ASSETS.get(name)
        if body is None:
            return self.text(f"no asset {name!r}", status=404)
        return self.bytes(body, content_type=ASSET_TYPES[name], headers={"Cache-Control": "no-cache"})
