"""The last guard on a source's partition count: a count changed under a running worker."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.shutdown import EXIT_CONFIG


async def test_verify_partitions_count_changed_exits_before_the_batch(
    app: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from agents import batches

    def exit_now(code: int) -> None:
        raise SystemExit(code)

    monkeypatch.setattr(batches, "exit_now", exit_now)
    monkeypatch.setattr(app.consumer, "topic_partitions", lambda topic: 12)
    with pytest.raises(SystemExit) as exited:
        batches.verify_partitions("ops.incidents")
    assert exited.value.code == EXIT_CONFIG
    (event,) = [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "config.topic_partitions_mismatch"]
    assert (event["topic"], event["partitions_found"], event["partitions_needed"]) == ("ops.incidents", 12, 8)
    assert "recreate 'ops.incidents' with 8 partitions" in event["hint"] and "TOPIC_PARTITIONS=12" in event["hint"]

    monkeypatch.setattr(app.consumer, "topic_partitions", lambda topic: 8)
    batches.verify_partitions("ops.incidents")  # the right count: no exit
