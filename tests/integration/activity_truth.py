"""An activity history for the pipeline tests, and its truth computed without the agents
or the windowing module: sessions by sorting each user's events and cutting at gaps,
minute counts and page views by counting the unique events."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

GAP = timedelta(seconds=1800)
GRACE = timedelta(seconds=300)
PAGES = [f"https://shop.example/p/{n}" for n in range(12)]
TYPES = ["page_view", "page_view", "page_view", "click", "add_to_cart", "error"]


@dataclass(frozen=True)
class Event:
    event_id: str
    user_id: str
    time: datetime
    event_type: str
    page_url: str | None
    client_session: str

    def value(self) -> bytes:
        return orjson.dumps(
            {
                "event_id": self.event_id,
                "request_id": f"req-{self.event_id}",
                "event_type": self.event_type,
                "timestamp": self.time.isoformat(),
                "user_id": self.user_id,
                "session_id": self.client_session,
                "page_url": self.page_url,
                "event_data": {"n": 1},
                "client_info": {"user_agent": "test", "language": "en"},
                "service_info": {"service_name": "ingestion", "environment": "test"},
            }
        )


@dataclass
class History:
    events: list[Event]  # unique, valid, in time
    messages: list[tuple[bytes | None, bytes]]  # the stream: shuffled within grace, duplicates, malformed
    malformed: int
    late: list[Event] = field(default_factory=list)  # sent after the watermark passed them
    sentinel: Event | None = None  # moves the watermark past every session; not in the truth


def generate(
    seed: int,
    users: int = 24,
    start: datetime = datetime(2026, 3, 2, 9, tzinfo=UTC),
    *,
    bursts: int = 3,
    burst_sizes: Sequence[int] = (1, 1, 3, 6, 9),
    late_events: int = 3,
) -> History:
    """Each user's events in 1 to ``bursts`` sessions of ``burst_sizes`` events;
    ``late_events`` events of the earliest user dated at the very start."""
    rng = random.Random(seed)
    prefix = uuid.uuid4().hex[:6]
    events: list[Event] = []
    for u in range(users):
        user = f"{prefix}-user-{u}"
        moment = start + timedelta(seconds=rng.randint(0, 1200))
        for burst in range(rng.randint(1, bursts)):
            client = f"cs-{u}-{burst}"
            for _ in range(rng.choice(burst_sizes)):
                moment += timedelta(seconds=rng.randint(1, 400), microseconds=rng.randint(0, 999_999))
                kind = rng.choice(TYPES)
                page = rng.choice(PAGES) if kind == "page_view" or rng.random() < 0.5 else None
                events.append(Event(f"{prefix}-e{len(events)}", user, moment, kind, page, client))
            moment += GAP + timedelta(seconds=rng.randint(0, 3000))  # at least a gap: a new session
    events.sort(key=lambda e: e.time)
    # Out of order within grace: each event moved by up to 90 s of event time.
    arrival = sorted(events, key=lambda e: e.time + timedelta(seconds=rng.uniform(-90, 90)))
    stream: list[Event] = []
    for event in arrival:
        stream.append(event)
        if rng.random() < 0.08:  # a duplicate, soon after
            stream.insert(max(0, len(stream) - rng.randint(0, 4)), event)
    messages = [(_key(e, rng), e.value()) for e in stream]
    bad = [b"{not json", orjson.dumps({"event_id": "x", "user_id": "u"}), orjson.dumps([1, 2])]
    for value in bad:
        messages.insert(rng.randint(0, len(messages)), (None, value))
    late_user = events[0].user_id
    late = [
        Event(
            f"{prefix}-late{n}",
            late_user,
            events[0].time + timedelta(seconds=n),
            "page_view",
            PAGES[0],
            "cs-late",
        )
        for n in range(late_events)
    ]
    sentinel = Event(
        f"{prefix}-sentinel",
        f"{prefix}-sentinel",
        events[-1].time + GAP + GRACE + timedelta(minutes=5),
        "click",
        None,
        "cs",
    )
    return History(events, messages, len(bad), late, sentinel)


def _key(event: Event, rng: random.Random) -> bytes | None:
    # Producers key by user, by event id, or not at all: the results must not depend on it.
    return rng.choice([event.user_id.encode(), event.event_id.encode(), None])


def _micros(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def sessions_of(events: list[Event]) -> dict[str, list[dict[str, Any]]]:
    """Per user: its sessions' fields, newest first."""
    by_user: dict[str, list[Event]] = defaultdict(list)
    for event in sorted(events, key=lambda e: (e.time, e.event_id)):
        by_user[event.user_id].append(event)
    sessions: dict[str, list[dict[str, Any]]] = {}
    for user, timeline in by_user.items():
        runs: list[list[Event]] = [[timeline[0]]]
        for event in timeline[1:]:
            if event.time - runs[-1][-1].time < GAP:
                runs[-1].append(event)
            else:
                runs.append([event])
        sessions[user] = [_fields(run) for run in reversed(runs)]
    return sessions


def _fields(run: list[Event]) -> dict[str, Any]:
    views = [e for e in run if e.event_type == "page_view" and e.page_url]
    pages: list[str] = []
    for view in views:
        if view.page_url not in pages:
            pages.append(str(view.page_url))
    clients: list[str] = []
    for event in run:
        if event.client_session not in clients:
            clients.append(event.client_session)
    return {
        "session_start": run[0].time.isoformat(),
        "session_end": run[-1].time.isoformat(),
        "duration_s": (run[-1].time - run[0].time).total_seconds(),
        "events": len(run),
        "page_views": sum(1 for e in run if e.event_type == "page_view"),
        "pages": pages,
        "pages_truncated": False,
        "entry_page": views[0].page_url if views else None,
        "exit_page": views[-1].page_url if views else None,
        "bounce": len(run) == 1,
        "client_session_ids": clients,
        "client_sessions_truncated": False,
    }


def minutes_of(events: list[Event]) -> dict[tuple[datetime, str], tuple[int, int]]:
    """(minute, event type) -> (events, distinct users)."""
    counts: dict[tuple[datetime, str], int] = defaultdict(int)
    users: dict[tuple[datetime, str], set[str]] = defaultdict(set)
    for event in events:
        key = (_micros(event.time), event.event_type)
        counts[key] += 1
        users[key].add(event.user_id)
    return {key: (counts[key], len(users[key])) for key in counts}


def page_minutes_of(events: list[Event]) -> dict[tuple[datetime, str], int]:
    """(minute, page URL) -> views."""
    views: dict[tuple[datetime, str], int] = defaultdict(int)
    for event in events:
        if event.event_type == "page_view" and event.page_url:
            views[(_micros(event.time), event.page_url)] += 1
    return dict(views)


def closing_records(sentinel: Event, partitions: int) -> list[tuple[bytes | None, bytes, int]]:
    """The sentinel's event once in every source partition (as (key, value, partition)), each
    copy its own event: every input's watermark passes the whole history, none idle."""
    return [
        (sentinel.user_id.encode(), replace(sentinel, event_id=f"{sentinel.event_id}-{p}").value(), p)
        for p in range(partitions)
    ]


# The errors-by-page join: error events on the ingest topic (seed 002's envelope), joined
# with the same user's latest page view at most 60 s before.

JOIN_BOUND = timedelta(seconds=60)


@dataclass(frozen=True)
class IngestError:
    event_id: str
    user_id: str | None  # None: an error naming no user, never joined
    time: datetime
    event_type: str = "error"  # another type names a user and is never joined either

    def value(self) -> bytes:
        payload: dict[str, Any] = {"event_type": self.event_type, "source": "web_app", "data": {"n": 1}}
        if self.user_id is not None:
            payload["user_id"] = self.user_id
        return orjson.dumps({"id": self.event_id, "timestamp": self.time.isoformat(), "payload": payload})


@dataclass
class IngestHistory:
    errors: list[IngestError]  # unique, in time: errors naming a user and the rest
    messages: list[tuple[bytes | None, bytes]]  # shuffled within grace, with duplicates
    late: list[IngestError]  # errors naming a user, sent after the join's watermark passed them
    closing: IngestError  # a later event in every ingest partition closes every error

    def closing_records(self, partitions: int) -> list[tuple[bytes | None, bytes, int]]:
        return [
            (None, replace(self.closing, event_id=f"{self.closing.event_id}-{p}").value(), p)
            for p in range(partitions)
        ]


def ingest_errors(history: History, seed: int, late_errors: int = 3) -> IngestHistory:
    """Errors of the history's users: after a page view by 0 to 90 s (exactly 0 and 60 s
    too), at random times, naming no user, and other event types naming a user; 8 %
    duplicated; ``late_errors`` of the first user dated at the history's start."""
    rng = random.Random(seed)
    prefix = uuid.uuid4().hex[:6]
    events = history.events
    users = sorted({e.user_id for e in events})
    errors: list[IngestError] = []

    def add(user: str | None, moment: datetime, kind: str = "error") -> None:
        errors.append(IngestError(f"{prefix}-x{len(errors)}", user, moment, kind))

    for view in (e for e in events if e.event_type == "page_view"):
        if rng.random() < 0.35:
            offset = rng.choice([0.0, 60.0, 60.000001, rng.uniform(0, 90), rng.uniform(0, 60)])
            add(view.user_id, view.time + timedelta(seconds=offset))
    span = (events[0].time, events[-1].time)
    for _ in range(len(users)):
        moment = span[0] + (span[1] - span[0]) * rng.random()
        add(rng.choice(users), moment)
        add(None, moment + timedelta(seconds=1))
        add(rng.choice(users), moment + timedelta(seconds=2), "user_action")
    errors.sort(key=lambda e: e.time)
    arrival = sorted(errors, key=lambda e: e.time + timedelta(seconds=rng.uniform(-90, 90)))
    stream: list[IngestError] = []
    for error in arrival:
        stream.append(error)
        if rng.random() < 0.08:
            stream.insert(max(0, len(stream) - rng.randint(0, 4)), error)
    messages = [(rng.choice([e.event_id.encode(), None]), e.value()) for e in stream]
    late = [
        IngestError(f"{prefix}-late-x{n}", events[0].user_id, events[0].time + timedelta(seconds=n + 1))
        for n in range(late_errors)
    ]
    closing = IngestError(f"{prefix}-closing", None, events[-1].time + GAP + GRACE + timedelta(minutes=5), "metric")
    return IngestHistory(errors, messages, late, closing)


ErrorTruth = dict[tuple[str, str], str | None]  # (user, error id) -> page joined (None: no page view)


def error_pages_of(events: list[Event], errors: list[IngestError]) -> ErrorTruth:
    """Each error naming a user -> the URL of its user's latest page view (by time, then
    event id) at most 60 s before it, None when there is none."""
    views: dict[str, list[Event]] = defaultdict(list)
    for event in sorted(events, key=lambda e: (e.time, e.event_id)):
        if event.event_type == "page_view" and event.page_url:
            views[event.user_id].append(event)
    found: ErrorTruth = {}
    for error in errors:
        if error.event_type != "error" or error.user_id is None:
            continue
        within = [v for v in views[error.user_id] if error.time - JOIN_BOUND <= v.time <= error.time]
        found[(error.user_id, error.event_id)] = within[-1].page_url if within else None
    return found


def errors_by_page_of(truth: ErrorTruth) -> list[dict[str, Any]]:
    """GET /activity/errors-by-page over the whole history: errors and distinct users per
    page, errors descending, users descending, URL."""
    errors: dict[str, int] = defaultdict(int)
    users: dict[str, set[str]] = defaultdict(set)
    for (user, _), page in truth.items():
        if page is not None:
            errors[page] += 1
            users[page].add(user)
    ranked = sorted(errors, key=lambda p: (-errors[p], -len(users[p]), p))
    return [{"page_url": p, "errors": errors[p], "users": len(users[p])} for p in ranked]
