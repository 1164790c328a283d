"""`metrics_daily`: repositories' daily buckets replaced as a whole, teams' rows pooled from them.

Repository rows are a projection of table state (tables.daily_metrics), written per
repository as a complete set: rows the state no longer has are deleted. Team rows are the
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

__all__ = ["replace_repository_days", "pool_team_days", "TEAM_LOCK"]

TEAM_LOCK = 0x5E1_D0A  # pg_advisory_xact_lock key of the team roll-up

_REPLACE_REPOSITORY_DAYS = """
WITH x AS (
    SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::float8[]) AS x(subject, metric_date, metric, value)
), stale AS (
    DELETE FROM metrics_daily m
    WHERE m.scope = 'repository' AND m.subject = ANY($5::text[])
      AND NOT EXISTS (SELECT 1 FROM x WHERE x.subject = m.subject AND x.metric_date = m.metric_date
                                        AND x.metric = m.metric)
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
      AND NOT EXISTS (SELECT 1 FROM pooled p WHERE p.team = t.subject AND p.metric_date = t.metric_date
                                               AND p.metric = t.metric)
)
INSERT INTO metrics_daily AS t (scope, subject, metric_date, metric, value)
SELECT 'team', team, metric_date, metric, value FROM pooled
ON CONFLICT (scope, subject, metric, metric_date) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
WHERE t.value IS DISTINCT FROM EXCLUDED.value
"""


async def replace_repository_days(conn: asyncpg.Connection, days: Mapping[str, DailyMetrics]) -> int:
    """Make each repository's rows exactly its buckets; returns how many rows were sent."""
    if not days:
        return 0
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
    await conn.execute(_REPLACE_REPOSITORY_DAYS, subjects, dates, metrics, values, list(days))
    return len(subjects)


async def pool_team_days(conn: asyncpg.Connection, repositories: Sequence[str], teams: Sequence[str]) -> None:
    """Recompute the team rows of ``repositories``' current teams and of ``teams``."""
    if not repositories and not teams:
        return
    await conn.execute("SELECT pg_advisory_xact_lock($1)", TEAM_LOCK)
    await conn.execute(_POOL_TEAMS, list(repositories), list(teams))
