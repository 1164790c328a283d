"""The page's HTML: the JSON views' answers (tables.overview) laid out by Jinja2 templates.

Nothing here computes a metric: each number shown is a field of a ``GET /dora`` or
``GET /cycle-time`` answer, a ``sprints`` row, a trend of ``metrics_daily`` sums
(tables.trends) or a pipeline counter, formatted. Each value element carries its scope,
window, key and raw value in ``data-*`` attributes, so a test (or a script) can read the
page and compare it with the JSON views.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from tables.overview import ORGANIZATION, WINDOWS, Overview, ScopeAnswers
from tables.trends import WEEKS

__all__ = [
    "KEYS",
    "EMPTY_TOPICS",
    "PageContext",
    "Health",
    "TopicHealth",
    "SprintBar",
    "render_page",
    "render_live",
    "render_missing",
    "sparkline",
    "format_hours",
    "key_cells",
]

TEMPLATES = Path(__file__).with_name("templates")
ASSETS = Path(__file__).with_name("assets")

# (key, label, what a sparkline point is)
KEYS: tuple[tuple[str, str, str], ...] = (
    ("deployment_frequency", "Deployment frequency", "deployments per week"),
    ("lead_time", "Lead time for changes", "weekly mean, hours"),
    ("change_failure_rate", "Change failure rate", "weekly rate"),
    ("time_to_restore", "Time to restore", "weekly mean, hours"),
    ("rework_rate", "Rework rate", "weekly rate"),
)
STAGES = (("coding", "Coding"), ("pickup", "Pickup"), ("review", "Review"), ("deploy", "Deploy"))
# What an empty organization is asked to send (app.topics; the page names them).
EMPTY_TOPICS = (
    ("git.repositories", "repositories and their team"),
    ("git.commits", "commits"),
    ("git.pull_requests", "pull requests and reviews"),
    ("cicd.deployments", "deployments"),
    ("ops.incidents", "incidents"),
    ("jira.issues", "Jira issues"),
    ("jira.sprints", "Jira sprints"),
)
WAITING_SHOWN = 10
SPRINTS_SHOWN = 6


def format_hours(hours: float | None) -> str:
    """Minutes under an hour, hours under two days, days beyond; a negative duration (a
    deployment that shipped a pull request's commits before its merge) keeps its sign."""
    if hours is None:
        return "–"
    sign, size = ("−" if hours < 0 else ""), abs(hours)
    if size < 1:
        return f"{sign}{size * 60:.0f} min"
    if size < 48:
        return f"{sign}{size:.1f} h"
    return f"{sign}{size / 24:.1f} d"


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.0f}%"


@dataclass(frozen=True, slots=True)
class Cell:
    """One key of one scope and window: the shown text, its raw value, band and detail."""

    key: str
    value: float | None
    text: str
    band: str | None
    detail: str

    @property
    def short(self) -> str:
        """The text in a narrow place (a card's row of windows)."""
        return self.text.replace(" days/wk", "/wk")


def key_cells(dora: Mapping[str, Any]) -> dict[str, Cell]:
    """The five keys of one ``GET /dora`` answer, each as the page shows it."""
    frequency = dora["deployment_frequency"]
    lead = dora["lead_time"]
    failure = dora["change_failure_rate"]
    restore = dora["time_to_restore"]
    rework = dora["rework_rate"]
    per_week = frequency["deploy_days_per_week"]
    return {
        "deployment_frequency": Cell(
            "deployment_frequency",
            per_week,
            "–" if per_week is None else f"{per_week:.1f} days/wk",
            frequency["band"],
            f"{frequency['deployments'] or 0} deployments",
        ),
        "lead_time": Cell(
            "lead_time",
            lead["p50_hours"],
            format_hours(lead["p50_hours"]),
            lead["band"],
            f"p50 of {lead['count']} changes" if lead["count"] else "no change shipped",
        ),
        "change_failure_rate": Cell(
            "change_failure_rate",
            failure["rate"],
            _percent(failure["rate"]),
            failure["band"],
            f"{failure['failed_deployments']} of {failure['deployments']} deployments"
            if failure["deployments"]
            else "no deployments",
        ),
        "time_to_restore": Cell(
            "time_to_restore",
            restore["p50_hours"],
            format_hours(restore["p50_hours"]),
            restore["band"],
            f"p50 of {restore['count']} restored, {restore['open_incidents']} open",
        ),
        "rework_rate": Cell(
            "rework_rate",
            rework["rate"],
            _percent(rework["rate"]),
            None,
            f"{rework['rework_deployments']} of {rework['deployments']} deployments"
            if rework["deployments"]
            else "no deployments",
        ),
    }


def sparkline(values: Sequence[float | None], label: str, width: int = 120, height: int = 32) -> str:
    """An inline SVG line of ``values`` (None: a gap), its last point marked; '' without values."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(0.0, min(known)), max(known)
    span = (high - low) or 1.0
    step = (width - 4) / max(1, len(values) - 1)

    def point(index: int, value: float) -> tuple[float, float]:
        return 2 + index * step, height - 3 - (value - low) / span * (height - 6)

    path: list[str] = []
    pen_up = True
    last: tuple[float, float] | None = None
    for index, value in enumerate(values):
        if value is None:
            pen_up = True
            continue
        x, y = point(index, value)
        path.append(f"{'M' if pen_up else 'L'}{x:.1f} {y:.1f}")
        pen_up, last = False, (x, y)
    dot = f'<circle cx="{last[0]:.1f}" cy="{last[1]:.1f}" r="2.5"/>' if last else ""
    return (
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{label}" focusable="false" preserveAspectRatio="none"><title>{label}</title>'
        f'<path d="{" ".join(path)}"/>{dot}</svg>'
    )


@dataclass(frozen=True, slots=True)
class TopicHealth:
    topic: str
    events_per_s: float | None
    lag: int | None
    dead_letters_hour: int


@dataclass(frozen=True, slots=True)
class Health:
    """This worker's pipeline: per source topic, and the database circuit."""

    topics: list[TopicHealth]
    circuit_open_s: float | None  # seconds the database circuit has been open; None: closed
    dead_letters_hour: int


@dataclass(frozen=True, slots=True)
class SprintBar:
    name: str | None
    state: str | None
    velocity: float | None
    committed: float | None
    completed: float | None


@dataclass
class PageContext:
    """Everything one page shows: which scope and window, the answers, trends, sprints and
    pipeline health."""

    kind: str  # organization | team | repository
    name: str
    window: int
    overview: Overview
    trends: Mapping[str, Mapping[str, list[float | None]]]  # scope id -> key -> weekly values
    health: Health
    sprints: Mapping[str, list[SprintBar]] = field(default_factory=dict)  # project -> sprints
    as_of: str = ""
    top_pages: list[tuple[str, int]] = field(default_factory=list)  # (page_url, views), last hour
    incidents: list[dict[str, Any]] = field(default_factory=list)  # GET /anomalies' incidents


def scope_id(kind: str, name: str) -> str:
    return ORGANIZATION if kind == ORGANIZATION else f"{kind}:{name}"


def _answers(context: PageContext) -> ScopeAnswers | None:
    overview = context.overview
    if context.kind == ORGANIZATION:
        return overview.organization
    if context.kind == "team":
        return overview.by_team.get(context.name)
    return overview.by_repository.get(context.name)


def _rows(context: PageContext) -> list[dict[str, Any]]:
    """The scoreboard's rows: teams and repositories on the organization's page, a team's
    repositories on its page."""
    overview = context.overview
    rows: list[dict[str, Any]] = []
    if context.kind == ORGANIZATION:
        for team, members in overview.teams.items():
            rows.append(_row("team", team, overview.by_team[team], context.window, len(members)))
        for team, members in overview.teams.items():
            for repository in members:
                rows.append(
                    _row(
                        "repository",
                        repository,
                        overview.by_repository[repository],
                        context.window,
                        team=team,
                    )
                )
    elif context.kind == "team":
        for repository in overview.teams.get(context.name, []):
            rows.append(_row("repository", repository, overview.by_repository[repository], context.window))
    return rows


def _row(
    kind: str, name: str, answers: ScopeAnswers, window: int, size: int = 0, team: str = ""
) -> dict[str, Any]:
    return {
        "kind": kind,
        "name": name,
        "scope": scope_id(kind, name),
        "href": ("/teams/" if kind == "team" else "/repositories/") + name,
        "size": size,
        "team": team,
        "cells": key_cells(answers.dora[window]),
    }


def _cards(context: PageContext, answers: ScopeAnswers) -> list[dict[str, Any]]:
    by_window = {days: key_cells(answers.dora[days]) for days in WINDOWS}
    trends = context.trends.get(scope_id(context.kind, context.name), {})
    cards = []
    for key, label, unit in KEYS:
        line = trends.get(key, [])
        cards.append(
            {
                "key": key,
                "label": label,
                "cell": by_window[context.window][key],
                "windows": [(days, by_window[days][key]) for days in WINDOWS],
                "spark": sparkline(line, f"{label}, last {WEEKS} weeks ({unit})") if line else "",
                "unit": unit,
            }
        )
    return cards


def _stages(cycle: Mapping[str, Any]) -> dict[str, Any]:
    """The stacked bars (p50 and p90) of the four stages, each segment's share in percent."""
    bars = {}
    for quantile in ("p50", "p90"):
        hours = [(stage, label, cycle[stage][f"{quantile}_hours"]) for stage, label in STAGES]
        # A negative stage (see format_hours) takes no room in the bar; the table shows it.
        total = sum(max(0.0, h) for _, _, h in hours if h is not None)
        bars[quantile] = {
            "total": total,
            "segments": [
                {
                    "stage": stage,
                    "label": label,
                    "hours": h,
                    "text": format_hours(h),
                    "share": 0.0 if not total or h is None else max(0.0, h) / total * 100,
                }
                for stage, label, h in hours
            ],
        }
    return {"bars": bars, "count": cycle["cycle_time"]["count"], "cycle": cycle["cycle_time"]}


def _context_values(context: PageContext) -> dict[str, Any]:
    answers = _answers(context)
    values: dict[str, Any] = {
        "kind": context.kind,
        "name": context.name,
        "title": "Organization" if context.kind == ORGANIZATION else context.name,
        "scope": scope_id(context.kind, context.name),
        "window": context.window,
        "windows": WINDOWS,
        "weeks": WEEKS,
        "empty": context.overview.empty,
        "empty_topics": EMPTY_TOPICS,
        "health": context.health,
        "as_of": context.as_of,
        "end": context.overview.end,
        "format_hours": format_hours,
        "sprints": context.sprints if context.kind == ORGANIZATION else {},
        "sprints_shown": SPRINTS_SHOWN,
        "top_pages": context.top_pages if context.kind == ORGANIZATION else [],
        "incidents": context.incidents if context.kind == ORGANIZATION else [],
        "team_of": {r: t for t, members in context.overview.teams.items() for r in members},
    }
    if answers is not None:
        waiting = answers.waiting
        values |= {
            "cards": _cards(context, answers),
            "rows": _rows(context),
            "stages": _stages(answers.cycle_time[context.window]),
            "waiting": waiting[:WAITING_SHOWN],
            "waiting_total": len(waiting),
        }
    return values


_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_page(context: PageContext) -> str:
    """The whole page (it works without JavaScript; the script keeps it live)."""
    return _environment.get_template("page.html").render(**_context_values(context))


def render_live(context: PageContext) -> str:
    """The part of the page that the script replaces on each update."""
    return _environment.get_template("live.html").render(**_context_values(context))


def render_missing(kind: str, name: str, known: Iterable[str]) -> str:
    """A 404 page naming what is known instead."""
    return _environment.get_template("missing.html").render(kind=kind, name=name, known=sorted(known))
