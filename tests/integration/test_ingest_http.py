"""Ingestion over real HTTP against a running worker, and events.ingest end to end:
auth, body limits, content types, batches, verbatim storage, JSON and Avro on one topic,
and a hypothesis run over the served OpenAPI description asserting no 5xx answer."""

from __future__ import annotations

import asyncio
import http.client
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.kafka_io import produce
from devtools.localstack import LocalStack
from devtools.worker_process import WorkerProcess
from models.ingest_wire import ingest_codec, to_avro_record
from tests.integration.conftest import isolated_env, new_worker, temporary_database, wait_for

pytestmark = pytest.mark.integration

API_KEY = "it-key-" + uuid.uuid4().hex
MAX_BODY = 256 * 1024
JSON = {"Content-Type": "application/json"}


class Api:
    """A keep-alive HTTP client for one worker."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        *,
        chunked: bool = False,
    ) -> tuple[int, Any]:
        for attempt in (1, 2):
            try:
                if chunked:
                    self.conn.request(
                        method, path, body=iter([body or b""]), headers=headers or {}, encode_chunked=True
                    )
                else:
                    self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                raw = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                return response.status, (orjson.loads(raw) if raw else None)
            except (http.client.HTTPException, ConnectionError):
                # The server closes the connection after refusing an unread body (413).
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def post(
        self,
        path: str,
        body: Any,
        *,
        key: str | None = API_KEY,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        sent = {**JSON, **({"X-API-Key": key} if key is not None else {}), **(headers or {})}
        data = raw if raw is not None else json.dumps(body).encode()
        return self.request("POST", path, data, sent)


@pytest.fixture(scope="module")
def ingest_db(stack: LocalStack) -> Iterator[str]:
    with temporary_database(stack, "sei_ingest") as url:
        yield url


@pytest.fixture(scope="module")
def ingest_worker(
    stack: LocalStack, ingest_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    env = isolated_env(
        stack,
        ingest_db,
        "ingest",
        INGEST_API_KEYS=f"other-key-000000,{API_KEY}",
        INGEST_MAX_BODY_BYTES=str(MAX_BODY),
        BATCH_SIZE="500",
    )
    worker = new_worker(env, Path(tmp_path_factory.mktemp("ingest")), "ingest-worker").start()
    try:
        worker.wait_ready()  # /ingest answers 503 until its topic is verified
        api = Api(worker.web_port)
        marker = f"warm-{uuid.uuid4().hex[:8]}"
        status, _ = api.post(
            "/ingest", {"id": marker, "payload": {"event_type": "system_event", "source": "warmup"}}
        )
        assert status == 202
        wait_for(
            lambda: bool(query(ingest_db, "SELECT 1 FROM ingested_events WHERE id = $1", marker)),
            120,
            "the worker to join its group and store the warm-up event",
        )
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def api(ingest_worker: WorkerProcess) -> Api:
    return Api(ingest_worker.web_port)


def query(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


def stored(url: str, ids: list[str], timeout_s: float = 60) -> dict[str, asyncpg.Record]:
    rows: dict[str, asyncpg.Record] = {}

    def all_there() -> bool:
        rows.clear()
        found = query(
            url, "SELECT *, payload::text AS payload_text FROM ingested_events WHERE id = ANY($1)", ids
        )
        rows.update({r["id"]: r for r in found})
        return len(rows) == len(set(ids))

    wait_for(all_there, timeout_s, lambda: f"rows of {ids}: found {sorted(rows)}")
    return rows


def event(source: str = "it", **payload: Any) -> dict[str, Any]:
    return {"payload": {"event_type": "metric", "source": source, "data": {"value": 1}, **payload}}


def test_ingest_without_valid_key_is_401_and_key_never_logged(api: Api, ingest_worker: WorkerProcess) -> None:
    for key in (None, "", "wrong-key-000000", API_KEY.upper(), API_KEY + "x", API_KEY[:-1]):
        status, body = api.post("/ingest", event(), key=key)
        assert (status, body) == (401, {"error": "missing or invalid X-API-Key"}), key
    assert api.post("/ingest", event(), key="other-key-000000")[0] == 202
    log = ingest_worker.log_path.read_text(errors="replace")
    assert API_KEY not in log and "other-key-000000" not in log


def test_ingest_oversize_body_is_413(api: Api) -> None:
    big = orjson.dumps([event(data={"v": "x" * 60_000}) for _ in range(5)])
    assert len(big) > MAX_BODY
    assert api.post("/ingest", None, raw=big)[0] == 413
    assert api.post("/validate", None, raw=big)[0] == 413
    status, body = api.request("POST", "/ingest", big, {**JSON, "X-API-Key": API_KEY}, chunked=True)
    assert status == 413 and "limit" in body["error"]
    assert api.post("/ingest", None, raw=big[: MAX_BODY - 10])[0] == 400  # under the limit: read, not JSON


def test_ingest_content_type_not_json_is_415(api: Api) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        status, _ = api.post("/ingest", event(), headers={"Content-Type": content_type})
        assert status == 415, content_type
        assert api.post("/validate", event(), headers={"Content-Type": content_type})[0] == 415
    status, _ = api.request("POST", "/ingest", json.dumps(event()).encode(), {"X-API-Key": API_KEY})
    assert status == 415
    assert api.post("/ingest", None, raw=b"not json at all")[0] == 400


def test_validate_answers_verdict_and_stores_nothing(api: Api, ingest_db: str) -> None:
    ident = f"val-{uuid.uuid4().hex[:8]}"
    status, body = api.post(
        "/validate", {"event_type": "user_action", "source": "web_app", "data": {"action": "click"}}, key=None
    )
    assert status == 200
    assert (body["valid"], body["errors"], body["warnings"]) == (
        True,
        [],
        ["User action events should include user_id"],
    )
    assert set(body["quality"]) == {
        "completeness",
        "freshness",
        "consistency",
        "overall",
        "flagged",
        "issues",
    }
    status, body = api.post(
        "/validate", {"id": ident, "payload": {"source": "web_app", "ip_address": "1.2.3"}}
    )
    assert status == 200 and body["valid"] is False
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [
        ("payload.event_type", "required"),
        ("payload.ip_address", "ipv4"),
    ]
    status, body = api.post("/validate", [event(), {"payload": {}}, 3])
    assert status == 200 and body["valid"] is False
    assert [r["valid"] for r in body["results"]] == [True, False, False]
    api.post("/validate", {"id": ident, **event()})
    time.sleep(1.0)
    assert query(ingest_db, "SELECT 1 FROM ingested_events WHERE id = $1", ident) == []


def test_ingest_single_event_202_with_id_and_422_with_same_errors(api: Api, ingest_db: str) -> None:
    status, body = api.post("/ingest", event(user_id="u1"))
    assert status == 202 and body["status"] == "accepted" and body["id"].startswith("evt_")
    invalid = {"payload": {"source": "web_app", "ip_address": "1.2.3"}}
    status, body = api.post("/ingest", invalid)
    assert status == 422 and body["valid"] is False
    assert body["errors"] == api.post("/validate", invalid)[1]["errors"]
    row = stored(ingest_db, [(ident := api.post("/ingest", event(source="single"))[1]["id"])])[ident]
    assert (row["event_type"], row["source"], row["encoding"], row["schema_version"]) == (
        "metric",
        "single",
        "avro",
        3,
    )
    assert row["validation_status"] == "valid" and row["quality_score"] > 0


def test_ingest_array_batch_answered_per_item(api: Api, ingest_db: str) -> None:
    prefix = f"batch-{uuid.uuid4().hex[:8]}"
    valid = [{"id": f"{prefix}-{i}", **event()} for i in range(3)]
    status, body = api.post("/ingest", [valid[0], {"payload": {"event_type": "metric"}}, "x", valid[1]])
    assert status == 207
    assert (body["accepted"], body["rejected"]) == (2, 2)
    assert [r["status"] for r in body["results"]] == [202, 422, 422, 202]
    assert [r.get("id") for r in body["results"]] == [f"{prefix}-0", None, None, f"{prefix}-1"]
    assert body["results"][1]["errors"][0]["field"] == "payload.source"
    status, body = api.post("/ingest", [valid[2]])
    assert status == 202 and body["accepted"] == 1
    status, body = api.post("/ingest", [{"payload": {}}] * 2)
    assert status == 422 and body["accepted"] == 0
    assert set(stored(ingest_db, [v["id"] for v in valid])) == {v["id"] for v in valid}
    # Re-sending the same events (same id and timestamp) stores nothing new.
    again = [{**v, "timestamp": "2025-11-19T10:30:00Z"} for v in valid]
    assert api.post("/ingest", again)[0] == 202
    assert api.post("/ingest", again)[0] == 202

    def count() -> int:
        return int(
            query(ingest_db, "SELECT count(*) FROM ingested_events WHERE id LIKE $1", f"{prefix}-%")[0][0]
        )

    # 3 rows under the receipt time, 3 under the given timestamp, whatever the re-sends.
    wait_for(lambda: count() >= 6, 60, "the re-sent events")
    time.sleep(1.0)
    assert count() == 6


TRICKY = [
    "Robert'); DROP TABLE ingested_events;--",
    "' OR '1'='1",
    "1; SELECT pg_sleep(10)",
    "$1 $$ $sql$ \\x00 \\'",
    "Ωmega ☃ 𝄞 日本語 עברית \u202e reversed",
    "emoji 👩‍💻🏳️‍🌈",
    "quotes \" ' ` and \\ backslashes \n newline \t tab",
]


def test_ingest_sql_looking_and_unicode_strings_stored_verbatim(api: Api, ingest_db: str) -> None:
    ident = f"verbatim-{uuid.uuid4().hex[:8]}"
    data = {text: text for text in TRICKY} | {"list": TRICKY}
    body = {
        "id": ident,
        "timestamp": "2025-11-19T10:30:00Z",
        "payload": {"event_type": "api_call", "source": TRICKY[0], "user_id": "ユーザー'--", "data": data},
    }
    assert api.post("/ingest", body)[0] == 202
    row = stored(ingest_db, [ident])[ident]
    assert row["source"] == TRICKY[0]
    payload = json.loads(row["payload_text"])
    assert payload["data"] == data and payload["user_id"] == "ユーザー'--"
    assert query(ingest_db, "SELECT count(*) FROM ingested_events")[0][0] > 0  # the table is still there


def test_events_ingest_topic_mixed_json_and_avro_end_to_end(stack: LocalStack, ingest_db: str) -> None:
    prefix = f"mixed-{uuid.uuid4().hex[:8]}"
    codec = ingest_codec()

    def full(n: int) -> dict[str, Any]:
        return {
            "id": f"{prefix}-{n}",
            "timestamp": "2025-11-19T10:30:00Z",
            "payload": {
                "event_type": "user_action",
                "source": prefix,
                "user_id": f"u{n}",
                "session_id": "s",
                "tags": ["t1"],
                "ip_address": "10.0.0.1",
                "version": "1.0",
                "data": {"n": n},
            },
        }

    messages = [
        (b"k0", orjson.dumps(full(0))),
        (b"k1", codec.encode(to_avro_record(full(1)), version=1)),
        (b"k2", codec.encode(to_avro_record(full(2)), version=2)),
        (b"k3", codec.encode(to_avro_record(full(3)), version=3)),
        (prefix.encode(), b"\x00\x00\x00\x00\x09not-a-registered-schema"),
        (prefix.encode(), b'{"payload": {"event_type": "metric"'),
        (b"k1", codec.encode(to_avro_record(full(1)), version=1)),  # a redelivery
    ]
    asyncio.run(produce([stack.broker.bootstrap], "events.ingest", messages))
    rows = stored(ingest_db, [f"{prefix}-{n}" for n in range(4)])
    seen = {n: (rows[f"{prefix}-{n}"]["encoding"], rows[f"{prefix}-{n}"]["schema_version"]) for n in range(4)}
    assert seen == {0: ("json", None), 1: ("avro", 1), 2: ("avro", 2), 3: ("avro", 3)}
    payloads = {n: json.loads(rows[f"{prefix}-{n}"]["payload_text"]) for n in range(4)}
    assert payloads[0] == full(0)["payload"] and payloads[3] == full(3)["payload"]
    assert set(payloads[1]) == {"event_type", "source", "data"}  # v1 carries no more
    assert payloads[2]["user_id"] == "u2" and "ip_address" not in payloads[2]
    wait_for(
        lambda: (
            len(query(ingest_db, "SELECT 1 FROM dead_letters WHERE message_key = $1", prefix.encode())) == 2
        ),
        60,
        "two dead letters",
    )
    reasons = {
        r[0]
        for r in query(
            ingest_db, "SELECT error_reason FROM dead_letters WHERE message_key = $1", prefix.encode()
        )
    }
    assert reasons == {"unknown_schema", "invalid_json"}
    aggregate = query(
        ingest_db, "SELECT sum(events) FROM ingested_events_per_minute WHERE source = $1", prefix
    )
    assert aggregate[0][0] == 4


def test_openapi_describes_the_endpoints(api: Api) -> None:
    status, document = api.request("GET", "/openapi.json")
    assert status == 200 and set(document["paths"]) == {"/validate", "/ingest"}


# --- hypothesis over the served OpenAPI description --------------------------------------


def strategy(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values for a JSON schema of the subset the OpenAPI document uses."""
    if "$ref" in schema:
        return strategy(components[schema["$ref"].rsplit("/", 1)[-1]], components, depth)
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            return st.one_of([strategy(s, components, depth) for s in schema[combinator]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        properties = {k: strategy(v, components, depth + 1) for k, v in schema.get("properties", {}).items()}
        required = {k: v for k, v in properties.items() if k in schema.get("required", ())}
        optional = {k: v for k, v in properties.items() if k not in required}
        if not properties and schema.get("additionalProperties", True):
            return st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4)
        return st.fixed_dictionaries(required, optional=optional)
    if kind == "array":
        return st.lists(
            strategy(schema["items"], components, depth + 1),
            min_size=schema.get("minItems", 0),
            max_size=min(schema.get("maxItems", 4), 4),
        )
    if kind == "string":
        if schema.get("format") == "ipv4":
            return st.ip_addresses(v=4).map(str)
        if schema.get("format") == "date-time":
            return st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: len(s) <= 60)
        return st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 30), 120))
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**40)), schema.get("maximum", 2**40))
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    return JSON_VALUES


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def mutated(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A schema-shaped body with one field (or one payload field) replaced by any JSON."""

    def mutate(pair: tuple[Any, Any, int]) -> Any:
        body, junk, which = pair
        if not isinstance(body, dict) or not body:
            return junk
        target = body.get("payload") if isinstance(body.get("payload"), dict) and which % 2 else body
        names = sorted(target)
        target[names[which % len(names)]] = junk
        return body

    return st.tuples(valid, JSON_VALUES, st.integers(0, 20)).map(mutate)


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzz_validate_and_ingest_never_answer_5xx(api: Api, data: st.DataObject) -> None:
    status, document = api.request("GET", "/openapi.json")
    components = document["components"]["schemas"]
    path = data.draw(st.sampled_from(["/validate", "/ingest"]), label="path")
    operation = document["paths"][path]["post"]
    body_schema = operation["requestBody"]["content"]["application/json"]["schema"]
    shaped = strategy(body_schema, components)
    body = data.draw(st.one_of(shaped, mutated(shaped), JSON_VALUES), label="body")
    raw = json.dumps(body).encode()  # ASCII escapes: lone surrogates reach the server as such
    status, answer = api.post(path, None, raw=raw)
    assert status < 500, (path, body, answer)
    assert str(status) in operation["responses"], (path, status, answer)
