"""app.operating_metrics: the gauges follow what they are given (partitions leave, bands go
when a window has none), and every metric family the worker registers is documented."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, generate_latest

from app.metrics import ProcessorMetrics
from app.operating_metrics import DeadLetterBacklog, OperatingMetrics
from models.data_quality import Finding
from tests.deploy_files import ROOT


def fresh() -> tuple[CollectorRegistry, OperatingMetrics]:
    registry = CollectorRegistry()
    return registry, OperatingMetrics(registry)


def text(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_lag_follows_the_partitions_owned() -> None:
    registry, ops = fresh()
    ops.set_lag({"git.commits": {"0": {"lag": 5}, "1": {"lag": None}, "2": {"lag": 0}}})
    out = text(registry)
    assert 'processor_consumer_lag{partition="0",topic="git.commits"} 5.0' in out
    assert 'partition="1"' not in out  # nothing committed yet: no lag to show
    ops.set_lag({"git.commits": {"2": {"lag": 3}}})
    out = text(registry)
    assert (
        'partition="0"' not in out and 'processor_consumer_lag{partition="2",topic="git.commits"} 3.0' in out
    )


def test_bands_and_freshness_of_a_projection_flush() -> None:
    registry, ops = fresh()
    snapshot = {
        "repository_id": "r1",
        "deployment_frequency": {"band": "elite"},
        "lead_time": {"band": "medium"},
        "change_failure_rate": {"band": None},
        "time_to_restore": {"band": "low"},
    }
    ops.projection_flushed(snapshots=[snapshot], now=1000.0)
    out = text(registry)
    assert 'sei_dora_band{metric="deployment_frequency",repository="r1"} 4.0' in out
    assert 'sei_dora_band{metric="lead_time",repository="r1"} 2.0' in out
    assert 'metric="change_failure_rate"' not in out
    assert "processor_dora_snapshot_last_timestamp_seconds 1000.0" in out
    ops.projection_flushed(snapshots=[{**snapshot, "lead_time": {"band": None}}], now=2000.0)
    out = text(registry)
    assert 'metric="lead_time"' not in out
    ops.projection_flushed(snapshots=[], now=3000.0)  # nothing changed: written, not published
    out = text(registry)
    assert "processor_projection_last_flush_timestamp_seconds 3000.0" in out
    assert "processor_dora_snapshot_last_timestamp_seconds 2000.0" in out


def test_team_bands_follow_the_teams_given() -> None:
    registry, ops = fresh()
    ops.set_team_bands(
        {
            "payments": {"deployment_frequency": {"band": "high"}, "lead_time": {"band": None}},
            "search": {"time_to_restore": {"band": "low"}},
        }
    )
    out = text(registry)
    assert 'sei_dora_team_band{metric="deployment_frequency",team="payments"} 3.0' in out
    assert 'sei_dora_team_band{metric="time_to_restore",team="search"} 1.0' in out
    assert 'metric="lead_time",team="payments"' not in out
    ops.set_team_bands({"search": {"time_to_restore": {"band": "medium"}}})
    out = text(registry)
    assert 'team="payments"' not in out  # a team no longer given leaves the gauge
    assert 'sei_dora_team_band{metric="time_to_restore",team="search"} 2.0' in out
    ops.set_team_bands({})  # not the leader: no team band at all
    assert "sei_dora_team_band{" not in text(registry)


def test_dead_letters_circuits_and_requests() -> None:
    registry, ops = fresh()
    assert "dlq_backlog_size{" not in text(registry)
    ops.set_dead_letters(
        DeadLetterBacklog(unreplayed={"git.commits": 4}, replays={"git.commits": 2}, read_at=5.0)
    )
    ops.set_circuits({"database": True, "redis": False})
    ops.observe_request("/dora/{repository_id}", "GET", 404, 0.003)
    out = text(registry)
    assert 'dlq_backlog_size{topic="git.commits"} 4.0' in out
    assert 'dlq_replays_total{topic="git.commits"} 2.0' in out
    assert 'processor_circuit_open{dependency="database"} 1.0' in out
    assert 'processor_circuit_open{dependency="redis"} 0.0' in out
    assert 'processor_http_requests_total{method="GET",status="4xx",view="/dora/{repository_id}"} 1.0' in out


def test_every_metric_family_is_documented() -> None:
    registry = CollectorRegistry()
    ProcessorMetrics(registry)
    OperatingMetrics(registry)
    # docs/operations.md, or the family's own page (docs/activity.md for its metrics).
    documented = "".join(path.read_text() for path in (ROOT / "docs").glob("*.md"))
    families = re.findall(r"^# TYPE (\S+) (\S+)", text(registry), re.M)
    missing = [
        name
        for name, kind in families
        if not name.endswith("_created") and not re.search(rf"`{name}(_total)?[`{{]", documented)
    ]
    assert not missing, f"not documented in docs/: {missing}"


def test_quality_findings_replace_the_previous_run() -> None:
    registry, ops = fresh()
    ops.set_quality(
        [
            Finding("git.commits", "volume", "fail", "3"),
            Finding("git.commits", "invalid", "ok", "0.0%"),
            Finding("jira.sprints", "volume", "skip", "0"),
        ],
        now=10.0,
    )
    out = text(registry)
    assert 'sei_quality_check_failed{check="volume",topic="git.commits"} 1.0' in out
    assert 'sei_quality_check_failed{check="invalid",topic="git.commits"} 0.0' in out
    assert 'topic="jira.sprints"' not in out
    ops.set_quality([Finding("git.commits", "invalid", "fail", "9.0%")], now=20.0)
    out = text(registry)
    assert 'check="volume"' not in out
    assert 'sei_quality_check_failed{check="invalid",topic="git.commits"} 1.0' in out
    assert "sei_quality_last_run_timestamp_seconds 20.0" in out
