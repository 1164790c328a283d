"""The operating surface on a running worker: the gauges of app.operating_metrics on its
/metrics, the dashboards' and alert rules' PromQL against what it really exports, and the
dashboards' SQL run (EXPLAIN) on the migrated schema."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

import pytest

from devtools.kafka_io import produce
from devtools.localstack import LocalStack
from devtools.sample_data import generate_commit_stream
from devtools.worker_process import WorkerProcess
from tests.deploy_files import (
    ALERTS,
    dashboards,
    exported_names,
    grafana_sql,
    load_yaml,
    metric_names,
    targets,
)
from tests.integration.conftest import consumed, wait_consumed

pytestmark = pytest.mark.integration


def broken(count: int) -> list[tuple[bytes, bytes]]:
    """Undecodable commits of this test alone: the sample stream's malformed bytes repeat
    across streams, and the shared Redis dedupe would skip them in the next test."""
    tag = uuid.uuid4().hex[:8]
    return [(f"broken-{tag}".encode(), f"{{not json {tag} {i}".encode()) for i in range(count)]


PREFIX = "opsurface"
PROMETHEUS_OWN = {"up"}


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the one sample of ``name`` carrying ``labels`` (others ignored)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def lag_lines(text: str) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if line.startswith("processor_consumer_lag{") and 'topic="git.commits"' in line
    ]


def wait_metric(worker: WorkerProcess, check: Any, timeout_s: float, what: str) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        text = worker.get_text("/metrics")
        if check(text):
            return text
        if time.monotonic() > deadline:
            _, stats = worker.get("/stats")
            raise AssertionError(
                f"{what} not on /metrics within {timeout_s} s; partitions {stats['partitions']}; log {worker.log_path}"
            )
        time.sleep(1)


def test_operating_gauges_on_a_running_worker(stack: LocalStack, worker: WorkerProcess, db: Any) -> None:
    started = time.time()
    stream = generate_commit_stream(
        commits=300,
        repositories=3,
        days=10,
        duplicate_rate=0.0,
        malformed=0,
        seed=5,
        repository_prefix=PREFIX,
    )
    start = consumed(worker, "git.commits")
    messages = [*stream.messages, *broken(7)]
    asyncio.run(produce([stack.broker.bootstrap], "git.commits", messages))
    wait_consumed(worker, "git.commits", start + len(messages))

    # Lag needs a committed offset: Faust commits every few seconds.
    text = wait_metric(worker, lambda t: bool(lag_lines(t)), 30, "lag of git.commits")
    lags = lag_lines(text)
    assert all(re.search(r'partition="\d+"', line) for line in lags)
    assert all(float(line.rsplit(" ", 1)[1]) >= 0 for line in lags)
    assert sample(text, "processor_circuit_open", dependency="database") == 0
    assert sample(text, "processor_circuit_open", dependency="redis") == 0
    assert sample(text, "processor_worker_ready") == 1
    assert sample(text, "processor_table_recovery_in_progress") == 0
    assert sample(text, "processor_table_recovery_remaining_messages", kind="active") == 0
    # The /stats calls of wait_consumed, timed per view (the route, not the URL).
    assert (
        sample(text, "processor_http_request_duration_seconds_count", view="/stats", method="GET") or 0
    ) > 0
    assert (sample(text, "processor_http_requests_total", view="/stats", method="GET", status="2xx") or 0) > 0

    # The projection of the three repositories is written within a refresh or two.
    text = wait_metric(
        worker,
        lambda t: (sample(t, "processor_projection_last_flush_timestamp_seconds") or 0) >= started,
        60,
        "a projection flush after the batch",
    )
    assert (sample(text, "processor_dora_snapshot_last_timestamp_seconds") or 0) >= started

    # The dead-letter backlog, read from dead_letters on the worker's timer, as the table says.
    unreplayed = {
        r["topic"]: r["count"]
        for r in db("SELECT topic, count(*) FROM dead_letters WHERE replayed_at IS NULL GROUP BY 1")
    }
    assert unreplayed.get("git.commits", 0) >= 7
    text = wait_metric(
        worker,
        lambda t: sample(t, "dlq_backlog_size", topic="git.commits") == unreplayed["git.commits"],
        75,
        f"dlq_backlog_size of git.commits = {unreplayed['git.commits']}",
    )
    assert sample(text, "dlq_replays_total", topic="git.commits") is not None


def test_dashboards_and_alerts_name_what_the_worker_exports(worker: WorkerProcess) -> None:
    exported = exported_names(worker.get_text("/metrics"))
    checked = 0
    for name, dashboard in dashboards().items():
        for title, uid, query in targets(dashboard):
            if uid == "prometheus":
                unknown = metric_names(query) - exported - PROMETHEUS_OWN
                assert not unknown, f"{name} / {title}: the worker exports no {sorted(unknown)}"
                checked += 1
    for group in load_yaml(ALERTS)["groups"]:
        for rule in group["rules"]:
            unknown = metric_names(rule["expr"]) - exported - PROMETHEUS_OWN
            assert not unknown, f"alert {rule['alert']}: the worker exports no {sorted(unknown)}"
            checked += 1
    assert checked >= 20


VARIABLES = {
    "scope": "team",
    "subject": "'platform', 'mobile'",
    "repository": "'repo-1'",
    "project": "'PROJ'",
}


def test_dashboard_sql_runs_on_the_migrated_schema(db: Any) -> None:
    checked = 0
    for name, dashboard in dashboards().items():
        queries = [(title, query) for title, uid, query in targets(dashboard) if uid == "timescaledb"]
        queries += [
            (f"variable {v['name']}", v["query"])
            for v in dashboard["templating"]["list"]
            if v["type"] == "query"
        ]
        for title, query in queries:
            sql = grafana_sql(query, VARIABLES)
            try:
                db(f"EXPLAIN {sql}")
            except Exception as exc:  # the message names the missing table or column
                raise AssertionError(f"{name} / {title}: {exc}\n{sql}") from exc
            checked += 1
    assert checked >= 12
    # The check fails on a column the schema lacks.
    with pytest.raises(Exception, match="no_such_column"):
        db("EXPLAIN SELECT no_such_column FROM metrics_daily")
