"""What the entity agents share: one batch's events grouped per entity, the cost of a bug,
and the batch's metrics."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from faust.types import EventT

from agents.batches import FreshEvents
from agents.dlq import DeadLetterBatch
from agents.intake import processing_error
from app.logging import get_logger
from app.resources import metrics

__all__ = ["EntityWork", "processing_failed", "record_batch"]

log = get_logger("sei.agents")


@dataclass(slots=True)
class EntityWork:
    """The events of one batch about one entity; ``event`` fixes the changelog partition."""

    event: EventT
    deliveries: list[EventT] = field(default_factory=list)
    changes: list[Any] = field(default_factory=list)

    def add(self, delivery: EventT, change: Any) -> None:
        self.deliveries.append(delivery)
        self.changes.append(change)


def processing_failed(work: EntityWork, letters: DeadLetterBatch, exc: Exception, entity: str) -> None:
    """Dead-letter the entity's events: a bug must cost these events, not the partition."""
    log.exception("entity.apply_failed", entity=entity)
    rejection = processing_error(exc)
    for delivery in work.deliveries:
        letters.add(delivery, rejection)


def record_batch(
    events: Sequence[EventT], fresh: FreshEvents, letters: DeadLetterBatch, started: float
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
