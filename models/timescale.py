"""SQL for the TimescaleDB-only parts of the schema, guarded so that one migration script
runs on both TimescaleDB and plain PostgreSQL (online or printed with ``--sql``).

Every block checks ``pg_extension`` at run time: with TimescaleDB the hypertables,
policies and continuous aggregates are created; without it nothing Timescale-specific is.
"""

from __future__ import annotations

__all__ = [
    "ENABLE_EXTENSION",
    "when_timescale",
    "hypertable",
    "continuous_aggregate",
    "drop_relation",
]

_HAS_TIMESCALE = "EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"

# Installs the extension where the server offers it; a role that may not create
# extensions gets a notice and the plain-PostgreSQL schema.
ENABLE_EXTENSION = """
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'timescaledb is available but this role cannot create it; using plain PostgreSQL tables';
        END;
    END IF;
END
$do$
"""


def _literal(sql: str) -> str:
    return "$sql$" + sql + "$sql$"


def when_timescale(then: list[str], otherwise: list[str] | None = None) -> str:
    """A DO block running ``then`` with TimescaleDB and ``otherwise`` without it."""
    then_sql = "\n".join(f"        EXECUTE {_literal(s)};" for s in then)
    else_sql = "\n".join(f"        EXECUTE {_literal(s)};" for s in otherwise or [])
    return (
        "DO $do$\nBEGIN\n"
        f"    IF {_HAS_TIMESCALE} THEN\n{then_sql or '        NULL;'}\n"
        f"    ELSE\n{else_sql or '        NULL;'}\n"
        "    END IF;\nEND\n$do$"
    )


def hypertable(
    table: str, time_column: str, *, retention: str, compress_after: str, segment_by: str
) -> list[str]:
    """Statements turning ``table`` into a compressed hypertable with retention."""
    return [
        f"SELECT create_hypertable('{table}', '{time_column}', migrate_data => true, if_not_exists => true)",
        f"ALTER TABLE {table} SET (timescaledb.compress, "
        f"timescaledb.compress_segmentby = '{segment_by}', "
        f"timescaledb.compress_orderby = '{time_column} DESC')",
        f"SELECT add_compression_policy('{table}', INTERVAL '{compress_after}', if_not_exists => true)",
        f"SELECT add_retention_policy('{table}', INTERVAL '{retention}', if_not_exists => true)",
    ]


def continuous_aggregate(name: str, query: str, *, refresh_window: str) -> list[str]:
    """Statements creating a real-time continuous aggregate refreshed by a policy."""
    return [
        f"CREATE MATERIALIZED VIEW {name} WITH (timescaledb.continuous) AS {query} WITH NO DATA",
        f"ALTER MATERIALIZED VIEW {name} SET (timescaledb.materialized_only = false)",
        f"SELECT add_continuous_aggregate_policy('{name}', start_offset => INTERVAL '{refresh_window}', "
        "end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes')",
    ]


def drop_relation(name: str) -> str:
    """Drop ``name`` whether it is a table, a view or a (continuous) materialized view."""
    return f"""
DO $do$
DECLARE kind "char";
BEGIN
    SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = to_regclass('{name}');
    IF kind = 'm' THEN EXECUTE 'DROP MATERIALIZED VIEW {name} CASCADE';
    ELSIF kind = 'v' THEN EXECUTE 'DROP VIEW {name} CASCADE';
    ELSIF kind IN ('r', 'p') THEN EXECUTE 'DROP TABLE {name} CASCADE';
    END IF;
END
$do$
"""
