"""Find source messages Faust read past but never delivered, and have them read again.

Faust's consumer can drop a fetched message on the floor: a message fetched just before a
seek (recovery, rebalance) is delivered or skipped against stale read offsets, and a
message in flight when flow stops is cancelled while its read offset still advances. Such
a message is never processed and never acked, so the partition's commit sticks just
before it while later messages are processed: the message is lost until the next
rebalance seeks the partition back (seen here: 18-24 of 21,000 messages after a restart
that rebuilt its tables, one of 90,909 after three kill -9).

The causes found so far are fixed where they arise (runtime.transport: fetches held until
their seek, and released only by the seek of the current assignment); this watch stays as
the safety net, with the cure Kafka consumers always have: read again from the committed offset.
Every table update and database write is idempotent, so reading a message twice is safe;
losing one is not. A partition is rewound when its first uncommitted message (the
committed offset) is not acked while later messages are, and is not waiting in a stream
queue, on two checks in a row; and (``IdleWatch``) when nothing moves on it for a minute
while its commit stands behind its end with none of its messages in flight: the trace a
rebalance leaves when a seek loses a race with records in hand (seen in 2 of ~16 runs of
the two-worker rebalance test under load, before and after write-behind: after the second
worker left, partitions the first kept were read from past their committed offset, or not
at all, and their commit never moved again).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass, field

from faust.types import TP

__all__ = ["IdleWatch", "LostMessageWatch", "StallWatch", "count_unchanged", "lost_heads"]


def lost_heads(
    committed: Mapping[TP, int | None],
    read: Mapping[TP, int | None],
    acked: Mapping[TP, Collection[int]],
    queued: Collection[tuple[TP, int]],
    busy: Collection[TP] = (),
) -> dict[TP, int]:
    """Partitions whose first uncommitted message was skipped: later ones are acked, it is not.

    ``committed`` is the next offset to consume (Kafka's meaning), ``read`` the offset of
    the last message handed to the streams, ``acked`` the offsets acked but not committed
    yet. A partition's messages are processed in order, so an acked offset above an unacked
    head means the head was dropped, unless it still waits in a stream queue (``queued``)
    or the queue is full and it may be waiting to enter (``busy``). A message taken into
    a batch and never acked (Faust lost its reference count) counts as dropped too.
    """
    lost: dict[TP, int] = {}
    for tp, head in committed.items():
        last_read = read.get(tp)
        done = acked.get(tp, ())
        # After a seek Faust's read offset *equals* the committed one with nothing read yet.
        if head is None or last_read is None or last_read <= head or tp in busy or not done:
            continue
        if head in done or (tp, head) in queued or max(done) < head:
            continue
        lost[tp] = head
    return lost


@dataclass(slots=True)
class LostMessageWatch:
    """Rewinds only what is found lost twice in a row at the same offset."""

    suspects: dict[TP, int] = field(default_factory=dict)

    def confirm(self, found: Mapping[TP, int]) -> dict[TP, int]:
        """Record this check's findings; return those also found by the previous check."""
        confirmed = {tp: offset for tp, offset in found.items() if self.suspects.get(tp) == offset}
        self.suspects = {tp: offset for tp, offset in found.items() if tp not in confirmed}
        return confirmed

    def reset(self) -> None:
        self.suspects.clear()


def count_unchanged(
    since: Mapping[TP, tuple[Hashable, int]], values: Mapping[TP, Hashable]
) -> dict[TP, tuple[Hashable, int]]:
    """Each partition's value and for how many checks in a row it has had it (this one
    included); partitions absent from ``values`` are forgotten, so they start over."""
    counted: dict[TP, tuple[Hashable, int]] = {}
    for tp, value in values.items():
        previous, count = since.get(tp, (value, 0))
        counted[tp] = (value, count + 1 if previous == value else 1)
    return counted


@dataclass(slots=True)
class StallWatch:
    """Partitions with messages behind their commit that has not moved for ``checks`` checks.

    Each stall is reported once, when it reaches ``checks``; a partition whose commit moves
    again (or that catches up) starts over.
    """

    checks: int = 6
    _since: dict[TP, tuple[Hashable, int]] = field(default_factory=dict)

    def observe(self, committed: Mapping[TP, int | None], ends: Mapping[TP, int | None]) -> list[TP]:
        behind = {
            tp: offset
            for tp, offset in committed.items()
            if (end := ends.get(tp)) is not None and (offset is None or offset < end)
        }
        self._since = count_unchanged(self._since, behind)
        return [tp for tp, (_, count) in self._since.items() if count == self.checks]

    def reset(self) -> None:
        self._since.clear()


@dataclass(slots=True)
class IdleWatch:
    """Partitions on which nothing moved, neither the commit nor the read offset, for
    ``checks`` checks in a row while none of their messages was in flight: candidates for
    a rewind, once their end is known to lie beyond the commit. The caller passes only
    partitions with nothing acked awaiting a commit; one missing from a check starts over.

    A partition is rewound at most once at the same committed offset: a commit that stays
    behind the end after a rewind has a cause a rewind does not cure (a transaction marker
    at the end of the log is never delivered, so never committed over).
    """

    checks: int = 3
    _since: dict[TP, tuple[Hashable, int]] = field(default_factory=dict)
    _rewound_at: dict[TP, int] = field(default_factory=dict)

    def observe(
        self, committed: Mapping[TP, int | None], read: Mapping[TP, int | None], in_flight: Collection[TP]
    ) -> list[TP]:
        """This check's committed (None: nothing committed) and read offsets -> partitions
        idle long enough."""
        positions = {
            tp: (offset or 0, read.get(tp)) for tp, offset in committed.items() if tp not in in_flight
        }
        self._since = count_unchanged(self._since, positions)
        return [
            tp
            for tp, (_, count) in self._since.items()
            if count >= self.checks and self._rewound_at.get(tp) != positions[tp][0]
        ]

    def rewound(self, tp: TP, offset: int) -> None:
        """``tp`` was rewound to ``offset``: counted again from zero, never rewound there again."""
        self._rewound_at[tp] = offset
        self._since.pop(tp, None)

    def reset(self) -> None:
        """A rebalance: every count starts over (rewinds done stay remembered)."""
        self._since.clear()
