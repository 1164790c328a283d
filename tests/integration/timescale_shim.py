"""Test doubles for TimescaleDB's catalog, built from PostgreSQL's own features inside one
throwaway database (TimescaleDB cannot be installed on these machines).

The database's ``search_path`` puts ``public`` before ``pg_catalog``, so the migrations'
unqualified ``pg_extension`` / ``pg_available_extensions`` read the views below; event
triggers record (or refuse) DDL as the real extension would.
"""

from __future__ import annotations

# The extension is offered by the server but its library is not preloaded: CREATE
# EXTENSION fails with TimescaleDB's own message (a FATAL there, an ERROR here).
NOT_PRELOADED = """
ALTER DATABASE {db} SET search_path = public, pg_catalog;
CREATE VIEW public.pg_available_extensions AS
    SELECT name, default_version, installed_version, comment FROM pg_catalog.pg_available_extensions
    UNION ALL SELECT 'timescaledb'::name, '2.28.3', NULL, 'simulated: installed, not preloaded';
CREATE FUNCTION public.timescaledb_not_preloaded() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'extension "timescaledb" must be preloaded'
        USING HINT = 'Please preload the timescaledb library via shared_preload_libraries.';
END $$;
CREATE EVENT TRIGGER timescaledb_not_preloaded ON ddl_command_start WHEN TAG IN ('CREATE EXTENSION')
    EXECUTE FUNCTION public.timescaledb_not_preloaded();
"""

# A database migrated with TimescaleDB, as the downgrades see it: the extension listed,
# the hypertables and continuous aggregates in timescaledb_information, the policy
# functions, and the aggregates as materialized views (so a DROP VIEW of one fails, as
# on TimescaleDB). Every policy removal and every dropped relation is logged in order.
INSTALLED = """
ALTER DATABASE {db} SET search_path = public, pg_catalog;
CREATE VIEW public.pg_extension AS SELECT 'timescaledb'::name AS extname;
CREATE TABLE public.shim_log (at serial PRIMARY KEY, what text NOT NULL);
CREATE TABLE public.shim_hypertables (name text PRIMARY KEY);
INSERT INTO public.shim_hypertables VALUES
    ('commits'), ('pull_requests'), ('issues'), ('metrics_daily'), ('ingested_events'),
    ('user_sessions'), ('activity_minutes'), ('activity_page_minutes'), ('logs'), ('log_anomalies'),
    ('activity_error_pages');
CREATE TABLE public.shim_aggregates (name text PRIMARY KEY);
INSERT INTO public.shim_aggregates VALUES
    ('commits_daily_stats'), ('pull_requests_weekly_metrics'), ('ingested_events_per_minute');
CREATE SCHEMA timescaledb_information;
CREATE VIEW timescaledb_information.hypertables AS
    SELECT 'public'::name AS hypertable_schema, name::name AS hypertable_name FROM public.shim_hypertables
    WHERE to_regclass(name) IS NOT NULL;
CREATE VIEW timescaledb_information.continuous_aggregates AS
    SELECT 'public'::name AS view_schema, name::name AS view_name FROM public.shim_aggregates
    WHERE to_regclass(name) IS NOT NULL;
CREATE FUNCTION public.remove_retention_policy(relation regclass, if_exists boolean) RETURNS void
    LANGUAGE sql AS $$ INSERT INTO public.shim_log (what) VALUES ('remove_retention_policy ' || relation) $$;
CREATE FUNCTION public.remove_compression_policy(hypertable regclass, if_exists boolean) RETURNS void
    LANGUAGE sql AS $$ INSERT INTO public.shim_log (what) VALUES ('remove_compression_policy ' || hypertable) $$;
CREATE FUNCTION public.remove_continuous_aggregate_policy(aggregate regclass, if_exists boolean) RETURNS void
    LANGUAGE sql AS $$ INSERT INTO public.shim_log (what) VALUES ('remove_continuous_aggregate_policy ' || aggregate) $$;
CREATE FUNCTION public.shim_dropped() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE dropped record;
BEGIN
    FOR dropped IN SELECT * FROM pg_event_trigger_dropped_objects()
        WHERE object_type IN ('table', 'view', 'materialized view') AND schema_name = 'public' AND original
    LOOP
        INSERT INTO public.shim_log (what) VALUES ('drop ' || dropped.object_type || ' ' || dropped.object_name);
    END LOOP;
END $$;
CREATE EVENT TRIGGER shim_dropped ON sql_drop EXECUTE FUNCTION public.shim_dropped();
"""


def aggregates_as_materialized_views() -> str:
    """Replace the plain-PostgreSQL aggregate table and views by materialized views."""
    return """
DROP TABLE commits_daily_stats;
CREATE MATERIALIZED VIEW commits_daily_stats AS
    SELECT date_trunc('day', committed_at) AS day, repository_id, count(*) AS commit_count
    FROM commits GROUP BY 1, 2;
DROP VIEW pull_requests_weekly_metrics;
CREATE MATERIALIZED VIEW pull_requests_weekly_metrics AS
    SELECT date_trunc('week', created_at) AS week, repository_id, count(*) AS pr_count
    FROM pull_requests GROUP BY 1, 2;
DROP VIEW ingested_events_per_minute;
CREATE MATERIALIZED VIEW ingested_events_per_minute AS
    SELECT date_trunc('minute', "timestamp") AS minute, event_type, count(*) AS events
    FROM ingested_events GROUP BY 1, 2;
"""
