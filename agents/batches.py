"""Batch helpers every agent uses: skip what Redis knows is done, and finish the batch in
hand even when the worker is asked to stop.

A batch is acked in a ``finally`` after the loop body (runtime.batch_reader, as Faust's
``take_events()``; write-behind batches are acked by their write instead), even when the
body is cancelled (SIGTERM, shutdown): an unfinished database write would then be
committed as done and its events lost. So the body runs
shielded; on cancellation we let it finish (up to a grace period) before the
cancellation goes on. If it cannot finish (the database is down at shutdown), the
process exits at once without committing: the batch is redelivered after restart, as
at-least-once requires.

A batch whose handling raises (a bug, or a fault of the batch as a whole: per-message
failures are dead-lettered before they get here) is never acked, so no offset behind it
is committed; it is retried with a growing pause while /health reports the agent stuck
(runtime.stuck_batches). Its messages are released from Faust's unacked set meanwhile: a
rebalance or a shutdown waits for that set to empty and would otherwise wait forever.
After a rebalance the batch is given up, unacked: the partition's owner reads it again
from the committed offset.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from faust import StreamT
from faust.transport.consumer import Consumer
from faust.types import TP, EventT
from prometheus_client import Counter

from app.dedupe import message_id
from app.logging import get_logger
from app.main import app, settings
from app.resources import database, dedupe, metrics, stuck_batches
from app.topic_plan import TopicSpec, mismatch_fix
from runtime import tracing
from runtime.batch_reader import take_batches
from runtime.shutdown import EXIT_CONFIG, EXIT_UNFLUSHED, exit_now, remaining_grace_s
from runtime.stuck_batches import retry_pause_s
from runtime.write_behind import WriteBehind

__all__ = [
    "batch_offsets",
    "complete_batch",
    "handle_until_done",
    "run_batches",
    "retried_writes",
    "run_write_behind",
    "skip_done",
    "FreshEvents",
]

T = TypeVar("T")
log = get_logger("sei.batches")

_verified_topics: set[str] = set()
_batch_failures = Counter(
    "processor_batch_failures_total",
    "Attempts at a batch that raised outside the per-message guard (the batch is retried, unacked)",
    ["agent"],
    registry=metrics.registry,
)


async def complete_batch(work: Awaitable[T], *, what: str) -> T:
    """Await ``work``; if cancelled meanwhile, finish it first (within what is left of the
    shutdown's grace, runtime.shutdown), or exit without committing."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if task.done():
            raise
        grace_s = remaining_grace_s()
        log.info("shutdown.finishing_batch", what=what, grace_seconds=grace_s)
        try:
            await asyncio.wait_for(asyncio.shield(task), grace_s)
        except BaseException:
            log.error(
                "shutdown.batch_unflushed",
                what=what,
                hint="exiting without committing offsets; the batch is redelivered after restart",
            )
            exit_now(EXIT_UNFLUSHED)
        raise


def batches_of(stream: StreamT[bytes]) -> AsyncIterator[list[EventT[Any]]]:
    """``stream`` in batches of BATCH_SIZE, or what came within BATCH_TIMEOUT_MS, or before
    the input went quiet for BATCH_QUIET_MS; unacked."""
    return take_batches(
        stream, settings.batch_size, settings.batch_timeout_ms / 1000, settings.batch_quiet_ms / 1000
    )


async def run_batches(
    stream: StreamT[bytes], handle: Callable[[Sequence[EventT[Any]]], Awaitable[None]], *, what: str
) -> None:
    """An agent's loop: each batch handled, tables and rows, before the next is taken, and
    acked once handled."""
    async for events in batches_of(stream):
        if await handle_until_done(events, handle, what=what):
            for event in events:
                event.ack()


PrepareBatch = Callable[[Sequence[EventT[Any]]], Awaitable[Callable[[], Awaitable[None]]]]


async def run_write_behind(
    stream: StreamT[bytes], prepare: PrepareBatch, writes: WriteBehind, *, what: str
) -> None:
    """An agent's loop: batches (runtime.batch_reader), each prepared by ``prepare`` (which
    returns the batch's database write, a function) and written while the next one is prepared.

    The batch's messages are acked, so committable, once its write is done (the write's
    ack is their only one: the batch reader does not ack after the body); at shutdown the
    write in flight is finished first (runtime.write_behind).
    """

    async def prepare_and_submit(events: Sequence[EventT[Any]]) -> None:
        await writes.submit(events, await prepare(events))

    try:
        async for events in batches_of(stream):
            await handle_until_done(events, prepare_and_submit, what=what)
    finally:
        await writes.finish()


async def handle_until_done(
    events: Sequence[EventT[Any]],
    handle: Callable[[Sequence[EventT[Any]]], Awaitable[None]],
    *,
    what: str,
    finish_at_shutdown: bool = True,
) -> bool:
    """Run ``handle(events)`` until it returns: True then. False when a
    rebalance took the batch's partitions meanwhile (the batch is then left unacked, for
    its partitions' owner to read again). Never raises but cancellation (module doc).

    ``finish_at_shutdown``: an attempt under way when the agent is cancelled finishes first
    (complete_batch); a write-behind write, which its own ``finish`` waits for, does not."""
    failures = 0
    while True:
        if failures and _stale(events):
            stuck_batches.cleared(what)
            log.warning(
                "agent.stuck_batch_left",
                agent=what,
                offsets=batch_offsets(events),
                hint="a rebalance moved its partitions; it is read again from the committed offset",
            )
            return False
        pause: float | None = None
        # One span per attempt (runtime.tracing); its database work and produces are children.
        with tracing.span(f"batch {what}", _batch_attributes(what, events)) as span:
            try:
                if finish_at_shutdown:
                    await complete_batch(handle(events), what=what)
                else:
                    await handle(events)
            except Exception as exc:
                failures += 1
                tracing.set_outcome(span, "failed", exc)
                _release(events)
                stuck = stuck_batches.failed(what, exc, batch_offsets(events))
                _batch_failures.labels(what).inc()
                pause = retry_pause_s(stuck.attempts)
                log.critical(
                    "agent.batch_failed",
                    agent=what,
                    attempts=stuck.attempts,
                    offsets=stuck.offsets,
                    retry_in_seconds=pause,
                    exc_info=True,
                    hint="not acked: these partitions commit nothing past this batch until a retry gets "
                    "through; /health reports it",
                )
            else:
                tracing.set_outcome(span, "done")
        if pause is not None:
            await asyncio.sleep(pause)
            continue
        if failures:
            stuck_batches.cleared(what)
            log.warning(
                "agent.batch_recovered", agent=what, attempts=failures + 1, offsets=batch_offsets(events)
            )
        return True


def retried_writes(what: str) -> WriteBehind:
    """A write-behind whose failing writes are retried unacked and reported, as a failing
    batch body is (handle_until_done)."""

    async def until_done(events: Sequence[EventT[Any]], write: Callable[[], Awaitable[None]]) -> bool:
        return await handle_until_done(events, lambda _: write(), what=f"{what} write", finish_at_shutdown=False)

    return WriteBehind(what, until_done)


def _batch_attributes(what: str, events: Sequence[EventT[Any]]) -> dict[str, Any]:
    if not tracing.enabled():
        return {}
    offsets = batch_offsets(events)
    return {
        "messaging.system": "kafka",
        "sei.agent": what,
        "messaging.destination.name": sorted({key.rsplit("/", 1)[0] for key in offsets}),
        "messaging.kafka.partitions": sorted({int(key.rsplit("/", 1)[1]) for key in offsets}),
        "sei.offsets": [f"{key}:{first}-{last}" for key, (first, last) in sorted(offsets.items())],
        "messaging.batch.message_count": len(events),
    }


def batch_offsets(events: Sequence[EventT[Any]]) -> dict[str, list[int]]:
    """``{"topic/partition": [first offset, last offset]}`` of a batch."""
    spans: dict[str, list[int]] = {}
    for event in events:
        message = event.message
        span = spans.setdefault(f"{message.topic}/{message.partition}", [message.offset, message.offset])
        span[0], span[1] = min(span[0], message.offset), max(span[1], message.offset)
    return spans


def _release(events: Sequence[EventT[Any]]) -> None:
    # Out of Faust's unacked set, not acked: nothing is committed past them, and a
    # rebalance or shutdown (which wait for the set to empty) does not wait on them.
    discard = cast(Consumer, app.consumer)._unacked_messages.discard
    for event in events:
        discard(event.message)


def _stale(events: Sequence[EventT[Any]]) -> bool:
    generation = app.consumer_generation_id
    return any(event.message.generation_id != generation for event in events)


def _is_replay(event: EventT[Any]) -> bool:
    headers = event.message.headers or ()
    names = headers.keys() if isinstance(headers, Mapping) else (name for name, _ in headers)
    return any(str(name).startswith("x-sei-replay") for name in names)


@dataclass(slots=True)
class FreshEvents:
    """The events of a batch not known done, and how to remember them once committed."""

    events: list[EventT[Any]]
    skipped: int
    ids: dict[int, str]

    def remember_when_committed(self) -> None:
        by_tp: dict[TP, tuple[int, list[str]]] = {}
        for event in self.events:
            message = event.message
            ident = self.ids.get(id(event))
            if ident is None:
                continue
            offset, ids = by_tp.get(message.tp, (-1, []))
            ids.append(ident)
            by_tp[message.tp] = (max(offset, message.offset), ids)
        for tp, (offset, ids) in by_tp.items():
            dedupe.done_when_committed(tp, offset, ids)


def verify_partitions(topic: str) -> None:
    """Stop the worker when ``topic`` is no longer partitioned as TOPIC_PARTITIONS says.

    Every topic was declared and checked before the worker began consuming, and a source
    with another count is not consumed at all (app.topic_declaration); a count that
    differs here changed under the running worker (partitions added). Tables and their
    changelogs keep TOPIC_PARTITIONS partitions and a key's state must live in the
    partition of its events: nothing may be processed, dead-lettered or committed, so the
    worker exits before touching the batch. On restart, declaration finds the mismatch,
    reports it on /health and leaves the topic out while the others flow.
    """
    if topic in _verified_topics:
        return
    partitions = app.consumer.topic_partitions(topic)
    if partitions is None:
        return  # metadata not known yet: checked again with the next batch
    if partitions != settings.topic_partitions:
        spec = TopicSpec(topic, settings.topic_partitions, "source")
        log.critical(
            "config.topic_partitions_mismatch",
            topic=topic,
            partitions_found=partitions,
            partitions_needed=settings.topic_partitions,
            setting="TOPIC_PARTITIONS",
            hint=mismatch_fix(spec, partitions),
        )
        exit_now(EXIT_CONFIG)
    _verified_topics.add(topic)


async def skip_done(events: Sequence[EventT[Any]]) -> FreshEvents:
    """Drop the exact redeliveries Redis knows are done (replays are always processed).

    Every agent starts its batch here, so this is also where a source topic's partition
    count is verified (once) before anything is processed.
    """
    if events:
        verify_partitions(events[0].message.topic)
    if dedupe.prefix is None:
        identity = await database.identity()
        if identity is not None:
            dedupe.bind(identity)
    ids = {
        id(e): message_id(e.message.topic, e.message.key, e.message.value)
        for e in events
        if not _is_replay(e)
    }
    done = await dedupe.seen(list(ids.values()))
    fresh = [e for e in events if ids.get(id(e)) not in done]
    return FreshEvents(fresh, len(events) - len(fresh), ids)
