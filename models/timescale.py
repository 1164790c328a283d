"""SQL for the TimescaleDB-only parts of the schema, guarded so that one migration script
runs on both TimescaleDB and plain PostgreSQL (online or printed with ``--sql``).

Upgrades: every block checks at run time whether the ``timescaledb`` extension is
installed and the mode (session setting ``sei.timescaledb``: auto, on, off; set by
alembic/env.py from ``TIMESCALEDB`` or ``-x timescaledb=``) allows it: then hypertables,
policies and continuous aggregates are created; otherwise nothing Timescale-specific is.

Downgrades look at what exists, whatever the mode: a continuous aggregate is dropped with
``DROP MATERIALIZED VIEW`` (TimescaleDB refuses ``DROP VIEW``), a hypertable's retention and
compression policies are removed before its table is dropped.

Policy functions take ``if_exists`` positionally: it was ``if_not_exists`` before
TimescaleDB 2.8.
"""

from __future__ import annotations

__all__ = [
    "MODES",
    "MODE_SETTING",
    "HAS_TIMESCALE",
    "ENABLE_EXTENSION",
    "PRELOAD_FIX",
    "set_mode",
    "normalize_mode",
    "when_timescale",
    "hypertable",
    "continuous_aggregate",
    "drop_relation",
    "drop_hypertable_policies",
    "is_not_preloaded",
]

MODES = ("auto", "on", "off")
MODE_SETTING = "sei.timescaledb"
_SYNONYMS = {"true": "on", "yes": "on", "1": "on", "false": "off", "no": "off", "0": "off"}

_INSTALLED = "EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
_MODE = f"coalesce(nullif(current_setting('{MODE_SETTING}', true), ''), 'auto')"
HAS_TIMESCALE = f"({_MODE} <> 'off' AND {_INSTALLED})"

# TimescaleDB's loader ends the session with FATAL 'extension "timescaledb" must be
# preloaded' (no SQL handler can catch it), so alembic/env.py recognizes it client-side.
PRELOAD_FIX = (
    "the timescaledb extension is installed on this PostgreSQL server but not preloaded: add "
    "timescaledb to shared_preload_libraries in postgresql.conf and restart PostgreSQL, or set "
    "TIMESCALEDB=off (alembic -x timescaledb=off) to build the plain-PostgreSQL schema"
)

# auto: install the extension where the server offers it (a role that may not create
# extensions gets a notice and the plain-PostgreSQL schema); on: require it; off: skip.
ENABLE_EXTENSION = f"""
DO $do$
DECLARE
    mode text := {_MODE};
BEGIN
    IF mode = 'off' THEN
        RAISE NOTICE '{MODE_SETTING} = off: building the plain-PostgreSQL schema';
    ELSIF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
        EXCEPTION WHEN insufficient_privilege THEN
            IF mode = 'on' THEN
                RAISE;
            END IF;
            RAISE NOTICE 'timescaledb is available but this role cannot create it; using plain PostgreSQL tables';
        END;
    ELSIF mode = 'on' THEN
        RAISE EXCEPTION 'TIMESCALEDB=on but this PostgreSQL server does not offer the timescaledb extension'
            USING HINT = 'install TimescaleDB on the server, or set TIMESCALEDB=auto or off';
    END IF;
END
$do$
"""


def normalize_mode(value: str) -> str:
    """``auto``, ``on`` or ``off`` from a setting (true/false/yes/no/1/0 accepted)."""
    mode = value.strip().lower()
    mode = _SYNONYMS.get(mode, mode)
    if mode not in MODES:
        raise ValueError(f"expected one of {', '.join(MODES)} (or true/false), got {value!r}")
    return mode


def set_mode(mode: str) -> str:
    """The statement recording the TimescaleDB mode for the rest of the session."""
    return f"SELECT set_config('{MODE_SETTING}', '{normalize_mode(mode)}', false)"


def is_not_preloaded(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it was raised from or during) is TimescaleDB's
    refusal to load without ``shared_preload_libraries``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if 'extension "timescaledb" must be preloaded' in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _literal(sql: str) -> str:
    return "$sql$" + sql + "$sql$"


def when_timescale(then: list[str], otherwise: list[str] | None = None) -> str:
    """A DO block running ``then`` with TimescaleDB (and mode not off), ``otherwise`` without."""
    then_sql = "\n".join(f"        EXECUTE {_literal(s)};" for s in then)
    else_sql = "\n".join(f"        EXECUTE {_literal(s)};" for s in otherwise or [])
    return (
        "DO $do$\nBEGIN\n"
        f"    IF {HAS_TIMESCALE} THEN\n{then_sql or '        NULL;'}\n"
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
    """Drop ``name``: a continuous aggregate (with its refresh policy), a materialized view,
    a view or a table, whichever it is."""
    return f"""
DO $do$
DECLARE
    kind "char";
    is_aggregate boolean := false;
BEGIN
    -- timescaledb_information exists only with the extension: query it through EXECUTE.
    IF {_INSTALLED} AND to_regclass('timescaledb_information.continuous_aggregates') IS NOT NULL THEN
        EXECUTE $q$SELECT EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates
                   WHERE view_schema = current_schema() AND view_name = '{name}')$q$ INTO is_aggregate;
    END IF;
    IF is_aggregate THEN
        EXECUTE $q$SELECT remove_continuous_aggregate_policy('{name}', true)$q$;
        EXECUTE 'DROP MATERIALIZED VIEW {name} CASCADE';
        RETURN;
    END IF;
    SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = to_regclass('{name}');
    IF kind = 'm' THEN EXECUTE 'DROP MATERIALIZED VIEW {name} CASCADE';
    ELSIF kind = 'v' THEN EXECUTE 'DROP VIEW {name} CASCADE';
    ELSIF kind IN ('r', 'p') THEN EXECUTE 'DROP TABLE {name} CASCADE';
    END IF;
END
$do$
"""


def drop_hypertable_policies(table: str) -> str:
    """Remove ``table``'s retention and compression policies if it is a hypertable
    (before the table is dropped, so no policy job outlives it)."""
    return f"""
DO $do$
DECLARE
    is_hypertable boolean := false;
BEGIN
    IF {_INSTALLED} AND to_regclass('timescaledb_information.hypertables') IS NOT NULL THEN
        EXECUTE $q$SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables
                   WHERE hypertable_schema = current_schema() AND hypertable_name = '{table}')$q$
            INTO is_hypertable;
    END IF;
    IF is_hypertable THEN
        EXECUTE $q$SELECT remove_retention_policy('{table}', true)$q$;
        EXECUTE $q$SELECT remove_compression_policy('{table}', true)$q$;
    END IF;
END
$do$
"""
