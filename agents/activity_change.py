"""What the activity operator needs of an event, carried beside the event's bytes.

The re-keying reader validates every event (pydantic, agents.acceptance) before it sends
it to the internal topic. It sends the original bytes (a dead letter of the operator, a
late event, shows what the producer sent) and, in the header ``CHANGE_HEADER``, the
``ActivityChange`` it derived: the operator reads that compact record instead of decoding
and validating the whole event a second time. A record without the header (written before
the header existed) is validated in full as before.

``plain_change`` spares the validation of an event of the common shape (seed 003's
``EnrichedEvent`` as the ingestion service writes it: plain ids, a UTC timestamp in the
usual ISO form, texts within their limits, the enrichment objects as objects): a few
checks that accept nothing ``ActivityMessage`` refuses (nothing it would drop with a
warning either) and give the change ``change_of`` gives. Anything else is left to
``ActivityMessage`` and agents.acceptance, as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import orjson
from faust.types import EventT

from models.activity import ActivityMessage
from models.decoding import decode_json_object
from models.fields import MAX_COUNT, _text, plain_event_time, plain_identifier
from tables.activity_state import ActivityChange
from tables.instants import to_micros

__all__ = [
    "CHANGE_HEADER",
    "change_of",
    "change_header",
    "header_change",
    "plain_change",
    "plain_event_change",
    "CLIENT_TEXTS",
    "SERVICE_TEXTS",
]

CHANGE_HEADER = "sei-activity-change"


def change_of(message: ActivityMessage) -> ActivityChange:
    """The operator's view of a valid event (time in microseconds)."""
    return ActivityChange(
        event_id=message.event_id,
        time=to_micros(message.timestamp),
        event_type=message.event_type,
        user_id=message.user_id,
        page_url=message.page_url,
        client_session_id=message.session_id,
    )


# The texts of ClientInfo and ServiceInfo with their max_length (a test holds them to the
# models'): every field of the two is optional Text.
CLIENT_TEXTS = (("user_agent", 1_000), ("screen_resolution", 50), ("language", 50))
SERVICE_TEXTS = (("service_name", 200), ("service_version", 100), ("environment", 100))


def plain_change(value: dict[str, Any]) -> ActivityChange | None:
    """``change_of`` of ``value`` (a decoded message) validated as ActivityMessage, when it
    has the common shape (module doc); None for anything else, which ActivityMessage then
    decides on."""
    event_id, event_type, user_id = value.get("event_id"), value.get("event_type"), value.get("user_id")
    session_id, page_url = value.get("session_id"), value.get("page_url")
    if not (plain_identifier(event_id) and plain_identifier(event_type) and plain_identifier(user_id)):
        return None
    if session_id is not None and not plain_identifier(session_id):
        return None
    if page_url is not None and not (type(page_url) is str and len(page_url) <= 2_048):
        return None
    at = plain_event_time(value.get("timestamp"))
    if at is None or not _plain_rest(value):
        return None
    page_url = None if page_url is None else _text(page_url)
    return ActivityChange(event_id, to_micros(at), event_type, user_id, page_url, session_id)


def _plain_rest(value: dict[str, Any]) -> bool:
    # The fields the change does not carry: validated all the same, or the fast path would
    # keep an event that strict mode rejects (and warn mode keeps with a warning).
    request_id, data = value.get("request_id"), value.get("event_data")
    if request_id is not None and not plain_identifier(request_id):
        return False
    if data is not None and not (type(data) is dict and len(data) <= 100):
        return False
    if data and not all(type(key) is str for key in data):  # a JSON object's are; a dict's may not be
        return False
    return (
        _plain_texts(value.get("client_info"), CLIENT_TEXTS)
        and _plain_texts(value.get("service_info"), SERVICE_TEXTS)
        and _plain_processing(value.get("processing_info"))
    )


def _plain_texts(value: object, limits: tuple[tuple[str, int], ...]) -> bool:
    if value is None:
        return True
    if type(value) is not dict:
        return False
    for name, most in limits:
        text = value.get(name)
        if text is not None and not (type(text) is str and len(text) <= most):
            return False
    return True


def _plain_processing(value: object) -> bool:
    if value is None:
        return True
    if type(value) is not dict:
        return False
    for name in ("received_at", "processed_at"):
        moment = value.get(name)
        if moment is not None and plain_event_time(moment) is None:
            return False
    took = value.get("processing_ms")
    return took is None or (type(took) is int and 0 <= took <= MAX_COUNT)


def plain_event_change(event: EventT[Any]) -> ActivityChange | None:
    """The change of an event of the common shape (``plain_change``); None for any other,
    which agents.acceptance then validates or dead-letters as always."""
    try:
        return plain_change(decode_json_object(event.value).value)
    except Exception:  # not a JSON object, or not expected: accept decides, under its guard
        return None


def change_header(change: ActivityChange) -> tuple[str, bytes]:
    """The header the re-keying reader puts on an event it sends on."""
    return CHANGE_HEADER, orjson.dumps(change.to_record())


def header_change(event: EventT[Any]) -> bytes | None:
    """The ``CHANGE_HEADER`` value of ``event``, None without one."""
    headers = event.message.headers
    if not headers:
        return None
    if isinstance(headers, Mapping):
        found = headers.get(CHANGE_HEADER)
        return None if found is None else bytes(found)
    for name, value in cast(Sequence[tuple[str, bytes]], headers):
        if name == CHANGE_HEADER:
            return bytes(value)
    return None
