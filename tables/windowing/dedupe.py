"""Admission of one key's events: late, duplicate or new.

Duplicates (the same ``event_id`` redelivered or re-sent) count once. A key keeps the ids
of its events whose time the watermark has not passed: a copy of an older event is late
anyway (its windows, sessions and join probes are closed) and is reported as late, so its
id is no longer needed. The set is bounded by the key's events within the watermark's lag
(the grace period plus how far the slowest input trails), never by its history.

Consequence: a copy sent again after the watermark passed its time is reported late
although its original was counted; what was written does not change. The copies a
re-keying reader sends again after a restart are told apart before admission, by their
source offset (``OperatorWatermark.is_resent``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = ["Admission", "SeenEvents", "admit"]


class Admission(Enum):
    """What to do with an event."""

    NEW = "new"  # apply it
    DUPLICATE = "duplicate"  # already applied: skip silently
    LATE = "late"  # below the watermark: report (metric, dead letter), never apply


@dataclass(frozen=True, slots=True)
class SeenEvents:
    """The ids of one key's events at or above the watermark, with their event times."""

    times: Mapping[str, int] = field(default_factory=dict)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self.times

    def __len__(self) -> int:
        return len(self.times)

    def add(self, event_id: str, event_time: int) -> SeenEvents:
        """These ids and ``event_id``."""
        return SeenEvents({**self.times, event_id: event_time})

    def prune(self, watermark: int | None) -> SeenEvents:
        """Without the ids of events below ``watermark`` (a copy of one of those is late)."""
        # Every event asks, most often to no effect: min() runs in C, a generator did not.
        if watermark is None or not self.times or min(self.times.values()) >= watermark:
            return self
        return SeenEvents({event_id: time for event_id, time in self.times.items() if time >= watermark})

    def to_record(self) -> dict[str, int]:
        """The JSON-ready value: ``{event_id: event_time}``."""
        return dict(self.times)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SeenEvents:
        """The ids stored as ``record`` by to_record."""
        return cls({str(event_id): int(time) for event_id, time in record.items()})


def admit(
    seen: SeenEvents, event_id: str, event_time: int, watermark: int | None
) -> tuple[Admission, SeenEvents]:
    """Whether to apply the event, and the key's ids afterwards (pruned to ``watermark``)."""
    seen = seen.prune(watermark)
    if watermark is not None and event_time < watermark:
        return Admission.LATE, seen
    if event_id in seen:
        return Admission.DUPLICATE, seen
    return Admission.NEW, seen.add(event_id, event_time)
