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
from datetime import date

import asyncpg

from tables.daily_metrics import DailyMetrics
from tables.repository_state import UNASSIGNED

__all__ = ["replace_repository_days", "upsert_repository_days", "pool_team_days", "TEAM_LOCK"]

TEAM_LOCK = 0x5E1_D0A  # pg_advisory_xact_lock key of the team roll-up

_REPLACE_REPOSITORY_DAYS = """
WITH x AS (
    SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::float8[]) AS x(subject, metric_date, metric, value)
), cutoffs AS (
    SELECT * FROM unnest($5::text[], $6::date[]) AS s(subject, since)
), stale AS (
    -- NOT IN over x is a hashed subplan; NOT EXISTS was planned as a nested loop over x
    -- (an unnest, estimated at 100 rows): a year of one repository's days took over a
    -- minute, holding the rows the agents' aged-day upserts wait for.
    DELETE FROM metrics_daily m
    WHERE m.scope = 'repository' AND m.subject = ANY($5::text[])
      AND m.metric_date >= (SELECT c.since FROM cutoffs c WHERE c.subject = m.subject)
      AND (m.subject, m.metric_date, m.metric) NOT IN (SELECT x.subject, x.metric_date, x.metric FROM x)
)
INSERT INTO metrics_daily AS m (scope, subject, metric_date, metric, value)
SELECT 'repository', subject, metric_date, metric, value FROM x
ON CONFLICT (scope, subject, metric, metric_date) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
WHERE m.value IS DISTINCT FROM EXCLUDED.value
"""

_POOL_TEAMS = f"""
WITH teams AS (
    SELECT coalesce(r.team, '{UNASSIGNED}') AS team
    FROM unnest($1::text[]) AS s(repository_id) LEFT JOIN repositories r USING (repository_id)
    UNION SELECT unnest($2::text[])
), pooled AS (
    SELECT coalesce(r.team, '{UNASSIGNED}') AS team, m.metric_date, m.metric, sum(m.value) AS value
    FROM metrics_daily m LEFT JOIN repositories r ON r.repository_id = m.subject
    WHERE m.scope = 'repository' AND coalesce(r.team, '{UNASSIGNED}') IN (SELECT team FROM teams)
    GROUP BY 1, 2, 3
), stale AS (
    DELETE FROM metrics_daily t
    WHERE t.scope = 'team' AND t.subject IN (SELECT team FROM teams)
      AND (t.subject, t.metric_date, t.metric) NOT IN (SELECT p.team, p.metric_date, p.metric FROM pooled p)
)
INSERT INTO metrics_daily AS t (scope, subject, metric_date, metric, value)
SELECT 'team', team, metric_date, metric, value FROM pooled
ON CONFLICT (scope, subject, metric, metric_date) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
WHERE t.value IS DISTINCT FROM EXCLUDED.value
"""


_UPSERT_REPOSITORY_DAYS = """
INSERT INTO metrics_daily AS m (scope, subject, metric_date, metric, value)
SELECT 'repository', subject, metric_date, metric, value
FROM unnest($1::text[], $2::date[], $3::text[], $4::float8[]) AS x(subject, metric_date, metric, value)
ON CONFLICT (scope, subject, metric, metric_date) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
WHERE m.value IS DISTINCT FROM EXCLUDED.value
"""
_EVER = date(1, 1, 1)


def _columns(days: Mapping[str, DailyMetrics]) -> tuple[list[str], list[date], list[str], list[float]]:
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
    return subjects, dates, metrics, values


async def replace_repository_days(
    conn: asyncpg.Connection, days: Mapping[str, DailyMetrics], since: Mapping[str, date] | None = None
) -> int:
    """Make each repository's rows from its ``since`` day on (default: all) exactly its
    buckets; returns how many rows were sent."""
    if not days:
        return 0
    subjects, dates, metrics, values = _columns(days)
    cutoffs = [(since or {}).get(repository_id, _EVER) for repository_id in days]
    await conn.execute(_REPLACE_REPOSITORY_DAYS, subjects, dates, metrics, values, list(days), cutoffs)
    return len(subjects)


async def upsert_repository_days(conn: asyncpg.Connection, days: Mapping[str, DailyMetrics]) -> int:
    """Write these buckets, leaving every other row as it is; returns how many rows were sent."""
    if not days:
        return 0
    await conn.execute(_UPSERT_REPOSITORY_DAYS, *_columns(days))
    return sum(len(buckets) for buckets in days.values())


async def pool_team_days(conn: asyncpg.Connection, repositories: Sequence[str], teams: Sequence[str]) -> None:
    """Recompute the team rows of ``repositories``' current teams and of ``teams``."""
    if not repositories and not teams:
        return
    await conn.execute("SELECT pg_advisory_xact_lock($1)", TEAM_LOCK)
    await conn.execute(_POOL_TEAMS, list(repositories), list(teams))
