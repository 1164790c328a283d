"""<ACTIVITY_TOPIC>-by-user -> per-user sessions, per-minute tallies; `user_sessions`,
`activity_minutes` and `activity_page_minutes` rows (docs/activity.md).

The internal topic is keyed by user_id (agents.activity_rekey produces it) and carries,
without a key, each source partition's watermark markers. Per internal partition, in
order: a marker merges into the partition's ``OperatorWatermark``; when the watermark
moves, the minutes it reached are closed (their tallies written as this partition's
partial rows) and the session-index buckets it passed are visited (the users' sessions it
closed written). An event is admitted against the watermark: late ones are counted and
dead-lettered with reason ``late``, duplicates skipped, new ones added to the user's
value and the open minutes. The ingest topic's errors (agents.activity_errors) and its
markers arrive here too, for the errors-by-page join (agents.activity_join): its values
change in the same pass, its rows go in the same transaction, and its values are stored
at the same moment as the activity values.

A batch's values are decoded once and changed in memory; the rows and the dead letters go
in one transaction, and only once it committed are the values written back to the tables
(coalesced: they reach the changelog at the next offset commit), then the batch is acked
(agents.batches). Closing is destructive (a closed session leaves the user's value, a
closed minute's tallies are discarded): were the tables written first, a failed or
interrupted write followed by a retry or a replay from the committed offsets would find
the sessions and minutes already closed and write nothing for them. Written after, a
retry recomputes the same rows from the same values, and the upserts make that harmless.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import asyncpg
import orjson
from faust import StreamT
from faust.types import EventT

from agents.acceptance import accept
from agents.activity_change import change_of, header_change
from agents.activity_join import JoinWork, error_header_of
from agents.activity_partition import RULES, PartitionWork, late_rejection
from agents.activity_source import source_of
from agents.batches import run_batches, verify_partitions
from agents.dlq import DeadLetterBatch
from agents.intake import key_mismatch, processing_error
from app.logging import get_logger
from app.main import app, settings
from app.resources import database, metrics
from app.topics import user_activity_by_user
from models.activity import ActivityMessage
from stores.activity import upsert_activity_minutes, upsert_activity_page_minutes, upsert_user_sessions
from stores.activity_errors import upsert_error_pages
from stores.dead_letters import store_dead_letters
from tables.activity_state import ActivityChange, apply_change
from tables.windowing.dedupe import Admission
from tables.windowing.watermark import Marker, input_name

__all__ = ["process_activity", "handle_activity_batch"]

log = get_logger("sei.activity")


def _user_of(message: ActivityMessage) -> str:
    return message.user_id


def _merge_marker(work: PartitionWork, join: JoinWork, event: EventT[Any], letters: DeadLetterBatch) -> bool:
    """Merge a marker; True when the partition's watermark moved."""
    try:
        marker = Marker.from_record(orjson.loads(event.message.value or b""))
    except Exception as exc:  # a message without a key that is no marker: not ours to guess
        letters.add(event, processing_error(exc))
        return False
    if join.takes_marker(marker):  # an ingest input's: the join's watermark only
        return False
    before = work.state.watermark.watermark
    work.state = replace(work.state, watermark=work.state.watermark.merge(marker))
    return work.state.watermark.watermark != before


def _change(event: EventT[Any], letters: DeadLetterBatch) -> ActivityChange | None:
    """The event's change: from the re-keying reader's header, else validated in full."""
    header = header_change(event)
    if header is None:
        return accept(event, ActivityMessage, letters, "user_id", _user_of, change_of)
    try:
        change = ActivityChange.from_record(orjson.loads(header))
    except Exception as exc:  # not what agents.activity_rekey writes
        letters.add(event, processing_error(exc))
        return None
    mismatch = key_mismatch(event.message.key, change.user_id, "user_id")
    if mismatch is not None:
        letters.add(event, mismatch)
        return None
    return change


def _resent(work: PartitionWork, event: EventT[Any]) -> bool:
    """A copy the re-keying sent again after a restart (agents.activity_source)."""
    source = source_of(event)
    if source is None:
        return False
    partition, offset = source
    return work.state.watermark.is_resent(input_name(settings.activity_topic, partition), offset)


def _admit(work: PartitionWork, join: JoinWork, event: EventT[Any], letters: DeadLetterBatch) -> None:
    change = _change(event, letters)
    if change is None:
        return
    watermark = work.state.watermark.watermark
    user = work.user(change.user_id)
    verdict, after, closed, counted = apply_change(user, change, watermark, RULES)
    work.put_user(change.user_id, user, after, closed)
    if verdict is Admission.LATE and not _resent(work, event):
        metrics.record_late(settings.activity_topic)
        # Filed under its source coordinates: a copy the re-keying sent again after a
        # rebalance, before a marker covered the original, is the same letter.
        source = source_of(event)
        at = None if source is None else (settings.activity_topic, *source)
        letters.add(event, late_rejection(change.time, watermark), source=at)
    elif verdict is not Admission.NEW:
        # A duplicate; or a late copy the re-keying sent again, its original judged before
        # the marker that covered it: counted then, or dead-lettered then.
        work.duplicates += 1
        if verdict is Admission.DUPLICATE and change.event_type == "page_view":
            # Its original was admitted: the join has it (ignored by id), unless a crash
            # during a flush left the join's table behind the users' (agents.activity_join).
            join.candidate(change)
    elif counted is not None:
        work.count(change, counted)
        if change.event_type == "page_view":
            join.candidate(change)


def handle_partition(
    events: Sequence[EventT[Any]], letters: DeadLetterBatch
) -> tuple[PartitionWork, JoinWork]:
    """One internal partition's events of a batch, in order, applied to its values in
    memory (``PartitionWork.store`` and ``JoinWork.store`` write them once the batch's rows
    are durable). Errors of the ingest topic go to the errors-by-page join (agents.activity_join)."""
    work = PartitionWork.load(events[0])
    join = JoinWork.load(events[0])
    # Markers come in runs (every source partition's, after each of its batches): the
    # watermark's move is acted on once per run, before the next event and at the end.
    # Closing at the run's last watermark writes what closing at each step would have.
    moved = False
    for event in events:
        if event.message.key is None:
            moved = _merge_marker(work, join, event, letters) or moved
            continue
        if moved:
            work.advance()
            moved = False
        if join.unsettled:
            join.advance(work.state.watermark)
        error = error_header_of(event)
        if error is not None:
            join.probe(event, error, letters)
        else:
            _admit(work, join, event, letters)
    if moved:
        work.advance()
    if join.unsettled:
        join.advance(work.state.watermark)
    return work, join


async def handle_activity_batch(events: Sequence[EventT[Any]]) -> None:
    """One batch of the internal topic (module doc)."""
    started = time.perf_counter()
    verify_partitions(events[0].message.topic)
    letters = DeadLetterBatch()
    by_partition: dict[int, list[EventT[Any]]] = {}
    for event in events:
        by_partition.setdefault(event.message.partition, []).append(event)
    handled = [handle_partition(part, letters) for part in by_partition.values()]
    works = [work for work, _ in handled]
    joins = [join for _, join in handled]
    sessions = [row for work in works for row in work.sessions]
    minutes = [row for work in works for row in work.minutes]
    pages = [row for work in works for row in work.page_minutes]
    errors = [row for join in joins for row in join.rows]

    async def write(conn: asyncpg.Connection) -> None:
        await upsert_user_sessions(conn, sessions)
        await upsert_activity_minutes(conn, minutes)
        await upsert_activity_page_minutes(conn, pages)
        await upsert_error_pages(conn, errors)
        await store_dead_letters(conn, letters.letters)

    if sessions or minutes or pages or errors or len(letters):
        await database.transaction(write, what="activity")
    for work, join in handled:  # only now (module doc)
        work.store()
        join.store()
    letters.publish()
    for table, rows in (
        ("user_sessions", sessions),
        ("activity_minutes", minutes),
        ("activity_page_minutes", pages),
        ("activity_error_pages", errors),
    ):
        if rows:
            metrics.record_rows(table, len(rows))
    for work in works:
        metrics.record_activity_partition(work.partition, work.state.open_sessions, work.windows_closed)
    markers = sum(1 for e in events if e.message.key is None)
    duplicates = sum(work.duplicates for work in works) + sum(join.duplicates for join in joins)
    metrics.record_batch(
        events[0].message.topic,
        consumed=len(events),
        processed=len(events) - markers - len(letters),
        duplicates=duplicates,
        seconds=time.perf_counter() - started,
    )


@app.agent(user_activity_by_user, concurrency=1)
async def process_activity(stream: StreamT[bytes]) -> None:
    """<ACTIVITY_TOPIC>-by-user -> activity tables, `user_sessions` and minute rows."""
    await run_batches(stream, handle_activity_batch, what=user_activity_by_user.get_topic_name())
