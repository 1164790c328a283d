"""The first distinct values of a set, by first appearance, within a size limit: mergeable.

A session lists its distinct pages and client session ids. The full set grows with the
session, so a value keeps only the longest prefix, in order of (first time, value), that
fits the limits (a number of values and their characters together), and says whether
anything was left out.

A prefix alone does not merge exactly: a value left out of one part (too long for what was
left of the budget) frees room that a later value of the other part would take, which the
whole set would not give it. So the value also keeps its *cut*: the (time, value) of the
first value left out, or a lower bound of it carried from a merge. Everything before the
cut is kept, and something at or before it does not fit; a merge keeps only what comes
before both parts' cuts and then applies the limits again. The kept values and whether
anything was cut are then those of the whole set, whatever the order of the merges (the
cut itself may be a lower bound; it is state, not output).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FirstDistinct"]

Seen = tuple[int, str]  # (first time, value)


@dataclass(frozen=True, slots=True)
class FirstDistinct:
    """The first distinct values within the limits, and where the rest was cut."""

    kept: tuple[Seen, ...] = ()  # ascending
    cut: Seen | None = None

    @classmethod
    def of(cls, time: int, value: str | None, limit: int, max_chars: int) -> FirstDistinct:
        """One value seen at ``time`` (nothing for None)."""
        return cls().merge(cls(((time, value),)) if value is not None else cls(), limit, max_chars)

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(value for _, value in self.kept)

    @property
    def truncated(self) -> bool:
        """True when some distinct values were left out."""
        return self.cut is not None

    def merge(self, other: FirstDistinct, limit: int, max_chars: int) -> FirstDistinct:
        """The first distinct values of both, within ``limit`` values and ``max_chars``."""
        cuts = [cut for cut in (self.cut, other.cut) if cut is not None]
        cut = min(cuts) if cuts else None
        earliest: dict[str, int] = {}
        for time, value in (*self.kept, *other.kept):
            if value not in earliest or time < earliest[value]:
                earliest[value] = time
        kept: list[Seen] = []
        chars = 0
        for seen in sorted((time, value) for value, time in earliest.items()):
            if cut is not None and seen >= cut:
                break
            if len(kept) == limit or chars + len(seen[1]) > max_chars:
                cut = seen
                break
            kept.append(seen)
            chars += len(seen[1])
        return FirstDistinct(tuple(kept), cut)

    def to_record(self) -> list[Any]:
        """The JSON-ready value: ``[[[time, value], ...], cut]``."""
        return [[list(seen) for seen in self.kept], None if self.cut is None else list(self.cut)]

    @classmethod
    def from_record(cls, record: Sequence[Any]) -> FirstDistinct:
        """The values stored as ``record`` by to_record."""
        kept, cut = record
        return cls(_seen_all(kept), None if cut is None else (int(cut[0]), str(cut[1])))


def _seen_all(record: Iterable[Sequence[Any]]) -> tuple[Seen, ...]:
    return tuple((int(time), str(value)) for time, value in record)
