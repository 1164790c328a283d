"""DORA end to end on the real stack: commits, deployments and incidents of one repository,
delivered out of order and twice, give the hand-computed /dora answer and the rows."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from devtools.kafka_io import produce
from devtools.localstack import LocalStack
from devtools.worker_process import WorkerProcess
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration

END = "2025-10-31T00:00:00Z"


def envelope(event_type: str, repo: str, timestamp: str, data: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {"event_type": event_type, "timestamp": timestamp, "source": "test", "repository_id": repo, "data": data}
    )


def deployment(repo: str, ident: str, finished_at: str, **data: Any) -> bytes:
    body = {"id": ident, "environment": "production", "status": "success", "finished_at": finished_at, **data}
    return envelope("deployment_finished", repo, finished_at, body)


def history(repo: str) -> dict[str, list[tuple[bytes, bytes]]]:
    key = repo.encode()
    commits = [
        (key, envelope("commit_created", repo, when, {"sha": sha, "author": "a@example.com"}))
        for sha, when in (("c1", "2025-10-01T00:00:00Z"), ("c2", "2025-10-02T00:00:00Z"), ("c3", "2025-10-10T00:00:00Z"))
    ]
    deployments = [
        (key, deployment(repo, "d1", "2025-10-04T00:00:00Z", commit_shas=["c1", "c2"])),
        # No commit_shas: ships every commit not shipped before and committed by then (c3).
        (key, deployment(repo, "d2", "2025-10-11T00:00:00Z", commit_sha="c3")),
        # Not deployments for the four keys: a failed attempt, another environment.
        (key, deployment(repo, "d3", "2025-10-12T00:00:00Z", status="failure")),
        (key, deployment(repo, "d4", "2025-10-13T00:00:00Z", environment="staging")),
    ]
    incidents = [
        (key, envelope("incident_opened", repo, "2025-10-11T06:00:00Z",
                       {"id": "i1", "title": "5xx", "severity": "high", "opened_at": "2025-10-11T06:00:00Z"})),
        (key, envelope("incident_resolved", repo, "2025-10-11T08:00:00Z",
                       {"id": "i1", "resolved_at": "2025-10-11T08:00:00Z"})),
        # Still open at the window's end; attributed to d2 as well (the latest deployment before it).
        (key, envelope("incident_opened", repo, "2025-10-20T00:00:00Z", {"id": "i2", "opened_at": "2025-10-20T00:00:00Z"})),
    ]
    return {"git.commits": commits, "cicd.deployments": deployments, "ops.incidents": incidents}


def dora(worker: WorkerProcess, repo: str, window: int = 30) -> tuple[int, Any]:
    return worker.get(f"/dora/{repo}?window={window}&end={END}")


async def read_snapshots(bootstrap: str, repo: str) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer("metrics.dora", bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    found = []
    try:
        for _ in range(20):
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                found.extend(json.loads(r.value) for r in batch if r.key == repo.encode())
        return found
    finally:
        await consumer.stop()


def test_dora_from_late_and_duplicated_events_matches_hand_computed_values(
    stack: LocalStack, worker: WorkerProcess, db: Any
) -> None:
    repo = f"dora-{uuid.uuid4().hex[:6]}"
    events = history(repo)
    bootstrap = [stack.broker.bootstrap]
    # Incidents first, then deployments (d2 after the incident it caused), commits last (after
    # the deployments that ship them); everything twice.
    for topic in ("ops.incidents", "cicd.deployments", "git.commits"):
        asyncio.run(produce(bootstrap, topic, list(reversed(events[topic])) + events[topic]))

    def answer() -> Any:
        status, body = dora(worker, repo)
        return body if status == 200 else None

    wait_for(
        lambda: (a := answer()) is not None and a["lead_time"]["count"] == 3 and a["time_to_restore"]["count"] == 1,
        120,
        lambda: f"the repository's full history in /dora: {answer()}",
    )
    body = answer()
    assert body["repository_id"] == repo and body["window_days"] == 30
    frequency = body["deployment_frequency"]
    assert frequency["deployments"] == 2  # d3 failed, d4 staging
    assert frequency["deploy_days_per_week"] == 0.5  # weeks (end - 7k d, end - 7(k-1) d]: 0, 0, 1, 1
    assert frequency["deploy_days_per_month"] == 2
    assert frequency["band"] == "medium"
    lead = body["lead_time"]
    assert (lead["count"], lead["p50_hours"], lead["mean_hours"]) == (3, 48.0, 48.0)  # 72, 48, 24 h
    assert lead["band"] == "high"
    failure = body["change_failure_rate"]
    assert (failure["failed_deployments"], failure["deployments"], failure["rate"]) == (1, 2, 0.5)
    assert failure["band"] == "low"
    restore = body["time_to_restore"]
    assert (restore["count"], restore["p50_hours"], restore["open_incidents"]) == (1, 2.0, 1)
    assert restore["band"] == "high"
    assert body["rework_rate"]["rework_deployments"] == 0

    # 7-day window ending at END: no deployments, so the deployment metrics are null, not 0.
    status, week = dora(worker, repo, 7)
    assert status == 200 and week["deployment_frequency"]["deployments"] is None
    assert week["lead_time"]["count"] == 0 or week["lead_time"]["p50_hours"] is None
    assert dora(worker, "no-such-repo")[0] == 404
    assert worker.get(f"/dora/{repo}?window=12")[0] == 400

    rows = db("SELECT deployment_id, status, environment, commit_shas FROM deployments WHERE repository_id = $1 ORDER BY 1", repo)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("d1", "success", "production"), ("d2", "success", "production"),
        ("d3", "failure", "production"), ("d4", "success", "staging"),
    ]
    assert rows[0]["commit_shas"] == ["c1", "c2"] and rows[1]["commit_shas"] is None
    incidents = db("SELECT incident_id, title, opened_at, resolved_at FROM incidents WHERE repository_id = $1 ORDER BY 1", repo)
    assert [(r[0], r[1], r[3] is not None) for r in incidents] == [("i1", "5xx", True), ("i2", None, False)]

    # The projection: the repository's latest snapshot on metrics.dora.
    snapshots = asyncio.run(read_snapshots(stack.broker.bootstrap, repo))
    assert snapshots and snapshots[-1]["repository_id"] == repo and snapshots[-1]["window_days"] == 30
