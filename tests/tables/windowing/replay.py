"""A simulation of the activity operators on the pure windowing module, and an independent
truth to compare them with.

Source partitions are read in a given order; each event read is sent to the operator
partition of its user (a FIFO queue, as a partition of the re-keying topic is) followed by a
marker to every operator partition. Operator partitions consume their queues when the
schedule says so. Each operator composes the module as the agents do: admission, sessions,
minute tallies of event types (distinct users) and of pages, closing on the watermark.
Every value goes through its JSON record on each write, as a table stores it.
"""

from __future__ import annotations

import json
import zlib
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tables.windowing.dedupe import Admission, SeenEvents, admit
from tables.windowing.sessions import PAGE_VIEW, Session, SessionEvent, SessionRules, UserSessions
from tables.windowing.topk import merge_counts
from tables.windowing.tumbling import MemberWindows, OpenWindows, Tally, WindowSpec, WindowTallies
from tables.windowing.units import MICROS_PER_MINUTE
from tables.windowing.watermark import InputClock, Marker, OperatorWatermark, input_name

SOURCE_TOPIC = "user-activity-events"
PAGE_MINUTES = WindowSpec.tumbling(MICROS_PER_MINUTE)
IDLE_AFTER_S = 30.0


@dataclass(frozen=True)
class Event:
    event_id: str
    time: int
    user: str
    event_type: str = PAGE_VIEW
    page_url: str | None = None
    client_session_id: str | None = None

    def for_sessions(self) -> SessionEvent:
        return SessionEvent(self.event_id, self.time, self.event_type, self.page_url, self.client_session_id)


def stored(record: Any) -> Any:
    """A value as a table gives it back: through JSON."""
    return json.loads(json.dumps(record))


def operator_of(user: str, operators: int) -> int:
    return zlib.crc32(user.encode()) % operators


@dataclass
class Windowed:
    """One partition's windows of one spec: open tallies (as stored), open starts, closed tallies."""

    spec: WindowSpec
    open: dict[int, dict[str, Any]] = field(default_factory=dict)
    starts: list[int] = field(default_factory=list)
    closed: dict[int, WindowTallies] = field(default_factory=dict)

    def count(self, start: int, group: str, new_member: bool) -> None:
        current = WindowTallies.from_record(self.open.get(start, {}))
        self.open[start] = stored(current.count(group, new_member).to_record())
        self.starts = stored(OpenWindows.from_record(self.starts).add([start]).to_record())

    def close(self, watermark: int | None) -> None:
        closed, still_open = OpenWindows.from_record(self.starts).close(self.spec, watermark)
        self.starts = stored(still_open.to_record())
        for start in closed:
            assert start not in self.closed, f"window {start} written twice"
            self.closed[start] = WindowTallies.from_record(self.open.pop(start))

    def every(self) -> list[tuple[int, WindowTallies]]:
        """Closed and open windows."""
        return [*self.closed.items(), *((s, WindowTallies.from_record(r)) for s, r in self.open.items())]


@dataclass
class Operator:
    """One operator partition of the activity agents."""

    inputs: Sequence[str]
    rules: SessionRules
    spec: WindowSpec  # event-type tallies with distinct users
    clock: dict[str, Any] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    types: Windowed = field(init=False)
    pages: Windowed = field(init=False)
    closed_sessions: dict[tuple[str, int], Session] = field(default_factory=dict)
    late: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.clock = stored(OperatorWatermark.expecting(self.inputs).to_record())
        self.types = Windowed(self.spec)
        self.pages = Windowed(PAGE_MINUTES)

    @property
    def watermark(self) -> OperatorWatermark:
        return OperatorWatermark.from_record(self.clock)

    def user_state(self, user: str) -> tuple[SeenEvents, UserSessions, MemberWindows]:
        record = self.users.get(user)
        if record is None:
            return SeenEvents(), UserSessions(), MemberWindows()
        return (
            SeenEvents.from_record(record["seen"]),
            UserSessions.from_record(record["sessions"]),
            MemberWindows.from_record(record["windows"]),
        )

    def store_user(self, user: str, seen: SeenEvents, sessions: UserSessions, windows: MemberWindows) -> None:
        self.users[user] = stored(
            {"seen": seen.to_record(), "sessions": sessions.to_record(), "windows": windows.to_record()}
        )

    def on_event(self, event: Event) -> None:
        seen, sessions, windows = self.user_state(event.user)
        admission, seen = admit(seen, event.event_id, event.time, self.watermark.watermark)
        if admission is Admission.LATE:
            self.late.append(event)
            return
        if admission is Admission.NEW:
            sessions = sessions.add(event.for_sessions(), self.rules)
            placed, windows = windows.place(self.spec, event.time, event.event_type)
            for start, new_member in placed:
                self.types.count(start, event.event_type, new_member)
            if event.event_type == PAGE_VIEW and event.page_url is not None:
                for start in PAGE_MINUTES.starts(event.time):
                    self.pages.count(start, event.page_url, False)
        self.store_user(event.user, seen, sessions, windows)

    def on_marker(self, marker: Marker) -> None:
        before = self.watermark.watermark
        clock = self.watermark.merge(Marker.from_record(stored(marker.to_record())))
        self.clock = stored(clock.to_record())
        watermark = clock.watermark
        assert before is None or (watermark is not None and watermark >= before), "watermark went back"
        if watermark == before:
            return
        self.types.close(watermark)
        self.pages.close(watermark)
        for user in list(self.users):
            seen, sessions, windows = self.user_state(user)
            ended, sessions = sessions.close(watermark, self.rules)
            for session in ended:
                assert (user, session.start) not in self.closed_sessions, "session written twice"
                self.closed_sessions[user, session.start] = session
            self.store_user(user, seen.prune(watermark), sessions, windows.prune(self.spec, watermark))

    def open_sessions(self) -> list[tuple[str, Session]]:
        return [(user, s) for user in self.users for s in self.user_state(user)[1].open]


@dataclass
class Outcome:
    """What the operators wrote (closed) and hold (open) at the end."""

    operators: list[Operator]

    def sessions(self) -> set[tuple[str, str]]:
        found = self.closed_sessions()
        for operator in self.operators:
            found += operator.open_sessions()
        return {(user, json.dumps(s.fields(), sort_keys=True)) for user, s in found}

    def closed_sessions(self) -> list[tuple[str, Session]]:
        return [(user, s) for o in self.operators for (user, _), s in o.closed_sessions.items()]

    def type_tallies(self) -> dict[tuple[int, str], Tally]:
        """Per (window start, event type): closed and open tallies of every partition, merged."""
        merged: dict[tuple[int, str], Tally] = defaultdict(Tally)
        for operator in self.operators:
            for start, tallies in operator.types.every():
                for group, tally in tallies.counts.items():
                    merged[start, group] = merged[start, group].merge(tally)
        return dict(merged)

    def page_counts(self, starts: Iterable[int]) -> dict[str, int]:
        wanted = set(starts)
        parts = []
        for operator in self.operators:
            parts += [tallies.events() for start, tallies in operator.pages.every() if start in wanted]
        return merge_counts(parts)

    def late(self) -> list[Event]:
        return [event for operator in self.operators for event in operator.late]

    def watermark(self) -> int | None:
        marks = [operator.watermark.watermark for operator in self.operators]
        return None if None in marks else min(m for m in marks if m is not None)


def replay(
    sources: Sequence[Sequence[Event]],
    schedule: Sequence[int],
    operators: int,
    rules: SessionRules,
    spec: WindowSpec,
    grace: int,
) -> Outcome:
    """Read ``sources`` (one arrival order per source partition) and deliver to ``operators``
    partitions, interleaved by ``schedule``; then read to the end and let every source go idle."""
    names = [input_name(SOURCE_TOPIC, index) for index in range(len(sources))]
    parts = [Operator(names, rules, spec) for _ in range(operators)]
    queues: list[deque[Event | Marker]] = [deque() for _ in range(operators)]
    clocks = [InputClock(name) for name in names]
    pending = [deque(events) for events in sources]

    def read(source: int) -> None:
        event = pending[source].popleft()
        clocks[source] = clocks[source].read(event.time)
        queues[operator_of(event.user, operators)].append(event)
        send_markers(source, now=0.0)

    def send_markers(source: int, now: float) -> None:
        marker = clocks[source].marker(grace, IDLE_AFTER_S, now)
        for queue in queues:
            queue.append(marker)

    def deliver(operator: int) -> None:
        item = queues[operator].popleft()
        if isinstance(item, Marker):
            parts[operator].on_marker(item)
        else:
            parts[operator].on_event(item)

    for choice in schedule:
        actions = [(read, s) for s in range(len(sources)) if pending[s]]
        actions += [(deliver, o) for o in range(operators) if queues[o]]
        if not actions:
            break
        action, index = actions[choice % len(actions)]
        action(index)
    for source in range(len(sources)):
        while pending[source]:
            read(source)
    for source in range(len(sources)):
        clocks[source] = clocks[source].at_end(now=0.0)
        send_markers(source, now=IDLE_AFTER_S)
    for operator in range(operators):
        while queues[operator]:
            deliver(operator)
    return Outcome(parts)


# The truth, computed from the events alone without the module.


def distinct(events: Iterable[Event]) -> list[Event]:
    """One event per id, ordered by (time, id)."""
    return sorted({event.event_id: event for event in events}.values(), key=lambda e: (e.time, e.event_id))


def first_distinct(pairs: Iterable[tuple[int, str]], limit: int, max_chars: int) -> tuple[list[str], bool]:
    first: dict[str, int] = {}
    for time, value in pairs:
        first[value] = min(time, first.get(value, time))
    values = [value for _, value in sorted((time, value) for value, time in first.items())]
    kept = values[:limit]
    while sum(map(len, kept)) > max_chars:
        kept.pop()
    return kept, len(values) > len(kept)


def true_sessions(events: Iterable[Event], rules: SessionRules) -> set[tuple[str, str]]:
    by_user: dict[str, list[Event]] = defaultdict(list)
    for event in distinct(events):
        by_user[event.user].append(event)
    found = set()
    for user, ordered in by_user.items():
        run: list[Event] = []
        for event in ordered:
            if run and event.time - run[-1].time >= rules.gap:
                found.add((user, json.dumps(session_fields(run, rules), sort_keys=True)))
                run = []
            run.append(event)
        found.add((user, json.dumps(session_fields(run, rules), sort_keys=True)))
    return found


def session_fields(run: list[Event], rules: SessionRules) -> dict[str, Any]:
    views = [e for e in run if e.event_type == PAGE_VIEW and e.page_url is not None]
    pages, pages_cut = first_distinct(
        ((e.time, e.page_url) for e in views if e.page_url), rules.max_pages, rules.max_list_chars
    )
    clients, clients_cut = first_distinct(
        ((e.time, e.client_session_id) for e in run if e.client_session_id),
        rules.max_client_sessions,
        rules.max_list_chars,
    )
    return {
        "session_start": run[0].time,
        "session_end": run[-1].time,
        "duration_s": (run[-1].time - run[0].time) / 1_000_000,
        "events": len(run),
        "page_views": sum(e.event_type == PAGE_VIEW for e in run),
        "pages": pages,
        "pages_truncated": pages_cut,
        "entry_page": views[0].page_url if views else None,
        "exit_page": views[-1].page_url if views else None,
        "bounce": len(run) == 1,
        "client_session_ids": clients,
        "client_sessions_truncated": clients_cut,
    }


def containing_starts(time: int, spec: WindowSpec) -> list[int]:
    """Window starts k * step with start <= time < start + size, by brute force."""
    lowest = (time - spec.size) // spec.step - 1
    return [k * spec.step for k in range(lowest, time // spec.step + 2) if k * spec.step <= time < k * spec.step + spec.size]


def true_type_tallies(events: Iterable[Event], spec: WindowSpec) -> dict[tuple[int, str], Tally]:
    counts: dict[tuple[int, str], int] = defaultdict(int)
    users: dict[tuple[int, str], set[str]] = defaultdict(set)
    for event in distinct(events):
        for start in containing_starts(event.time, spec):
            counts[start, event.event_type] += 1
            users[start, event.event_type].add(event.user)
    return {key: Tally(counts[key], len(users[key])) for key in counts}


def true_top_pages(events: Iterable[Event], start: int, end: int, k: int) -> list[tuple[str, int]]:
    views: dict[str, int] = defaultdict(int)
    for event in distinct(events):
        if event.event_type == PAGE_VIEW and event.page_url is not None and start <= event.time < end:
            views[event.page_url] += 1
    return sorted(views.items(), key=lambda item: (-item[1], item[0]))[:k]
