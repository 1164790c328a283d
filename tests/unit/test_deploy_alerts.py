"""deploy/prometheus/alerts.yml: the rules parse (PromQL parsed by promql-parser; promtool is
not installable from the registries this project uses) and name only metrics the worker
exports (its registry here; tests/integration/test_operating_surface.py checks a running
worker's /metrics)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from app.metrics import ProcessorMetrics
from app.operating_metrics import OperatingMetrics
from tests.deploy_files import ALERTS, exported_names, load_yaml, metric_names

# Series Prometheus makes itself for every target.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
REQUIRED = {
    "ConsumerLagGrowing",
    "DeadLetterRateHigh",
    "DeadLetterBacklogLarge",
    "CircuitOpen",
    "WorkerNotReady",
    "ProjectionStale",
    "DoraBandDropped",
}
_DURATION = re.compile(r"^\d+[smhd]$")


def registry_names() -> set[str]:
    registry = CollectorRegistry()
    ProcessorMetrics(registry)
    OperatingMetrics(registry)
    return exported_names(generate_latest(registry).decode())


def rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def test_the_required_alerts_exist_once() -> None:
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))
    assert REQUIRED <= set(names)


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_each_rule_parses_and_names_exported_metrics(rule: dict[str, Any]) -> None:
    assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
    names = metric_names(rule["expr"])
    assert names, "an alert that reads no metric"
    unknown = names - registry_names() - PROMETHEUS_OWN
    assert not unknown, f"{rule['alert']} reads metrics nobody exports: {sorted(unknown)}"
    assert _DURATION.match(rule.get("for", "0s"))
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    assert rule["annotations"]["summary"]


def test_lag_alert_waits_ten_minutes() -> None:
    (lag,) = [rule for rule in rules() if rule["alert"] == "ConsumerLagGrowing"]
    assert lag["for"] == "10m" and "processor_consumer_lag" in metric_names(lag["expr"])


def test_the_checks_catch_a_typo() -> None:
    with pytest.raises(ValueError):
        metric_names("sum by (topic) (rate(processor_messages_failed_total[5m]")
    assert metric_names("processor_consumer_lagg > 1") - registry_names() == {"processor_consumer_lagg"}
