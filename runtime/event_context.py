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

__all__ = ["acting_for", "reading_partition"]


class acting_for:  # noqa: N801  # used as a function: ``with acting_for(event):``
    """Make ``event`` Faust's current event for the duration of the block.

    A class rather than a ``@contextmanager`` generator: the activity operator enters it
    for every value it reads (several per event), where the generator's setup showed."""

    __slots__ = ("_event", "_token")

    def __init__(self, event: EventT[Any]) -> None:
        self._event = event

    def __enter__(self) -> None:
        self._token = _current_event.set(weakref.ref(self._event))

    def __exit__(self, *_: object) -> None:
        _current_event.reset(self._token)


class _PartitionOnly:
    """Stands for an event of one partition: all Faust's store reads look at."""

    def __init__(self, partition: int) -> None:
        self.message = _Message(partition)


class _Message:
    def __init__(self, partition: int) -> None:
        self.partition = partition


@contextmanager
def reading_partition(partition: int) -> Iterator[None]:
    """Table reads in the block go to ``partition``'s store only.

    Outside an event, Faust's RocksDB store looks a key up in every partition's database
    it holds (each missing key: one lookup per partition); a reader that knows the key's
    partition (a view answering for a repository, the projection) says so. Reads only:
    writes still need ``acting_for`` a real event.
    """
    stand_in = _PartitionOnly(partition)
    token = _current_event.set(weakref.ref(stand_in))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _current_event.reset(token)
