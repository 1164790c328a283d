"""The Grafana dashboards of deploy/grafana/dashboards, written from here so their panels stay
uniform: ``python -m devtools.dashboards`` rewrites the JSON files, and
tests/unit/test_deploy_dashboards.py fails when they differ from what this renders.

DORA overview and flow read TimescaleDB (metrics_daily, pull_requests, sprints, ...); pipeline
health reads Prometheus (the worker's /metrics, docs/operations.md).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["DASHBOARDS", "render_all", "write_all", "DIRECTORY"]

DIRECTORY = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "dashboards"
PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
TIMESCALE = {"type": "grafana-postgresql-datasource", "uid": "timescaledb"}
WIDTH = 24


def _sql_target(sql: str, fmt: str = "time_series") -> dict[str, Any]:
    return {
        "datasource": TIMESCALE,
        "refId": "A",
        "rawQuery": True,
        "editorMode": "code",
        "format": fmt,
        "rawSql": sql,
    }


def _prom_targets(exprs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {"datasource": PROMETHEUS, "refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend}
        for i, (expr, legend) in enumerate(exprs)
    ]


class _Layout:
    """Panels placed left to right, wrapping at Grafana's 24 columns."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = 0
        self.y = 0
        self.row_height = 0

    def add(
        self,
        title: str,
        kind: str,
        targets: list[dict[str, Any]],
        *,
        w: int = 12,
        h: int = 8,
        unit: str = "short",
        description: str = "",
    ) -> None:
        if self.x + w > WIDTH:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        datasource = targets[0]["datasource"]
        self.panels.append(
            {
                "id": len(self.panels) + 1,
                "type": kind,
                "title": title,
                "description": description,
                "datasource": datasource,
                "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {},
                "targets": targets,
            }
        )
        self.x += w
        self.row_height = max(self.row_height, h)


def _dashboard(
    uid: str, title: str, layout: _Layout, variables: list[dict[str, Any]], time_from: str
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": ["sei-processor"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "1m",
        "time": {"from": time_from, "to": "now"},
        "templating": {"list": variables},
        "panels": layout.panels,
    }


def _query_variable(name: str, label: str, sql: str, *, multi: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": TIMESCALE,
        "query": sql,
        "definition": sql,
        "refresh": 2,
        "multi": multi,
        "includeAll": multi,
        "sort": 1,
    }


def _weekly(metric_sql: str, alias: str) -> str:
    """A weekly series of metrics_daily for the selected scope and subjects."""
    return (
        "SELECT date_trunc('week', metric_date)::timestamptz AS time, "
        f'{metric_sql} AS "{alias}" '
        "FROM metrics_daily WHERE scope = '$scope' AND subject IN ($subject) AND $__timeFilter(metric_date) "
        "GROUP BY 1 ORDER BY 1"
    )


def _sum(metric: str) -> str:
    return f"sum(value) FILTER (WHERE metric = '{metric}')"


def dora_overview() -> dict[str, Any]:
    layout = _Layout()
    layout.add(
        "Deployments per week", "timeseries", [_sql_target(_weekly(_sum("deployments"), "deployments"))]
    )
    layout.add(
        "Lead time for changes (hours, weekly mean)",
        "timeseries",
        [
            _sql_target(
                _weekly(
                    f"{_sum('lead_time_seconds_sum')} / nullif({_sum('lead_time_count')}, 0) / 3600",
                    "lead time",
                )
            )
        ],
        unit="h",
    )
    layout.add(
        "Change failure rate (weekly)",
        "timeseries",
        [
            _sql_target(
                _weekly(
                    f"{_sum('failed_deployments')} / nullif({_sum('deployments')}, 0)", "change failure rate"
                )
            )
        ],
        unit="percentunit",
    )
    layout.add(
        "Time to restore (hours, weekly mean)",
        "timeseries",
        [
            _sql_target(
                _weekly(
                    f"{_sum('restore_seconds_sum')} / nullif({_sum('incidents_resolved')}, 0) / 3600",
                    "time to restore",
                )
            )
        ],
        unit="h",
    )
    layout.add(
        "Per subject over the range",
        "table",
        [
            _sql_target(
                "SELECT subject, "
                f"{_sum('deployments')} AS deployments, "
                f"{_sum('lead_time_seconds_sum')} / nullif({_sum('lead_time_count')}, 0) / 3600 AS lead_time_hours, "
                f"{_sum('failed_deployments')} / nullif({_sum('deployments')}, 0) AS change_failure_rate, "
                f"{_sum('restore_seconds_sum')} / nullif({_sum('incidents_resolved')}, 0) / 3600 AS restore_hours, "
                f"{_sum('rework_deployments')} / nullif({_sum('deployments')}, 0) AS rework_rate "
                "FROM metrics_daily WHERE scope = '$scope' AND subject IN ($subject) AND $__timeFilter(metric_date) "
                "GROUP BY subject ORDER BY subject",
                "table",
            )
        ],
        w=24,
    )
    layout.add(
        "DORA bands of the last 30 days (1 low .. 4 elite)",
        "table",
        _prom_targets([("max by (repository, metric) (sei_dora_band)", "{{repository}} {{metric}}")]),
        w=24,
        description="From the workers' sei_dora_band: per repository, as published on metrics.dora.",
    )
    layout.add(
        "Teams' DORA bands of the last 30 days (1 low .. 4 elite)",
        "table",
        _prom_targets([("max by (team, metric) (sei_dora_team_band)", "{{team}} {{metric}}")]),
        w=24,
        description="From sei_dora_team_band, exported by the group's leader: each team's repositories pooled.",
    )
    variables = [
        {
            "name": "scope",
            "label": "Scope",
            "type": "custom",
            "query": "team,repository",
            "current": {"text": "team", "value": "team"},
            "options": [],
        },
        _query_variable(
            "subject",
            "Team or repository",
            "SELECT DISTINCT subject FROM metrics_daily WHERE scope = '$scope' ORDER BY 1",
        ),
    ]
    return _dashboard("sei-dora-overview", "SEI / DORA overview", layout, variables, "now-90d")


def flow() -> dict[str, Any]:
    layout = _Layout()
    stages = ", ".join(f"avg({stage}_hours) AS {stage}" for stage in ("coding", "pickup", "review", "deploy"))
    layout.add(
        "Cycle-time stages (hours, mean of PRs merged that week)",
        "barchart",
        [
            _sql_target(
                f"SELECT date_trunc('week', merged_at) AS time, {stages} FROM pull_requests "
                "WHERE repository_id IN ($repository) AND merged_at IS NOT NULL AND $__timeFilter(merged_at) "
                "GROUP BY 1 ORDER BY 1"
            )
        ],
        unit="h",
    )
    layout.add(
        "Pull requests opened per week and median review time",
        "timeseries",
        [
            _sql_target(
                "SELECT week AS time, sum(pr_count) AS opened, avg(median_review_time) AS median_review_hours "
                "FROM pull_requests_weekly_metrics WHERE repository_id IN ($repository) AND $__timeFilter(week) "
                "GROUP BY 1 ORDER BY 1"
            )
        ],
    )
    layout.add(
        "Open pull requests",
        "stat",
        [
            _sql_target(
                "SELECT count(*) AS open FROM pull_requests WHERE state = 'open' AND repository_id IN ($repository)",
                "table",
            )
        ],
        w=6,
    )
    layout.add(
        "Oldest open pull requests",
        "table",
        [
            _sql_target(
                "SELECT repository_id, number, title, author, created_at, "
                "extract(epoch from now() - created_at) / 86400 AS age_days FROM pull_requests "
                "WHERE state = 'open' AND repository_id IN ($repository) ORDER BY created_at LIMIT 50",
                "table",
            )
        ],
        w=18,
    )
    layout.add(
        "Sprints",
        "table",
        [
            _sql_target(
                "SELECT project_key, name, state, start_date, end_date, committed_points, completed_points, "
                "completion_rate, velocity FROM sprints WHERE project_key IN ($project) "
                "ORDER BY start_date DESC NULLS LAST LIMIT 50",
                "table",
            )
        ],
    )
    layout.add(
        "Time in status (hours, mean per issue)",
        "barchart",
        [
            _sql_target(
                "SELECT status, avg(seconds) / 3600 AS hours FROM issue_status_durations "
                "WHERE project_key IN ($project) GROUP BY status ORDER BY hours DESC",
                "table",
            )
        ],
        unit="h",
    )
    variables = [
        _query_variable("repository", "Repository", "SELECT repository_id FROM repositories ORDER BY 1"),
        _query_variable("project", "Jira project", "SELECT DISTINCT project_key FROM sprints ORDER BY 1"),
    ]
    return _dashboard("sei-flow", "SEI / Flow", layout, variables, "now-90d")


def pipeline_health() -> dict[str, Any]:
    layout = _Layout()
    layout.add(
        "Throughput (messages/s)",
        "timeseries",
        _prom_targets(
            [
                ("sum by (topic) (rate(processor_messages_processed_total[5m]))", "{{topic}} processed"),
                ("sum by (topic) (rate(processor_messages_consumed_total[5m]))", "{{topic}} consumed"),
            ]
        ),
        unit="ops",
    )
    layout.add(
        "Consumer lag",
        "timeseries",
        _prom_targets([("sum by (topic) (processor_consumer_lag)", "{{topic}}")]),
    )
    layout.add(
        "Dead letters (per second, by reason)",
        "timeseries",
        _prom_targets(
            [("sum by (topic, reason) (rate(processor_messages_failed_total[5m]))", "{{topic}} {{reason}}")]
        ),
        unit="ops",
    )
    layout.add(
        "Dead-letter backlog and replays",
        "timeseries",
        _prom_targets(
            [
                ("max by (topic) (dlq_backlog_size)", "{{topic}} waiting"),
                ("max by (topic) (dlq_replays_total)", "{{topic}} replayed"),
            ]
        ),
    )
    layout.add(
        "Batch failures (retried, unacked)",
        "timeseries",
        _prom_targets([("sum by (agent) (rate(processor_batch_failures_total[5m]))", "{{agent}}")]),
        unit="ops",
    )
    layout.add(
        "Batch duration p95",
        "timeseries",
        _prom_targets(
            [
                (
                    "histogram_quantile(0.95, sum by (le, topic) (rate(processor_processing_duration_seconds_bucket[5m])))",
                    "{{topic}}",
                )
            ]
        ),
        unit="s",
    )
    layout.add(
        "Circuit breakers (1 open)",
        "state-timeline",
        _prom_targets(
            [("max by (instance, dependency) (processor_circuit_open)", "{{instance}} {{dependency}}")]
        ),
        w=8,
    )
    layout.add(
        "Workers ready",
        "state-timeline",
        _prom_targets([("processor_worker_ready", "{{instance}}")]),
        w=8,
    )
    layout.add(
        "Table recovery (changelog messages left)",
        "timeseries",
        _prom_targets(
            [
                (
                    "sum by (instance, kind) (processor_table_recovery_remaining_messages)",
                    "{{instance}} {{kind}}",
                )
            ]
        ),
        w=8,
    )
    layout.add(
        "Projection age (seconds since the last write)",
        "timeseries",
        _prom_targets(
            [
                (
                    "time() - max by (instance) (processor_projection_last_flush_timestamp_seconds)",
                    "{{instance}}",
                )
            ]
        ),
        unit="s",
    )
    layout.add(
        "HTTP latency p95 per view",
        "timeseries",
        _prom_targets(
            [
                (
                    "histogram_quantile(0.95, sum by (le, view) (rate(processor_http_request_duration_seconds_bucket[5m])))",
                    "{{view}}",
                )
            ]
        ),
        unit="s",
    )
    layout.add(
        "Database rows written (per second)",
        "timeseries",
        _prom_targets([("sum by (table) (rate(processor_db_rows_written_total[5m]))", "{{table}}")]),
        unit="ops",
    )
    layout.add(
        "Data-quality checks failing (`quality check`, last hour)",
        "table",
        _prom_targets([("max by (topic, check) (sei_quality_check_failed) == 1", "{{topic}} {{check}}")]),
    )
    layout.add(
        "Activity: open sessions and late events",
        "timeseries",
        _prom_targets(
            [
                ("sum(processor_activity_open_sessions)", "open sessions"),
                ("sum by (topic) (rate(processor_late_events_total[5m]))", "{{topic}} late/s"),
            ]
        ),
    )
    return _dashboard("sei-pipeline-health", "SEI / Pipeline health", layout, [], "now-6h")


def activity_and_anomalies() -> dict[str, Any]:
    """User activity (user_sessions, activity_minutes, activity_page_minutes, the
    errors-by-page join) and log anomalies (logs, log_anomalies) from TimescaleDB, with the
    workers' scoring figures from Prometheus."""
    layout = _Layout()
    layout.add(
        "Events per minute by type",
        "timeseries",
        [
            _sql_target(
                "SELECT bucket AS time, event_type AS metric, sum(events) AS value FROM activity_minutes "
                "WHERE $__timeFilter(bucket) GROUP BY 1, 2 ORDER BY 1"
            )
        ],
        description="activity_minutes, summed over the partitions that wrote them.",
    )
    layout.add(
        "Sessions closed per hour, bounce rate",
        "timeseries",
        [
            _sql_target(
                "SELECT date_trunc('hour', session_start) AS time, count(*) AS sessions, "
                "avg(bounce::int) AS bounce_rate, percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_s) "
                "AS median_duration_s FROM user_sessions WHERE $__timeFilter(session_start) GROUP BY 1 ORDER BY 1"
            )
        ],
    )
    layout.add(
        "Top pages over the range",
        "table",
        [
            _sql_target(
                "SELECT page_url, sum(views) AS views FROM activity_page_minutes "
                "WHERE $__timeFilter(bucket) GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20",
                "table",
            )
        ],
    )
    layout.add(
        "Errors by page (an error joined with the user's page view within 60 s)",
        "table",
        [
            _sql_target(
                "SELECT coalesce(page_url, '(no page view within 60 s)') AS page_url, count(*) AS errors, "
                "count(DISTINCT user_id) AS users FROM activity_error_pages "
                "WHERE $__timeFilter(error_time) GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20",
                "table",
            )
        ],
    )
    layout.add(
        "Log anomalies per hour by service",
        "timeseries",
        [
            _sql_target(
                "SELECT date_trunc('hour', at) AS time, service AS metric, count(*) AS value FROM log_anomalies "
                "WHERE $__timeFilter(at) GROUP BY 1, 2 ORDER BY 1"
            )
        ],
    )
    layout.add(
        "Latest anomalies",
        "table",
        [
            _sql_target(
                "SELECT at AS time, service, kind, round(score::numeric, 3) AS score, score_source, message "
                "FROM log_anomalies WHERE $__timeFilter(at) ORDER BY at DESC LIMIT 50",
                "table",
            )
        ],
    )
    layout.add(
        "Logs scored and anomalies (per second)",
        "timeseries",
        _prom_targets(
            [
                ("sum by (source) (rate(processor_logs_scored_total[5m]))", "scored ({{source}})"),
                ("sum by (kind) (rate(processor_log_anomalies_total[5m]))", "anomalies ({{kind}})"),
            ]
        ),
        unit="ops",
    )
    layout.add(
        "Scorer latency p95 and the ML engine's breaker",
        "timeseries",
        _prom_targets(
            [
                (
                    "histogram_quantile(0.95, sum by (le) (rate(processor_log_scorer_seconds_bucket[5m])))",
                    "scoring a batch, p95 (s)",
                ),
                ("max(processor_ml_engine_breaker_state)", "breaker state"),
            ]
        ),
    )
    return _dashboard("sei-activity-anomalies", "SEI / Activity and anomalies", layout, [], "now-24h")


DASHBOARDS = {
    "dora-overview": dora_overview,
    "flow": flow,
    "pipeline-health": pipeline_health,
    "activity-anomalies": activity_and_anomalies,
}


def render_all() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2) + "\n" for name, build in DASHBOARDS.items()}


def write_all() -> None:
    DIRECTORY.mkdir(parents=True, exist_ok=True)
    for name, text in render_all().items():
        (DIRECTORY / f"{name}.json").write_text(text)


if __name__ == "__main__":
    write_all()
    sys.stdout.write(f"wrote {len(DASHBOARDS)} dashboards to {DIRECTORY}\n")
