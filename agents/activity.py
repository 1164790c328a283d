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

import asyncio
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import orjson
from faust import StreamT
from faust.types import EventT

from agents.acceptance import accept
from agents.activity_change import change_of, header_change, plain_event_change
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

__all__ = [
    "process_activity",
    "handle_activity_batch",
    "apply_activity",
    "handled_offsets",
    "Arrival",
    "ErrorArrival",
    "Step",
]

log = get_logger("sei.activity")


def _user_of(message: ActivityMessage) -> str:
    return message.user_id


@dataclass(frozen=True, slots=True)
class Arrival:
    """An event to admit: its change, and where the re-keying reader read it (None: not
    known, judged by its id alone)."""

    event: EventT[Any]  # what a dead letter names
    change: ActivityChange
    source: tuple[int, int] | None  # (source partition, offset)


@dataclass(frozen=True, slots=True)
class ErrorArrival:
    """An error of the ingest topic re-keyed by its user (agents.activity_errors), for the
    errors-by-page join (agents.activity_join): always through the internal topic."""

    event: EventT[Any]
    header: bytes  # its ErrorChange


# What a partition's operator applies, in order: a watermark marker, an activity event, or
# an ingest error for the join.
Step = Marker | Arrival | ErrorArrival

# The operator's values are loaded, changed and written back per batch: one batch at a
# time, whether it came through the internal topic or straight from the re-keying reader.
_operating = asyncio.Lock()


# Earlier versions sent a barrier (an idle marker of no input) through every internal
# partition before going direct: one still on the topic is skipped.
BARRIER_PREFIX = "barrier:"


# Per internal partition, the offset after the last record this worker's operator handled
# (its effects stored), in the consumer generation it is kept for.
_handled: dict[int, int] = {}
_handled_generation = -1


def handled_offsets() -> dict[int, int]:
    """The offset after the last record of each internal partition this worker handled in
    the current consumer generation (agents.activity_rekey._nothing_in_flight)."""
    if _handled_generation != app.consumer_generation_id:
        return {}
    return dict(_handled)


def _note_handled(events: Sequence[EventT[Any]]) -> None:
    global _handled_generation
    generation = app.consumer_generation_id
    if _handled_generation != generation:
        _handled.clear()
        _handled_generation = generation
    for event in events:
        message = event.message
        if message.offset >= _handled.get(message.partition, 0):
            _handled[message.partition] = message.offset + 1


def internal_steps(events: Sequence[EventT[Any]], letters: DeadLetterBatch) -> Iterator[Step]:
    """The steps of one internal partition's events: markers (no key) and events."""
    for event in events:
        if event.message.key is None:
            try:
                marker = Marker.from_record(orjson.loads(event.message.value or b""))
            except Exception as exc:  # a message without a key that is no marker: not ours to guess
                letters.add(event, processing_error(exc))
                continue
            if not marker.input.startswith(BARRIER_PREFIX):
                yield marker
            continue
        error = error_header_of(event)
        if error is not None:
            yield ErrorArrival(event, error)
            continue
        change = _change(event, letters)
        if change is not None:
            yield Arrival(event, change, source_of(event))


def _change(event: EventT[Any], letters: DeadLetterBatch) -> ActivityChange | None:
    """The event's change: from the re-keying reader's header, else checked by hand
    (agents.activity_change.plain_change) or validated in full."""
    header = header_change(event)
    if header is None:
        plain = plain_event_change(event)
        if plain is not None and event.message.key == plain.user_id.encode():
            return plain
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


def _admit(work: PartitionWork, join: JoinWork, arrival: Arrival, letters: DeadLetterBatch) -> None:
    change = arrival.change
    watermark = work.state.watermark.watermark
    user = work.user(change.user_id)
    verdict, after, closed, counted = apply_change(user, change, watermark, RULES)
    work.put_user(change.user_id, user, after, closed)
    if verdict is Admission.LATE and not _resent(work, arrival.source):
        metrics.record_late(settings.activity_topic)
        # Filed under its source record's coordinates: the same event judged again on
        # either route (through the internal topic, or applied straight by the re-keying
        # reader: agents.activity_rekey), or a copy re-sent after a rebalance before a
        # marker covered the original, is the same letter (``dlq_id``), one row.
        at = None if arrival.source is None else (settings.activity_topic, *arrival.source)
        letters.add(arrival.event, late_rejection(change.time, watermark), source=at)
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


def _resent(work: PartitionWork, source: tuple[int, int] | None) -> bool:
    """A copy the re-keying sent again after a restart (agents.activity_source)."""
    if source is None:
        return False
    partition, offset = source
    return work.state.watermark.is_resent(input_name(settings.activity_topic, partition), offset)


def handle_partition(
    anchor: EventT[Any], steps: Iterable[Step], letters: DeadLetterBatch
) -> tuple[PartitionWork, JoinWork]:
    """One internal partition's steps of a batch, in order, applied to its values in
    memory (``PartitionWork.store`` and ``JoinWork.store`` write them once the batch's rows
    are durable). Errors of the ingest topic go to the errors-by-page join (agents.activity_join)."""
    work = PartitionWork.load(anchor)
    join = JoinWork.load(anchor)
    # Markers come in runs (every source partition's, after each of its batches): the
    # watermark's move is acted on once per run, before the next event and at the end.
    # Closing at the run's last watermark writes what closing at each step would have.
    moved = False
    for step in steps:
        if isinstance(step, Marker):
            if join.takes_marker(step):  # an ingest input's: the join's watermark only
                continue
            before = work.state.watermark.watermark
            work.state = replace(work.state, watermark=work.state.watermark.merge(step))
            moved = moved or work.state.watermark.watermark != before
            continue
        if moved:
            work.advance()
            moved = False
        if join.unsettled:
            join.advance(work.state.watermark)
        if isinstance(step, ErrorArrival):
            join.probe(step.event, step.header, letters)
        else:
            _admit(work, join, step, letters)
    if moved:
        work.advance()
    if join.unsettled:
        join.advance(work.state.watermark)
    return work, join


async def apply_activity(
    parts: Sequence[tuple[EventT[Any], Iterable[Step]]], letters: DeadLetterBatch
) -> list[tuple[PartitionWork, JoinWork]]:
    """Apply each partition's steps (``anchor``: an event of that partition, for the table
    writes), write the rows and ``letters`` in one transaction, then the values (module doc)."""
    async with _operating:
        handled = [handle_partition(anchor, steps, letters) for anchor, steps in parts]
        sessions = [row for work, _ in handled for row in work.sessions]
        minutes = [row for work, _ in handled for row in work.minutes]
        pages = [row for work, _ in handled for row in work.page_minutes]
        errors = [row for _, join in handled for row in join.rows]

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
    for work, _ in handled:
        metrics.record_activity_partition(work.partition, work.state.open_sessions, work.windows_closed)
    return handled


async def handle_activity_batch(events: Sequence[EventT[Any]]) -> None:
    """One batch of the internal topic (module doc)."""
    started = time.perf_counter()
    verify_partitions(events[0].message.topic)
    letters = DeadLetterBatch()
    by_partition: dict[int, list[EventT[Any]]] = {}
    for event in events:
        by_partition.setdefault(event.message.partition, []).append(event)
    handled = await apply_activity(
        [(part[0], internal_steps(part, letters)) for part in by_partition.values()], letters
    )
    _note_handled(events)  # only once their effects are stored
    markers = sum(1 for e in events if e.message.key is None)
    metrics.record_batch(
        events[0].message.topic,
        consumed=len(events),
        processed=len(events) - markers - len(letters),
        duplicates=sum(work.duplicates + join.duplicates for work, join in handled),
        seconds=time.perf_counter() - started,
    )


@app.agent(user_activity_by_user, concurrency=1)
async def process_activity(stream: StreamT[bytes]) -> None:
    """<ACTIVITY_TOPIC>-by-user -> activity tables, `user_sessions` and minute rows."""
    await run_batches(stream, handle_activity_batch, what=user_activity_by_user.get_topic_name())
