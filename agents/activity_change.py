"""What the activity operator needs of an event, carried beside the event's bytes.

The re-keying reader validates every event (pydantic, agents.acceptance) before it sends
it to the internal topic. It sends the original bytes (a dead letter of the operator, a
late event, shows what the producer sent) and, in the header ``CHANGE_HEADER``, the
``ActivityChange`` it derived: the operator reads that compact record instead of decoding
and validating the whole event a second time. A record without the header (written before
the header existed) is validated in full as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import orjson
from faust.types import EventT

from models.activity import ActivityMessage
from tables.activity_state import ActivityChange
from tables.instants import to_micros

__all__ = ["CHANGE_HEADER", "change_of", "change_header", "header_change"]

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
