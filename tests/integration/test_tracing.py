"""Tracing on a running worker (OTEL_EXPORTER_OTLP_ENDPOINT set): its spans exported over
OTLP/HTTP to a collector in this test (the worker is another process, so an in-memory
exporter cannot see them; runtime.tracing's in-memory test is tests/unit/test_tracing.py).
A batch of git.commits makes a batch span with topic, partitions, offsets and outcome, its
database writes and the dead-letter produce as children; an HTTP request makes a span; the
log lines written inside a span carry its trace id."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from devtools.kafka_io import produce
from devtools.localstack import LocalStack
from devtools.sample_data import generate_commit_stream
from tests.integration.conftest import (
    consumed,
    isolated_env,
    new_worker,
    private_broker,
    temporary_database,
    wait_for,
)

pytestmark = pytest.mark.integration


def broken(count: int) -> list[tuple[bytes, bytes]]:
    """Undecodable commits of this test alone: the sample stream's malformed bytes repeat
    across streams, and the shared Redis dedupe would skip them in the next test."""
    tag = uuid.uuid4().hex[:8]
    return [(f"broken-{tag}".encode(), f"{{not json {tag} {i}".encode()) for i in range(count)]


class Collector:
    """An OTLP/HTTP trace receiver: every span received, as a flat dict."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                collector.add(request)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}[
                "service.name"
            ]
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {}
                    for a in span.attributes:
                        value = a.value
                        kind = value.WhichOneof("value")
                        if kind == "array_value":
                            attributes[a.key] = [
                                getattr(v, v.WhichOneof("value")) for v in value.array_value.values
                            ]
                        else:
                            attributes[a.key] = getattr(value, kind)
                    with self.lock:
                        self.spans.append(
                            {
                                "service": service,
                                "name": span.name,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent": span.parent_span_id.hex(),
                                "attributes": attributes,
                                "error": span.status.code == 2,
                            }
                        )

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.spans)


@pytest.fixture
def collector() -> Iterator[Collector]:
    running = Collector()
    yield running
    running.server.shutdown()


def test_batches_their_writes_and_produces_and_requests_are_traced(
    stack: LocalStack, collector: Collector, tmp_path: Path
) -> None:
    prefix = "traced"
    with private_broker(stack, tmp_path) as own, temporary_database(own, "sei_trace") as url:
        env = isolated_env(own, url, "trace", OTEL_EXPORTER_OTLP_ENDPOINT=collector.url, LOG_LEVEL="INFO")
        worker = new_worker(env, tmp_path, "traced-worker").start()
        try:
            worker.wait_consuming()
            stream = generate_commit_stream(
                commits=50,
                repositories=2,
                days=5,
                duplicate_rate=0.0,
                malformed=0,
                seed=3,
                repository_prefix=prefix,
            )
            start = consumed(worker, "git.commits")
            messages = [*stream.messages, *broken(5)]
            asyncio.run(produce([own.broker.bootstrap], "git.commits", messages))
            wait_for(lambda: consumed(worker, "git.commits") >= start + len(messages), 120, "the commits")
            assert worker.get("/stats")[0] == 200

            def complete() -> bool:
                names = {s["name"] for s in collector.snapshot()}
                return "HTTP GET /stats" in names and "produce dlq-events" in names

            wait_for(complete, 30, "the spans exported")
            log_lines = [
                json.loads(line)
                for line in Path(worker.log_path).read_text().splitlines()
                if line.startswith("{")
            ]
        finally:
            worker.stop()

    spans = collector.snapshot()
    by_id = {s["span_id"]: s for s in spans}
    assert {s["service"] for s in spans} == {env["CONSUMER_GROUP_ID"]}
    batches = [
        s
        for s in spans
        if s["name"].startswith("batch ")
        and "git.commits" in s["attributes"].get("messaging.destination.name", [])
    ]
    assert batches, sorted({s["name"] for s in spans})
    for batch in batches:
        attributes = batch["attributes"]
        assert attributes["messaging.system"] == "kafka"
        assert attributes["sei.outcome"] == "done" and not batch["error"]
        assert attributes["messaging.batch.message_count"] >= 1
        assert attributes["messaging.kafka.partitions"]
        for offsets in attributes["sei.offsets"]:
            where, _, span = offsets.partition(":")
            first, last = (int(n) for n in span.split("-"))
            assert where.startswith("git.commits/") and 0 <= first <= last
    # The dead letters' produce and the database writes are children of a git.commits batch.
    produce_parents = [by_id.get(s["parent"], {}) for s in spans if s["name"] == "produce dlq-events"]
    assert produce_parents and all(parent in batches for parent in produce_parents), produce_parents
    db_children = [
        s
        for s in spans
        if s["name"].startswith("db ") and by_id.get(s["parent"], {}).get("name", "").startswith("batch ")
    ]
    assert db_children and all(s["attributes"]["db.system"] == "postgresql" for s in db_children)
    assert {by_id[s["parent"]]["trace_id"] for s in db_children} <= {s["trace_id"] for s in spans}
    (request,) = [s for s in spans if s["name"] == "HTTP GET /stats"][-1:]
    assert request["attributes"]["http.response.status_code"] == 200
    assert request["attributes"]["http.route"] == "/stats"
    # Log lines inside a batch carry its trace: the dead-lettered messages.
    dead = [
        line
        for line in log_lines
        if line.get("event") == "message.dead_lettered" and line.get("topic") == "git.commits"
    ]
    assert dead and all("trace_id" in line for line in dead)
    assert {line["trace_id"] for line in dead} <= {s["trace_id"] for s in batches}
