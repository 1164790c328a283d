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
        if value is None:
            return _EMPTY
        if limit < 1 or len(value) > max_chars:
            return cls((), (time, value))
        return cls(((time, value),))

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(value for _, value in self.kept)

    @property
    def truncated(self) -> bool:
        """True when some distinct values were left out."""
        return self.cut is not None

    def merge(self, other: FirstDistinct, limit: int, max_chars: int) -> FirstDistinct:
        """The first distinct values of both, within ``limit`` values and ``max_chars``
        (both within them already: every value is made by ``of`` and ``merge``)."""
        # A session's events merge in one at a time, most of them a page already listed or
        # none: those answers without the sort (what the general case would give).
        if len(other.kept) == 1 and other.cut is None:
            found = self._with_one(other.kept[0], limit, max_chars)
            if found is not None:
                return found
        if len(self.kept) == 1 and self.cut is None:
            found = other._with_one(self.kept[0], limit, max_chars)
            if found is not None:
                return found
        if not other.kept and other.cut is None:
            return self
        if not self.kept and self.cut is None:
            return other
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

    def _with_one(self, seen: Seen, limit: int, max_chars: int) -> FirstDistinct | None:
        """``merge`` with the single value ``seen`` when that is quick to tell (None: not)."""
        time, value = seen
        for kept_time, kept_value in self.kept:
            if kept_value == value:
                return self if kept_time <= time else None
        if self.cut is not None or (self.kept and seen < self.kept[-1]):
            return None
        # A new value after every kept one, nothing cut: appended if it fits, else the cut.
        if len(self.kept) < limit and sum(len(v) for _, v in self.kept) + len(value) <= max_chars:
            return FirstDistinct((*self.kept, seen))
        return FirstDistinct(self.kept, seen)

    def to_record(self) -> list[Any]:
        """The JSON-ready value: ``[[[time, value], ...], cut]``."""
        return [[list(seen) for seen in self.kept], None if self.cut is None else list(self.cut)]

    @classmethod
    def from_record(cls, record: Sequence[Any]) -> FirstDistinct:
        """The values stored as ``record`` by to_record."""
        kept, cut = record
        return cls(_seen_all(kept), None if cut is None else (int(cut[0]), str(cut[1])))


_EMPTY = FirstDistinct()


def _seen_all(record: Iterable[Sequence[Any]]) -> tuple[Seen, ...]:
    return tuple([(int(time), str(value)) for time, value in record])  # a list: quicker than a generator
