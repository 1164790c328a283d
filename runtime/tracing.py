"""OpenTelemetry tracing, off unless ``configure`` is called (app.main does when
OTEL_EXPORTER_OTLP_ENDPOINT is set).

Spans: one per batch attempt of an agent (agents.batches: topic, partitions, offsets,
outcome), the database work and the produce of dead letters as its children, one per HTTP
request (runtime.web_server). Log lines written inside a span carry its ``trace_id`` and
``span_id`` (``add_trace_ids``, a structlog processor).

Off, ``span`` is one flag test and yields None: nothing is allocated per batch or request.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span, Status, StatusCode

__all__ = ["configure", "enabled", "span", "set_outcome", "add_trace_ids", "TRACER_NAME"]

TRACER_NAME = "sei-processor"
_state: dict[str, Any] = {"provider": None}


def configure(
    service_name: str, *, endpoint: str | None = None, exporter: SpanExporter | None = None
) -> TracerProvider:
    """Turn tracing on: spans exported to ``exporter``, else over OTLP/HTTP to ``endpoint``
    (the collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT)."""
    if exporter is None:
        # Imported here: a worker without tracing never loads the exporter's protobuf code.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        if not endpoint:
            raise ValueError("an OTLP endpoint or an exporter is required")
        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
    _state["provider"] = provider
    return provider


def enabled() -> bool:
    return _state["provider"] is not None


@contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[Span | None]:
    """A span, child of the current one; None when tracing is off. An exception escaping
    the block is recorded on the span and marks it failed."""
    provider: TracerProvider | None = _state["provider"]
    if provider is None:
        yield None
        return
    with provider.get_tracer(TRACER_NAME).start_as_current_span(
        name, attributes=dict(attributes or {})
    ) as current:
        yield current


def set_outcome(current: Span | None, outcome: str, error: BaseException | None = None) -> None:
    if current is None:
        return
    current.set_attribute("sei.outcome", outcome)
    if error is not None:
        current.record_exception(error)
        current.set_status(Status(StatusCode.ERROR, type(error).__name__))


def add_trace_ids(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the current span's ids on the line (nothing when tracing is off)."""
    if _state["provider"] is None:
        return event
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event
