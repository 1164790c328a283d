"""runtime.tracing with the SDK's in-memory exporter: off by default (no span, no ids in
logs), and on: spans nest under the current one, an escaping error marks the span, log
lines inside a span carry its ids. (A running worker's spans: tests/integration/test_tracing.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from runtime import tracing


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = tracing.configure("sei-test", exporter=memory)
    try:
        yield memory
    finally:
        provider.shutdown()
        tracing._state["provider"] = None


def test_off_by_default_costs_nothing() -> None:
    assert not tracing.enabled()
    with tracing.span("batch x", {"a": 1}) as span:
        assert span is None
        tracing.set_outcome(span, "done")
        assert tracing.add_trace_ids(None, "info", {"event": "e"}) == {"event": "e"}


def test_children_nest_under_the_batch_across_tasks(exporter: InMemorySpanExporter) -> None:
    async def write() -> None:
        with tracing.span("db commits", {"db.system": "postgresql"}):
            await asyncio.sleep(0)

    async def batch() -> dict[str, object]:
        with tracing.span("batch commits", {"messaging.kafka.partitions": [0, 3]}) as span:
            await asyncio.ensure_future(write())  # complete_batch runs the body as a task
            with tracing.span("produce dlq-events"):
                line = tracing.add_trace_ids(None, "warning", {"event": "message.dead_lettered"})
            tracing.set_outcome(span, "done")
        return line

    line = asyncio.run(batch())
    tracing._state["provider"].force_flush()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"batch commits", "db commits", "produce dlq-events"}
    batch_span = spans["batch commits"]
    assert batch_span.context is not None
    for child in ("db commits", "produce dlq-events"):
        parent = spans[child].parent
        assert parent is not None and parent.span_id == batch_span.context.span_id
    assert batch_span.attributes is not None and batch_span.attributes["sei.outcome"] == "done"
    assert list(batch_span.attributes["messaging.kafka.partitions"]) == [0, 3]  # type: ignore[arg-type]
    assert line["trace_id"] == format(batch_span.context.trace_id, "032x")
    produced = spans["produce dlq-events"].context
    assert produced is not None and line["span_id"] == format(produced.span_id, "016x")


def test_a_failed_attempt_is_marked(exporter: InMemorySpanExporter) -> None:
    with tracing.span("batch commits") as span:
        tracing.set_outcome(span, "failed", RuntimeError("database down"))
    tracing._state["provider"].force_flush()
    (finished,) = exporter.get_finished_spans()
    assert finished.status.status_code == StatusCode.ERROR
    assert finished.attributes is not None and finished.attributes["sei.outcome"] == "failed"
    assert [event.name for event in finished.events] == ["exception"]
    assert tracing.add_trace_ids(None, "info", {"event": "outside"}) == {"event": "outside"}
