"""Each team's DORA band, exported for alerts: ``sei_dora_team_band`` (the alert
DoraTeamBandDropped in deploy/prometheus/alerts.yml).

A team's numbers are pooled from the database (stores.teams), the same for every worker, so
one worker exports them: the group's leader (Faust's leader assignor), from the page's shared
overview (app.views.page.refresher), whose team answers are the 30-day ``GET /dora/teams``
bodies. Every other worker exports no team band, so a leadership that moved leaves one series
per team, not two that disagree.
"""

from __future__ import annotations

from app.logging import get_logger
from app.main import app
from app.resources import operating
from app.views.page import refresher

__all__ = ["TEAM_BANDS_S", "BAND_WINDOW_DAYS", "export_team_bands"]

log = get_logger("sei.team_bands")

# Bands move with whole days of deployments; the alert waits 30 minutes before it fires.
TEAM_BANDS_S = 30.0
BAND_WINDOW_DAYS = 30


async def export_team_bands() -> int | None:
    """Set (on the leader) or clear (elsewhere) the team band gauge; how many teams were
    exported, None when the organization could not be read (the last values stay)."""
    if not app.is_leader():
        operating.set_team_bands({})
        return 0
    try:
        snapshot = await refresher.latest()
    except Exception as exc:
        log.warning("team_bands.unread", error=f"{type(exc).__name__}: {exc}")
        return None
    by_team = snapshot.overview.by_team
    operating.set_team_bands({team: answers.dora[BAND_WINDOW_DAYS] for team, answers in by_team.items()})
    return len(by_team)


@app.timer(TEAM_BANDS_S)  # type: ignore[untyped-decorator]  # faust marks App.timer no_type_check
async def _team_bands() -> None:
    if app.in_recovery or app.rebalancing:
        return
    await export_team_bands()
