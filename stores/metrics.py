"""`metrics_daily`: repositories' daily buckets replaced as a whole, teams' rows pooled from them.

Repository rows are a projection of table state (tables.daily_metrics), written per
repository as a complete set from the repository's retention cutoff on: rows the state no
longer has are deleted there; days before the cutoff were written when their state was
aged out of the tables (agents.retention) and are left as they are. Team rows are the
sums of their repositories' rows under each repository's latest team (from `repositories`;
none = ``unassigned``), recomputed in SQL under one advisory lock, so two workers flushing
repositories of one team serialize and the last one sums everything both wrote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import asyncpg

from stores.columns import Columns
from tables.daily_metrics import DailyMetrics
from tables.repository_state import UNASSIGNED

__all__ = [
    "MetricsDailyRow",
    "METRICS_DAILY_COLUMNS",
    "replace_repository_days",
    "upsert_repository_days",
    "pool_team_days",
    "TEAM_LOCK",
    "read_days_since",
    "read_days",
    "sum_team_days",
    "projected_repositories",
    "teams_of",
]

TEAM_LOCK = 0x5E1_D0A  # pg_advisory_xact_lock key of the team roll-up


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsDailyRow:
    """One row; written column by column (``_arrays``): a year of buckets is many rows."""

    scope: str  # repository | team
    subject: str
    metric: str
    metric_date: date
    value: float


METRICS_DAILY_COLUMNS = Columns(
    "metrics_daily", MetricsDailyRow, key=("scope", "subject", "metric", "metric_date"), touched="updated_at"
)
_CUTOFFS = len(METRICS_DAILY_COLUMNS.names) + 1  # the parameters after the rows': subjects and their cutoffs

_REPLACE_REPOSITORY_DAYS = f"""
WITH x AS (SELECT * FROM {METRICS_DAILY_COLUMNS.unnest()}
), cutoffs AS (
    SELECT * FROM unnest(${_CUTOFFS}::text[], ${_CUTOFFS + 1}::date[]) AS s(subject, since)
), stale AS (
    -- NOT IN over x is a hashed subplan; NOT EXISTS was planned as a nested loop over x
    -- (an unnest, estimated at 100 rows): a year of one repository's days took over a
    -- minute, holding the rows the agents' aged-day upserts wait for.
    DELETE FROM metrics_daily m
    WHERE m.scope = 'repository' AND m.subject = ANY(${_CUTOFFS}::text[])
      AND m.metric_date >= (SELECT c.since FROM cutoffs c WHERE c.subject = m.subject)
      AND (m.subject, m.metric_date, m.metric) NOT IN (SELECT x.subject, x.metric_date, x.metric FROM x)
    RETURNING m.metric_date
), written AS (
    {METRICS_DAILY_COLUMNS.insert()}
    SELECT {METRICS_DAILY_COLUMNS.selected()} FROM x
    {METRICS_DAILY_COLUMNS.on_conflict()}
    RETURNING "metric_date"
)
SELECT least((SELECT min(metric_date) FROM stale), (SELECT min(metric_date) FROM written))
"""

# A team's rows: the sums of its repositories' rows under each one's latest team. Written by
# the projection (_POOL_TEAMS) and read back by `reconcile projections` (sum_team_days).
_TEAM_OF = f"coalesce(r.team, '{UNASSIGNED}')"


def _pooled(teams: str | None, since: str | None = None) -> str:
    """The select of the team rows of the teams ``teams`` (an SQL set; None: every team),
    of the days from ``since`` (an SQL date; None: every day) on."""
    of_teams = "" if teams is None else f" AND {_TEAM_OF} IN {teams}"
    of_days = "" if since is None else f" AND m.metric_date >= {since}"
    return f"""
    SELECT 'team' AS scope, {_TEAM_OF} AS subject, m.metric_date, m.metric, sum(m.value) AS value
    FROM metrics_daily m LEFT JOIN repositories r ON r.repository_id = m.subject
    WHERE m.scope = 'repository'{of_teams}{of_days}
    GROUP BY 2, 3, 4"""


# The team rows are computed in SQL: the select list names each column it fills. Only the
# days from $3 on: what changed (a year of every team's days rewritten at each flush made the
# projection's transaction time out, and the circuit pause consumption, once history grew).
# Those days' rows are deleted and written anew: a scan of a range and an insert, linear in
# the rows. Finding the stale ones with NOT IN over the pooled rows was a linear search per
# stored row once the pooled rows passed work_mem (60 teams' year re-pooled: over two
# minutes, where the projection's transaction times out after one), and an anti-join's plan
# follows row estimates that lag behind the rows just written.
_TEAMS_OF = f"""
SELECT {_TEAM_OF} AS team
FROM unnest($1::text[]) AS s(repository_id) LEFT JOIN repositories r USING (repository_id)
UNION SELECT unnest($2::text[])"""
_DELETE_TEAM_DAYS = f"""
DELETE FROM metrics_daily t
WHERE t.scope = 'team' AND t.subject IN ({_TEAMS_OF}) AND t.metric_date >= $3::date
"""
_POOL_TEAMS = f"""
WITH teams AS ({_TEAMS_OF}
), pooled AS ({_pooled("(SELECT team FROM teams)", "$3::date")}
)
{METRICS_DAILY_COLUMNS.insert()}
SELECT {METRICS_DAILY_COLUMNS.selected("pooled")} FROM pooled
{METRICS_DAILY_COLUMNS.on_conflict()}
"""

_UPSERT_REPOSITORY_DAYS = METRICS_DAILY_COLUMNS.upsert()
_EVER = date(1, 1, 1)


def _arrays(days: Mapping[str, DailyMetrics]) -> list[Sequence[object]]:
    subjects: list[str] = []
    dates: list[date] = []
    metrics: list[str] = []
    values: list[float] = []
    for repository_id, buckets in days.items():
        for (day, metric), value in sorted(buckets.items()):
            subjects.append(repository_id)
            dates.append(day)
            metrics.append(metric)
            values.append(value)
    return METRICS_DAILY_COLUMNS.arrays_of(
        {
            "scope": ["repository"] * len(subjects),
            "subject": subjects,
            "metric": metrics,
            "metric_date": dates,
            "value": values,
        }
    )


async def replace_repository_days(
    conn: asyncpg.Connection, days: Mapping[str, DailyMetrics], since: Mapping[str, date] | None = None
) -> tuple[int, date | None]:
    """Make each repository's rows from its ``since`` day on (default: all) exactly its
    buckets; returns how many rows were sent and the first day whose rows changed (None:
    none did)."""
    if not days:
        return 0, None
    arrays = _arrays(days)
    cutoffs = [(since or {}).get(repository_id, _EVER) for repository_id in days]
    changed: date | None = await conn.fetchval(_REPLACE_REPOSITORY_DAYS, *arrays, list(days), cutoffs)
    return len(arrays[0]), changed


async def upsert_repository_days(conn: asyncpg.Connection, days: Mapping[str, DailyMetrics]) -> int:
    """Write these buckets, leaving every other row as it is, and pool their teams' rows of
    those days; returns how many rows were sent."""
    if not days:
        return 0
    await conn.execute(_UPSERT_REPOSITORY_DAYS, *_arrays(days))
    first = min(day for buckets in days.values() for day, _ in buckets) if any(days.values()) else None
    if first is not None:
        await pool_team_days(conn, sorted(days), [], since=first)
    return sum(len(buckets) for buckets in days.values())


async def pool_team_days(
    conn: asyncpg.Connection, repositories: Sequence[str], teams: Sequence[str], since: date = _EVER
) -> None:
    """Recompute the team rows of ``repositories``' current teams and of ``teams``, of the
    days from ``since`` on (default: every day)."""
    if not repositories and not teams:
        return
    await conn.execute("SELECT pg_advisory_xact_lock($1)", TEAM_LOCK)
    await conn.execute(_DELETE_TEAM_DAYS, list(repositories), list(teams), since)
    await conn.execute(_POOL_TEAMS, list(repositories), list(teams), since)


_READ_DAYS_SINCE = (
    METRICS_DAILY_COLUMNS.select() + " WHERE metric_date >= $1 ORDER BY scope, subject, metric_date"
)


async def read_days_since(conn: asyncpg.Connection, since: date) -> list[MetricsDailyRow]:
    """Every row (repositories' and teams') of a day from ``since`` on: the page's trends."""
    return [METRICS_DAILY_COLUMNS.row_of(r) for r in await conn.fetch(_READ_DAYS_SINCE, since)]


_READ_DAYS = (
    METRICS_DAILY_COLUMNS.select() + " WHERE scope = $1 AND ($2::text[] IS NULL OR subject = ANY($2))"
)
_SUM_TEAM_DAYS = _pooled(None)


async def read_days(
    conn: asyncpg.Connection, scope: str, subjects: Sequence[str] | None
) -> list[MetricsDailyRow]:
    """The rows of ``scope`` (repository | team) of ``subjects`` (None: every subject)."""
    rows = await conn.fetch(_READ_DAYS, scope, None if subjects is None else list(subjects))
    return [METRICS_DAILY_COLUMNS.row_of(r) for r in rows]


async def sum_team_days(conn: asyncpg.Connection, teams: Sequence[str] | None) -> list[MetricsDailyRow]:
    """The team rows the projection's pooling would write now, from the repository rows, of
    ``teams`` (None: every team a repository row belongs to)."""
    if teams is None:
        rows = await conn.fetch(_SUM_TEAM_DAYS)
    else:
        rows = await conn.fetch(_pooled("(SELECT unnest($1::text[]))"), list(teams))
    return [METRICS_DAILY_COLUMNS.row_of(r) for r in rows]


_PROJECTED_REPOSITORIES = """
SELECT DISTINCT subject FROM metrics_daily WHERE scope = 'repository'
UNION SELECT repository_id FROM repositories
"""


async def projected_repositories(conn: asyncpg.Connection) -> list[str]:
    """Every repository with ``metrics_daily`` rows or a ``repositories`` row."""
    return sorted(r[0] for r in await conn.fetch(_PROJECTED_REPOSITORIES))


async def teams_of(conn: asyncpg.Connection, repositories: Sequence[str]) -> dict[str, str]:
    """Each repository's latest team as the pooling reads it (``unassigned`` without one)."""
    rows = await conn.fetch(
        f"SELECT s.repository_id, {_TEAM_OF} FROM unnest($1::text[]) AS s(repository_id) "
        "LEFT JOIN repositories r USING (repository_id)",
        list(repositories),
    )
    return {r[0]: r[1] for r in rows}
