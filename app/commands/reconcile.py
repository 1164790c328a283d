"""``faust -A app reconcile [commits|projections] [--dry-run|--repair]``.

``reconcile projections``: app.commands.reconcile_projections. ``reconcile`` (``commits``, the
default) ``--window 24h``: the commits in the database against the live tables.

For every (repository, UTC day) touched by the window, compares the ``commits`` rows, the
``commits_daily_stats`` row and a worker's live table (``GET /commits/{id}/daily``, which
any worker answers for any repository). The repositories checked are those the database
has in the window (or ``--repository``). Exact only when the worker has caught up (no
lag): events in flight show as differences.

``--repair`` re-sends the source events of each differing bucket from git.commits (read
as ``replay`` does, only the partitions of the repositories concerned) with
``x-sei-replay: 1``; the worker re-applies them idempotently and re-writes the rows and
daily totals. Then the buckets are checked again until they agree or the time is up.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from urllib.parse import quote

import aiohttp
import click
from faust.cli import argument, option

from agents.intake import Rejection, parse_message
from app.commands.base import ToolCommand, connect_database
from app.commands.comparison import (
    Bucket,
    DayCounts,
    Difference,
    compare_buckets,
    counts_from_view,
    day_bounds,
    repair_targets,
    window_days,
)
from app.commands.exceptions import OptionError, ToolError
from app.commands.params import WINDOW, parse_window
from app.commands.reconcile_projections import reconcile_projections
from app.commands.resend import (
    TOPIC_REPLAY_HEADER,
    ScanProgress,
    Sender,
    connect,
    is_replay_copy,
    scan,
    topic_partitions,
    with_header,
)
from app.logging import get_logger
from app.main import app, settings
from models.commits import CommitMessage
from runtime.partitioner import partition_of
from stores.commits import DayTotals, count_days, read_daily_stats

__all__ = ["reconcile"]

log = get_logger("sei.commands.reconcile")
SOURCE_TOPIC = "git.commits"
HTTP_CONCURRENCY = 8
SUBJECTS = ("commits", "projections")


def _counts(totals: DayTotals) -> dict[Bucket, DayCounts]:
    return {
        bucket: DayCounts(
            commit_count=t.commit_count, total_additions=t.total_additions, total_deletions=t.total_deletions
        )
        for bucket, t in totals.items()
    }


class Checker:
    """Reads both sides of the buckets of some days and compares them."""

    def __init__(self, worker: str, first: date, last: date) -> None:
        self.worker = worker.rstrip("/")
        self.first, self.last = first, last

    async def database(
        self, repositories: list[str] | None
    ) -> tuple[dict[Bucket, DayCounts], dict[Bucket, DayCounts]]:
        start, end = day_bounds(self.first, self.last)
        conn = await connect_database(settings.postgres_dsn)
        try:
            rows = _counts(await count_days(conn, start, end, repositories))
            daily = _counts(await read_daily_stats(conn, start, end, repositories))
        finally:
            await conn.close()
        return rows, daily

    async def live(self, repositories: Iterable[str]) -> dict[Bucket, DayCounts]:
        limit = asyncio.Semaphore(HTTP_CONCURRENCY)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:

            async def one(repository_id: str) -> dict[Bucket, DayCounts]:
                async with limit:
                    return await self._live_days(session, repository_id)

            found: dict[Bucket, DayCounts] = {}
            for part in await asyncio.gather(*(one(r) for r in sorted(set(repositories)))):
                found.update(part)
        return found

    async def _live_days(self, session: aiohttp.ClientSession, repository_id: str) -> dict[Bucket, DayCounts]:
        url = (
            f"{self.worker}/commits/{quote(repository_id, safe='')}/daily"
            f"?from={self.first.isoformat()}&to={self.last.isoformat()}"
        )
        try:
            async with session.get(url) as response:
                body = await response.text()
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ToolError(f"cannot reach the worker at {self.worker} (--worker): {exc!r}") from None
        if status == 404:  # the worker knows no commit of this repository
            return {}
        if status != 200:
            raise ToolError(f"worker at {self.worker} answered {status} for {url}: {body[:300]}")
        return counts_from_view(json.loads(body))

    async def compare(self, repositories: list[str] | None) -> tuple[list[Difference], int, int]:
        """(differences, repositories checked, buckets checked)."""
        rows, daily = await self.database(repositories)
        checked = sorted(set(repositories or ()) | {r for r, _ in rows} | {r for r, _ in daily})
        live = {
            bucket: counts
            for bucket, counts in (await self.live(checked)).items()
            if self.first <= bucket[1] <= self.last
        }
        buckets = set(rows) | set(daily) | set(live)
        return compare_buckets(rows, daily, live), len(checked), len(buckets)


def commit_bucket(value: bytes | None) -> Bucket | None:
    """The (repository, day) a git.commits message counts in, as the worker parses it."""
    parsed = parse_message(value or b"", CommitMessage, settings.validation_mode)
    if isinstance(parsed, Rejection):
        return None
    return parsed.event.repository_id, parsed.event.committed_at.astimezone(UTC).date()


async def resend_sources(self: ToolCommand, targets: Mapping[str, set[date]]) -> Counter[Bucket]:
    """Re-send the git.commits events of the target buckets; how many per bucket."""
    kafka = await connect(
        settings.bootstrap_servers, producer=True, compression_type=settings.producer_compression_type
    )
    try:
        partitions = await topic_partitions(kafka.consumer, SOURCE_TOPIC)
        if partitions is None:
            raise ToolError(f"cannot repair: the broker has no topic {SOURCE_TOPIC}")
        owning = {partition_of(r.encode(), len(partitions)) for r in targets}
        assert kafka.producer is not None
        sender = Sender(kafka.producer)
        progress = ScanProgress(
            report=lambda p: self.note(
                f"repair: scanned {p.scanned:,} of {p.total:,} records of {SOURCE_TOPIC}"
            )
        )
        async for record in scan(kafka.consumer, SOURCE_TOPIC, owning, progress):
            headers = list(record.headers or ())
            if record.key is None or is_replay_copy(headers):
                continue
            repository_id = record.key.decode("utf-8", "replace")
            if repository_id not in targets:
                continue
            bucket = commit_bucket(record.value)
            if bucket is None or bucket[0] != repository_id or bucket[1] not in targets[repository_id]:
                continue
            await sender.send(
                SOURCE_TOPIC,
                key=record.key,
                value=record.value or b"",
                headers=with_header(headers, TOPIC_REPLAY_HEADER, b"1"),
                partition=record.partition,
                tag=bucket,
            )
        delivered = await sender.flush()
    finally:
        await kafka.close()
    if sender.failed:
        raise ToolError(f"repair: {len(sender.failed)} of {sender.sent + len(sender.failed)} re-sends failed")
    return Counter(cast(Bucket, tag) for tag in delivered)


@app.command(
    argument("subject", type=click.Choice(SUBJECTS), default="commits", required=False),
    option(
        "--window",
        type=WINDOW,
        default=None,
        help="commits: check commits of this long before now: 90m, 24h, 7d [default: 24h].",
    ),
    option("--dry-run", is_flag=True, default=False, help="Only compare (the default)."),
    option(
        "--repair",
        is_flag=True,
        default=False,
        help="commits: re-send the source events of differing days; projections: re-project differing repositories.",
    ),
    option("--worker", default=None, help="A worker's web URL [default: http://127.0.0.1:$WEB_PORT]."),
    option(
        "--repository",
        "repositories",
        multiple=True,
        help="Check only this repository (repeatable) [default: commits: every one in the window; projections: every one known].",
    ),
    option("--repair-timeout", type=float, default=180.0, help="Seconds to wait for a repair to show."),
    option("--json", "as_json", is_flag=True, default=False, help="Print one JSON document."),
    base=ToolCommand,
)
async def reconcile(
    self: ToolCommand,
    subject: str,
    window: timedelta | None,
    dry_run: bool,
    repair: bool,
    worker: str | None,
    repositories: tuple[str, ...],
    repair_timeout: float,
    as_json: bool,
) -> int:
    """Compare the database with the live tables (commits per (repository, day), or the
    projections: Redis snapshots and metrics_daily); exit 1 on a difference."""
    as_json = as_json or bool(self.json)
    if dry_run and repair:
        raise OptionError(
            "--dry-run and --repair exclude each other: --dry-run only compares, --repair also repairs"
        )
    worker = worker or f"http://127.0.0.1:{settings.web_port}"
    if subject == "projections":
        if window is not None:
            raise OptionError("--window applies to `reconcile commits` only: projections are compared whole")
        return await reconcile_projections(
            self,
            worker=worker,
            chosen=repositories,
            repair=repair,
            repair_timeout=repair_timeout,
            as_json=as_json,
        )
    window = window if window is not None else parse_window("24h")
    first, last = window_days(datetime.now(UTC), window)
    checker = Checker(worker, first, last)
    differences, checked, buckets = await checker.compare(list(repositories) or None)
    report: dict[str, Any] = {
        "window": {"from": first.isoformat(), "to": last.isoformat(), "seconds": int(window.total_seconds())},
        "worker": checker.worker,
        "repositories": checked,
        "buckets": buckets,
        "differences": [d.as_dict() for d in differences],
    }
    log.info("reconcile.compared", repositories=checked, buckets=buckets, differences=len(differences))
    if not as_json:
        self.out(f"checked {checked} repositories, {buckets} (repository, day) buckets, {first} .. {last}")
        for difference in differences:
            self.out(f"DIFFERS {difference.describe()}")
    status = 1 if differences else 0
    if differences and repair:
        remaining = await run_repair(self, checker, differences, repair_timeout, quiet=as_json)
        report["repair"] = {
            "buckets": [d.as_dict() for d in differences],
            "remaining": [d.as_dict() for d in remaining],
        }
        status = 1 if remaining else 0
    if as_json:
        self.out(json.dumps(report, indent=2))
    elif not differences:
        self.out("database and live tables agree")
    return status


async def run_repair(
    self: ToolCommand, checker: Checker, differences: list[Difference], timeout_s: float, *, quiet: bool
) -> list[Difference]:
    """Re-send, then re-check the repaired buckets until they agree; what still differs."""
    sent = await resend_sources(self, repair_targets(differences))
    self.note(f"repair: re-sent {sum(sent.values()):,} events of {len(sent)} bucket(s) to {SOURCE_TOPIC}")
    log.info("reconcile.repair_sent", events=sum(sent.values()), buckets=len(sent))
    unsourced = [d for d in differences if d.bucket not in sent]
    wanted = {d.bucket for d in differences if d.bucket in sent}

    async def differing() -> list[Difference]:
        found, _, _ = await checker.compare(sorted({repository_id for repository_id, _ in wanted}))
        return [d for d in found if d.bucket in wanted]

    remaining = (
        await self.recheck(
            differing,
            timeout_s,
            lambda left, elapsed: (
                f"repair: waiting for the worker, {len(left)} of {len(wanted)} bucket(s) differ ({elapsed:.0f} s)"
            ),
        )
        if wanted
        else []
    )
    left = {d.bucket for d in remaining}
    if not quiet:
        for difference in differences:
            if difference.bucket in wanted and difference.bucket not in left:
                self.out(f"REPAIRED {difference.repository_id} {difference.day.isoformat()}")
        for difference in remaining:
            self.out(f"NOT REPAIRED {difference.describe()}")
        for difference in unsourced:
            self.out(f"NOT REPAIRED {difference.describe()} (no source event in {SOURCE_TOPIC})")
    if remaining:
        self.note(
            f"repair: {len(remaining)} bucket(s) still differ after {timeout_s:.0f} s "
            "(is the worker running and caught up?)"
        )
    if unsourced:
        self.note(
            f"repair: {len(unsourced)} bucket(s) have no source event left in {SOURCE_TOPIC} "
            "(past retention, or database rows the stream never had); re-sending cannot fix them"
        )
    log.info(
        "reconcile.repair_done", repaired=len(wanted) - len(left), remaining=len(remaining) + len(unsourced)
    )
    return remaining + unsourced
