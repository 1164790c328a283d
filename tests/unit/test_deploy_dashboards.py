"""deploy/grafana/dashboards: what devtools.dashboards renders, on the provisioned data
sources, PromQL that parses and names metrics the worker declares, SQL that names only the
metrics_daily metrics the projection writes. (The SQL is run against a migrated database and
the PromQL checked against a running worker's /metrics in
tests/integration/test_operating_surface.py.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from app.metrics import ProcessorMetrics
from app.operating_metrics import OperatingMetrics
from devtools.dashboards import render_all
from tables.daily_metrics import METRIC_NAMES
from tests.deploy_files import (
    DASHBOARDS,
    DEPLOY,
    ROOT,
    dashboards,
    exported_names,
    load_yaml,
    metric_names,
    targets,
)

_DECLARED = re.compile(r'(?:Counter|Gauge|Histogram)\(\s*"([a-z_]+)"', re.S)


def declared_names() -> set[str]:
    """Metric families of the registry plus those declared beside agents and views."""
    registry = CollectorRegistry()
    ProcessorMetrics(registry)
    OperatingMetrics(registry)
    names = exported_names(generate_latest(registry).decode())
    for package in ("agents", "app"):
        for path in Path(ROOT / package).rglob("*.py"):
            for name in _DECLARED.findall(path.read_text()):
                names.update({name, name + "_total", name + "_bucket", name + "_sum", name + "_count"})
    return names


def test_dashboards_are_what_the_generator_renders() -> None:
    rendered = render_all()
    on_disk = {path.stem: path.read_text() for path in DASHBOARDS.glob("*.json")}
    assert on_disk == rendered, "run `python -m devtools.dashboards`"
    assert set(rendered) == {"dora-overview", "flow", "pipeline-health", "activity-anomalies"}


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_every_query_uses_a_provisioned_source_and_real_names(name: str) -> None:
    dashboard: dict[str, Any] = dashboards()[name]
    sources = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "datasources.yml")["datasources"]
    uids = {s["uid"] for s in sources}
    declared = declared_names()
    queries = list(targets(dashboard))
    assert queries
    uids_of_panels = [p["id"] for p in dashboard["panels"]]
    assert len(uids_of_panels) == len(set(uids_of_panels))
    for title, uid, query in queries:
        assert uid in uids, f"{title}: data source {uid!r} is not provisioned"
        assert query, f"{title}: empty query"
        if uid == "prometheus":
            unknown = metric_names(query) - declared
            assert not unknown, f"{title}: {sorted(unknown)} are not metrics of the worker"
        else:
            named = set(re.findall(r"metric = '([a-z_]+)'", query))
            assert named <= set(METRIC_NAMES), f"{title}: metrics_daily has no {sorted(named - set(METRIC_NAMES))}"


def test_panels_fit_the_grid() -> None:
    for name, dashboard in dashboards().items():
        for panel in dashboard["panels"]:
            grid = panel["gridPos"]
            assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, f"{name}: {panel['title']}"
