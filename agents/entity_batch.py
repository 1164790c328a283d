"""The one batch routine of every entity agent (deployments, incidents, pull requests,
repositories, Jira issues and sprints), and what it carries of the at-least-once rules.

A batch goes through these steps, in this order, for every family:

1. skip what Redis knows is done (exact redeliveries; agents.batches.skip_done);
2. accept each message (decode, validate, key check, derive its change) under one guard:
   whatever one message raises costs that message, dead-lettered (agents.acceptance);
3. group the changes by entity and apply each entity's changes to its table entry under
   ``acting_for`` (so the changelog write lands in the entity's partition); ``apply``
   derives everything before it writes its table entry, last, so a failure (a bug) leaves
   the entry as it was and costs that entity's events of the batch, dead-lettered;
4. keep the index of keys where the family has one, then age the owners' state out of the
   tables where the family does (``age``, agents.retention): an owner's entries per UTC day
   (tables.day_index: values that stay small whatever the history);
5. write the rows and the batch's dead letters in one database transaction (retried while
   the database is away; app.db);
6. publish the dead letters, then the family's effects that follow a durable write
   (projection marks, cache, forwarded messages; ``finish``);
7. remember the batch for the Redis dedupe once its offsets commit, and count it.

The batch is acked by the agent loop only after all of it returned (agents.batches); if
anything raises outside the per-message and per-entity guards, nothing is acked and the
batch is retried. Every step is idempotent: a redelivered batch changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg
from faust.types import EventT
from pydantic import BaseModel

from agents.acceptance import accept
from agents.batches import FreshEvents, skip_done
from agents.dlq import DeadLetterBatch
from agents.intake import processing_error
from app.logging import get_logger
from app.resources import database, metrics
from runtime.event_context import acting_for
from stores.dead_letters import store_dead_letters
from tables.day_index import DayIndex

__all__ = [
    "Applied",
    "EntityFamily",
    "EntityWork",
    "handle_entity_batch",
    "processing_failed",
    "record_batch",
]

M = TypeVar("M", bound=BaseModel)
C = TypeVar("C")
log = get_logger("sei.agents")


@dataclass(slots=True)
class EntityWork:
    """The events of one batch about one entity; ``event`` fixes the changelog partition."""

    event: EventT[Any]
    deliveries: list[EventT[Any]] = field(default_factory=list)
    changes: list[Any] = field(default_factory=list)

    def add(self, delivery: EventT[Any], change: Any) -> None:
        self.deliveries.append(delivery)
        self.changes.append(change)


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying one entity's changes gave.

    ``rows``: what the family's ``write`` stores for it (every delivered entity's, changed or
    not: after a crash the table may hold what the database never received); ``changed``:
    whether its table entry changed; ``owner``: the key of the index listing it (a
    repository, a project), where the family keeps one; ``days``: the ISO days it is listed
    under in a day index (tables.day_index); ``effects``: what ``finish`` needs.
    """

    rows: Any = None
    changed: bool = False
    owner: str | None = None
    effects: Any = None
    days: tuple[str, ...] = ()


Write = Callable[[asyncpg.Connection, Mapping[str, Applied]], Awaitable[None]]


@dataclass(frozen=True)
class EntityFamily(Generic[M, C]):
    """One topic family's hooks into the batch routine (module doc)."""

    name: str  # the entity, in logs and metrics ("deployments")
    model: type[M]
    key_field: str  # the envelope field the message key must equal
    key_of: Callable[[M], str]
    change_of: Callable[[M], tuple[str, C]]  # (entity key, change) of one valid event
    apply: Callable[[str, list[C]], Applied]  # runs under acting_for; writes its table last
    write: Write | None = None  # the rows of the applied entities, in the batch's transaction
    rows_written: Callable[[Mapping[str, Applied]], Mapping[str, int]] = lambda applied: {}
    index: DayIndex | None = None  # lists the entities by owner and day
    index_entry: Callable[[str, Applied], Any] = lambda key, applied: key  # an entity's entry there
    finish: Callable[[Mapping[str, Applied]], Awaitable[None] | None] = lambda applied: None
    # Ages the state of the batch's owners (owner -> an event of its partition and the
    # oldest day the batch listed); returns what to store before the tables forget it
    # (agents.retention.Aged: falsy when nothing, ``write(conn)`` in the batch's transaction).
    age: Callable[[Mapping[str, tuple[EventT[Any], str | None]]], Any] | None = None


def processing_failed(
    deliveries: Iterable[EventT[Any]], letters: DeadLetterBatch, exc: Exception, entity: str
) -> None:
    """Dead-letter an entity's events (called in the ``except`` of its apply): a bug must
    cost these events, not the partition."""
    log.exception("entity.apply_failed", entity=entity)
    rejection = processing_error(exc)
    for delivery in deliveries:
        letters.add(delivery, rejection)


def group_changes(
    events: Sequence[EventT[Any]], family: EntityFamily[M, C], letters: DeadLetterBatch
) -> dict[str, EntityWork]:
    """The valid events' changes grouped by entity key, in arrival order; the rest
    dead-lettered."""
    groups: dict[str, EntityWork] = {}
    for event in events:
        keyed = accept(event, family.model, letters, family.key_field, family.key_of, family.change_of)
        if keyed is not None:
            key, change = keyed
            groups.setdefault(key, EntityWork(event)).add(event, change)
    return groups


def apply_all(
    groups: Mapping[str, EntityWork], family: EntityFamily[M, C], letters: DeadLetterBatch
) -> dict[str, Applied]:
    """Each entity's changes applied; an entity whose apply raises is dead-lettered, whole."""
    applied: dict[str, Applied] = {}
    for key, work in groups.items():
        try:
            with acting_for(work.event):
                applied[key] = family.apply(key, work.changes)
        except Exception as exc:
            processing_failed(work.deliveries, letters, exc, family.name)
    return applied


def listed_by_owner(
    groups: Mapping[str, EntityWork], applied: Mapping[str, Applied], entry: Callable[[str, Applied], Any]
) -> dict[tuple[str, str], tuple[EventT[Any], set[Any]]]:
    """Per (owner, day) an applied entity is listed under: an event of the owner's partition
    and the entries of those entities."""
    listed: dict[tuple[str, str], tuple[EventT[Any], set[Any]]] = {}
    for key, outcome in applied.items():
        if outcome.owner is None:
            continue
        for day in outcome.days:
            listed.setdefault((outcome.owner, day), (groups[key].event, set()))[1].add(entry(key, outcome))
    return listed


def aged_owners(
    groups: Mapping[str, EntityWork], applied: Mapping[str, Applied]
) -> dict[str, tuple[EventT[Any], str | None]]:
    """Per owner: an event of its partition and the oldest day its entities were listed under."""
    owners: dict[str, tuple[EventT[Any], str | None]] = {}
    for key, outcome in applied.items():
        if outcome.owner is None:
            continue
        event, oldest = owners.get(outcome.owner, (groups[key].event, None))
        days = [d for d in (oldest, *outcome.days) if d is not None]
        owners[outcome.owner] = (event, min(days) if days else None)
    return owners


async def handle_entity_batch(events: Sequence[EventT[Any]], family: EntityFamily[M, C]) -> None:
    """One batch of an entity topic, through the steps of the module doc."""
    started = time.perf_counter()
    letters = DeadLetterBatch()
    fresh = await skip_done(events)
    groups = group_changes(fresh.events, family, letters)
    applied = apply_all(groups, family, letters)
    if family.index is not None:
        family.index.keep(listed_by_owner(groups, applied, family.index_entry))
    aged = family.age(aged_owners(groups, applied)) if family.age is not None else None

    async def write(conn: asyncpg.Connection) -> None:
        if family.write is not None:
            await family.write(conn, applied)
        if aged:
            await aged.write(conn)
        await store_dead_letters(conn, letters.letters)

    if (family.write is not None and applied) or len(letters) or aged:
        await database.transaction(write, what=family.name)
    letters.publish()
    finished = family.finish(applied)
    if finished is not None:
        await finished
    fresh.remember_when_committed()
    for table, count in family.rows_written(applied).items():
        metrics.record_rows(table, count)
    record_batch(events, fresh, letters, started)


def record_batch(
    events: Sequence[EventT[Any]], fresh: FreshEvents, letters: DeadLetterBatch, started: float
) -> None:
    """Count one finished batch (``started``: its time.perf_counter() at the start)."""
    metrics.record_batch(
        events[0].message.topic,
        consumed=len(events),
        processed=len(fresh.events) - len(letters) + fresh.skipped,
        duplicates=fresh.skipped,
        skipped=fresh.skipped,
        seconds=time.perf_counter() - started,
    )
