"""The errors-by-page join, run by the activity operator on its internal partitions
(docs/activity.md, "Errors by page"; the pure part is tables.activity_join_state).

agents.activity_errors sends the ingest topic's errors that name a user to the activity
operator's internal topic, keyed by user, with the ingest partitions' markers; the page
views are already there. agents.activity hands this module, per internal partition and
in order: every marker (an ingest input's is merged here only, never into the activity
watermark: sessions and minutes do not wait for the ingest topic), every error, and every
page view it admitted as new; after a run of markers, ``advance``.

A batch's join values are decoded once and changed in memory, like the activity values
(agents.activity_partition): the rows go in the batch's transaction and ``store`` writes
the values back only after it committed, so a retry or a replay finds the results it has
to write again, and the upsert (keyed by the error) makes that harmless.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import orjson
from faust.types import EventT

from agents.activity_partition import due_list
from agents.activity_source import source_of
from agents.dlq import DeadLetterBatch
from agents.intake import Rejection, key_mismatch, processing_error
from app.main import settings
from app.resources import metrics
from runtime.coalesced import CoalescedTable
from runtime.event_context import acting_for
from stores.activity_errors import ErrorPageRow
from tables.activity import partition_key
from tables.activity_join import activity_join_due, activity_join_partitions, activity_joins, join_due_key
from tables.activity_join_state import (
    ErrorChange,
    JoinRules,
    PartitionJoinState,
    add_candidate,
    add_probe,
    advance_user,
    is_empty,
    next_due,
)
from tables.activity_state import ActivityChange
from tables.instants import from_micros
from tables.windowing.dedupe import Admission
from tables.windowing.join import Candidate, JoinResult, JoinState
from tables.windowing.watermark import Marker, OperatorWatermark, input_name

__all__ = ["ERROR_HEADER", "ERROR_INPUTS", "JOIN_RULES", "JoinWork", "error_header_of"]

ERROR_HEADER = "sei-activity-error"  # agents.activity_errors writes it
JOIN_RULES = JoinRules()
# Every partition of the ingest topic feeds every internal partition (through the markers).
ERROR_INPUTS = tuple(input_name(settings.ingest_topic, p) for p in range(settings.topic_partitions))
_ERROR_TOPIC_PREFIX = f"{settings.ingest_topic}/"


def error_header_of(event: EventT[Any]) -> bytes | None:
    """The ``ERROR_HEADER`` value of a record of the internal topic: an error probe."""
    headers = event.message.headers
    if not headers:
        return None
    if isinstance(headers, Mapping):
        found = headers.get(ERROR_HEADER)
        return None if found is None else bytes(found)
    for name, value in cast(Sequence[tuple[str, bytes]], headers):
        if name == ERROR_HEADER:
            return bytes(value)
    return None


def _late_rejection(event_time: int, watermark: int | None) -> Rejection:
    return Rejection(
        "late",
        f"error time {from_micros(event_time).isoformat()} is before the errors-by-page join's "
        f"watermark {from_micros(watermark or 0).isoformat()}: the errors of that time were already "
        f"joined and written (events may trail the latest of their partition by "
        f"ACTIVITY_GRACE_S={settings.activity_grace_s} s)",
        "LateEventError",
    )


def _coalesced(table: Any) -> CoalescedTable:
    return cast(CoalescedTable, table)


class JoinWork:
    """The join values of one internal partition touched by one batch, and the rows they gave."""

    def __init__(self, anchor: EventT[Any], state: PartitionJoinState) -> None:
        self.anchor = anchor
        self.partition: int = anchor.message.partition
        self.state = state
        self.users: dict[str, JoinState] = {}
        self.due: dict[str, set[str] | None] = {}  # None: visited, discarded at store()
        self.stored: set[str] = set()  # keys read with a value: only those need a delete
        self.rows: list[ErrorPageRow] = []
        self.duplicates = 0
        self.unsettled = False  # a marker merged since the last advance

    @classmethod
    def load(cls, anchor: EventT[Any]) -> JoinWork:
        with acting_for(anchor):
            record = activity_join_partitions.get(partition_key(anchor.message.partition))
        if record is None:
            return cls(anchor, PartitionJoinState.expecting(ERROR_INPUTS))
        return cls(anchor, PartitionJoinState.from_record(record))

    @property
    def watermark(self) -> int | None:
        return self.state.reached

    # What agents.activity hands over.

    def takes_marker(self, marker: Marker) -> bool:
        """Merge an ingest input's marker; False for another input's (the activity's, which
        the activity value keeps). Either may move the join's watermark: ``advance`` next."""
        self.unsettled = True
        if not marker.input.startswith(_ERROR_TOPIC_PREFIX):
            return False
        self.state = self.state.merge(marker)
        return True

    def advance(self, activity: OperatorWatermark) -> None:
        """After a run of markers: the join's watermark over both topics' inputs (capped by
        the activity watermark), and the users whose state it made due."""
        self.unsettled = False
        settled = self.state.settle(activity)
        if settled is self.state:
            return
        reached, self.state = settled.due_reached(JOIN_RULES)
        for bucket in reached:
            for shard in range(JOIN_RULES.due_shards):
                key = join_due_key(self.partition, bucket, shard)
                users = self._due(key)
                self._drop(key)
                for user_id in sorted(users):
                    before = self._user(user_id)
                    results, after = advance_user(before, self.watermark, JOIN_RULES)
                    self._put(user_id, before, after, results)

    def candidate(self, change: ActivityChange) -> None:
        """A page view the activity operator admitted as new, or a duplicate of one (its id
        kept: the original was admitted). The join keeps its own ids, so a duplicate
        changes nothing, except after a crash in the middle of a flush that delivered the
        users' changelog records and not the join's: the replayed page view, a duplicate
        to the users' table, is then added back rather than lost to the join."""
        if change.page_url is None:
            return
        before = self._user(change.user_id)
        found = Candidate(change.time, change.event_id, change.page_url)
        results, after = add_candidate(before, found, self.watermark, JOIN_RULES)
        self._put(change.user_id, before, after, results)

    def probe(self, event: EventT[Any], header: bytes, letters: DeadLetterBatch) -> None:
        """An error of the ingest topic: pending until the watermark passes it, or late."""
        try:
            change = ErrorChange.from_record(orjson.loads(header))
        except Exception as exc:  # not what agents.activity_errors writes
            letters.add(event, processing_error(exc))
            return
        mismatch = key_mismatch(event.message.key, change.user_id, "user_id")
        if mismatch is not None:
            letters.add(event, mismatch)
            return
        before = self._user(change.user_id)
        verdict, results, after = add_probe(before, change.probe, self.watermark, JOIN_RULES)
        self._put(change.user_id, before, after, results)
        if verdict is Admission.LATE and not self._resent(event):
            metrics.record_late(settings.ingest_topic)
            # Filed under its ingest coordinates: a copy re-sent before a marker covered it
            # is the same letter, and `dlq replay` sends it back to the ingest topic.
            source = source_of(event)
            at = None if source is None else (settings.ingest_topic, *source)
            letters.add(event, _late_rejection(change.time, self.watermark), source=at)
        elif verdict is not Admission.NEW:
            # A duplicate; or a late copy agents.activity_errors sent again after a restart,
            # its original judged before the marker that covered it.
            self.duplicates += 1

    def _resent(self, event: EventT[Any]) -> bool:
        source = source_of(event)
        if source is None:
            return False
        partition, offset = source
        return self.state.errors.is_resent(input_name(settings.ingest_topic, partition), offset)

    # Values, read once per batch.

    def _user(self, user_id: str) -> JoinState:
        found = self.users.get(user_id)
        if found is None:
            with acting_for(self.anchor):
                record = activity_joins.get(user_id)
            if record is not None:
                self.stored.add(user_id)
            found = JoinState() if record is None else JoinState.from_record(record)
            self.users[user_id] = found
        return found

    def _due(self, key: str) -> set[str]:
        return due_list(activity_join_due, self.anchor, key, self.due, self.stored)

    def _drop(self, key: str) -> None:
        if key in self.stored:
            self.due[key] = None
        else:
            self.due.pop(key, None)

    def _put(
        self, user_id: str, before: JoinState, after: JoinState, results: tuple[JoinResult, ...]
    ) -> None:
        self.users[user_id] = after
        for result in results:  # most page views: none
            self.rows.append(self._row(user_id, result))
        due = next_due(after, JOIN_RULES)
        if due is None:
            return
        # The bucket of the user's current due time always lists it, so only a new bucket
        # needs an entry (most page views of a busy user fall in the bucket it is listed
        # in); older entries are left stale (visiting one changes nothing and re-lists it).
        bucket = JOIN_RULES.due_bucket_of(due)
        was = next_due(before, JOIN_RULES)
        if was is None or JOIN_RULES.due_bucket_of(was) != bucket:
            self._due(join_due_key(self.partition, bucket, JOIN_RULES.due_shard_of(user_id))).add(user_id)
            self.state = self.state.with_due((bucket,))

    def _row(self, user_id: str, result: JoinResult) -> ErrorPageRow:
        match = result.match
        return ErrorPageRow(
            error_time=from_micros(result.probe.time),
            error_id=result.probe.event_id,
            user_id=user_id,
            page_url=None if match is None else match.value,
            page_view_time=None if match is None else from_micros(match.time),
            page_view_id=None if match is None else match.event_id,
            partition=self.partition,
        )

    def store(self) -> None:
        """Write every value changed back (coalesced: they reach the changelog at the commit);
        a user with nothing left pending or to match is deleted."""
        with acting_for(self.anchor):
            for user_id, state in self.users.items():
                if not is_empty(state):
                    # Kept decoded (runtime.coalesced): the next batch's read needs no decode.
                    activity_joins[user_id] = state
                elif user_id in self.stored:
                    _coalesced(activity_joins).discard(user_id)
            for key, users in self.due.items():
                if users is None:
                    _coalesced(activity_join_due).discard(key)
                else:
                    activity_join_due[key] = sorted(users)
            activity_join_partitions[partition_key(self.partition)] = self.state
