"""The migrations on both servers (issue 20, part 2): every downgrade, the offline script
against a fresh database, its TimescaleDB statements through PostgreSQL's parser, the
TimescaleDB downgrade order, and a server where timescaledb is installed but not preloaded.

TimescaleDB cannot be installed here; its catalog is simulated inside throwaway databases
(tests/integration/timescale_shim.py)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from devtools.localstack import LocalStack
from tests.integration import timescale_shim
from tests.integration.test_migrations import ALEMBIC, ROOT, alembic, relations

pytestmark = pytest.mark.integration

REVISIONS = [path.name.split("_", 1)[0] for path in sorted((ROOT / "alembic" / "versions").glob("0*.py"))]


def run_sql(url: str, sql: str) -> None:
    """Run a script (several statements, DO blocks, BEGIN/COMMIT) as psql would."""

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def fetch(url: str, sql: str) -> list[tuple[object, ...]]:
    async def run() -> list[tuple[object, ...]]:
        conn = await asyncpg.connect(url)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    return asyncio.run(run())


def schema(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Everything the migrations define in ``public``, comparable between two databases."""
    return {
        "relations": fetch(
            url,
            "SELECT c.relname::text, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' ORDER BY 1",
        ),
        "columns": fetch(
            url,
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text, "
            "coalesce(column_default, '')::text FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, ordinal_position",
        ),
        "constraints": fetch(
            url,
            "SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
        ),
        "indexes": fetch(
            url, "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
        ),
        "views": fetch(
            url, "SELECT viewname::text, definition FROM pg_views WHERE schemaname = 'public' ORDER BY 1"
        ),
        "version": fetch(url, "SELECT version_num FROM alembic_version"),
    }


def alembic_run(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """alembic without check=True: the caller looks at the exit code and output."""
    return subprocess.run(
        [ALEMBIC, *args],
        cwd=ROOT,
        env={**os.environ, "TIMESCALE_URL": url, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def databases(stack: LocalStack) -> Iterator[list[str]]:
    """Two empty databases on the stack's server, dropped after the test."""
    names = [f"sei_ts_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    urls = [urlunsplit(urlsplit(stack.database_url)._replace(path=f"/{name}")) for name in names]
    admin_url = urlunsplit(urlsplit(stack.database_url)._replace(path="/postgres"))
    for name in names:
        run_sql(admin_url, f'CREATE DATABASE "{name}"')
    yield urls
    for name in names:
        run_sql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_every_revision_downgrades_to_its_predecessor_and_upgrades_again(databases: list[str]) -> None:
    url = databases[0]
    before: dict[str, dict[str, list[tuple[object, ...]]]] = {}
    for revision in REVISIONS:
        alembic(url, "upgrade", revision)
        before[revision] = schema(url)
    for index in reversed(range(len(REVISIONS))):
        revision = REVISIONS[index]
        previous = REVISIONS[index - 1] if index else "base"
        alembic(url, "downgrade", previous)
        if index:
            assert schema(url) == before[previous], f"downgrade {revision} -> {previous} left a difference"
        else:
            assert set(relations(url)) == {"alembic_version"}
        alembic(url, "upgrade", revision)
        assert schema(url) == before[revision], f"upgrade {previous} -> {revision} after a downgrade differs"
        alembic(url, "downgrade", previous)


def test_offline_script_builds_the_same_schema_as_online_and_downgrades_to_nothing(
    databases: list[str],
) -> None:
    online, offline = databases
    alembic(online, "upgrade", "head")
    run_sql(offline, alembic(offline, "upgrade", "head", "--sql").stdout)
    assert schema(offline) == schema(online)
    assert "No new upgrade operations detected" in alembic(offline, "check").stdout

    run_sql(offline, alembic(offline, "downgrade", "head:base", "--sql").stdout)
    assert set(relations(offline)) == {"alembic_version"}
    assert fetch(offline, "SELECT count(*) FROM alembic_version") == [(0,)]


def test_offline_script_timescale_off_records_the_mode(databases: list[str]) -> None:
    script = alembic(databases[0], "-x", "timescaledb=off", "upgrade", "head", "--sql").stdout
    assert "SELECT set_config('sei.timescaledb', 'off', false);" in script
    assert (
        "SELECT set_config('sei.timescaledb', 'auto', false);"
        in alembic(databases[0], "upgrade", "head", "--sql").stdout
    )
    bad = alembic_run(databases[0], "-x", "timescaledb=maybe", "upgrade", "head", "--sql")
    assert bad.returncode == 2 and "-x timescaledb: expected one of auto, on, off" in bad.stderr


EMBEDDED = re.compile(r"\$(sql|q)\$(.*?)\$\1\$", re.S)


def embedded_statements(script: str) -> list[str]:
    """The statements the DO blocks EXECUTE (TimescaleDB's branch included)."""
    return [match.group(2).strip() for match in EMBEDDED.finditer(script)]


def syntax_check(url: str, statement: str) -> None:
    """Parse ``statement`` with PostgreSQL's parser without running it: PL/pgSQL checks the
    syntax of every statement in a block when it compiles the block."""
    body = statement.replace("$chk$", "")
    run_sql(url, f"DO $chk$ BEGIN IF false THEN {body}; END IF; END $chk$")


def test_timescale_statements_in_offline_scripts_parse(databases: list[str]) -> None:
    url = databases[0]
    upgrade = alembic(url, "upgrade", "head", "--sql").stdout
    downgrade = alembic(url, "downgrade", "head:base", "--sql").stdout
    statements = embedded_statements(upgrade) + embedded_statements(downgrade)
    timescale = [s for s in statements if "timescaledb" in s or "policy" in s or "hypertable" in s]
    assert len(timescale) >= 20
    for statement in statements:
        syntax_check(url, statement)
    with pytest.raises(asyncpg.PostgresSyntaxError):  # the check can fail
        syntax_check(url, "CREATE MATERIALIZED VIEW x WITH (timescaledb.continuous) AS SELEC 1")

    for table, retention, compress in [
        ("commits", "2 years", "90 days"),
        ("pull_requests", "2 years", "90 days"),
        ("issues", "5 years", "180 days"),
        ("ingested_events", "1 year", "30 days"),
        ("user_sessions", "1 year", "30 days"),
        ("activity_minutes", "1 year", "7 days"),
        ("activity_page_minutes", "1 year", "7 days"),
        ("logs", "30 days", "2 days"),
        ("log_anomalies", "1 year", "30 days"),
        ("activity_error_pages", "1 year", "7 days"),
    ]:
        assert f"SELECT create_hypertable('{table}'" in upgrade
        assert (
            f"SELECT add_retention_policy('{table}', INTERVAL '{retention}', if_not_exists => true)"
            in upgrade
        )
        assert (
            f"SELECT add_compression_policy('{table}', INTERVAL '{compress}', if_not_exists => true)"
            in upgrade
        )
        assert f"SELECT remove_retention_policy('{table}', true)" in downgrade
        assert f"SELECT remove_compression_policy('{table}', true)" in downgrade
    for aggregate in ("commits_daily_stats", "pull_requests_weekly_metrics", "ingested_events_per_minute"):
        assert f"CREATE MATERIALIZED VIEW {aggregate} WITH (timescaledb.continuous)" in upgrade
        assert f"SELECT add_continuous_aggregate_policy('{aggregate}'" in upgrade
        assert f"SELECT remove_continuous_aggregate_policy('{aggregate}', true)" in downgrade
        assert f"DROP MATERIALIZED VIEW {aggregate} CASCADE" in downgrade
    assert "create_hypertable('metrics_daily', 'metric_date'" in upgrade
    assert (
        upgrade.count("IF (coalesce(nullif(current_setting('sei.timescaledb', true), ''), 'auto') <> 'off'")
        >= 4
    )


def test_downgrade_on_timescale_drops_aggregates_as_materialized_views_after_removing_policies(
    databases: list[str],
) -> None:
    url = databases[0]
    alembic(url, "upgrade", "head")
    run_sql(url, timescale_shim.aggregates_as_materialized_views())
    run_sql(url, timescale_shim.INSTALLED.format(db=f'"{urlsplit(url).path.lstrip("/")}"'))

    alembic(url, "downgrade", "base")
    log = [what for (what,) in fetch(url, "SELECT what FROM shim_log ORDER BY at")]
    left = {name for name in relations(url) if not name.startswith("shim_") and name != "pg_extension"}
    assert left == {"alembic_version"}
    assert log == [
        "drop view activity_error_pages_total",
        "remove_retention_policy activity_error_pages",
        "remove_compression_policy activity_error_pages",
        "drop table activity_error_pages",
        "remove_retention_policy log_anomalies",
        "remove_compression_policy log_anomalies",
        "remove_retention_policy logs",
        "remove_compression_policy logs",
        "drop table log_anomalies",
        "drop table logs",
        "drop view activity_page_minutes_total",
        "drop view activity_minutes_total",
        "remove_retention_policy activity_page_minutes",
        "remove_compression_policy activity_page_minutes",
        "remove_retention_policy activity_minutes",
        "remove_compression_policy activity_minutes",
        "remove_retention_policy user_sessions",
        "remove_compression_policy user_sessions",
        "drop table activity_page_minutes",
        "drop table activity_minutes",
        "drop table user_sessions",
        "remove_continuous_aggregate_policy ingested_events_per_minute",
        "drop materialized view ingested_events_per_minute",
        "remove_retention_policy ingested_events",
        "remove_compression_policy ingested_events",
        "drop table ingested_events",
        "remove_continuous_aggregate_policy pull_requests_weekly_metrics",
        "drop materialized view pull_requests_weekly_metrics",
        "remove_retention_policy metrics_daily",
        "remove_compression_policy metrics_daily",
        "remove_retention_policy issues",
        "remove_compression_policy issues",
        "remove_retention_policy pull_requests",
        "remove_compression_policy pull_requests",
        "drop table metrics_daily",
        "drop table sprints",
        "drop table issue_status_durations",
        "drop table issues",
        "drop table pull_requests",
        "drop table repositories",
        "drop table incidents",
        "drop table deployments",
        "drop table dead_letters",
        "remove_continuous_aggregate_policy commits_daily_stats",
        "drop materialized view commits_daily_stats",
        "remove_retention_policy commits",
        "remove_compression_policy commits",
        "drop table commits",
    ]


def not_preloaded_database(url: str) -> None:
    run_sql(url, timescale_shim.NOT_PRELOADED.format(db=f'"{urlsplit(url).path.lstrip("/")}"'))


def test_upgrade_on_server_without_preload_says_the_fix_in_one_line(databases: list[str]) -> None:
    url = databases[0]
    not_preloaded_database(url)
    result = alembic_run(url, "upgrade", "head")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("INFO ")]
    assert lines == [
        "sei-processor: migration error: the timescaledb extension is installed on this PostgreSQL server "
        "but not preloaded: add timescaledb to shared_preload_libraries in postgresql.conf and restart "
        "PostgreSQL, or set TIMESCALEDB=off (alembic -x timescaledb=off) to build the plain-PostgreSQL schema"
    ]
    assert "Traceback" not in result.stderr
    assert set(relations(url)) == {"pg_available_extensions"}  # one transaction: nothing applied


@pytest.mark.parametrize(
    "how",
    [
        pytest.param({"TIMESCALEDB": "off"}, id="setting"),
        pytest.param({"X": "timescaledb=off"}, id="x-argument"),
    ],
)
def test_upgrade_without_preload_and_timescale_off_builds_the_plain_schema(
    databases: list[str], how: dict[str, str]
) -> None:
    url, reference = databases
    not_preloaded_database(url)
    args = ["-x", how["X"]] if "X" in how else []
    env = {k: v for k, v in how.items() if k != "X"}
    result = alembic_run(url, *args, "upgrade", "head", **env)
    assert result.returncode == 0, result.stderr
    alembic(reference, "upgrade", "head")
    ours = schema(url)
    ours["relations"] = [r for r in ours["relations"] if r[0] != "pg_available_extensions"]
    ours["columns"] = [c for c in ours["columns"] if c[0] != "pg_available_extensions"]
    ours["views"] = [v for v in ours["views"] if v[0] != "pg_available_extensions"]
    assert ours == schema(reference)


def test_upgrade_with_timescale_on_and_no_extension_names_the_setting(databases: list[str]) -> None:
    result = alembic_run(databases[0], "upgrade", "head", TIMESCALEDB="on")
    assert result.returncode != 0
    assert (
        "TIMESCALEDB=on but this PostgreSQL server does not offer the timescaledb extension" in result.stderr
    )
    assert set(relations(databases[0])) == set()
