"""Revision 0003 against a real PostgreSQL: its tables, the weekly view, downgrade to 0002
and back; the offline script's TimescaleDB parts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from tests.integration.test_migrations import alembic, relations

pytestmark = pytest.mark.integration

SEI_TABLES = {
    "deployments",
    "incidents",
    "repositories",
    "pull_requests",
    "issues",
    "issue_status_durations",
    "sprints",
    "metrics_daily",
}


def weekly(url: str) -> list[tuple[object, ...]]:
    """Two PRs in one UTC week, one in the next, through pull_requests_weekly_metrics."""

    async def run() -> list[tuple[object, ...]]:
        conn = await asyncpg.connect(url)
        try:
            rows = [
                (1, datetime(2025, 10, 6, 0, 30, tzinfo=UTC), 2.0),  # Monday
                (2, datetime(2025, 10, 12, 23, 0, tzinfo=UTC), 4.0),  # Sunday, same week
                (3, datetime(2025, 10, 13, 1, 0, tzinfo=UTC), None),
            ]
            for number, created, hours in rows:
                await conn.execute(
                    "INSERT INTO pull_requests (repository_id, number, created_at, state, review_time_hours) "
                    "VALUES ('r', $1, $2, 'open', $3)",
                    number,
                    created,
                    hours,
                )
            found = await conn.fetch(
                "SELECT week, pr_count, avg_review_time, median_review_time FROM pull_requests_weekly_metrics "
                "WHERE repository_id = 'r' ORDER BY week"
            )
            return [tuple(r) for r in found]
        finally:
            await conn.close()

    return asyncio.run(run())


def test_revision_0003_upgrade_downgrade_upgrade(empty_database: str) -> None:
    alembic(empty_database, "upgrade", "head")
    tables = relations(empty_database)
    assert SEI_TABLES <= {name for name, kind in tables.items() if kind == "r"}
    assert tables["pull_requests_weekly_metrics"] == "v"  # plain PostgreSQL: a view
    assert weekly(empty_database) == [
        (datetime(2025, 10, 6, tzinfo=UTC), 2, 3.0, 3.0),
        (datetime(2025, 10, 13, tzinfo=UTC), 1, None, None),
    ]
    alembic(empty_database, "downgrade", "0002")
    left = set(relations(empty_database))
    assert not (SEI_TABLES | {"pull_requests_weekly_metrics"}) & left
    assert {"commits", "dead_letters", "commits_daily_stats"} <= left
    alembic(empty_database, "upgrade", "head")
    assert SEI_TABLES <= set(relations(empty_database))
    assert "No new upgrade operations detected" in alembic(empty_database, "check").stdout


def test_revision_0003_offline_script_guards_timescale_parts(empty_database: str) -> None:
    script = alembic(empty_database, "upgrade", "0002:0003", "--sql").stdout
    assert "CREATE TABLE pull_requests" in script and "CREATE TABLE metrics_daily" in script
    assert "create_hypertable('pull_requests', 'created_at'" in script
    assert "add_retention_policy('pull_requests', INTERVAL '2 years'" in script
    assert "add_compression_policy('pull_requests', INTERVAL '90 days'" in script
    assert "create_hypertable('issues', 'created_at'" in script
    assert "add_retention_policy('issues', INTERVAL '5 years'" in script
    assert "add_compression_policy('issues', INTERVAL '180 days'" in script
    assert "create_hypertable('metrics_daily', 'metric_date'" in script
    assert "CREATE MATERIALIZED VIEW pull_requests_weekly_metrics WITH (timescaledb.continuous)" in script
    assert "PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY review_time_hours)" in script
    assert script.count("AND EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')") >= 2
    assert set(relations(empty_database)) == set()  # printing the script touches nothing
