"""The events.ingest agent under Faust's test_context: JSON and Avro in, rows out."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from models.ingest_wire import ingest_codec, to_avro_record

STAMP = datetime(2025, 11, 19, 10, 30, 5, tzinfo=UTC).timestamp()


def envelope(event_id: str, **payload: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "timestamp": "2025-11-19T10:30:00Z",
        "payload": {"event_type": "metric", "source": "agent-test", "data": {"value": 1}, **payload},
    }


async def fetch(url: str, sql: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def wait_rows(url: str, prefix: str, count: int) -> list[Any]:
    found: list[Any] = []
    for _ in range(200):
        found = await fetch(
            url,
            "SELECT id, encoding, schema_version, payload::text AS payload, validation_status, quality_flagged, "
            "quality_score FROM ingested_events WHERE id LIKE $1 ORDER BY id",
            f"{prefix}%",
        )
        if len(found) >= count:
            break
        await asyncio.sleep(0.05)
    return found


def valid_events_counted(encoding: str, schema_version: str) -> float:
    from app.resources import metrics

    value = metrics.registry.get_sample_value(
        "ingest_events_total", {"encoding": encoding, "schema_version": schema_version}
    )
    return value or 0.0


async def test_ingest_agent_json_and_avro_rows_once_bad_input_dead_lettered(
    app: Any, agent_database: str
) -> None:
    from agents.ingest import process_ingest

    prefix = f"ag-{uuid.uuid4().hex[:6]}-"
    codec = ingest_codec()
    as_json = orjson.dumps(envelope(prefix + "a", tags=["x1"]))
    as_avro_v1 = codec.encode(to_avro_record(envelope(prefix + "b")), version=1)
    as_avro_v3 = codec.encode(to_avro_record(envelope(prefix + "c", user_id="u1")))
    wires = [("json", "none"), ("avro", "1"), ("avro", "3")]
    counted_before = [valid_events_counted(encoding, version) for encoding, version in wires]
    async with process_ingest.test_context() as agent:
        for value in (as_json, as_avro_v1, as_avro_v3, as_json, as_avro_v1):  # two redeliveries
            await agent.put(value, key=b"any-key", timestamp=STAMP)
        await agent.put(b"{broken", key=prefix.encode(), timestamp=STAMP)
        await agent.put(b"\x00\x00\x00\x00\x63garbage", key=prefix.encode(), timestamp=STAMP)
        await agent.put(orjson.dumps({"payload": {"source": "s"}}), key=prefix.encode(), timestamp=STAMP)
        rows = await wait_rows(agent_database, prefix, 3)
        await asyncio.sleep(0.3)
    rows = await wait_rows(agent_database, prefix, 3)
    assert [(r["id"], r["encoding"], r["schema_version"]) for r in rows] == [
        (prefix + "a", "json", None),
        (prefix + "b", "avro", 1),
        (prefix + "c", "avro", 3),
    ]
    assert orjson.loads(rows[0]["payload"]) == {
        "event_type": "metric",
        "source": "agent-test",
        "data": {"value": 1},
        "tags": ["x1"],
    }
    assert orjson.loads(rows[2]["payload"])["user_id"] == "u1"
    assert {r["validation_status"] for r in rows} == {"valid"}
    counted = [
        valid_events_counted(encoding, version) - before
        for (encoding, version), before in zip(wires, counted_before, strict=True)
    ]
    assert counted == [2, 2, 1]  # every valid delivery, redeliveries included
    dead = await fetch(
        agent_database,
        'SELECT error_type, error_reason FROM dead_letters WHERE message_key = $1 ORDER BY "offset"',
        prefix.encode(),
    )
    assert [tuple(r) for r in dead] == [
        ("DecodeError", "invalid_json"),
        ("DecodeError", "unknown_schema"),
        ("ValidationError", "validation"),
    ]


async def test_ingest_agent_identity_from_key_then_hash_timestamp_from_message(
    app: Any, agent_database: str
) -> None:
    from agents.ingest import process_ingest

    prefix = f"ak-{uuid.uuid4().hex[:6]}-"
    no_id = {"payload": {"event_type": "system_event", "source": prefix}}
    async with process_ingest.test_context() as agent:
        await agent.put(orjson.dumps(no_id), key=(prefix + "k").encode(), timestamp=STAMP)
        await agent.put(orjson.dumps(no_id), key=None, timestamp=STAMP)
        await agent.put(orjson.dumps(no_id), key=None, timestamp=STAMP)  # same bytes: same event
        for _ in range(200):
            found = await fetch(
                agent_database,
                'SELECT id, "timestamp", quality_flagged FROM ingested_events WHERE source = $1 ORDER BY id',
                prefix,
            )
            if len(found) >= 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
    found = await fetch(
        agent_database, 'SELECT id, "timestamp" FROM ingested_events WHERE source = $1 ORDER BY id', prefix
    )
    assert len(found) == 2
    assert found[0]["id"] == prefix + "k"
    assert found[1]["id"].startswith("evt_")
    assert {r["timestamp"] for r in found} == {datetime.fromtimestamp(STAMP, UTC)}
