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
