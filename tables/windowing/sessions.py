"""Per-user sessions in event time.

- A session is a maximal run of one user's events in which consecutive events are less than
  ``gap`` apart. An event joins every open session it is less than a gap from, so a late
  event (within grace) that bridges two sessions merges them; the result depends only on
  the set of events, not their order.
- A session closes when the watermark reaches its last event plus the gap: any event not
  late from then on is at least a gap after it, so it can neither extend nor bridge it.
- Duplicates and late events are filtered before (``tables.windowing.dedupe.admit``):
  counts here add up, they do not deduplicate.
- Entry and exit pages are the first and last ``page_view`` by (event time, event id).
- Bounded values: ``pages`` keeps the distinct pages in order of first view (time, then
  URL) up to ``max_pages`` of them and ``max_list_chars`` characters together;
  ``client_session_ids`` likewise up to ``max_client_sessions``; a session with more says so
  (``pages_truncated``, ``client_sessions_truncated``). Both are exact up to the limits
  whatever the arrival order (``tables.windowing.first_distinct``). A user keeps at most
  ``recent_closed`` closed sessions (for the live view); the database keeps them all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tables.windowing.first_distinct import FirstDistinct
from tables.windowing.units import MICROS_PER_SECOND

__all__ = ["PAGE_VIEW", "EventFields", "PageVisit", "Session", "SessionEvent", "SessionRules", "UserSessions"]

PAGE_VIEW = "page_view"


@dataclass(frozen=True, slots=True)
class SessionRules:
    """How sessions are cut and how much of one is kept."""

    gap: int  # microseconds: events this far apart or more are in different sessions
    max_pages: int = 50
    max_client_sessions: int = 10
    max_list_chars: int = 2_048  # of each list's values together
    recent_closed: int = 3

    def __post_init__(self) -> None:
        if self.gap <= 0:
            raise ValueError(f"session gap of {self.gap} µs: must be positive")


class EventFields(Protocol):
    """What sessions read of an event: a ``SessionEvent``, or the operator's own change
    (tables.activity_state.ActivityChange: no copy made per event)."""

    @property
    def event_id(self) -> str: ...
    @property
    def time(self) -> int: ...
    @property
    def event_type(self) -> str: ...
    @property
    def page_url(self) -> str | None: ...
    @property
    def client_session_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """The fields of an activity event that sessions use."""

    event_id: str
    time: int
    event_type: str
    page_url: str | None = None
    client_session_id: str | None = None


@dataclass(frozen=True, slots=True, order=True)
class PageVisit:
    """A ``page_view``: ordered by (time, event id) to pick entry and exit pages."""

    time: int
    event_id: str
    page_url: str


@dataclass(frozen=True, slots=True)
class Session:
    """One session, open or closed."""

    start: int
    end: int  # the last event's time
    events: int
    page_views: int
    entry: PageVisit | None
    exit: PageVisit | None
    first_pages: FirstDistinct
    first_client_sessions: FirstDistinct

    @classmethod
    def of(cls, event: EventFields, rules: SessionRules) -> Session:
        """The session of one event."""
        visit = None
        if event.event_type == PAGE_VIEW and event.page_url is not None:
            visit = PageVisit(event.time, event.event_id, event.page_url)
        return cls(
            start=event.time,
            end=event.time,
            events=1,
            page_views=int(event.event_type == PAGE_VIEW),
            entry=visit,
            exit=visit,
            first_pages=FirstDistinct.of(
                event.time, None if visit is None else visit.page_url, rules.max_pages, rules.max_list_chars
            ),
            first_client_sessions=FirstDistinct.of(
                event.time, event.client_session_id or None, rules.max_client_sessions, rules.max_list_chars
            ),
        )

    def merge(self, other: Session, rules: SessionRules) -> Session:
        """The session of both sessions' events."""
        return Session(
            start=min(self.start, other.start),
            end=max(self.end, other.end),
            events=self.events + other.events,
            page_views=self.page_views + other.page_views,
            entry=_pick(min, self.entry, other.entry),
            exit=_pick(max, self.exit, other.exit),
            first_pages=self.first_pages.merge(other.first_pages, rules.max_pages, rules.max_list_chars),
            first_client_sessions=self.first_client_sessions.merge(
                other.first_client_sessions, rules.max_client_sessions, rules.max_list_chars
            ),
        )

    def with_event(self, event: EventFields, rules: SessionRules) -> Session:
        """``Session.of(event).merge(self)`` (an event this session reaches), without the
        one-event session in between: most events do this."""
        time = event.time
        is_view = event.event_type == PAGE_VIEW
        pages = self.first_pages
        entry, exit_ = self.entry, self.exit
        if is_view and event.page_url is not None:
            visit = PageVisit(time, event.event_id, event.page_url)
            entry, exit_ = _pick(min, visit, entry), _pick(max, visit, exit_)
            seen = FirstDistinct.of(time, event.page_url, rules.max_pages, rules.max_list_chars)
            pages = seen.merge(pages, rules.max_pages, rules.max_list_chars)
        # An event without a value leaves a list as it is (``of`` gives the empty one, the
        # identity of ``merge``).
        clients = self.first_client_sessions
        if event.client_session_id:
            seen = FirstDistinct.of(time, event.client_session_id, rules.max_client_sessions, rules.max_list_chars)
            clients = seen.merge(clients, rules.max_client_sessions, rules.max_list_chars)
        return Session(
            start=min(time, self.start),
            end=max(time, self.end),
            events=1 + self.events,
            page_views=int(is_view) + self.page_views,
            entry=entry,
            exit=exit_,
            first_pages=pages,
            first_client_sessions=clients,
        )

    def reaches(self, time: int, gap: int) -> bool:
        """True when an event at ``time`` is less than ``gap`` from this session."""
        return self.start - gap < time < self.end + gap

    def close_time(self, gap: int) -> int:
        """The watermark at which this session closes."""
        return self.end + gap

    @property
    def duration_s(self) -> float:
        return (self.end - self.start) / MICROS_PER_SECOND

    @property
    def bounce(self) -> bool:
        """The session has exactly one event."""
        return self.events == 1

    @property
    def pages(self) -> tuple[str, ...]:
        """Distinct page URLs of its page views, in order of first view."""
        return self.first_pages.values

    @property
    def pages_truncated(self) -> bool:
        return self.first_pages.truncated

    @property
    def client_session_ids(self) -> tuple[str, ...]:
        """Distinct client ``session_id``s, in order of first appearance."""
        return self.first_client_sessions.values

    @property
    def client_sessions_truncated(self) -> bool:
        return self.first_client_sessions.truncated

    @property
    def entry_page(self) -> str | None:
        return None if self.entry is None else self.entry.page_url

    @property
    def exit_page(self) -> str | None:
        return None if self.exit is None else self.exit.page_url

    def fields(self) -> dict[str, Any]:
        """The session's output fields (``user_sessions`` columns; times in microseconds)."""
        return {
            "session_start": self.start,
            "session_end": self.end,
            "duration_s": self.duration_s,
            "events": self.events,
            "page_views": self.page_views,
            "pages": list(self.pages),
            "pages_truncated": self.pages_truncated,
            "entry_page": self.entry_page,
            "exit_page": self.exit_page,
            "bounce": self.bounce,
            "client_session_ids": list(self.client_session_ids),
            "client_sessions_truncated": self.client_sessions_truncated,
        }

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready value."""
        return {
            "start": self.start,
            "end": self.end,
            "events": self.events,
            "page_views": self.page_views,
            "entry": None if self.entry is None else [self.entry.time, self.entry.event_id, self.entry.page_url],
            "exit": None if self.exit is None else [self.exit.time, self.exit.event_id, self.exit.page_url],
            "pages": self.first_pages.to_record(),
            "clients": self.first_client_sessions.to_record(),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Session:
        """The session stored as ``record`` by to_record."""
        # Positional, in the fields' order: a worker decodes every user whose session the
        # watermark may close (read long ago: out of the read cache), several sessions each.
        entry, exit_ = record["entry"], record["exit"]
        return cls(
            int(record["start"]),
            int(record["end"]),
            int(record["events"]),
            int(record["page_views"]),
            None if entry is None else PageVisit(int(entry[0]), str(entry[1]), str(entry[2])),
            None if exit_ is None else PageVisit(int(exit_[0]), str(exit_[1]), str(exit_[2])),
            FirstDistinct.from_record(record["pages"]),
            FirstDistinct.from_record(record["clients"]),
        )


@dataclass(frozen=True, slots=True)
class UserSessions:
    """One user's open sessions and latest closed ones: the table value."""

    open: tuple[Session, ...] = ()  # by start; consecutive ones at least a gap apart
    # Closed, newest first, at most rules.recent_closed, kept as their records: only the
    # live view reads them (``recent_sessions``), and a user's value is decoded and encoded
    # again for every event and session close, with three recent sessions to one open.
    recent: tuple[Mapping[str, Any], ...] = ()

    def add(self, event: EventFields, rules: SessionRules) -> UserSessions:
        """These sessions with ``event`` (admitted: neither late nor a duplicate) added."""
        kept = []
        reached = []
        time, gap = event.time, rules.gap
        for session in self.open:
            if session.start - gap < time < session.end + gap:  # Session.reaches, inlined: per event
                reached.append(session)
            else:
                kept.append(session)
        if len(reached) == 1:  # most events: one session grows
            merged = reached[0].with_event(event, rules)
        else:
            merged = Session.of(event, rules)
            for session in reached:
                merged = merged.merge(session, rules)
        if not kept:  # most events: the user's one open session, or none
            return UserSessions((merged,), self.recent)
        return UserSessions(tuple(sorted([*kept, merged], key=_start)), self.recent)

    def close(self, watermark: int | None, rules: SessionRules) -> tuple[tuple[Session, ...], UserSessions]:
        """The sessions ``watermark`` closes (oldest first), and what remains."""
        if watermark is None:
            return (), self
        # Open sessions are by start and a gap apart, so their ends (and close times) ascend
        # too: the closed ones are a prefix, and most calls (every event's) stop at the first.
        gap = rules.gap
        count = 0
        for session in self.open:
            if session.end + gap > watermark:
                break
            count += 1
        if not count:
            return (), self
        closed = self.open[:count]
        kept = rules.recent_closed
        newest = [s.to_record() for s in closed[::-1][:kept]]  # only those kept are encoded
        recent = (*newest, *self.recent)[:kept]
        return closed, UserSessions(self.open[count:], recent)

    def recent_sessions(self) -> tuple[Session, ...]:
        """The latest closed sessions, newest first."""
        return tuple([Session.from_record(s) for s in self.recent])

    def next_close(self, rules: SessionRules) -> int | None:
        """The watermark at which the earliest open session closes; None without one
        (the first one's: their ends ascend, ``close``)."""
        return self.open[0].end + rules.gap if self.open else None

    @property
    def current(self) -> Session | None:
        """The latest open session, as the live view shows it."""
        return self.open[-1] if self.open else None

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready table value."""
        return {"open": [s.to_record() for s in self.open], "recent": list(self.recent)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> UserSessions:
        """The sessions stored as ``record`` by to_record."""
        return cls(
            tuple([Session.from_record(s) for s in record["open"]]),
            tuple(record["recent"]),
        )


def _start(session: Session) -> int:
    return session.start


def _pick(
    choose: Callable[[PageVisit, PageVisit], PageVisit], first: PageVisit | None, second: PageVisit | None
) -> PageVisit | None:
    if first is None:
        return second
    if second is None:
        return first
    return choose(first, second)



