"""Validation of user-activity-events messages (seed 003's EnrichedEvent)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from models.activity import ActivityMessage


def enriched(**overrides: Any) -> dict[str, Any]:
    """Seed 003's example message, with ``overrides`` (``...`` removes a field)."""
    event: dict[str, Any] = {
        "event_id": "6f1c3a52-0e4b-4c1e-9a57-2a3f0e7d9b10",
        "request_id": "2b7d9e61-4f0a-4d2b-8c35-7e1a9f3c5d20",
        "event_type": "page_view",
        "timestamp": "2024-01-15T10:30:45Z",
        "user_id": "user-123",
        "session_id": "session-456",
        "page_url": "https://example.com",
        "event_data": {"button_clicked": "submit", "form_data": {"field1": "value1"}},
        "client_info": {"user_agent": "Mozilla/5.0", "screen_resolution": "1920x1080", "language": "en-US"},
        "service_info": {"service_name": "ingestion-service", "service_version": "1.0.0", "environment": "development"},
        "processing_info": {
            "received_at": "2024-01-15T10:30:45Z",
            "processed_at": "2024-01-15T10:30:45Z",
            "processing_ms": 5,
        },
    }
    for name, value in overrides.items():
        if value is ...:
            event.pop(name, None)
        else:
            event[name] = value
    return event


def test_the_seeds_example_validates_with_its_event_time_in_utc() -> None:
    message = ActivityMessage.model_validate(enriched(timestamp="2024-01-15T11:30:45+01:00"))
    assert message.timestamp == datetime(2024, 1, 15, 10, 30, 45, tzinfo=UTC)
    assert message.is_page_view and message.user_id == "user-123"
    assert message.client_info is not None and message.client_info.language == "en-US"
    assert message.processing_info is not None and message.processing_info.processing_ms == 5


def test_only_identity_type_time_and_user_are_required() -> None:
    minimal = {k: enriched()[k] for k in ("event_id", "event_type", "timestamp", "user_id")}
    message = ActivityMessage.model_validate({**minimal, "extra_field": 1})
    assert (message.page_url, message.session_id, message.event_data) == (None, None, None)
    assert not ActivityMessage.model_validate({**minimal, "event_type": "click"}).is_page_view


@pytest.mark.parametrize(
    "overrides",
    [
        {"event_id": ...},
        {"user_id": ...},
        {"user_id": ""},
        {"user_id": 123},  # identifiers are strings, never coerced
        {"timestamp": ...},
        {"timestamp": "yesterday"},
        {"timestamp": "1970-01-01T00:00:00Z"},  # an epoch-zero sentinel is a producer bug
        {"event_type": "page\nview"},
        {"page_url": "x" * 2_049},
        {"event_data": "not an object"},
        {"event_data": {str(i): i for i in range(101)}},
        {"processing_info": {"processing_ms": -1}},
    ],
)
def test_a_bad_message_is_refused_naming_its_field(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as refused:
        ActivityMessage.model_validate(enriched(**overrides))
    field = next(iter(overrides))
    assert any(error["loc"][0] == field for error in refused.value.errors())
