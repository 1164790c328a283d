"""``faust -A app quality check [--topic T] [--since 24h|ISO]``: data-quality checks over
what the database holds per topic (models.data_quality: volume against the usual rate, freshness
of the newest event, null rate per field, invalid rate, duplicates). Prints a table; exits 1
when a check fails, 0 otherwise. The worker runs the same checks every QUALITY_S and exports
them (agents.operations)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from faust.cli import option
from faust.cli.base import cli

from app.commands.base import ToolCommand, connect_database
from app.commands.exceptions import OptionError
from app.commands.params import parse_instant, parse_window
from app.main import app, settings
from models.data_quality import Finding, evaluate, exit_status, render_table
from stores.data_quality import SPECS, read_figures

__all__ = ["quality_group", "since_of"]


@cli.group(name="quality")
def quality_group() -> None:
    """Data-quality checks over what was stored (`faust -A app quality check --help`)."""


class QualityCommand(ToolCommand):
    abstract: ClassVar[bool] = True
    group = quality_group


def since_of(text: str, now: datetime) -> datetime:
    """``24h``-style windows back from ``now``, or an ISO-8601 instant."""
    try:
        return now - parse_window(text)
    except ValueError:
        pass
    try:
        since = parse_instant(text)
    except ValueError:
        raise OptionError(f"--since {text!r}: a window (90m, 24h, 7d) or an ISO-8601 time") from None
    if since >= now:
        raise OptionError(f"--since {text!r} is not in the past")
    return since


@app.command(
    option(
        "--topic", "topics", multiple=True, help="Only this topic (repeatable); default: every stored topic."
    ),
    option(
        "--since",
        default="24h",
        show_default=True,
        help="The window checked: 24h, 7d, ... or an ISO-8601 time.",
    ),
    option("--json", "as_json", is_flag=True, default=False, help="Print the findings as a JSON array."),
    base=QualityCommand,
    command_name="check",
)
async def quality_check(self: QualityCommand, topics: tuple[str, ...], since: str, as_json: bool) -> int:
    """Check volume, freshness, nulls, invalid rate and duplicates per topic; exit 1 on a failure."""
    known = {spec.topic for spec in SPECS}
    unknown = sorted(set(topics) - known)
    if unknown:
        raise OptionError(
            f"--topic {', '.join(unknown)}: not a stored topic (one of {', '.join(sorted(known))})"
        )
    now = datetime.now(UTC)
    start = since_of(since, now)
    conn = await connect_database(settings.postgres_dsn)
    findings: list[Finding] = []
    try:
        for spec in SPECS:
            if topics and spec.topic not in topics:
                continue
            findings.extend(evaluate(await read_figures(conn, spec, start, now), now))
    finally:
        await conn.close()
    if as_json or self.json:
        self.out(json.dumps([_as_dict(f) for f in findings], indent=2))
    else:
        self.out(render_table(findings))
        failed = sum(f.status == "fail" for f in findings)
        self.note(
            f"{failed} check(s) failed of {len(findings)} since {start.isoformat()} ({_span(now - start)})"
        )
    return exit_status(findings)


def _as_dict(finding: Finding) -> dict[str, Any]:
    return {
        "topic": finding.topic,
        "check": finding.check,
        "status": finding.status,
        "value": finding.value,
        "detail": finding.detail,
    }


def _span(window: timedelta) -> str:
    return f"{window.total_seconds() / 3600:.1f} h"
