"""The activity operator's table values and what one event or one watermark does to them
(pure: the windowing module's values put together per user and per partition).

- ``UserActivityState`` (one per user): the ids admitted within the watermark's lag, the
  user's sessions, and the minute windows it has been counted in. One value, so an
  event's admission and its effects are written together.
- ``PartitionActivityState`` (one per internal partition): its ``OperatorWatermark``, the
  open minute windows that hold tallies, the due buckets of its session index, and its
  count of open sessions (for the metric).
- Tallies: per partition, minute and shard, ``WindowTallies`` of event types (events and
  distinct users) and of page views (views per URL), written as per-partition rows when
  the minute closes.
- Session index: per partition, close-time bucket and shard, the users whose earliest open
  session closes in that bucket (``due_bucket``); a bucket is visited once the watermark
  reaches its end, so closing sessions never scans every user. A user whose close moves
  to another bucket is taken off the old one (agents.activity_partition); an entry left
  stale is harmless: visiting it closes nothing and re-indexes the user.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tables.windowing.dedupe import Admission, SeenEvents, admit
from tables.windowing.sessions import Session, SessionEvent, SessionRules, UserSessions
from tables.windowing.tumbling import MemberWindows, OpenWindows, WindowSpec, shard_of
from tables.windowing.units import MICROS_PER_MINUTE
from tables.windowing.watermark import OperatorWatermark

__all__ = [
    "ActivityChange",
    "ActivityRules",
    "Counted",
    "PartitionActivityState",
    "UserActivityState",
    "close_user",
    "apply_change",
]

MINUTES = WindowSpec.tumbling(MICROS_PER_MINUTE)


@dataclass(frozen=True, slots=True)
class ActivityRules:
    """The operator's parameters (from settings), in microseconds."""

    grace: int
    sessions: SessionRules
    minutes: WindowSpec = MINUTES
    page_shards: int = 8  # a busy minute's page tallies over this many values
    due_bucket: int = MICROS_PER_MINUTE  # width of a session-index bucket
    due_shards: int = 16  # a bucket's users over this many values

    def due_bucket_of(self, close_time: int) -> int:
        """The index bucket of a session closing at ``close_time``."""
        return close_time // self.due_bucket

    def due_shard_of(self, user_id: str) -> int:
        return shard_of(user_id, self.due_shards)

    def page_shard_of(self, page_url: str) -> int:
        return shard_of(page_url, self.page_shards)


@dataclass(frozen=True, slots=True)
class ActivityChange:
    """One valid activity event as the operator applies it (time in microseconds)."""

    event_id: str
    time: int
    event_type: str
    user_id: str
    page_url: str | None = None
    client_session_id: str | None = None

    @property
    def session_event(self) -> SessionEvent:
        return SessionEvent(self.event_id, self.time, self.event_type, self.page_url, self.client_session_id)

    def to_record(self) -> list[Any]:
        """The JSON-ready value: ``[event_id, time, event_type, user_id, page_url, client_session_id]``."""
        return [self.event_id, self.time, self.event_type, self.user_id, self.page_url, self.client_session_id]

    @classmethod
    def from_record(cls, record: Sequence[Any]) -> ActivityChange:
        """The change stored as ``record`` by to_record (a malformed one raises)."""
        event_id, time, event_type, user_id, page_url, client_session_id = record
        for text in (event_id, event_type, user_id):
            if not isinstance(text, str):
                raise TypeError(f"activity change {record!r}: ids and type must be strings")
        for optional in (page_url, client_session_id):
            if optional is not None and not isinstance(optional, str):
                raise TypeError(f"activity change {record!r}: page_url and session_id must be strings")
        if not isinstance(time, int) or isinstance(time, bool):
            raise TypeError(f"activity change {record!r}: time must be an integer (µs)")
        return cls(event_id, time, event_type, user_id, page_url, client_session_id)


@dataclass(frozen=True, slots=True)
class Counted:
    """What a new event adds to its partition's open windows."""

    types: tuple[tuple[int, bool], ...]  # (window start, user new in that window's event type)
    pages: tuple[int, ...]  # window starts of a page view (empty for other events)


@dataclass(frozen=True, slots=True)
class UserActivityState:
    """One user's table value."""

    seen: SeenEvents = field(default_factory=SeenEvents)
    sessions: UserSessions = field(default_factory=UserSessions)
    windows: MemberWindows = field(default_factory=MemberWindows)

    def next_close(self, rules: ActivityRules) -> int | None:
        return self.sessions.next_close(rules.sessions)

    def to_record(self) -> dict[str, Any]:
        return {
            "seen": self.seen.to_record(),
            "sessions": self.sessions.to_record(),
            "windows": self.windows.to_record(),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | UserActivityState | None) -> UserActivityState:
        """The value stored as ``record`` by to_record (or kept decoded: runtime.coalesced)."""
        if record is None:
            return cls()
        if isinstance(record, UserActivityState):
            return record
        return cls(
            SeenEvents.from_record(record["seen"]),
            UserSessions.from_record(record["sessions"]),
            MemberWindows.from_record(record["windows"]),
        )


def close_user(
    state: UserActivityState, watermark: int | None, rules: ActivityRules
) -> tuple[tuple[Session, ...], UserActivityState]:
    """The sessions ``watermark`` closes (oldest first) and the user without what it no
    longer needs (ids and windows below the watermark)."""
    closed, sessions = state.sessions.close(watermark, rules.sessions)
    seen = state.seen.prune(watermark)
    windows = state.windows.prune(rules.minutes, watermark)
    if not closed and seen is state.seen and windows is state.windows:
        return (), state
    return closed, UserActivityState(seen, sessions, windows)


def apply_change(
    state: UserActivityState, change: ActivityChange, watermark: int | None, rules: ActivityRules
) -> tuple[Admission, UserActivityState, tuple[Session, ...], Counted | None]:
    """Admit ``change`` against ``watermark``: the verdict, the user afterwards, the
    sessions the watermark closed on the way, and (new events only) what to tally."""
    closed, state = close_user(state, watermark, rules)
    verdict, seen = admit(state.seen, change.event_id, change.time, watermark)
    if verdict is not Admission.NEW:
        return verdict, UserActivityState(seen, state.sessions, state.windows), closed, None
    sessions = state.sessions.add(change, rules.sessions)  # its fields are a session event's
    placed, windows = state.windows.place(rules.minutes, change.time, change.event_type)
    # A page view counts in the same windows as its type: their starts, not computed again.
    pages = tuple(start for start, _ in placed) if change.event_type == "page_view" and change.page_url else ()
    return verdict, UserActivityState(seen, sessions, windows), closed, Counted(placed, pages)


@dataclass(frozen=True, slots=True)
class PartitionActivityState:
    """One internal partition's table value."""

    watermark: OperatorWatermark
    windows: OpenWindows = field(default_factory=OpenWindows)
    due: tuple[int, ...] = ()  # session-index buckets holding entries, ascending
    open_sessions: int = 0

    @classmethod
    def expecting(cls, inputs: Iterable[str]) -> PartitionActivityState:
        """A fresh partition waiting for a marker from each of ``inputs``."""
        return cls(OperatorWatermark.expecting(inputs))

    # The operator changes one field at a time, per event: constructors, not
    # dataclasses.replace (which looks the fields up on every call).

    def with_windows(self, windows: OpenWindows) -> PartitionActivityState:
        if windows is self.windows:
            return self
        return PartitionActivityState(self.watermark, windows, self.due, self.open_sessions)

    def with_opened(self, opened: int) -> PartitionActivityState:
        """With ``opened`` more open sessions (fewer when negative)."""
        if not opened:
            return self
        return PartitionActivityState(self.watermark, self.windows, self.due, self.open_sessions + opened)

    def with_due(self, buckets: Iterable[int]) -> PartitionActivityState:
        buckets = tuple(buckets)
        if len(buckets) == 1 and buckets[0] in self.due:  # most calls: a bucket listed already
            return self
        merged = set(self.due).union(buckets)
        if len(merged) == len(self.due):
            return self
        return PartitionActivityState(self.watermark, self.windows, tuple(sorted(merged)), self.open_sessions)

    def due_reached(self, rules: ActivityRules) -> tuple[tuple[int, ...], PartitionActivityState]:
        """The index buckets the watermark has passed entirely (visit them), and the rest."""
        mark = self.watermark.watermark
        if mark is None:
            return (), self
        reached = tuple(b for b in self.due if (b + 1) * rules.due_bucket <= mark)
        if not reached:
            return (), self
        rest = self.due[len(reached) :]
        return reached, PartitionActivityState(self.watermark, self.windows, rest, self.open_sessions)

    def to_record(self) -> dict[str, Any]:
        return {
            "watermark": self.watermark.to_record(),
            "windows": self.windows.to_record(),
            "due": list(self.due),
            "open_sessions": self.open_sessions,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | PartitionActivityState) -> PartitionActivityState:
        """The value stored as ``record`` by to_record (or kept decoded: runtime.coalesced)."""
        if isinstance(record, PartitionActivityState):
            return record
        return cls(
            OperatorWatermark.from_record(record["watermark"]),
            OpenWindows.from_record(record["windows"]),
            tuple(int(b) for b in record["due"]),
            int(record["open_sessions"]),
        )
