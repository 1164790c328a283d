"""alembic against a real PostgreSQL: upgrade, downgrade, upgrade again; the offline script."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

pytestmark = pytest.mark.integration

ALEMBIC = str(Path(sys.executable).with_name("alembic"))
ROOT = Path(__file__).resolve().parents[2]


def alembic(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ALEMBIC, *args],
        cwd=ROOT,
        env={**os.environ, "TIMESCALE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def relations(url: str) -> dict[str, str]:
    async def read() -> dict[str, str]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch(
                "SELECT c.relname, c.relkind::text AS relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p')"
            )
            return {r["relname"]: r["relkind"] for r in rows}
        finally:
            await conn.close()

    return asyncio.run(read())


def test_migrations_upgrade_downgrade_upgrade_on_fresh_database(empty_database: str) -> None:
    alembic(empty_database, "upgrade", "head")
    tables = relations(empty_database)
    assert tables["commits"] == "r"
    assert tables["commits_daily_stats"] == "r"  # plain PostgreSQL: a table the processor keeps
    assert [tables[name] for name in ("user_sessions", "activity_minutes", "activity_page_minutes")] == ["r"] * 3
    assert tables["activity_minutes_total"] == tables["activity_page_minutes_total"] == "v"
    assert (tables["activity_error_pages"], tables["activity_error_pages_total"]) == ("r", "v")
    alembic(empty_database, "downgrade", "base")
    assert set(relations(empty_database)) == {"alembic_version"}
    alembic(empty_database, "upgrade", "head")
    assert {"commits", "commits_daily_stats"} <= set(relations(empty_database))
    assert "No new upgrade operations detected" in alembic(empty_database, "check").stdout


def test_migrations_offline_script_guards_timescale_parts(empty_database: str) -> None:
    script = alembic(empty_database, "upgrade", "head", "--sql").stdout
    assert "CREATE TABLE commits" in script
    assert "create_hypertable('commits', 'committed_at'" in script
    assert "add_retention_policy('commits', INTERVAL '2 years'" in script
    assert "add_compression_policy('commits', INTERVAL '90 days'" in script
    assert "timescaledb.compress_segmentby = 'repository_id'" in script
    assert "WITH (timescaledb.continuous)" in script
    assert "EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')" in script
    # Printing the script touches nothing.
    assert set(relations(empty_database)) == set()
