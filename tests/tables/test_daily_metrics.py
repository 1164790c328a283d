from __future__ import annotations

from datetime import date, datetime

from tables.commit_state import Commit
from tables.daily_metrics import METRIC_NAMES, daily_metrics
from tables.deployment_state import Deployment
from tables.incident_state import Incident
from tables.instants import to_micros
from tables.pull_request_state import PullRequest


def at(text: str) -> int:
    return to_micros(datetime.fromisoformat(text))


def test_daily_buckets_of_a_small_history() -> None:
    deployments = [
        Deployment("r", "d1", "production", "success", at("2025-10-02T12:00Z")),  # ships c1: 24 h
        Deployment("r", "d2", "production", "success", at("2025-10-02T20:00Z"), commit_shas=("c2",)),  # 6 h
        Deployment("r", "f1", "production", "failure", at("2025-10-03T09:00Z")),
        Deployment("r", "s1", "staging", "success", at("2025-10-03T10:00Z")),
    ]
    commits = [Commit("r", "c1", at("2025-10-01T12:00Z"), 5), Commit("r", "c2", at("2025-10-02T14:00Z"))]
    # Opened after d1 (attributed to it), open while d2 finished (d2 is rework); 12 h to restore.
    incidents = [Incident("r", "i1", at("2025-10-02T13:00Z"), at("2025-10-03T01:00Z"))]
    pull_requests = [
        PullRequest("r", 5, created_at=at("2025-10-01T13:00Z"), merged_at=at("2025-10-02T10:00Z")),
        PullRequest("r", 6, created_at=at("2025-10-01T13:00Z")),  # open: no samples
    ]
    day2, day3 = date(2025, 10, 2), date(2025, 10, 3)
    assert daily_metrics(deployments, incidents, commits, pull_requests) == {
        (day2, "deployments"): 2,
        (day2, "failed_deployments"): 1,
        (day2, "rework_deployments"): 1,
        (day3, "failed_deployment_attempts"): 1,
        (day2, "lead_time_count"): 2,
        (day2, "lead_time_seconds_sum"): 30 * 3600,
        (day2, "incidents_opened"): 1,
        (day3, "incidents_resolved"): 1,
        (day3, "restore_seconds_sum"): 12 * 3600,
        (day2, "pull_requests_merged"): 1,
        (day2, "coding_count"): 1,  # c1 (numbered 5) -> created: 1 h
        (day2, "coding_seconds_sum"): 3600,
        (day2, "deploy_count"): 1,  # merged -> d1 shipped c1: 2 h
        (day2, "deploy_seconds_sum"): 2 * 3600,
        (day2, "cycle_time_count"): 1,  # c1 -> d1: 24 h
        (day2, "cycle_time_seconds_sum"): 24 * 3600,
    }


def test_daily_metric_names_cover_every_bucket() -> None:
    buckets = daily_metrics(
        [Deployment("r", "d", "production", "success", at("2025-10-02T12:00Z"))],
        [Incident("r", "i", at("2025-10-02T13:00Z"))],
        [],
        [],
    )
    assert {metric for _, metric in buckets} <= set(METRIC_NAMES)
    assert buckets[(date(2025, 10, 2), "failed_deployments")] == 1  # zero is 0, not absent: here 1
    assert (date(2025, 10, 2), "lead_time_count") not in buckets  # no sample: no row


def test_no_history_no_buckets() -> None:
    assert daily_metrics([], [], [], []) == {}
