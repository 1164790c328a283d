"""POST /validate, POST /ingest and GET /openapi.json (seed 002's ingestion API).

/ingest produces each accepted event to events.ingest (Avro, latest IngestMessage version,
keyed by id), one record batch per partition (runtime.keyed_batches), and awaits the broker's
acknowledgements of the whole request together before answering: 202 means the broker has
the event. The rules (keys, bodies, answers) are in app.ingest_api; this module only wires
them to the web server.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from aiohttp import web
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.web import Request, Response, View
from prometheus_client import Counter, Histogram

from app.ingest_api import (
    BadRequest,
    Item,
    api_key_valid,
    batch_status,
    check_items,
    is_json_content_type,
    openapi_document,
    parse_body,
)
from app.logging import get_logger
from app.main import app, settings
from app.resources import metrics
from app.topic_declaration import RETRY_AFTER_S, gate
from app.topics import events_ingest
from models.ingest_wire import avro_record, ingest_codec
from models.quality import QualityPolicy, assess
from runtime.keyed_batches import send_keyed
from runtime.web_server import LIMITS

__all__ = ["Validate", "Ingest", "OpenApi"]

log = get_logger("sei.views.ingest")
_codec = ingest_codec()
_policy = QualityPolicy(min_score=settings.data_quality_min_score)
_openapi = openapi_document(settings.ingest_max_body_bytes)
# How long /ingest waits for the broker before answering 503 (the events may still land).
ACK_TIMEOUT_S = 10.0

_requests = Counter(
    "ingest_http_requests_total",
    "Requests to the ingestion API",
    ["endpoint", "status"],
    registry=metrics.registry,
)
_events = Counter(
    "ingest_http_events_total",
    "Events received over HTTP",
    ["endpoint", "outcome"],
    registry=metrics.registry,
)
_latency = Histogram(
    "ingest_http_request_duration_seconds",
    "Time to answer an ingestion request, broker acknowledgement included",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
    registry=metrics.registry,
)


@app.task  # type: ignore[untyped-decorator]  # faust marks App.task no_type_check
async def _announce() -> None:
    """Say once, as the worker starts serving, whether /ingest can accept anything."""
    if not settings.api_keys:
        log.warning(
            "ingest.disabled",
            reason="INGEST_API_KEYS is empty",
            effect="POST /ingest answers 401 to every request; POST /validate works",
            hint="set INGEST_API_KEYS to a comma-separated list of keys (12-256 characters each)",
        )
    else:
        log.info("ingest.enabled", keys=len(settings.api_keys), max_body_bytes=settings.ingest_max_body_bytes)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or BadRequest 415 (not JSON) / 413 (over ``limit`` bytes) / 408
    (not all sent within the web server's body timeout)."""
    if not is_json_content_type(request.headers.get("Content-Type")):
        raise BadRequest(415, "Content-Type must be application/json")
    # faust's aiohttp driver hands views aiohttp's own Request
    body = cast(web.Request, request)
    declared = body.content_length
    if declared is not None and declared > limit:
        raise BadRequest(413, f"body is {declared} bytes, over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(LIMITS.body_timeout_s):
            # Read in chunks and stop early: a body without Content-Length is bounded too.
            async for chunk in body.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise BadRequest(413, f"body is over the {limit}-byte limit")
                chunks.append(chunk)
    except TimeoutError:
        raise BadRequest(
            408, f"the body did not arrive within {LIMITS.body_timeout_s:g} s ({size} bytes received)"
        ) from None
    return b"".join(chunks)


def _finish(endpoint: str, started: float, response: Response) -> Response:
    _requests.labels(endpoint, str(response.status)).inc()
    _latency.labels(endpoint).observe(time.perf_counter() - started)
    return response


@app.page("/validate")
class Validate(View):
    """Check one event or an array of events against the rules; nothing is stored."""

    async def post(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            events, is_batch = parse_body(await read_body(request, settings.ingest_max_body_bytes))
        except BadRequest as exc:
            return _finish("validate", started, self.json({"error": str(exc)}, status=exc.status))
        now = datetime.now(UTC)
        answers = [self._verdict(item, now) for item in check_items(events)]
        _events.labels("validate", "valid").inc(sum(a["valid"] for a in answers))
        _events.labels("validate", "invalid").inc(sum(not a["valid"] for a in answers))
        if not is_batch:
            answers[0].pop("index")
            return _finish("validate", started, self.json(answers[0]))
        body = {"valid": all(a["valid"] for a in answers), "results": answers}
        return _finish("validate", started, self.json(body))

    @staticmethod
    def _verdict(item: Item, now: datetime) -> dict[str, Any]:
        validation = item.validation
        answer: dict[str, Any] = {
            "index": item.index,
            "valid": validation.valid,
            "errors": [e.as_dict() for e in validation.errors],
            "warnings": list(validation.warnings),
        }
        if validation.event is not None:
            payload = validation.event.payload.fields()
            when = validation.event.timestamp or now
            answer["quality"] = assess(payload, when, now, _policy, validation.broken_rules).as_dict()
        return answer


@app.page("/ingest")
class Ingest(View):
    """Validate events and queue them on events.ingest; 202 with the id once the broker has them."""

    async def post(self, request: Request) -> Response:
        started = time.perf_counter()
        # The key is checked before the body is read; it is never logged or echoed.
        if not api_key_valid(request.headers.get("X-API-Key"), settings.api_keys):
            return _finish(
                "ingest", started, self.json({"error": "missing or invalid X-API-Key"}, status=401)
            )
        # Never a 202 for an event the worker cannot process (app.topic_declaration).
        if (refusal := gate.refusal(events_ingest.get_topic_name())) is not None:
            retry = {"Retry-After": str(RETRY_AFTER_S)}
            return _finish("ingest", started, self.json({"error": refusal}, status=503, headers=retry))
        try:
            events, is_batch = parse_body(await read_body(request, settings.ingest_max_body_bytes))
        except BadRequest as exc:
            return _finish("ingest", started, self.json({"error": str(exc)}, status=exc.status))
        items = check_items(events)
        await self._produce(items, datetime.now(UTC))
        if not is_batch:
            return _finish("ingest", started, self._single(items[0]))
        accepted = sum(item.status == 202 for item in items)
        body = {
            "accepted": accepted,
            "rejected": len(items) - accepted,
            "results": [i.answer() for i in items],
        }
        return _finish("ingest", started, self.json(body, status=batch_status(items)))

    def _single(self, item: Item) -> Response:
        validation = item.validation
        if item.status == 422:
            body: dict[str, Any] = {
                "valid": False,
                "errors": [e.as_dict() for e in validation.errors],
                "warnings": list(validation.warnings),
            }
        elif item.status == 503:
            body = {"error": item.error}
        else:
            body = {"id": item.id, "status": "accepted", "warnings": list(validation.warnings)}
        return self.json(body, status=item.status)

    @staticmethod
    async def _produce(items: list[Item], now: datetime) -> None:
        """Send every valid item, one record batch per partition, then await all the
        acknowledgements at once."""
        sent: list[Item] = []
        records: list[tuple[bytes, bytes]] = []
        for item in items:
            event = item.validation.event
            if event is None:
                continue
            # The identity is filled here: a new id, the receipt time as timestamp.
            item.id = event.id or f"evt_{uuid.uuid4().hex}"
            sent.append(item)
            record = avro_record(event, item.id, event.timestamp or now)
            records.append((item.id.encode(), _codec.encode(record)))
        _events.labels("ingest", "invalid").inc(len(items) - len(sent))
        if not sent:
            return
        acked: list[bool] = [False] * len(sent)
        try:
            futures = await send_keyed(
                cast(faust_aiokafka.Producer, app.producer)._ensure_producer(),
                events_ingest.get_topic_name(),
                records,
            )
            done, _ = await asyncio.wait(set(futures), timeout=ACK_TIMEOUT_S)
            acked = [f in done and not f.cancelled() and f.exception() is None for f in futures]
        except Exception as exc:  # the producer refused the batch outright (stopped, closed)
            log.error("ingest.produce_refused", error=f"{type(exc).__name__}: {exc}", events=len(sent))
        failures = 0
        for item, ok in zip(sent, acked, strict=True):
            if ok:
                item.status = 202
                continue
            failures += 1
            item.status = 503
            item.error = "the broker did not acknowledge the event; send it again (same id)"
        _events.labels("ingest", "accepted").inc(len(sent) - failures)
        if failures:
            _events.labels("ingest", "broker_failed").inc(failures)
            log.error("ingest.produce_failed", events=failures, of=len(sent), timeout_s=ACK_TIMEOUT_S)


@app.page("/openapi.json")
class OpenApi(View):
    """OpenAPI 3.1 description of /validate and /ingest."""

    async def get(self, request: Request) -> Response:
        return self.json(_openapi)
