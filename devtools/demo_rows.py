"""What `make demo` reads from its database: rows per table and the few rows it shows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg

__all__ = [
    "TABLES",
    "row_counts",
    "latest_deployments",
    "deployed_pull_requests",
    "daily_metrics",
    "dead_letters",
]

TABLES = (
    "commits",
    "pull_requests",
    "repositories",
    "deployments",
    "incidents",
    "issues",
    "issue_status_durations",
    "sprints",
    "metrics_daily",
    "dead_letters",
)
DAILY_SHOWN = (
    "deployments",
    "failed_deployments",
    "lead_time_count",
    "pull_requests_merged",
    "incidents_resolved",
)


async def _query(url: str, work: Callable[[asyncpg.Connection], Any]) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await work(conn)
    finally:
        await conn.close()


def _fetch(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    return list(asyncio.run(_query(url, lambda conn: conn.fetch(sql, *args))))


def row_counts(url: str) -> dict[str, int]:
    """Rows in each of TABLES."""

    async def counts(conn: asyncpg.Connection) -> dict[str, int]:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}  # fixed names

    return dict(asyncio.run(_query(url, counts)))


def latest_deployments(url: str, repository_id: str, limit: int = 3) -> list[asyncpg.Record]:
    return _fetch(
        url,
        "SELECT deployment_id, status, finished_at, cardinality(commit_shas) AS shas FROM deployments "
        "WHERE repository_id = $1 AND environment = 'production' ORDER BY finished_at DESC LIMIT $2",
        repository_id,
        limit,
    )


def deployed_pull_requests(url: str, repository_id: str, limit: int = 3) -> list[asyncpg.Record]:
    return _fetch(
        url,
        "SELECT number, coding_hours, pickup_hours, review_hours, deploy_hours, cycle_time_hours "
        "FROM pull_requests WHERE repository_id = $1 AND deployed_at IS NOT NULL "
        "ORDER BY deployed_at DESC, number LIMIT $2",
        repository_id,
        limit,
    )


def daily_metrics(url: str, repository_id: str) -> list[asyncpg.Record]:
    """A few of the repository's metrics_daily rows, of its last day with deployments."""
    return _fetch(
        url,
        "SELECT metric_date, metric, value FROM metrics_daily WHERE scope = 'repository' AND subject = $1 "
        "AND metric = ANY($2) AND metric_date = (SELECT max(metric_date) FROM metrics_daily "
        "WHERE scope = 'repository' AND subject = $1 AND metric = 'deployments') ORDER BY metric",
        repository_id,
        list(DAILY_SHOWN),
    )


def dead_letters(url: str) -> list[asyncpg.Record]:
    return _fetch(
        url,
        'SELECT topic, partition, "offset", original, error_type, error_reason, error_message '
        'FROM dead_letters ORDER BY topic, partition, "offset"',
    )
