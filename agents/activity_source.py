"""Where a record of <ACTIVITY_TOPIC>-by-user came from, carried beside the event's bytes.

The re-keying reader puts the source partition and offset of each event it sends on in
the header ``SOURCE_HEADER``, and the offset its marker covers in the marker. After a
crash or a rebalance the next reader starts from the last committed offset and sends
again what was already forwarded; the operator knows such a copy by its source offset
being below one a merged marker covered (``OperatorWatermark.is_resent``): its original
was judged before that marker, so a copy the watermark has passed since (its id no longer
kept) is skipped as a duplicate, not reported late.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from faust.types import EventT

__all__ = ["SOURCE_HEADER", "source_header", "source_of"]

SOURCE_HEADER = "sei-activity-source"


def source_header(partition: int, offset: int) -> tuple[str, bytes]:
    """The header of an event read at ``offset`` of source ``partition``."""
    return SOURCE_HEADER, b"%d:%d" % (partition, offset)


def source_of(event: EventT[Any]) -> tuple[int, int] | None:
    """(source partition, offset) of a re-keyed event; None without the header (a record
    re-keyed before it existed, or sent by something else: judged by its id alone)."""
    headers = event.message.headers
    if not headers:
        return None
    items = headers.items() if isinstance(headers, Mapping) else cast(Sequence[tuple[str, bytes]], headers)
    for name, value in items:
        if name == SOURCE_HEADER:
            try:
                partition, offset = bytes(value).split(b":")
                return int(partition), int(offset)
            except ValueError:
                return None
    return None
