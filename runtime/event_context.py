"""Table writes on behalf of one event of a ``take_events()`` batch.

Faust routes a table write to the changelog and RocksDB partition of "the current event",
a context variable that its stream sets per message. Inside a ``take_events()`` batch the
agent handles many events at once, so we set it for each one while its effects are
applied; the write then lands in that event's partition, as co-partitioning requires.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event  # the variable behind faust.current_event()
from faust.types import EventT

__all__ = ["acting_for"]


@contextmanager
def acting_for(event: EventT[Any]) -> Iterator[None]:
    """Make ``event`` Faust's current event for the duration of the block."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
