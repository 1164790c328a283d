"""Rolling windows ending at a query time, and their week and month slices.

A window of N days is the half-open interval (end - N days, end] in microseconds since the
epoch (METRICS edge rule 1). Its slices of k days are counted back from ``end`` the same
way; days left over at the old end (2 of a 30-day window's weeks) are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from tables.instants import from_micros

__all__ = ["MICROS_PER_DAY", "Window"]

MICROS_PER_DAY = 86_400 * 1_000_000


@dataclass(frozen=True, slots=True)
class Window:
    end: int  # microseconds since the epoch, UTC; inclusive
    days: int

    def __post_init__(self) -> None:
        if self.days <= 0:
            raise ValueError(f"window of {self.days} days")

    @property
    def start(self) -> int:
        """The exclusive lower bound."""
        return self.end - self.days * MICROS_PER_DAY

    def contains(self, moment: int | None) -> bool:
        """True when ``moment`` lies in (start, end]."""
        return moment is not None and self.start < moment <= self.end

    def slices(self, slice_days: int) -> list[Window]:
        """The whole ``slice_days`` slices counted back from ``end``, newest first."""
        return [
            Window(self.end - index * slice_days * MICROS_PER_DAY, slice_days)
            for index in range(self.days // slice_days)
        ]

    def end_iso(self) -> str:
        """``end`` as ISO-8601 UTC, as the HTTP answers show it."""
        return from_micros(self.end).isoformat()
