"""The shared field types: timestamps whose UTC form does not exist are validation errors;
the fast paths' checks vouch only for values that validation keeps (or parses) as they do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from agents.intake import Rejection, parse_message
from models.commits import CommitMessage
from models.fields import EventTime, Identifier, plain_event_time, plain_identifier
from models.ingest import as_envelope, validate_event

event_time = TypeAdapter(EventTime)
identifier = TypeAdapter(Identifier)


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


def _iso(at: datetime, spec: str, zone: str) -> str:
    return at.isoformat(timespec=spec) + zone


# Times about the accepted range's bounds and leap days, in the plain form and others.
TIMES = st.builds(
    _iso,
    st.sampled_from([datetime(1990, 1, 1), datetime(2100, 1, 1), datetime(2024, 2, 29), datetime(2026, 3, 2)])
    .flatmap(lambda at: st.integers(-2 * 86_400_000_000, 2 * 86_400_000_000).map(lambda us: at + timedelta(microseconds=us))),
    st.sampled_from(["auto", "seconds", "milliseconds", "microseconds"]),
    st.sampled_from(["Z", "+00:00", "-00:00", "+01:00", "", "z"]),
) | st.text(alphabet="0123456789-T:.Z+ ", max_size=30)  # fmt: skip


@settings(max_examples=1_000, deadline=None)
@given(TIMES)
def test_a_plain_event_time_is_the_time_validation_gives(text: str) -> None:
    at = plain_event_time(text)
    if at is not None:
        expected = event_time.validate_python(text)
        assert at == expected and at.tzinfo is expected.tzinfo is UTC


@settings(max_examples=1_000, deadline=None)
@given(st.text(max_size=210) | st.sampled_from(["a", "x" * 200, "x" * 201, " a", "a ", "a\u00a0", "\u3000a"]))
def test_a_plain_identifier_is_kept_as_it_is_by_validation(text: str) -> None:
    if plain_identifier(text):
        assert identifier.validate_python(text) == text
