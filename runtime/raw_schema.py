"""Topics of raw bytes whose messages become events without Faust's codec registry.

Faust decodes each message's key and value through its serializer registry even when both
are raw bytes (``key_type=bytes``, ``value_serializer="raw"``): a codec lookup, the raw
codec and ``want_bytes`` for each, the bytes unchanged at the end, about 5 µs a message on
every topic the app reads (3 % of the worker in bench.activity). ``RawSchema`` hands the
bytes read to the event as they are; what it sends is encoded as Faust's schema does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from faust import Schema
from faust.types import AppT, EventT
from faust.types.tuples import Message

__all__ = ["RawSchema", "raw_schema"]


class RawSchema(Schema[bytes, bytes]):
    """Raw bytes keys and values (``raw_schema()``), decoded as read."""

    def compile(self, app: AppT, **_: Any) -> Callable[..., Awaitable[EventT[Any]]]:
        create_event = app.create_event

        async def decode(message: Message, *, propagate: bool = False) -> EventT[Any]:
            return create_event(message.key, message.value, message.headers, message)

        return decode


def raw_schema() -> RawSchema:
    """The schema of a topic of raw (key, value) bytes."""
    return RawSchema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
