"""Tumbling and hopping windows in event time, with exact counts and distinct counts.

- A window is the half-open interval ``[start, start + size)``; starts are the multiples of
  ``step`` (tumbling: ``step == size``; hopping: ``step < size``, each time in
  ``size / step`` windows). A window closes when the watermark reaches its end: every event
  not late from then on is at or after the end. Emit on close; until then its tallies are
  the open state the views read.
- A :class:`Tally` counts events and distinct members (users) of one group (event type,
  page) in one window. Distinct members are exact without a set of members in the window's
  value: each member remembers the windows it has been counted in (:class:`MemberWindows`,
  kept in the member's own value while those windows are open). The operator is keyed by
  member, so each member is counted by one partition only and the partitions' tallies add
  up exactly (:meth:`Tally.merge`).
- Values stay small: one :class:`WindowTallies` holds one window's tallies of the groups of
  one shard (``shard_of``), so a window with many groups (pages) is split across a fixed
  number of values; :class:`OpenWindows` lists the open window starts of a partition.
- Duplicates and late events are filtered before (``tables.windowing.dedupe.admit``).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MemberWindows", "OpenWindows", "Tally", "WindowSpec", "WindowTallies", "shard_of"]


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """Window size and step, in microseconds."""

    size: int
    step: int

    def __post_init__(self) -> None:
        if self.size <= 0 or self.step <= 0:
            raise ValueError(f"window size {self.size} µs and step {self.step} µs must be positive")
        if self.step > self.size:
            raise ValueError(f"window step {self.step} µs is longer than its size {self.size} µs")

    @classmethod
    def tumbling(cls, size: int) -> WindowSpec:
        """Adjacent windows of ``size``."""
        return cls(size, size)

    @classmethod
    def hopping(cls, size: int, step: int) -> WindowSpec:
        """Windows of ``size`` starting every ``step``."""
        return cls(size, step)

    def starts(self, time: int) -> tuple[int, ...]:
        """The starts of the windows containing ``time``, ascending."""
        latest = time - time % self.step
        if self.step == self.size:  # tumbling: one window (every event asks)
            return (latest,)
        return tuple(range(latest, time - self.size, -self.step))[::-1]

    def end(self, start: int) -> int:
        """The exclusive end of the window starting at ``start``."""
        return start + self.size

    def is_closed(self, start: int, watermark: int | None) -> bool:
        """True once ``watermark`` has reached the window's end."""
        return watermark is not None and self.end(start) <= watermark

    def starts_within(self, start: int, end: int) -> range:
        """The starts of the windows that tile ``[start, end)`` (tumbling windows only)."""
        if self.step != self.size:
            raise ValueError("only tumbling windows tile an interval")
        for name, bound in (("from", start), ("to", end)):
            if bound % self.size:
                raise ValueError(f"{name}={bound} µs is not on a {self.size} µs window boundary")
        if end < start:
            raise ValueError(f"to={end} µs is before from={start} µs")
        return range(start, end, self.size)


@dataclass(frozen=True, slots=True)
class Tally:
    """One group's count in one window."""

    events: int = 0
    members: int = 0  # distinct members, exact when members are partitioned (module doc)

    def add(self, new_member: bool) -> Tally:
        """This tally with one more event, of a member not yet counted when ``new_member``."""
        return Tally(self.events + 1, self.members + int(new_member))

    def merge(self, other: Tally) -> Tally:
        """The tally of both (other partitions or shards: disjoint events and members)."""
        return Tally(self.events + other.events, self.members + other.members)


@dataclass(frozen=True, slots=True)
class WindowTallies:
    """The tallies of one window's groups (of one shard, on one partition): a table value."""

    counts: Mapping[str, Tally] = field(default_factory=dict)

    def count(self, group: str, new_member: bool = False) -> WindowTallies:
        """These tallies with one more event of ``group``."""
        return WindowTallies({**self.counts, group: self.counts.get(group, Tally()).add(new_member)})

    @staticmethod
    def count_into(counts: dict[str, Tally], group: str, new_member: bool = False) -> None:
        """``count`` in place, for a caller that owns ``counts`` (a copy it made of a table
        value: one copy per batch rather than one per event), in the same key order."""
        tally = counts.get(group)
        counts[group] = Tally(1, int(new_member)) if tally is None else tally.add(new_member)

    def merge(self, other: WindowTallies) -> WindowTallies:
        """The tallies of both."""
        counts = dict(self.counts)
        for group, tally in other.counts.items():
            counts[group] = counts.get(group, Tally()).merge(tally)
        return WindowTallies(counts)

    def events(self) -> dict[str, int]:
        """Events per group (the input of ``topk``)."""
        return {group: tally.events for group, tally in self.counts.items()}

    def to_record(self) -> dict[str, list[int]]:
        """The JSON-ready value: ``{group: [events, members]}``."""
        return {group: [tally.events, tally.members] for group, tally in self.counts.items()}

    @classmethod
    def from_record(cls, record: Mapping[str, Sequence[int]] | WindowTallies) -> WindowTallies:
        """The tallies stored as ``record`` by to_record (or kept decoded)."""
        if isinstance(record, WindowTallies):
            return record
        return cls(
            {str(group): Tally(int(events), int(members)) for group, (events, members) in record.items()}
        )


@dataclass(frozen=True, slots=True)
class MemberWindows:
    """The open windows (start, group) one member has been counted in: part of its value."""

    counted: frozenset[tuple[int, str]] = frozenset()

    def place(
        self, spec: WindowSpec, time: int, group: str
    ) -> tuple[tuple[tuple[int, bool], ...], MemberWindows]:
        """The windows an event counts in, each with whether its member is new there, and
        this member afterwards."""
        counted = self.counted
        starts = spec.starts(time)
        if len(starts) == 1:  # tumbling: no generator, no set built for a window already counted
            pair = (starts[0], group)
            if pair in counted:
                return ((starts[0], False),), self
            return ((starts[0], True),), MemberWindows(counted | {pair})
        placed = tuple((start, (start, group) not in counted) for start in starts)
        added = {(start, group) for start, new in placed if new}
        return placed, (MemberWindows(counted | added) if added else self)

    def prune(self, spec: WindowSpec, watermark: int | None) -> MemberWindows:
        """Without the windows ``watermark`` has closed."""
        # Every event asks: the earliest start closes first, so one min() (in C) tells
        # whether anything closed before the set is rebuilt.
        if watermark is None or not self.counted or min(self.counted)[0] + spec.size > watermark:
            return self
        kept = frozenset(pair for pair in self.counted if not spec.is_closed(pair[0], watermark))
        return self if len(kept) == len(self.counted) else MemberWindows(kept)

    def to_record(self) -> list[list[Any]]:
        """The JSON-ready value: ``[[start, group], ...]``."""
        return [[start, group] for start, group in sorted(self.counted)]

    @classmethod
    def from_record(cls, record: Iterable[Sequence[Any]]) -> MemberWindows:
        """The windows stored as ``record`` by to_record."""
        return cls(frozenset([(int(start), str(group)) for start, group in record]))


@dataclass(frozen=True, slots=True)
class OpenWindows:
    """The starts of one partition's windows that hold tallies and are not closed."""

    starts: tuple[int, ...] = ()  # ascending

    def add(self, starts: Iterable[int]) -> OpenWindows:
        """With ``starts`` open too."""
        starts = tuple(starts)
        if len(starts) == 1 and starts[0] in self.starts:  # most events: their one minute is open
            return self
        if all(start in self.starts for start in starts):
            return self
        merged = set(self.starts).union(starts)
        return self if len(merged) == len(self.starts) else OpenWindows(tuple(sorted(merged)))

    def close(self, spec: WindowSpec, watermark: int | None) -> tuple[tuple[int, ...], OpenWindows]:
        """The starts ``watermark`` closes (ascending: emit in this order), and the rest."""
        closed = tuple(start for start in self.starts if spec.is_closed(start, watermark))
        return closed, (OpenWindows(self.starts[len(closed) :]) if closed else self)

    def to_record(self) -> list[int]:
        return list(self.starts)

    @classmethod
    def from_record(cls, record: Iterable[int]) -> OpenWindows:
        return cls(tuple(sorted(int(start) for start in record)))


def shard_of(group: str, shards: int) -> int:
    """The shard (0..shards-1) of a group's tallies: stable across processes (crc32, not
    ``hash``, which Python salts per process)."""
    return zlib.crc32(group.encode()) % shards
