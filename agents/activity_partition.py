"""One internal partition's share of an activity batch: its table values decoded once,
changed in memory, and written back together (agents.activity drives it).

Writes go under ``acting_for`` an event of the partition, so every key lands in the
partition's store and changelog; closed minutes' tallies and visited index buckets are
discarded at the same flush (runtime.coalesced), so the tables always agree with each
other and with the committed offsets.
"""

from __future__ import annotations

from typing import Any, cast

from faust.types import EventT, TableT

from agents.intake import Rejection
from app.main import settings
from app.resources import metrics
from runtime.coalesced import CoalescedTable
from runtime.event_context import acting_for
from stores.activity import ActivityMinuteRow, ActivityPageMinuteRow, UserSessionRow, user_session_row
from tables.activity import (
    PAGES,
    TYPES,
    activity_due,
    activity_partitions,
    activity_tallies,
    activity_users,
    due_key,
    partition_key,
    tally_key,
)
from tables.activity_state import (
    ActivityChange,
    ActivityRules,
    Counted,
    PartitionActivityState,
    UserActivityState,
    close_user,
)
from tables.instants import from_micros
from tables.windowing.sessions import Session, SessionRules
from tables.windowing.tumbling import Tally, WindowTallies
from tables.windowing.units import seconds
from tables.windowing.watermark import input_name

__all__ = ["PartitionWork", "RULES", "SOURCE_INPUTS", "late_rejection"]

RULES = ActivityRules(
    grace=seconds(settings.activity_grace_s),
    sessions=SessionRules(gap=seconds(settings.activity_session_gap_s)),
)
# Every partition of the source topic feeds every internal partition (through the markers).
SOURCE_INPUTS = tuple(input_name(settings.activity_topic, p) for p in range(settings.topic_partitions))


def late_rejection(event_time: int, watermark: int | None) -> Rejection:
    """Why a late event is dead-lettered."""
    return Rejection(
        "late",
        f"event time {from_micros(event_time).isoformat()} is before the watermark "
        f"{from_micros(watermark or 0).isoformat()}: its minute and session were already written "
        f"(events may trail the latest of their partition by ACTIVITY_GRACE_S={settings.activity_grace_s} s)",
        "LateEventError",
    )


def _coalesced(table: Any) -> CoalescedTable:
    return cast(CoalescedTable, table)


# Sizes of the values as written (encoded once, at the flush).
for _table in (activity_users, activity_partitions):
    _coalesced(_table).value_sizes = metrics.activity_value_bytes.labels(_table.name).observe


def due_list(
    table: TableT[str, Any], anchor: EventT[Any], key: str, due: dict[str, set[str] | None], stored: set[str]
) -> set[str]:
    """The users listed under a due-index ``key`` (a bucket of the watermark's way), read
    once per batch into ``due``; ``stored`` learns the keys read with a value (only those
    need a delete). A key visited in this batch (None in ``due``) starts a new list."""
    found = due.get(key)
    if found is None:
        if key in due:
            found = set()
        else:
            with acting_for(anchor):
                record = table.get(key)
            if record is not None:
                stored.add(key)
            found = set(record or ())
        due[key] = found
    return found


class PartitionWork:
    """The decoded values of one partition touched by one batch, and the rows they gave."""

    def __init__(self, anchor: EventT[Any], state: PartitionActivityState) -> None:
        self.anchor = anchor
        self.partition: int = anchor.message.partition
        self.state = state
        self.users: dict[str, UserActivityState] = {}
        # Users whose value changed: only those are written back. A visit of a stale
        # session-index entry often changes nothing, and its user's value would otherwise
        # be encoded, put and sent to the changelog again as it was.
        self.changed: set[str] = set()
        # This batch's tallies, changed in place (a copy of the table's value, made at the
        # first read: values read are shared with the table); None: closed, discarded at store().
        self.tallies: dict[str, dict[str, Tally] | None] = {}
        self.due: dict[str, set[str] | None] = {}  # None: visited, discarded at store()
        # Keys of tallies and index buckets read with a value: only those need a delete
        # (a tombstone in every RocksDB of the table and in the changelog) when closed.
        self.stored: set[str] = set()
        self.sessions: list[UserSessionRow] = []
        self.minutes: list[ActivityMinuteRow] = []
        self.page_minutes: list[ActivityPageMinuteRow] = []
        self.duplicates = 0
        self.windows_closed = 0

    @classmethod
    def load(cls, anchor: EventT[Any]) -> PartitionWork:
        with acting_for(anchor):
            record = activity_partitions.get(partition_key(anchor.message.partition))
        if record is None:
            return cls(anchor, PartitionActivityState.expecting(SOURCE_INPUTS))
        return cls(anchor, PartitionActivityState.from_record(record))

    # Values, read once per batch.

    def user(self, user_id: str) -> UserActivityState:
        found = self.users.get(user_id)
        if found is None:
            with acting_for(self.anchor):
                found = UserActivityState.from_record(activity_users.get(user_id))
            self.users[user_id] = found
        return found

    def _tally(self, key: str) -> dict[str, Tally]:
        found = self.tallies.get(key)
        if found is None:
            found = {}
            if key not in self.tallies:  # not read yet (None: closed in this batch, starts anew)
                with acting_for(self.anchor):
                    record = activity_tallies.get(key)
                if record is not None:
                    self.stored.add(key)
                    found = dict(WindowTallies.from_record(record).counts)
            self.tallies[key] = found
        return found

    def _due(self, key: str) -> set[str]:
        return due_list(activity_due, self.anchor, key, self.due, self.stored)

    # Changes.

    def put_user(
        self, user_id: str, before: UserActivityState, after: UserActivityState, closed: tuple[Session, ...]
    ) -> None:
        """Keep ``after``: rows of the sessions closed, the open count, the session index."""
        self.users[user_id] = after
        if after is not before:  # the pure functions return the value itself when unchanged
            self.changed.add(user_id)
        for session in closed:
            self.sessions.append(user_session_row(user_id, session.fields()))
        self.state = self.state.with_opened(len(after.sessions.open) - len(before.sessions.open))
        due = after.next_close(RULES)
        if due is None:
            return
        # The bucket of the user's current next close always lists it: a change of that
        # bucket is the only moment a new entry is needed. Most events move the close time
        # within its bucket (a minute): nothing to do.
        bucket = RULES.due_bucket_of(due)
        was = before.next_close(RULES)
        if was is None or RULES.due_bucket_of(was) != bucket:
            shard = RULES.due_shard_of(user_id)
            if was is not None:
                self._unlist(RULES.due_bucket_of(was), shard, user_id)
            self._due(due_key(self.partition, bucket, shard)).add(user_id)
            self.state = self.state.with_due((bucket,))

    def _unlist(self, bucket: int, shard: int, user_id: str) -> None:
        """Take a user off the index bucket its next close has left. Left there, the entry
        is stale: visiting it reads and decodes the user's value to close nothing (two
        visits in three at 10 events a user over 12 h). A bucket the watermark has reached
        is visited in this batch or was (a visit re-indexes every user it lists): left as
        it is. Entries left stale before are still visited as before."""
        watermark = self.state.watermark.watermark
        if watermark is not None and (bucket + 1) * RULES.due_bucket <= watermark:
            return
        self._due(due_key(self.partition, bucket, shard)).discard(user_id)

    def count(self, change: ActivityChange, counted: Counted) -> None:
        """Tally a new event in its open minutes."""
        for start, new_user in counted.types:
            WindowTallies.count_into(
                self._tally(tally_key(self.partition, TYPES, start, 0)), change.event_type, new_user
            )
        if counted.pages and change.page_url is not None:
            shard = RULES.page_shard_of(change.page_url)
            for start in counted.pages:
                WindowTallies.count_into(
                    self._tally(tally_key(self.partition, PAGES, start, shard)), change.page_url
                )
        self.state = self.state.with_windows(self.state.windows.add([start for start, _ in counted.types]))

    def advance(self) -> None:
        """The watermark moved: close the minutes it reached and the sessions it passed."""
        watermark = self.state.watermark.watermark
        closed, windows = self.state.windows.close(RULES.minutes, watermark)
        for start in closed:
            self._close_minute(start)
        self.windows_closed += len(closed)
        self.state = self.state.with_windows(windows)
        reached, self.state = self.state.due_reached(RULES)
        for bucket in reached:
            for shard in range(RULES.due_shards):
                key = due_key(self.partition, bucket, shard)
                users = self._due(key)
                self._drop(self.due, key)
                for user_id in sorted(users):
                    before = self.user(user_id)
                    sessions, after = close_user(before, watermark, RULES)
                    self.put_user(user_id, before, after, sessions)

    def _close_minute(self, start: int) -> None:
        bucket = from_micros(start)
        key = tally_key(self.partition, TYPES, start, 0)
        for event_type, tally in self._tally(key).items():
            self.minutes.append(
                ActivityMinuteRow(
                    bucket=bucket,
                    event_type=event_type,
                    partition=self.partition,
                    events=tally.events,
                    users=tally.members,
                )
            )
        self.tallies[key] = None
        for shard in range(RULES.page_shards):
            key = tally_key(self.partition, PAGES, start, shard)
            for page_url, tally in self._tally(key).items():
                self.page_minutes.append(
                    ActivityPageMinuteRow(
                        bucket=bucket, page_url=page_url, partition=self.partition, views=tally.events
                    )
                )
            self._drop(self.tallies, key)

    def _drop(self, values: dict[str, Any], key: str) -> None:
        """A closed minute's tallies or a visited bucket: deleted at store() if stored."""
        if key in self.stored:
            values[key] = None
        else:
            values.pop(key, None)

    def store(self) -> None:
        """Write every value changed back (coalesced: they reach the changelog at the commit,
        encoded then: decoded values stay in the table's memory between batches)."""
        with acting_for(self.anchor):
            for user_id in self.changed:
                activity_users[user_id] = self.users[user_id]
            for key, tallies in self.tallies.items():
                if tallies is None:
                    _coalesced(activity_tallies).discard(key)
                else:
                    activity_tallies[key] = WindowTallies(tallies)
            for key, users in self.due.items():
                if users:
                    activity_due[key] = sorted(users)
                elif key in self.stored:  # visited, or every user taken off
                    _coalesced(activity_due).discard(key)
            activity_partitions[partition_key(self.partition)] = self.state
