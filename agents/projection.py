"""Projections of table state, refreshed on a timer: metrics.dora, Redis snapshots,
`metrics_daily` (repositories and teams), `pull_requests` rows and `sprints` rows.

Pull-request rows are projections because most of their columns (stage durations, deployed
time) are derived from the repository's commits and deployments too, and recomputing them
costs a pass over the repository's history: once per refresh, not once per batch. Sprint
rows are written by the sprint agent as well, and refreshed here when the project's issues
change their completion.

Agents mark what their batch changed (repositories, teams, projects); every TICK_S the
worker flushes the marked keys it owns, each at most once per REFRESH_S (a burst of events
makes one projection update, a lone event one within a tick). Each value is recomputed from
the whole state, so a flush can be repeated at any time: nothing is lost by flushing late,
twice, or after a crash. Marks live in memory; after a start or a rebalance (the worker's
active partitions changed) every owned key is marked, so the database catches up with the
tables after a crash between an offset commit and a flush. Unchanged values (compared with
what this worker last wrote) are not sent again; a repository's snapshot is recomputed and
written again at least daily (SNAPSHOT_RENEW_S), since its window moves with the clock and
its Redis key expires.

A flush recomputes each due repository from its retained state (a full monorepo's: 0.4-0.85
s), so under a backlog, with every repository due every REFRESH_S, the projection took a
share of the worker that grew with the retained state (36 % of the event loop's samples in
a year's first month) and left less for the events. The next flush waits until the last
one's computation is at most SHARE of the time since it began (Projection.ready): a quiet
worker's flushes take milliseconds and run every tick; a busy one's run less often, each
covering more changes, and the events keep the rest of the loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import asyncpg
import orjson
from faust.types import TP
from prometheus_client import Counter

from agents.repository_projection import SNAPSHOT_WINDOW_DAYS, project_repository
from app.logging import get_logger
from app.main import app, settings
from app.resources import cache, database, metrics, operating
from app.topics import git_commits, jira_issues, metrics_dora
from runtime.event_context import reading_partition
from runtime.partitioner import partition_of
from stores.git_activity import PullRequestRow, upsert_pull_requests
from stores.jira import SprintRow, sprint_rows, upsert_sprints
from stores.metrics import pool_team_days, replace_repository_days
from tables.cicd import deployment_index, incident_index
from tables.commits import commit_spans
from tables.daily_metrics import DailyMetrics
from tables.git_activity import pull_request_index, repositories
from tables.instants import to_micros
from tables.jira import issue_index, issues_of, sprint_index, sprints_of
from tables.repository_state import Repository, team_of
from tables.shipping_memo import shipping_memo

__all__ = ["Projection", "projection", "SNAPSHOT_WINDOW_DAYS", "SNAPSHOT_KEY", "REFRESH_S"]

log = get_logger("sei.projection")

# DATA_PROC_PROJECTION_REFRESH_INTERVAL of the issue; a constant until Settings carries it.
REFRESH_S = 10.0
TICK_S = 1.0
SHUTDOWN_FLUSH_S = 10.0
SNAPSHOT_TTL_S = 7 * 86_400
# A snapshot is recomputed and written again at least this often, changed or not: its 30-day
# window moves with the clock when nothing happens (deployments leave it), and its Redis key
# expires after SNAPSHOT_TTL_S (a repository quiet for a week lost its snapshot).
SNAPSHOT_RENEW_S = 86_400.0
SNAPSHOT_KEY = "processor:snapshot:dora:{}"
SHARE = 0.25
# Rows (day buckets and pull requests) of one transaction of a flush (``Written``): a chunk
# is written once it holds this many, so a flush holds about this many rows at once, plus
# the largest repository's. It also keeps replace_repository_days' anti-join a hashed
# subplan: with PostgreSQL's default work_mem (4 MB) the planner hashes 60,000 day rows and
# not 90,000 (EXPLAIN), and a plain subplan is searched once per stored row. One flush of a
# year's 200 repositories (~300,000 rows) timed out (60 s) at every retry from the second
# month of bench.year on: the projection wrote nothing more for the rest of the run.
CHUNK_ROWS = 20_000

_subject_failures = Counter(
    "projection_failures_total",
    "Repositories (scope repository) or projects (scope project) whose projection could not be computed",
    ["scope"],
    registry=metrics.registry,
)


@dataclass(slots=True)
class Due:
    repositories: set[str] = field(default_factory=set)
    teams: set[str] = field(default_factory=set)
    projects: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.repositories or self.teams or self.projects)


class Projection:
    """Marks, what this worker last wrote, and the flush."""

    def __init__(
        self, refresh_s: float, production_environments: Collection[str], renew_s: float = SNAPSHOT_RENEW_S
    ) -> None:
        self.refresh_s = refresh_s
        self.renew_s = renew_s
        self.production_environments = production_environments
        self.marked = Due()
        self._flushed_at: dict[str, float] = {}
        self._published: dict[str, bytes] = {}
        self._renewed_at: dict[str, float] = {}  # repository -> when its snapshot was last written
        # What was last written, as digests (_digest): a repository's retained days and pull
        # requests as rows took about 0.5 KB each, 90 MB for a year of 200 repositories.
        self._days: dict[str, bytes] = {}
        # Per repository, the rows of the pull requests its tables hold: replaced on each
        # flush, so aged pull requests leave it (a cache of every row written grew with history).
        self._pull_requests: dict[str, dict[tuple[str, int], bytes]] = {}
        self._sprints: dict[tuple[str, str], SprintRow] = {}
        self._actives: frozenset[TP] | None = None
        self.share = SHARE
        self._ready_at = float("-inf")

    def ready(self, now: float) -> bool:
        """Whether a flush may start at ``now`` (monotonic): the last one's computation is at
        most ``share`` of the time from its start to now (module doc)."""
        return now >= self._ready_at

    def computed(self, started: float, seconds: float) -> None:
        """A flush that began at ``started`` (monotonic) computed for ``seconds``."""
        self._ready_at = started + seconds / self.share

    def mark_repositories(self, repository_ids: Iterable[str]) -> None:
        changed = set(repository_ids)
        self.marked.repositories.update(changed)
        shipping_memo.forget(changed)

    def mark_teams(self, teams: Iterable[str]) -> None:
        self.marked.teams.update(teams)

    def mark_projects(self, project_keys: Iterable[str]) -> None:
        self.marked.projects.update(project_keys)

    def refresh_repository(self, repository_id: str, team: str) -> None:
        """Forget what was last written for the repository and mark it and its team: the next
        tick rewrites its snapshot, its ``metrics_daily`` rows, its pull-request rows and its
        team's rows, whatever this worker believes they hold (``reconcile projections --repair``)."""
        self._published.pop(repository_id, None)
        self._renewed_at.pop(repository_id, None)
        self._days.pop(repository_id, None)
        self._pull_requests.pop(repository_id, None)
        self._flushed_at.pop(f"r:{repository_id}", None)
        self.mark_repositories((repository_id,))
        self.mark_teams((team,))

    def wrote_sprints(self, rows: Iterable[SprintRow]) -> None:
        """An agent wrote these rows: they are what the database holds now."""
        self._sprints.update((row.key, row) for row in rows)

    def follow_assignment(self, actives: Collection[TP]) -> None:
        """After a start or a rebalance, mark every owned key and forget what was written."""
        current = frozenset(actives)
        if current == self._actives:
            return
        self._actives = current
        shipping_memo.clear()
        # Bands of repositories now owned elsewhere would be exported by two workers: every
        # owned repository is marked below and its band set again at the next flush.
        operating.dora_band.clear()
        self._flushed_at.clear()
        self._published.clear()
        self._renewed_at.clear()
        self._days.clear()
        self._pull_requests.clear()
        self._sprints.clear()
        self.mark_repositories(k for table in (commit_spans, repositories) for k in list(table.keys()))
        self.mark_repositories(
            k for index in (deployment_index, incident_index, pull_request_index) for k in index.owners()
        )
        self.mark_projects(k for index in (sprint_index, issue_index) for k in index.owners())
        log.info(
            "projection.assignment_changed",
            partitions=len(current),
            repositories=len(self.marked.repositories),
            projects=len(self.marked.projects),
        )

    def _owned(self, topic: str, key: str) -> bool:
        actives = self._actives or frozenset()
        return TP(topic, partition_of(key.encode(), settings.topic_partitions)) in actives

    def take_due(self, now: float, *, everything: bool = False) -> Due:
        """Remove and return the marked keys this worker owns whose last flush is old enough."""
        due = Due(teams=set(self.marked.teams))
        self.marked.teams.clear()
        for kind, marked, topic, taken in (
            ("r", self.marked.repositories, git_commits.get_topic_name(), due.repositories),
            ("p", self.marked.projects, jira_issues.get_topic_name(), due.projects),
        ):
            for key in list(marked):
                if not self._owned(topic, key):
                    marked.discard(key)  # revoked: its new owner flushes it
                elif (
                    everything
                    or now - self._flushed_at.get(f"{kind}:{key}", now - self.refresh_s) >= self.refresh_s
                ):
                    marked.discard(key)
                    taken.add(key)
                    self._flushed_at[f"{kind}:{key}"] = now
        return due

    def mark_renewals(self, clock: float) -> None:
        """Mark the repositories whose snapshot was last written ``renew_s`` or more ago."""
        self.mark_repositories(r for r, at in self._renewed_at.items() if clock - at >= self.renew_s)

    def requeue(self, due: Due) -> None:
        self.mark_repositories(due.repositories)
        self.mark_teams(due.teams)
        self.mark_projects(due.projects)

    async def flush(self, due: Due, *, now: int | None = None) -> None:
        """Recompute and write the projections of ``due``, in chunks of about ``CHUNK_ROWS``
        rows (``Written``): each chunk's repositories in one transaction, with their teams."""
        end = now if now is not None else to_micros(datetime.now(UTC))
        clock = time.monotonic()
        environments = self.production_environments
        computing = 0.0  # seconds of recomputation, the awaits between repositories left out
        snapshots: dict[str, tuple[bytes, bytes]] = {}  # repository -> (body, fingerprint)
        published: list[dict[str, object]] = []  # the same snapshots, for the band gauges
        chunk = Written()
        # By team: a chunk pools the teams of its repositories, each from all of them.
        pending = sorted(due.repositories, key=lambda r: (_team(r), r))
        for index, repository_id in enumerate(pending):
            if index:
                # One repository's projection at a time holds the event loop (a full monorepo's
                # 0.4-0.85 s); after a month's backlog hundreds are due at once, and a flush in
                # one step held the views and the consumer for 8-11 s.
                await asyncio.sleep(0)
                if app.in_recovery or app.rebalancing:  # the tables are changing hands
                    self.mark_repositories(pending[index:])
                    break
            if chunk.rows >= CHUNK_ROWS:
                await self._write(chunk)
                chunk = Written()
            began = time.perf_counter()
            try:
                with reading_partition(partition_of(repository_id.encode(), settings.topic_partitions)):
                    projected = project_repository(
                        repository_id,
                        end=end,
                        production_environments=environments,
                        retention_days=settings.state_retention_days,
                    )
            except Exception:  # a bug must cost this repository's projection, not everyone's
                _failed("repository", repository_id)
                continue
            finally:
                computing += time.perf_counter() - began
            snapshot, buckets, cutoff = projected.snapshot, projected.days, projected.cutoff
            # "Changed" ignores the moving end: the same numbers are not announced again, but
            # for the daily renewal.
            fingerprint = orjson.dumps({**snapshot, "end": None}, option=orjson.OPT_SORT_KEYS)
            renewal_due = clock - self._renewed_at.get(repository_id, float("-inf")) >= self.renew_s
            if self._published.get(repository_id) != fingerprint or renewal_due:
                snapshots[repository_id] = (orjson.dumps(snapshot), fingerprint)
                published.append(snapshot)
            days_digest = _days_digest(buckets)
            if self._days.get(repository_id) != days_digest:
                chunk.days[repository_id] = buckets
                chunk.days_digests[repository_id] = days_digest
                chunk.rows += len(buckets)
                if cutoff is not None:
                    chunk.since[repository_id] = cutoff
            written = self._pull_requests.get(repository_id, {})
            held = chunk.pull_request_digests[repository_id] = {}
            for row in projected.pull_requests:
                digest = held[row.key] = _digest(orjson.dumps(row))
                if written.get(row.key) != digest:
                    chunk.pull_requests.append(row)
                    chunk.rows += 1
        began = time.perf_counter()
        for project_key in sorted(due.projects):
            try:
                project_rows = sprint_rows(
                    project_key,
                    sprints_of(project_key),
                    [s.snapshot for s in issues_of(project_key) if s.snapshot],
                )
            except Exception:
                _failed("project", project_key)
                continue
            chunk.sprints.extend(row for row in project_rows if self._sprints.get(row.key) != row)
        computing += time.perf_counter() - began
        self.computed(clock, computing)
        chunk.teams = sorted(due.teams)
        await self._write(chunk)
        for repository_id, (body, fingerprint) in snapshots.items():
            metrics_dora.send_soon(key=repository_id.encode(), value=body)
            self._published[repository_id] = fingerprint
            self._renewed_at[repository_id] = clock
        await cache.set_values(
            {SNAPSHOT_KEY.format(r): body for r, (body, _) in snapshots.items()}, SNAPSHOT_TTL_S
        )
        operating.projection_flushed(snapshots=published)

    async def _write(self, chunk: Written) -> None:
        """One chunk in one transaction; then it is what this worker last wrote."""

        async def write(conn: asyncpg.Connection) -> int:
            sent, changed = await replace_repository_days(conn, chunk.days, chunk.since)
            if chunk.teams:  # a repository may have moved: its teams' every day
                await pool_team_days(conn, sorted(chunk.days), chunk.teams)
            elif changed is not None:  # the days from the first changed one on
                await pool_team_days(conn, sorted(chunk.days), [], since=changed)
            await upsert_pull_requests(conn, chunk.pull_requests)
            await upsert_sprints(conn, chunk.sprints)
            return sent

        if chunk.days or chunk.teams or chunk.pull_requests or chunk.sprints:
            sent = await database.transaction(write, what="projection")
            metrics.record_rows("metrics_daily", sent)
            metrics.record_rows("pull_requests", len(chunk.pull_requests))
            metrics.record_rows("sprints", len(chunk.sprints))
        self._days.update(chunk.days_digests)
        self._pull_requests.update(chunk.pull_request_digests)
        self.wrote_sprints(chunk.sprints)


@dataclass(slots=True)
class Written:
    """What one transaction of a flush writes, and the digests it makes what was last
    written. A flush writes a chunk once its rows reach CHUNK_ROWS: after a month's backlog
    every repository is due at once, and one transaction of all of them held every retained
    day and pull-request row of the organization in memory at the same time (tracemalloc on
    bench.year's worker at month 5: about 75 MB with the statement's arrays and buffers)."""

    days: dict[str, DailyMetrics] = field(default_factory=dict)
    since: dict[str, date] = field(default_factory=dict)  # per repository: its last ageing's cutoff
    days_digests: dict[str, bytes] = field(default_factory=dict)
    pull_requests: list[PullRequestRow] = field(default_factory=list)
    pull_request_digests: dict[str, dict[tuple[str, int], bytes]] = field(default_factory=dict)
    sprints: list[SprintRow] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)
    rows: int = 0  # day buckets and pull-request rows held


projection = Projection(REFRESH_S, settings.production_environments)


def _team(repository_id: str) -> str:
    with reading_partition(partition_of(repository_id.encode(), settings.topic_partitions)):
        record = repositories.get(repository_id)
    return team_of(None if record is None else Repository.from_record(record))


def _digest(encoded: bytes) -> bytes:
    """What is kept of a value written, to tell whether it changed (16 bytes)."""
    return hashlib.blake2b(encoded, digest_size=16).digest()


def _days_digest(buckets: DailyMetrics) -> bytes:
    return _digest(
        orjson.dumps(sorted((day.isoformat(), metric, value) for (day, metric), value in buckets.items()))
    )


def _failed(scope: str, subject: str) -> None:
    """One subject's projection could not be computed: logged and counted, left out of this
    flush (the others are written); computed again once new events mark it."""
    log.exception("projection.subject_failed", scope=scope, subject=subject)
    _subject_failures.labels(scope).inc()


async def _refresh(everything: bool) -> None:
    now = time.monotonic()
    if not (everything or projection.ready(now)):
        return  # the marks wait for the next tick (module doc)
    due = projection.take_due(now, everything=everything)
    if not due:
        return
    try:
        await projection.flush(due)
    except Exception:
        log.exception(
            "projection.flush_failed", repositories=len(due.repositories), projects=len(due.projects)
        )
        projection.requeue(due)


@app.timer(TICK_S)  # type: ignore[untyped-decorator]  # faust marks App.timer no_type_check
async def refresh_projections() -> None:
    """Flush the projections of what changed (see the module docstring)."""
    if app.in_recovery or app.rebalancing:
        return  # tables are incomplete until recovery ends: a flush now would write holes
    projection.follow_assignment(app.assignor.assigned_actives())
    projection.mark_renewals(time.monotonic())
    await _refresh(everything=False)


@app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode's SignalHandlerT matches no function
async def _flush_on_shutdown(sender: object, **kwargs: object) -> None:
    if app.in_recovery or app.rebalancing or projection._actives is None:
        return
    try:
        await asyncio.wait_for(_refresh(everything=True), SHUTDOWN_FLUSH_S)
    except TimeoutError:
        log.warning("projection.shutdown_flush_timeout", seconds=SHUTDOWN_FLUSH_S)


@app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode's SignalHandlerT matches no function
async def _forget_deliveries(sender: object, revoked: set[TP], **kwargs: object) -> None:
    # Another worker may change a repository before it comes back here (tables.shipping_memo);
    # the views answer 503 until the rebalance ends, so nothing is read from the memo before this.
    shipping_memo.clear()
