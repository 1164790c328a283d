"""``user-activity-events`` messages: seed 003's ``EnrichedEvent``, one product event of a
user (a page view, a click, an error, ...) as the ingestion service enriched it.

Identity: ``event_id`` (a redelivered or re-sent event counts once). Sessions are per
``user_id``; ``session_id`` is the client's own session, kept as reported
(``client_session_ids``), not trusted to cut sessions. The enrichment objects are free-form
and bounded in size: a producer bug must not become a megabyte table value.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from models.fields import Count, EventTime, Identifier, Text
from models.message import MessageModel

__all__ = ["ActivityMessage", "ClientInfo", "ProcessingInfo", "ServiceInfo", "PAGE_VIEW"]

PAGE_VIEW = "page_view"


class ClientInfo(MessageModel):
    user_agent: Text | None = Field(None, max_length=1_000)
    screen_resolution: Text | None = Field(None, max_length=50)
    language: Text | None = Field(None, max_length=50)


class ServiceInfo(MessageModel):
    service_name: Text | None = Field(None, max_length=200)
    service_version: Text | None = Field(None, max_length=100)
    environment: Text | None = Field(None, max_length=100)


class ProcessingInfo(MessageModel):
    received_at: EventTime | None = None
    processed_at: EventTime | None = None
    processing_ms: Count | None = None


class ActivityMessage(MessageModel):
    """One ``EnrichedEvent``; ``timestamp`` is its event time."""

    event_id: Identifier
    event_type: Identifier
    timestamp: EventTime
    user_id: Identifier
    request_id: Identifier | None = None
    session_id: Identifier | None = None
    page_url: Text | None = Field(None, max_length=2_048)
    event_data: dict[str, Any] | None = Field(None, max_length=100)
    client_info: ClientInfo | None = None
    service_info: ServiceInfo | None = None
    processing_info: ProcessingInfo | None = None

    @property
    def is_page_view(self) -> bool:
        return self.event_type == PAGE_VIEW
