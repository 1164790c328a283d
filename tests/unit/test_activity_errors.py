"""agents.activity_errors.error_of: which ingest messages are errors the errors-by-page
join takes (an ``error`` naming a valid user), with the id and time their
``ingested_events`` row has, and every decodable event's time for its partition's clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from agents.activity_errors import error_of
from agents.ingest_intake import identity_of
from models.ingest_wire import ingest_codec, to_avro_record
from tables.activity_join_state import ErrorChange
from tables.instants import to_micros

STAMP = datetime(2026, 3, 2, 9, 30, 15, 250_000, tzinfo=UTC)
KAFKA_TIME = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def event(event_type: str = "error", **payload: Any) -> dict[str, Any]:
    return {
        "id": "x-1",
        "timestamp": "2026-03-02T09:30:15.250Z",
        "payload": {"event_type": event_type, "source": "web_app", **payload},
    }


def test_an_error_naming_a_user_is_joined_with_its_id_and_time() -> None:
    raw = orjson.dumps(event(user_id="u-1"))
    assert error_of(raw, b"key", KAFKA_TIME) == (
        ErrorChange("x-1", to_micros(STAMP), "u-1"),
        to_micros(STAMP),
    )


def test_the_same_error_in_avro_is_the_same_change() -> None:
    document = {**event(user_id="u-1"), "timestamp": "2026-03-02T09:30:15.250000Z"}
    raw = ingest_codec().encode(to_avro_record(document))
    assert error_of(raw, None, KAFKA_TIME)[0] == ErrorChange("x-1", to_micros(STAMP), "u-1")


def test_without_id_or_timestamp_the_key_or_hash_and_the_kafka_time_as_the_ingest_row() -> None:
    body = event(user_id="u-1")
    del body["id"], body["timestamp"]
    raw = orjson.dumps(body)
    assert error_of(raw, b"from-key", KAFKA_TIME)[0] == ErrorChange("from-key", to_micros(KAFKA_TIME), "u-1")
    change, _ = error_of(raw, None, KAFKA_TIME)
    assert change is not None and change.event_id == identity_of(None, None, raw)
    assert error_of(raw, None, None) == (None, None)  # no time at all: nothing to join


@pytest.mark.parametrize(
    ("raw", "expected_time"),
    [
        pytest.param(orjson.dumps(event()), to_micros(STAMP), id="error-naming-no-user"),
        pytest.param(orjson.dumps(event("user_action", user_id="u-1")), to_micros(STAMP), id="other-type"),
        pytest.param(orjson.dumps(event(user_id="")), None, id="invalid-user-id"),
        pytest.param(orjson.dumps(event(user_id="u-1", source="")), None, id="invalid-error"),
        pytest.param(b"{not json", None, id="undecodable"),
        pytest.param(orjson.dumps({**event("metric"), "timestamp": "tuesday"}), None, id="bad-time"),
        pytest.param(
            orjson.dumps({**event("metric"), "timestamp": None}), to_micros(KAFKA_TIME), id="no-time"
        ),
    ],
)
def test_other_messages_are_not_joined_their_time_still_counts(raw: bytes, expected_time: int | None) -> None:
    assert error_of(raw, None, KAFKA_TIME) == (None, expected_time)
