"""/health of a worker whose database and Redis cannot be reached."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from app.localstack import LocalStack, free_port
from app.worker_process import WorkerProcess

pytestmark = pytest.mark.integration


def test_health_database_unreachable_is_unhealthy_503(stack: LocalStack, tmp_path: Path) -> None:
    closed = free_port()
    env = {
        **stack.env,
        "TIMESCALE_URL": f"postgresql://postgres@127.0.0.1:{closed}/nowhere",
        "REDIS_URL": f"redis://127.0.0.1:{closed}/0",
        "CONSUMER_GROUP_ID": f"health-{uuid.uuid4().hex[:8]}",
        "STORE": "rocksdb://",
    }
    worker = WorkerProcess(env, tmp_path / "w", free_port(), tmp_path / "w.log").start()
    try:
        worker.wait_ready()
        status, body = worker.get("/health")
        assert status == 503
        assert body["status"] == "unhealthy"
        assert body["kafka_connected"] is True
        assert body["timescale_connected"] is False
        assert body["redis_connected"] is False
        assert body["version"] and body["timestamp"].endswith("Z")
    finally:
        worker.stop()
