"""A realistic ``user-activity-events`` history (seed 003 ``EnrichedEvent`` messages) for the
tests and ``bench.activity``: N events over U users over a span of time.

Deterministic for a seed. Users are skewed (a few heavy, many light); each user's events come
in sessions (bursts of events seconds apart, separated by more than the 30-minute session gap);
a session starts with a page view and browses pages of skewed popularity; event types are
page views, clicks, scrolls, searches, form submits and errors. On top, what the agents must
survive, each with a share of the events:

- out of order: sent up to half the grace after later events (never late);
- duplicates: the same event (same ``event_id``) sent again, later;
- late: events sent in the second half of the span dated in its first tenth, hours older
  than anything the watermark can still hold open (late for any reader, whatever its pace);
- malformed: invalid JSON, a JSON array, a missing ``user_id``, an unreadable timestamp.

The stream ends with closing events: for every partition, events dated a grace plus two
minutes after the span, so the watermark passes every window and session of the span on
every reader (a Dataflow watermark, Quix's per-partition stream time, via a re-keying topic
or not). Messages are keyed by ``user_id`` or by ``event_id`` (``key_by``).
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, Literal

import orjson

from runtime.partitioner import partition_of

__all__ = ["ActivityPlan", "ActivityHistory", "Sent", "generate_activity_history", "iso_ms", "EVENT_TYPES"]

KeyBy = Literal["user_id", "event_id"]
Kind = Literal["event", "out_of_order", "duplicate", "late", "malformed", "closing"]

# (event type, weight) after a session's first event, which is always a page view.
EVENT_TYPES: tuple[tuple[str, int], ...] = (
    ("page_view", 50),
    ("click", 30),
    ("scroll", 8),
    ("search", 5),
    ("form_submit", 4),
    ("error", 3),
)
_SECTIONS = ("products", "docs", "blog", "pricing", "account", "search", "checkout", "help")
_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
)
_SCREENS = ("1920x1080", "1440x900", "390x844", "2560x1440")
_LANGUAGES = ("en-US", "de-DE", "fr-FR", "es-ES", "ja-JP")
_PLAIN_CLIENT = (_AGENTS[0], _SCREENS[0], _LANGUAGES[0])


@dataclass(frozen=True)
class ActivityPlan:
    """What to generate; shares are of ``events``."""

    events: int = 100_000
    users: int = 10_000
    start: datetime = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    span_s: int = 12 * 3600
    grace_s: int = 300
    session_gap_s: int = 1800
    out_of_order: float = 0.05
    duplicates: float = 0.01
    late: float = 0.002
    malformed: float = 0.001
    key_by: KeyBy = "user_id"
    partitions: int = 8
    pages: int = 400
    seed: int = 3

    def __post_init__(self) -> None:
        if self.events < self.users:
            raise ValueError(f"events ({self.events}) must be at least users ({self.users}): one each")
        if self.span_s < self.session_gap_s:
            raise ValueError(f"span_s ({self.span_s}) must be at least session_gap_s ({self.session_gap_s})")


@dataclass(frozen=True)
class Sent:
    """One message as produced: ``partition`` None means by the key (murmur2)."""

    kind: Kind
    key: bytes | None
    value: bytes
    partition: int | None = None


@dataclass
class ActivityHistory:
    plan: ActivityPlan
    sent: list[Sent] = field(default_factory=list)

    def records(self) -> list[tuple[bytes | None, bytes, int | None]]:
        """(key, value, partition) in produce order."""
        return [(item.key, item.value, item.partition) for item in self.sent]

    def kinds(self) -> Counter[str]:
        return Counter(item.kind for item in self.sent)

    def __len__(self) -> int:
        return len(self.sent)


def iso_ms(ms: int) -> str:
    """An epoch-milliseconds time as ISO-8601 UTC with milliseconds and a ``Z``."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Generator:
    def __init__(self, plan: ActivityPlan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.start_ms = int(plan.start.timestamp() * 1000)
        self.end_ms = self.start_ms + plan.span_s * 1000
        self.pages = [self._page_url(i) for i in range(plan.pages)]
        # Zipf-like popularity: the top page is viewed ~ 60x more than the median one.
        self.page_weights = list(accumulate(1.0 / (rank + 1) ** 1.1 for rank in range(plan.pages)))
        self.type_names = [name for name, _ in EVENT_TYPES]
        self.type_weights = list(accumulate(weight for _, weight in EVENT_TYPES))

    def _page_url(self, index: int) -> str:
        section = _SECTIONS[index % len(_SECTIONS)]
        return f"https://shop.example.com/{section}/{index:04d}"

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def events_per_user(self) -> list[int]:
        plan, rng = self.plan, self.rng
        weights = list(accumulate(1.0 / (rank + 1) ** 0.5 for rank in range(plan.users)))
        counts = [1] * plan.users
        for user in rng.choices(range(plan.users), cum_weights=weights, k=plan.events - plan.users):
            counts[user] += 1
        rng.shuffle(counts)  # heavy users are not the low ids
        return counts

    def session_sizes(self, events: int) -> list[int]:
        """Split a user's events into sessions that fit the span with gaps between them."""
        rng, plan = self.rng, self.plan
        most = max(1, plan.span_s // (plan.session_gap_s + 600))
        sessions = min(most, events, max(1, round(events / rng.uniform(4, 12))))
        cuts = sorted(rng.sample(range(1, events), sessions - 1)) if sessions > 1 else []
        return [b - a for a, b in zip([0, *cuts], [*cuts, events], strict=True)]

    def session_offsets(self, size: int) -> list[int]:
        """Millisecond offsets of a session's events from its start (each gap 0.2 s-15 min)."""
        offsets, at = [0], 0
        for _ in range(size - 1):
            at += int(min(900.0, max(0.2, self.rng.expovariate(1 / 20.0))) * 1000)
            offsets.append(at)
        return offsets

    def user_events(self, user: str, events: int) -> list[dict[str, Any]]:
        rng, plan = self.rng, self.plan
        sessions = [self.session_offsets(size) for size in self.session_sizes(events)]
        gap_ms = plan.session_gap_s * 1000 + 1000
        gaps = gap_ms * (len(sessions) - 1)  # under the span: sessions <= span / (gap + 10 min)
        busy = sum(s[-1] for s in sessions)
        if gaps + busy > plan.span_s * 1000:  # a heavy user: shorten the pauses within sessions
            scale = (plan.span_s * 1000 - gaps) / (busy + 1)
            sessions = [[int(offset * scale) for offset in s] for s in sessions]
            busy = sum(s[-1] for s in sessions)
        room = plan.span_s * 1000 - gaps - busy
        slack = sorted(rng.randrange(room + 1) for _ in range(len(sessions)))
        language, agent, screen = rng.choice(_LANGUAGES), rng.choice(_AGENTS), rng.choice(_SCREENS)
        out: list[dict[str, Any]] = []
        at = self.start_ms
        previous_slack = 0
        for index, offsets in enumerate(sessions):
            at += slack[index] - previous_slack + (gap_ms if index else 0)
            previous_slack = slack[index]
            client_session = f"cs-{self.uid()[:13]}"
            page = self.pick_page()
            for position, offset in enumerate(offsets):
                kind = "page_view" if position == 0 else self.pick_type()
                if kind == "page_view" and position:
                    page = self.pick_page()
                if rng.random() < 0.01:  # the client rotated its own session id mid-session
                    client_session = f"cs-{self.uid()[:13]}"
                out.append(
                    self.event(user, at + offset, kind, page, client_session, (agent, screen, language))
                )
            at += offsets[-1]
        return out

    def pick_page(self) -> str:
        return self.rng.choices(self.pages, cum_weights=self.page_weights)[0]

    def pick_type(self) -> str:
        return self.rng.choices(self.type_names, cum_weights=self.type_weights)[0]

    def event(
        self, user: str, time_ms: int, kind: str, page: str, client_session: str, client: tuple[str, str, str]
    ) -> dict[str, Any]:
        data: dict[str, Any]
        if kind == "click":
            data = {"element": self.rng.choice(("button#buy", "a.nav", "img.hero", "button#next"))}
        elif kind == "search":
            data = {"query": self.rng.choice(("shoes", "red jacket", "returns", "gift card"))}
        elif kind == "error":
            data = {"code": self.rng.choice((400, 404, 500)), "message": "request failed"}
        elif kind == "form_submit":
            data = {"form": self.rng.choice(("newsletter", "checkout", "login"))}
        else:
            data = {}
        processed = time_ms + self.rng.randrange(1, 40)
        return {
            "event_id": self.uid(),
            "request_id": self.uid(),
            "event_type": kind,
            "timestamp": iso_ms(time_ms),
            "user_id": user,
            "session_id": client_session,
            "page_url": page,
            "event_data": data,
            "client_info": {"user_agent": client[0], "screen_resolution": client[1], "language": client[2]},
            "service_info": {
                "service_name": "ingestion-service",
                "service_version": "1.0.0",
                "environment": "production",
            },
            "processing_info": {
                "received_at": iso_ms(time_ms + 1),
                "processed_at": iso_ms(processed),
                "processing_ms": processed - time_ms,
            },
        }

    def key(self, event: dict[str, Any]) -> bytes:
        return str(event[self.plan.key_by]).encode()

    def malformed(self, template: dict[str, Any]) -> bytes:
        body = orjson.dumps(template)
        form = self.rng.randrange(5)
        if form == 0:
            return body[: len(body) // 2]  # truncated
        if form == 1:
            return b"[" + body + b"]"
        if form == 2:
            return orjson.dumps({k: v for k, v in template.items() if k != "user_id"})
        if form == 3:
            return orjson.dumps({**template, "timestamp": "yesterday at noon"})
        return b"\x00\xffnot json"

    def closing_users(self) -> list[str]:
        """One user per partition, by murmur2 of the user id, in partition order."""
        found: dict[int, str] = {}
        index = 0
        while len(found) < self.plan.partitions:
            user = f"closing-user-{index}"
            found.setdefault(partition_of(user.encode(), self.plan.partitions), user)
            index += 1
        return [found[p] for p in range(self.plan.partitions)]


def generate_activity_history(plan: ActivityPlan | None = None) -> ActivityHistory:
    """The history of ``plan`` in produce order (see the module docstring)."""
    plan = plan or ActivityPlan()
    gen = _Generator(plan)
    rng = gen.rng
    users = [f"user-{index:06d}" for index in range(plan.users)]
    events: list[dict[str, Any]] = []
    for user, count in zip(users, gen.events_per_user(), strict=True):
        events.extend(gen.user_events(user, count))
    times = [int(datetime.fromisoformat(e["timestamp"]).timestamp() * 1000) for e in events]

    # (send time, tie-breaker, Sent): the produce order is by send time.
    queue: list[tuple[int, int, Sent]] = []
    half_grace_ms = plan.grace_s * 500
    for index, (event, time_ms) in enumerate(zip(events, times, strict=True)):
        delayed = rng.random() < plan.out_of_order
        send = time_ms + rng.randrange(1000, half_grace_ms) if delayed else time_ms
        body = orjson.dumps(event)
        queue.append((send, 2 * index, Sent("out_of_order" if delayed else "event", gen.key(event), body)))
        if rng.random() < plan.duplicates:
            again = send + rng.randrange(0, 3_600_000)
            queue.append((again, 2 * index + 1, Sent("duplicate", gen.key(event), body)))
    late_window_ms = plan.span_s * 100  # the first tenth of the span
    for _ in range(round(plan.events * plan.late)):
        send = gen.start_ms + plan.span_s * 500 + rng.randrange(plan.span_s * 500)
        user = rng.choice(users)
        at = gen.start_ms + rng.randrange(late_window_ms)
        late = gen.event(user, at, "click", gen.pick_page(), "cs-late", _PLAIN_CLIENT)
        queue.append((send, -1, Sent("late", gen.key(late), orjson.dumps(late))))
    for _ in range(round(plan.events * plan.malformed)):
        template = rng.choice(events)
        bad = Sent("malformed", gen.key(template), gen.malformed(template))
        queue.append((rng.randrange(gen.start_ms, gen.end_ms), -1, bad))
    queue.sort(key=lambda item: (item[0], item[1]))
    history = ActivityHistory(plan, [item[2] for item in queue])

    closing_ms = gen.end_ms + (plan.grace_s + 120) * 1000
    closers = gen.closing_users()
    for source in range(plan.partitions):
        for user in closers if plan.key_by == "event_id" else [closers[source]]:
            event = gen.event(user, closing_ms, "page_view", gen.pages[0], f"cs-{user}", _PLAIN_CLIENT)
            history.sent.append(Sent("closing", gen.key(event), orjson.dumps(event), source))
    return history
