"""The shared field types: timestamps whose UTC form does not exist are validation errors."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from pydantic import TypeAdapter, ValidationError

from agents.intake import Rejection, parse_message
from models.commits import CommitMessage
from models.fields import EventTime
from models.ingest import as_envelope, validate_event

event_time = TypeAdapter(EventTime)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("9999-12-31T23:59:59-23:59", id="past-year-9999-in-utc"),
        pytest.param("9999-12-31T23:59:59-01:00", id="one-hour-past-9999"),
        pytest.param("0001-01-01T00:00:00+01:00", id="before-year-1-in-utc"),
    ],
)
def test_event_time_overflowing_utc_is_a_validation_error(text: str) -> None:
    with pytest.raises(ValidationError, match="outside 1990-01-01..2100-01-01"):
        event_time.validate_python(text)


def test_event_time_offset_converted_to_utc() -> None:
    assert event_time.validate_python("2025-10-01T14:00:00+02:00") == datetime(2025, 10, 1, 12, tzinfo=UTC)


def test_ingest_event_overflowing_timestamp_is_a_field_error() -> None:
    validation = validate_event(
        as_envelope(
            {"timestamp": "9999-12-31T23:59:59-23:59", "payload": {"event_type": "metric", "source": "s"}}
        )
    )
    assert not validation.valid
    assert [e.field for e in validation.errors] == ["timestamp"]


@pytest.mark.parametrize("timestamp", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"])
def test_commit_message_with_overflowing_timestamp_is_a_rejection_not_an_exception(timestamp: str) -> None:
    # The agents dead-letter a Rejection; an OverflowError used to escape and crash the agent.
    event = {
        "event_type": "commit_created",
        "timestamp": timestamp,
        "source": "github",
        "repository_id": "repo-1",
        "data": {"sha": "abc", "author": "a@example.com", "message": "m"},
    }
    parsed = parse_message(orjson.dumps(event), CommitMessage)
    assert isinstance(parsed, Rejection) and "timestamp" in parsed.message
