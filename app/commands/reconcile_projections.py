"""``faust -A app reconcile projections [--dry-run|--repair]``: Redis snapshots and
``metrics_daily`` against what the projection computes from the tables now.

Per repository (``--repository``, or every one with ``metrics_daily`` rows, a ``repositories``
row or a Redis snapshot): its snapshot in Redis against ``GET /projections/{id}?end=<the
snapshot's end>`` (so the moving window is no difference), its ``metrics_daily`` rows from
its retention cutoff on against the recomputed days; then each team's rows against the sums
of its repositories' rows (the pooling's definition, in SQL). The math is
app.commands.projection_comparison. Exact only once the workers have caught up: a flush
pending (up to the projection interval, 10 s, after the last event) shows as a difference.

``--repair`` asks the owner of each differing repository (and of every repository of a
differing team) to forget what it last wrote and re-project it (``POST
/projections/{id}/refresh``), then checks again until they agree or the time is up.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from agents.projection import SNAPSHOT_KEY
from app.commands.base import RECHECK_INTERVAL_S, ToolCommand, connect_database
from app.commands.exceptions import ToolError
from app.commands.projection_comparison import (
    Difference,
    compare_days,
    compare_snapshot,
    days_from_view,
    repair_repositories,
    snapshot_age_s,
)
from app.logging import get_logger
from app.main import settings
from app.redaction import mask_url
from stores.metrics import MetricsDailyRow, projected_repositories, read_days, sum_team_days, teams_of

__all__ = ["ProjectionChecker", "reconcile_projections"]

log = get_logger("sei.commands.reconcile")
HTTP_CONCURRENCY = 8
BUSY_RETRIES = 5  # a 503 (rebalance, recovery) is asked again, Retry-After apart
_SNAPSHOT_PATTERN = SNAPSHOT_KEY.format("*")
_SNAPSHOT_PREFIX = SNAPSHOT_KEY.format("")


@dataclass(slots=True)
class Comparison:
    differences: list[Difference] = field(default_factory=list)
    repositories: int = 0
    teams: int = 0
    ages: dict[str, float] = field(default_factory=dict)  # repository -> snapshot age (s)
    orphans: list[str] = field(default_factory=list)  # snapshots of repositories no table holds
    unknown: list[str] = field(default_factory=list)  # repositories no worker's tables hold
    teams_of: dict[str, str] = field(default_factory=dict)


def _grouped(rows: Sequence[MetricsDailyRow]) -> dict[str, dict[tuple[date, str], float]]:
    days: dict[str, dict[tuple[date, str], float]] = defaultdict(dict)
    for row in rows:
        days[row.subject][(row.metric_date, row.metric)] = row.value
    return days


class ProjectionChecker:
    """Reads Redis, the database and a worker's recomputation, and compares them."""

    def __init__(self, worker: str) -> None:
        self.worker = worker.rstrip("/")

    def _redis(self) -> aioredis.Redis:
        return aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=5, socket_timeout=10)

    def _redis_error(self, exc: Exception) -> ToolError:
        return ToolError(
            f"cannot read Redis at {mask_url(settings.redis_url)} (REDIS_URL): {type(exc).__name__}"
        )

    async def repositories(self) -> list[str]:
        """Every repository with ``metrics_daily`` rows, a ``repositories`` row or a snapshot."""
        conn = await connect_database(settings.postgres_dsn)
        try:
            known = set(await projected_repositories(conn))
        finally:
            await conn.close()
        client = self._redis()
        try:
            async for key in client.scan_iter(match=_SNAPSHOT_PATTERN, count=1000):
                known.add(bytes(key).decode("utf-8", "replace").removeprefix(_SNAPSHOT_PREFIX))
        except (RedisError, OSError) as exc:
            raise self._redis_error(exc) from None
        finally:
            await client.aclose()
        return sorted(known)

    async def _snapshots(self, repositories: Sequence[str]) -> dict[str, dict[str, Any]]:
        client = self._redis()
        try:
            values = await client.mget([SNAPSHOT_KEY.format(r) for r in repositories]) if repositories else []
        except (RedisError, OSError) as exc:
            raise self._redis_error(exc) from None
        finally:
            await client.aclose()
        found: dict[str, dict[str, Any]] = {}
        for repository_id, value in zip(repositories, values, strict=True):
            if value is None:
                continue
            try:
                parsed = orjson.loads(value)
            except orjson.JSONDecodeError:
                parsed = None
            found[repository_id] = parsed if isinstance(parsed, dict) else {"unparsable": repr(value[:200])}
        return found

    async def _recomputed(
        self, session: aiohttp.ClientSession, repository_id: str, end: str | None
    ) -> dict[str, Any] | None:
        """The worker's ``GET /projections/{id}`` at ``end``; None when no table holds it."""
        url = f"{self.worker}/projections/{quote(repository_id, safe='')}"
        if end is not None:
            url += f"?end={quote(end, safe='')}"
        for attempt in range(BUSY_RETRIES + 1):
            try:
                async with session.get(url) as response:
                    body = await response.text()
                    status = response.status
                    retry_after = response.headers.get("Retry-After", "2")
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise ToolError(f"cannot reach the worker at {self.worker} (--worker): {exc!r}") from None
            if status == 503 and attempt < BUSY_RETRIES:
                await asyncio.sleep(float(retry_after) if retry_after.isdigit() else 2.0)
                continue
            if status == 404:
                return None
            if status != 200:
                raise ToolError(f"worker at {self.worker} answered {status} for {url}: {body[:300]}")
            answer: dict[str, Any] = json.loads(body)
            return answer
        raise AssertionError("unreachable")

    async def compare(
        self, repositories: Sequence[str], *, every_team: bool, teams_too: Sequence[str] = ()
    ) -> Comparison:
        """Compare the repositories' snapshots and rows, and the teams' rows: of every team, or
        of these repositories' teams and ``teams_too``."""
        snapshots = await self._snapshots(repositories)
        limit = asyncio.Semaphore(HTTP_CONCURRENCY)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:

            async def one(repository_id: str) -> dict[str, Any] | None:
                end = snapshots.get(repository_id, {}).get("end")
                async with limit:
                    return await self._recomputed(
                        session, repository_id, end if isinstance(end, str) else None
                    )

            answers = dict(
                zip(repositories, await asyncio.gather(*(one(r) for r in repositories)), strict=True)
            )
        conn = await connect_database(settings.postgres_dsn)
        try:
            stored_days = _grouped(await read_days(conn, "repository", list(repositories)))
            team_of = await teams_of(conn, list(repositories))
            teams = None if every_team else sorted(set(team_of.values()) | set(teams_too))
            stored_teams = _grouped(await read_days(conn, "team", teams))
            pooled = _grouped(await sum_team_days(conn, teams))
        finally:
            await conn.close()
        now = datetime.now(UTC)
        found = Comparison(repositories=len(repositories), teams_of=team_of)
        for repository_id in repositories:
            answer, stored = answers[repository_id], snapshots.get(repository_id)
            if stored is not None:
                age = snapshot_age_s(stored, now)
                if age is not None:
                    found.ages[repository_id] = age
            if answer is None:
                found.unknown.append(repository_id)
                if stored is not None:
                    found.orphans.append(repository_id)
                continue
            snapshot = compare_snapshot(repository_id, stored, answer["snapshot"])
            if snapshot is not None:
                found.differences.append(snapshot)
            cutoff = date.fromisoformat(answer["cutoff"]) if answer.get("cutoff") else None
            found.differences.extend(
                compare_days(
                    "repository",
                    repository_id,
                    stored_days.get(repository_id, {}),
                    days_from_view(answer),
                    since=cutoff,
                )
            )
        checked_teams = sorted(set(stored_teams) | set(pooled))
        found.teams = len(checked_teams)
        for team in checked_teams:
            found.differences.extend(
                compare_days("team", team, stored_teams.get(team, {}), pooled.get(team, {}))
            )
        return found

    async def refresh(self, repositories: Sequence[str]) -> list[str]:
        """Ask each repository's owner to re-project it; the repositories no table holds."""
        unknown: list[str] = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            for repository_id in repositories:
                url = f"{self.worker}/projections/{quote(repository_id, safe='')}/refresh"
                for attempt in range(BUSY_RETRIES + 1):
                    try:
                        async with session.post(url) as response:
                            status, body = response.status, await response.text()
                    except (TimeoutError, aiohttp.ClientError) as exc:
                        raise ToolError(
                            f"cannot reach the worker at {self.worker} (--worker): {exc!r}"
                        ) from None
                    if status == 503 and attempt < BUSY_RETRIES:
                        await asyncio.sleep(RECHECK_INTERVAL_S)
                        continue
                    break
                if status == 404:
                    unknown.append(repository_id)
                elif status != 202:
                    raise ToolError(f"worker at {self.worker} answered {status} for POST {url}: {body[:300]}")
        return unknown


def _ages_line(ages: dict[str, float]) -> str:
    if not ages:
        return "snapshots: none in Redis"
    oldest = max(ages, key=lambda r: ages[r])
    newest = min(ages, key=lambda r: ages[r])
    return (
        f"snapshots: {len(ages)} in Redis, newest {ages[newest]:.0f} s old ({newest}), "
        f"oldest {ages[oldest]:.0f} s old ({oldest})"
    )


async def reconcile_projections(
    self: ToolCommand,
    *,
    worker: str,
    chosen: Sequence[str],
    repair: bool,
    repair_timeout: float,
    as_json: bool,
) -> int:
    """Compare (and with ``repair`` rewrite) the projections; the exit status."""
    checker = ProjectionChecker(worker)
    repositories = sorted(set(chosen)) if chosen else await checker.repositories()
    self.note(
        f"comparing the projections of {len(repositories)} repositories with the worker at {checker.worker}"
    )
    found = await checker.compare(repositories, every_team=not chosen)
    differences = found.differences
    log.info(
        "reconcile.projections_compared",
        repositories=found.repositories,
        teams=found.teams,
        differences=len(differences),
        orphans=len(found.orphans),
    )
    report: dict[str, Any] = {
        "worker": checker.worker,
        "repositories": found.repositories,
        "teams": found.teams,
        "snapshot_age_s": found.ages,
        "unknown_repositories": found.unknown,
        "orphan_snapshots": found.orphans,
        "differences": [d.as_dict() for d in differences],
    }
    if not as_json:
        self.out(f"checked {found.repositories} repositories and {found.teams} teams")
        self.out(_ages_line(found.ages))
        for difference in differences:
            self.out(f"DIFFERS {difference.describe()}")
    if found.orphans:
        self.note(
            f"{len(found.orphans)} snapshot(s) in Redis of repositories no worker's tables hold "
            f"(left to expire): {', '.join(found.orphans[:10])}"
        )
    status = 1 if differences else 0
    if differences and repair:
        remaining = await run_repair(self, checker, found, repair_timeout, quiet=as_json)
        report["repair"] = {
            "differences": [d.as_dict() for d in differences],
            "remaining": [d.as_dict() for d in remaining],
        }
        status = 1 if remaining else 0
    if as_json:
        self.out(json.dumps(report, indent=2, default=str))
    elif not differences:
        self.out("Redis snapshots, metrics_daily and the recomputed projections agree")
    return status


async def run_repair(
    self: ToolCommand, checker: ProjectionChecker, found: Comparison, timeout_s: float, *, quiet: bool
) -> list[Difference]:
    """Re-project the differing repositories, then re-check until they agree; what still differs."""
    differences = found.differences
    targets = sorted(repair_repositories(differences, found.teams_of))
    unknown = set(await checker.refresh(targets))
    self.note(f"repair: asked the workers to re-project {len(targets) - len(unknown)} repositories")
    wanted = {d.target for d in differences}
    checked = sorted(set(targets) | {s for kind, s in wanted if kind != "team"})

    async def differing() -> list[Difference]:
        again = await checker.compare(
            checked, every_team=False, teams_too=[s for kind, s in wanted if kind == "team"]
        )
        return [d for d in again.differences if d.target in wanted]

    remaining = await self.recheck(
        differing,
        timeout_s,
        lambda left, elapsed: (
            f"repair: waiting for the workers, {len({d.target for d in left})} subject(s) differ ({elapsed:.0f} s)"
        ),
    )
    left = {d.target for d in remaining}
    if not quiet:
        for kind, subject in sorted(wanted - left):
            self.out(f"REPAIRED {kind} {subject}")
        for difference in remaining:
            self.out(f"NOT REPAIRED {difference.describe()}")
    if remaining:
        self.note(
            f"repair: {len(left)} subject(s) still differ after {timeout_s:.0f} s "
            "(are the workers running and caught up?)"
        )
    if unknown:
        self.note(f"repair: no worker's tables hold {', '.join(sorted(unknown))}: nothing to re-project")
    log.info("reconcile.projections_repaired", repaired=len(wanted - left), remaining=len(left))
    return remaining
