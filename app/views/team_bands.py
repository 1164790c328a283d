"""Each team's DORA band, exported for alerts: ``sei_dora_team_band`` (the alert
DoraTeamBandDropped in deploy/prometheus/alerts.yml).

A team's numbers are pooled from the database (stores.teams), the same for every worker, so
one worker exports them: the group's leader (Faust's leader assignor). Each team's values are
its 30-day ``GET /dora/teams/{team}`` answer, computed as that view computes it, one team at a
time: a team's read (from the window's lookback on, app.views.windowed) and its math (in a
thread) are all a refresh holds at once, not the whole organization's entities and every
window of the page's overview. Every other worker exports no team band, so a leadership that
moved leaves one series per team, not two that disagree.

A refresh costs what every team's 30-day lookback holds (150 days of the organization's
commits shipped), so it runs every TEAM_BANDS_INTERVAL_S (5 minutes: bands move with whole
days of deployments, and the alert waits 30 minutes), in one thread of its own (the default
executor's threads would each keep an allocator arena of their own filled).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import Any

from app.logging import get_logger
from app.main import app, settings
from app.resources import operating, read_database
from app.views.windowed import read_since
from stores.teams import consistent_read, organization_teams, team_entities
from tables.instants import to_micros
from tables.snapshots import dora_answer

__all__ = ["TEAM_BANDS_S", "BAND_WINDOW_DAYS", "export_team_bands", "team_band_answers"]

log = get_logger("sei.team_bands")

TEAM_BANDS_S = settings.team_bands_interval_s
BAND_WINDOW_DAYS = 30
_math = ThreadPoolExecutor(max_workers=1, thread_name_prefix="team-bands")


async def team_band_answers(end: int) -> dict[str, dict[str, Any]]:
    """Each team's 30-day DORA answer at ``end``, as ``GET /dora/teams/{team}`` gives it
    (raises when the database does not answer)."""
    since = read_since(BAND_WINDOW_DAYS, end)
    async with consistent_read(read_database) as conn:
        # Every team's repositories at once, by read_team's rule (stores.teams): a
        # team_repositories query per team scanned the entity tables once per team.
        members: dict[str, list[str]] = {}
        for repository, team in (await organization_teams(conn)).items():
            members.setdefault(team, []).append(repository)
    answers: dict[str, dict[str, Any]] = {}
    for team, repositories in sorted(members.items()):
        async with consistent_read(read_database) as conn:
            entities = await team_entities(conn, repositories, with_pull_requests=False, since=since)
        answer = partial(
            dora_answer,
            entities,
            end=end,
            window_days=BAND_WINDOW_DAYS,
            production_environments=settings.production_environments,
        )
        answers[team] = await asyncio.get_running_loop().run_in_executor(_math, answer)
    return answers


async def export_team_bands() -> int | None:
    """Set (on the leader) or clear (elsewhere) the team band gauge; how many teams were
    exported, None when the organization could not be read (the last values stay)."""
    if not app.is_leader():
        operating.set_team_bands({})
        return 0
    try:
        answers = await team_band_answers(to_micros(datetime.now(UTC)))
    except Exception as exc:
        log.warning("team_bands.unread", error=f"{type(exc).__name__}: {exc}")
        return None
    operating.set_team_bands(answers)
    return len(answers)


@app.timer(TEAM_BANDS_S)  # type: ignore[untyped-decorator]  # faust marks App.timer no_type_check
async def _team_bands() -> None:
    if app.in_recovery or app.rebalancing:
        return
    await export_team_bands()
