"""What a correct reader of an activity history must write, computed from the messages alone.

Independent of the generator's bookkeeping and of the app (no models, no tables, no agents):
the messages are read in produce order with plain dict access. A message is malformed unless
it is a JSON object with non-empty string ``event_id``, ``user_id`` and ``event_type`` and an
ISO-8601 ``timestamp``. An event is late when its time is more than the grace before the
largest event time produced before it (the generator keeps every event either within half
the grace of that or hours beyond it, so any watermark a reader can hold agrees). The first
copy of an event id that is not late counts; later copies do not. A minute is written once
closed: its end at most the final watermark, the largest event time minus the grace.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

__all__ = ["ActivityTruth", "activity_truth", "checksum", "MINUTE_MS"]

MINUTE_MS = 60_000


@dataclass
class ActivityTruth:
    """Counts per (user, minute start in epoch ms, event type), per (minute, event type) the
    events and distinct users, of closed minutes; and what was left out, by reason."""

    user_minutes: dict[tuple[str, int, str], int] = field(default_factory=dict)
    # Sessions by (user, start ms): (last event ms, events); closed ones are written, the
    # others are still open in the worker's state (the last session of a user active near the end).
    closed_sessions: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    open_sessions: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    type_minutes: dict[tuple[int, str], tuple[int, int]] = field(default_factory=dict)
    closed_before_ms: int = 0
    counted: int = 0
    open_events: int = 0
    late: int = 0
    duplicates: int = 0
    malformed: int = 0

    @property
    def events_written(self) -> int:
        return sum(self.user_minutes.values())


def _event(value: bytes) -> tuple[str, str, str, int] | None:
    """(event id, user id, event type, epoch ms) of a well-formed message; None otherwise."""
    try:
        body: Any = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    fields = [body.get(name) for name in ("event_id", "user_id", "event_type")]
    if not all(isinstance(f, str) and f.strip() for f in fields):
        return None
    try:
        moment = datetime.fromisoformat(str(body.get("timestamp")))
    except ValueError:
        return None
    return fields[0], fields[1], fields[2], round(moment.timestamp() * 1000)  # type: ignore[return-value]


def activity_truth(values: Iterable[bytes], grace_s: int, session_gap_s: int = 1800) -> ActivityTruth:
    """The truth of messages in produce order (see the module docstring)."""
    truth = ActivityTruth()
    grace_ms = grace_s * 1000
    seen: set[str] = set()
    newest = None
    counts: dict[tuple[str, int, str], int] = defaultdict(int)
    times: dict[str, list[int]] = defaultdict(list)
    for value in values:
        event = _event(value)
        if event is None:
            truth.malformed += 1
            continue
        event_id, user, kind, time_ms = event
        if newest is not None and time_ms < newest - grace_ms:
            truth.late += 1
            continue
        newest = time_ms if newest is None else max(newest, time_ms)
        if event_id in seen:
            truth.duplicates += 1
            continue
        seen.add(event_id)
        counts[(user, time_ms - time_ms % MINUTE_MS, kind)] += 1
        times[user].append(time_ms)
    truth.closed_before_ms = (newest or 0) - grace_ms
    users: dict[tuple[int, str], set[str]] = defaultdict(set)
    events: dict[tuple[int, str], int] = defaultdict(int)
    for (user, bucket, kind), count in counts.items():
        if bucket + MINUTE_MS > truth.closed_before_ms:
            truth.open_events += count
            continue
        truth.user_minutes[(user, bucket, kind)] = count
        users[(bucket, kind)].add(user)
        events[(bucket, kind)] += count
    truth.counted = sum(counts.values())
    truth.type_minutes = {group: (events[group], len(users[group])) for group in events}
    gap_ms = session_gap_s * 1000
    for user, moments in times.items():
        for start, end, count in _sessions(sorted(moments), gap_ms):
            closed = end + gap_ms <= truth.closed_before_ms
            (truth.closed_sessions if closed else truth.open_sessions)[(user, start)] = (end, count)
    return truth


def _sessions(moments: list[int], gap_ms: int) -> Iterable[tuple[int, int, int]]:
    """(first, last, events) of each maximal run with consecutive times less than a gap apart."""
    start = previous = moments[0]
    count = 0
    for moment in moments:
        if moment - previous >= gap_ms:
            yield start, previous, count
            start, count = moment, 0
        previous = moment
        count += 1
    yield start, previous, count


def checksum(rows: Iterable[tuple[Any, ...]]) -> str:
    """A short digest of a set of rows, independent of their order."""
    digest = hashlib.sha256()
    for row in sorted(rows):
        digest.update(repr(row).encode())
    return digest.hexdigest()[:16]
