"""`python -m bench.activity_profile`: where an event's CPU goes in the activity operator,
without a broker.

A history of ``devtools.activity_history`` (as bench.activity generates it: ``--events``
over ``--users`` in ``--hours``, keyed by user, 8 partitions) is validated and turned into
``ActivityChange``s before any timing (agents.activity_change.change_of; malformed messages
are dropped, as the re-keying reader dead-letters them). Then it is applied as one worker on
the direct route applies it (agents.activity_rekey): the messages in produce order are cut
into the re-keying reader's batches of ``--batch-size``; per batch, each internal partition
gets its events in order, then the markers of the source partitions the batch read (their
largest event time minus the grace, the offset they cover); the operator's own
``PartitionWork`` and ``JoinWork`` apply them over the app's tables in a memory store, and
store their values at the end of the batch, as ``apply_activity`` does after its database
transaction. Every ``--flush-every`` batches (about Faust's 2.8 s commit interval at the
bench's 1,500 messages/s) the coalesced tables' pending values go to the store as their JSON
records would come back from RocksDB, so a value evicted from the read cache is decoded
again, as on a worker. At the end every input is marked idle, which closes what is left.

Printed: CPU µs per event per step of the operator (``handle_partition`` and ``_admit``'s
calls, each timed on its own: ``user read`` (the table's value, decoded if it left the
read cache), ``apply_change``, ``put_user`` the session index, ``count`` the minute
tallies, ``advance`` closing minutes and sessions when the watermark moved, ``markers``
their merge, ``join`` the errors-by-page join's share, ``load/store`` a batch's partition
values), and the total of an untimed run
through ``handle_partition`` itself, as events/s of one core. ``--cprofile`` adds the
functions that took the most time; ``--digest`` runs ``handle_partition`` itself and hashes
every output (session, minute, page and join rows, dead letters, and the final values of
every table), which a change that keeps the results leaves as it was.

The database, the broker, the dead letters' publishing and the metrics of a batch are left
out: bench.activity measures the whole worker.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import logging
import os
import pstats
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

# Settings are read when the app is imported: the bench's, a memory store, no database reached.
GRACE_S = 300
SESSION_GAP_S = 1800
PARTITIONS = 8


@dataclass(frozen=True, slots=True)
class Item:
    """One valid message of the history, ready to apply."""

    source: int  # source partition
    offset: int  # in its source partition
    target: int  # internal partition (by user_id)
    event: Any  # a Faust event of the internal topic (what a dead letter names)
    change: Any  # its ActivityChange


@dataclass
class Prepared:
    items: list[Item]
    messages: int  # produced, malformed included
    anchors: dict[int, Any]  # an event per internal partition


def _environment() -> None:
    os.environ.setdefault("TIMESCALE_URL", "postgresql://postgres@127.0.0.1:5432/unused")
    os.environ["STORE"] = "memory://"
    os.environ["TOPIC_PARTITIONS"] = str(PARTITIONS)
    os.environ["ACTIVITY_GRACE_S"] = str(GRACE_S)
    os.environ["ACTIVITY_SESSION_GAP_S"] = str(SESSION_GAP_S)


def prepare(events: int, users: int, hours: float) -> Prepared:
    """The history's valid messages as changes and events of the internal topic."""
    from faust.types.tuples import Message

    import agents.activity  # noqa: F401  # the agents and their tables, as the worker declares them
    from agents.activity_change import change_of
    from app.main import app
    from app.topics import user_activity_by_user
    from devtools.activity_history import ActivityPlan, generate_activity_history
    from models.activity import ActivityMessage
    from runtime.partitioner import partition_of

    plan = ActivityPlan(
        events=events,
        users=users,
        span_s=round(hours * 3600),
        grace_s=GRACE_S,
        session_gap_s=SESSION_GAP_S,
        partitions=PARTITIONS,
    )
    history = generate_activity_history(plan)
    topic = user_activity_by_user.get_topic_name()
    offsets = [0] * PARTITIONS
    items: list[Item] = []
    for sent in history.sent:
        source = sent.partition if sent.partition is not None else partition_of(sent.key or b"", PARTITIONS)
        offset = offsets[source]
        offsets[source] += 1
        try:
            change = change_of(ActivityMessage.model_validate_json(sent.value))
        except ValueError:  # malformed: the re-keying reader dead-letters it
            continue
        target = partition_of(change.user_id.encode(), PARTITIONS)
        key = change.user_id.encode()
        message = Message(topic, target, len(items), 0.0, 0, [], key, sent.value, None)
        items.append(Item(source, offset, target, app.create_event(key, sent.value, [], message), change))
    anchors: dict[int, Any] = {}
    for target in range(PARTITIONS):
        message = Message(topic, target, 0, 0.0, 0, [], None, b"", None)
        anchors[target] = app.create_event(None, b"", [], message)
    return Prepared(items, len(history.sent), anchors)


def batches(prepared: Prepared, batch_size: int) -> Iterable[dict[int, list[Any]]]:
    """Per re-keying batch, each internal partition's steps (Arrivals, then Markers), as
    agents.activity_rekey's direct route hands them to apply_activity; then the idle
    markers of every input (the readers at their end)."""
    from agents.activity import Arrival
    from agents.activity_partition import SOURCE_INPUTS
    from tables.windowing.units import seconds
    from tables.windowing.watermark import InputClock, Marker

    grace = seconds(GRACE_S)
    clocks = [InputClock(name) for name in SOURCE_INPUTS]
    next_offsets: list[int | None] = [None] * len(clocks)
    merged: list[Marker | None] = [None] * len(clocks)
    items = prepared.items
    for first in range(0, len(items), batch_size):
        steps: dict[int, list[Any]] = {}
        read: set[int] = set()
        for item in items[first : first + batch_size]:
            steps.setdefault(item.target, []).append(
                Arrival(item.event, item.change, (item.source, item.offset))
            )
            clocks[item.source] = clocks[item.source].read(item.change.time)
            next_offsets[item.source] = item.offset + 1
            read.add(item.source)
        markers = []
        for source in sorted(read):
            marker = replace(clocks[source].marker(grace, 0.0, 0.0), offset=next_offsets[source])
            if marker != merged[source]:
                markers.append(marker)
                merged[source] = marker
        yield {
            target: [*steps.get(target, ()), *markers]
            for target in range(PARTITIONS)
            if markers or target in steps
        }
    idle = [
        replace(clock.marker(grace, 0.0, 0.0), idle=True, offset=n)
        for clock, n in zip(clocks, next_offsets, strict=True)
    ]
    yield {target: list(idle) for target in range(PARTITIONS)}


def _coalesced_tables() -> list[Any]:
    from tables.activity import activity_due, activity_partitions, activity_tallies, activity_users
    from tables.activity_join import activity_join_due, activity_join_partitions, activity_joins

    return [
        activity_users,
        activity_partitions,
        activity_tallies,
        activity_due,
        activity_joins,
        activity_join_partitions,
        activity_join_due,
    ]


def reset_tables() -> None:
    FLUSHED.clear()
    for table in _coalesced_tables():
        table.pending.clear()
        table.read_cache.clear()
        table._unstored.clear()
        table.data.data.clear()


# Values each table's flushes wrote or deleted (each one an encode, a RocksDB write and a
# changelog record on a worker), since the last reset_tables().
FLUSHED: Counter[str] = Counter()


def flush_tables() -> None:
    """The offset commit's flush, without the changelog: each pending value to the store as
    its JSON record would come back from RocksDB (runtime.coalesced.CoalescedTable.flush)."""
    from runtime.coalesced import _DELETED, _plain

    for table in _coalesced_tables():
        pending, table.pending = table.pending, {}
        table._unstored.clear()  # the store holds every pending key from here on
        FLUSHED[table.name] += len(pending)
        for key, (_, value) in pending.items():
            if value is _DELETED:
                table.data.data.pop(key, None)
                continue
            table.data.data[key] = orjson.loads(orjson.dumps(_plain(value)))
            table._remember(key, value)


def final_values() -> bytes:
    """Every table's values, as records, in key order."""
    from runtime.coalesced import _plain

    flush_tables()
    return orjson.dumps(
        {
            table.name: {key: _plain(value) for key, value in table.data.data.items()}
            for table in _coalesced_tables()
        },
        option=orjson.OPT_SORT_KEYS,
    )


class Steps:
    """CPU nanoseconds per named step (the thread's: a busy machine does not inflate them)."""

    def __init__(self) -> None:
        self.nanos: dict[str, int] = {}

    def timed(self, name: str, call: Callable[..., Any], *args: Any) -> Any:
        started = time.thread_time_ns()
        result = call(*args)
        self.nanos[name] = self.nanos.get(name, 0) + time.thread_time_ns() - started
        return result


def run_digest(prepared: Prepared, batch_size: int, flush_every: int, digest: Any) -> None:
    """Every batch through agents.activity.handle_partition; every output into ``digest``."""
    from agents.activity import handle_partition
    from agents.dlq import DeadLetterBatch

    reset_tables()
    for number, parts in enumerate(batches(prepared, batch_size), 1):
        letters = DeadLetterBatch()
        handled = [
            handle_partition(prepared.anchors[target], steps, letters) for target, steps in parts.items()
        ]
        for work, join in handled:
            digest.update(repr((work.sessions, work.minutes, work.page_minutes, join.rows)).encode())
            digest.update(repr((work.duplicates, work.windows_closed, join.duplicates)).encode())
            work.store()
            join.store()
        digest.update(
            repr([(d.topic, d.partition, d.offset, d.reason, d.message) for d in letters.letters]).encode()
        )
        if number % flush_every == 0:
            flush_tables()
    digest.update(final_values())


def run_untimed(prepared: Prepared, batch_size: int, flush_every: int) -> float:
    """CPU seconds of every batch through handle_partition and the stores (flushes excluded)."""
    from agents.activity import handle_partition
    from agents.dlq import DeadLetterBatch

    reset_tables()
    took = 0.0
    for number, parts in enumerate(batches(prepared, batch_size), 1):
        letters = DeadLetterBatch()
        started = time.thread_time()
        handled = [
            handle_partition(prepared.anchors[target], steps, letters) for target, steps in parts.items()
        ]
        for work, join in handled:
            work.store()
            join.store()
        took += time.thread_time() - started
        if number % flush_every == 0:
            flush_tables()
    return took


def run_steps(prepared: Prepared, batch_size: int, flush_every: int) -> Steps:
    """handle_partition's and _admit's calls, each timed (the same calls in the same order)."""
    from agents.activity import Arrival, ErrorArrival, _resent
    from agents.activity_join import JoinWork
    from agents.activity_partition import RULES, PartitionWork
    from tables.activity_state import apply_change
    from tables.windowing.dedupe import Admission
    from tables.windowing.watermark import Marker

    reset_tables()
    steps = Steps()
    timed = steps.timed

    def merge(work: PartitionWork, marker: Marker) -> bool:
        before = work.state.watermark.watermark
        work.state = replace(work.state, watermark=work.state.watermark.merge(marker))
        return work.state.watermark.watermark != before

    for number, parts in enumerate(batches(prepared, batch_size), 1):
        handled = []
        for target, part in parts.items():
            anchor = prepared.anchors[target]
            work = timed("load/store", PartitionWork.load, anchor)
            join = timed("load/store", JoinWork.load, anchor)
            moved = False
            for step in part:
                if isinstance(step, Marker):
                    if timed("join", join.takes_marker, step):
                        continue
                    moved = timed("markers", merge, work, step) or moved
                    continue
                if moved:
                    timed("advance", work.advance)
                    moved = False
                if join.unsettled:
                    timed("join", join.advance, work.state.watermark)
                assert isinstance(step, Arrival) and not isinstance(step, ErrorArrival)
                change = step.change
                watermark = work.state.watermark.watermark
                user = timed("user read", work.user, change.user_id)
                verdict, after, closed, counted = timed(
                    "apply_change", apply_change, user, change, watermark, RULES
                )
                timed("put_user", work.put_user, change.user_id, user, after, closed)
                if verdict is Admission.LATE and not _resent(work, step.source):
                    continue  # dead-lettered: not the operator's state
                if verdict is not Admission.NEW:
                    work.duplicates += 1
                    if verdict is Admission.DUPLICATE and change.event_type == "page_view":
                        timed("join", join.candidate, change)
                elif counted is not None:
                    timed("count", work.count, change, counted)
                    if change.event_type == "page_view":
                        timed("join", join.candidate, change)
            if moved:
                timed("advance", work.advance)
            if join.unsettled:
                timed("join", join.advance, work.state.watermark)
            handled.append((work, join))
        for work, join in handled:
            timed("load/store", work.store)
            timed("load/store", join.store)
        if number % flush_every == 0:
            flush_tables()
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--hours", type=float, default=4.0, help="event-time span of the history")
    parser.add_argument("--batch-size", type=int, default=500, help="the re-keying reader's batches")
    parser.add_argument("--flush-every", type=int, default=8, help="batches per offset commit")
    parser.add_argument("--cprofile", action="store_true", help="also the top functions under cProfile")
    parser.add_argument(
        "--digest", action="store_true", help="a hash of every output, to compare before/after a change"
    )
    args = parser.parse_args(argv)
    _environment()
    from app.logging import configure_structlog

    configure_structlog()  # through stdlib logging, as the worker's: a late event's warning is dropped
    logging.getLogger().setLevel(logging.ERROR)
    prepared = prepare(args.events, args.users, args.hours)
    n = len(prepared.items)
    head = f"{n:,} valid events of {prepared.messages:,} messages, batches of {args.batch_size}"
    if args.digest:
        digest = hashlib.sha256()
        started = time.process_time()
        run_digest(prepared, args.batch_size, args.flush_every, digest)
        took = time.process_time() - started
        print(f"== {head}: {took:.1f} s ({took / n * 1e6:.1f} µs per event); digest {digest.hexdigest()}")
        return 0
    run_untimed(prepared, args.batch_size, args.flush_every)  # imports, caches
    total = min(run_untimed(prepared, args.batch_size, args.flush_every) for _ in range(3))
    print(
        f"== {head}: handle_partition and stores {total / n * 1e6:.1f} µs per event ({n / total:,.0f} events/s)"
    )
    flushed = ", ".join(f"{name} {count / n:.3f}" for name, count in sorted(FLUSHED.items()))
    print(f"  values written by the flushes (excluded above), per event: {flushed}")
    steps = run_steps(prepared, args.batch_size, args.flush_every)
    timed_total = sum(steps.nanos.values())
    print(
        f"  per step (timed one by one: {timed_total / n / 1e3:.1f} µs per event with the timers' own cost)"
    )
    for name, nanos in sorted(steps.nanos.items(), key=lambda item: -item[1]):
        print(f"  {name:<12}{nanos / n / 1e3:>8.2f} µs  {nanos / timed_total:>6.1%}")
    if args.cprofile:
        profiler = cProfile.Profile()
        profiler.enable()
        run_untimed(prepared, args.batch_size, args.flush_every)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
