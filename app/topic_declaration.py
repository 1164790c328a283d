"""Every topic the worker reads or writes is declared before it consumes or accepts anything.

The worker starts its services in order (Faust's boot strategy: producer, web server,
consumer, agents, subscription, tables); declaration runs after the web server, so
``/health/live`` answers at once, and before the consumer: missing topics are created with
their partition counts and configuration, existing ones are checked (app.topic_plan says
what a wrong count means for each role). Until then ``/health/ready`` and ``POST /ingest``
answer 503: a producer that waits for readiness finds every topic there, and no event is
produced to a topic the broker would auto-create with its default count.

A source topic with the wrong count is left out of the subscription (runtime.transport's
ExcludingConductor); a changelog with the wrong count holds the worker before its
consumer starts, re-checking every RECHECK_S, so it goes on once the topic is fixed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from faust.app.base import BootStrategy
from faust.types import AppT
from mode import Service, ServiceT, want_seconds

from app.logging import get_logger
from app.main import app, settings
from app.topic_admin import TopicAdmin
from app.topic_gate import RETRY_AFTER_S, TopicGate
from app.topic_plan import TopicCheck, TopicSpec, TopicVerdict, check_topics, topic_config, verdict
from app.topics import OUTPUTS, SOURCES

__all__ = ["RETRY_AFTER_S", "gate", "topic_specs", "declare_topics"]

log = get_logger("sei.topics")

RECHECK_S = 10.0

gate = TopicGate()


def topic_specs(faust_app: AppT, partitions: int) -> list[TopicSpec]:
    """Every topic the app uses: its sources, its outputs, its tables' changelogs."""
    specs = [TopicSpec(t.get_topic_name(), partitions, "source") for t in SOURCES]
    specs += [TopicSpec(t.get_topic_name(), partitions, "output") for t in OUTPUTS]
    for table in faust_app.tables.values():
        changelog = table.changelog_topic
        specs.append(
            TopicSpec(
                changelog.get_topic_name(),
                table.partitions or partitions,
                "changelog",
                topic_config(
                    compacting=changelog.compacting,
                    deleting=changelog.deleting,
                    retention_s=want_seconds(changelog.retention) if changelog.retention else None,
                    extra=changelog.config or {},
                ),
                table=table.name,
            )
        )
    return specs


async def declare_topics(
    servers: Sequence[str], specs: Iterable[TopicSpec], *, replication: int, create: bool = True
) -> tuple[list[TopicCheck], list[str]]:
    """Create what is missing (when ``create``), then check every topic; (checks, created)."""
    specs = list(specs)
    async with TopicAdmin(servers) as admin:
        found = await admin.partitions()
        created: list[str] = []
        if create:
            missing = [s for s in specs if s.name not in found]
            created = await admin.create(missing, replication=replication)
            if missing:
                found = await admin.partitions()
    return check_topics(specs, found), created


class TopicDeclaration(Service):
    """Declares the topics; its start returns once the worker may consume."""

    async def on_start(self) -> None:
        specs = topic_specs(app, settings.topic_partitions)
        delay = 1.0
        while not self.should_stop:
            try:
                checks, created = await declare_topics(
                    settings.bootstrap_servers, specs, replication=app.conf.topic_replication_factor
                )
            except Exception as exc:  # the broker is unreachable or refused: try again
                gate.error = f"{type(exc).__name__}: {exc}"
                log.warning("topics.declaration_failed", error=gate.error, retry_in_s=delay)
                await self.sleep(delay)
                delay = min(delay * 2, RECHECK_S)
                continue
            gate.error = None
            gate.verdict = found = verdict(checks)
            self._report(found, created, len(specs))
            if found.may_consume:
                conductor: Any = app.topics
                conductor.excluded = found.excluded
                return
            await self.sleep(RECHECK_S if found.blocking else delay)

    @staticmethod
    def _report(found: TopicVerdict, created: list[str], total: int) -> None:
        if created:
            log.info("topics.created", topics=created, partitions=settings.topic_partitions)
        for check in found.mismatched:
            log.error("topics.partitions_mismatch", **check.problem())
        if found.blocking:
            log.error(
                "topics.consumption_blocked",
                topics=[c.spec.name for c in found.blocking],
                recheck_in_s=RECHECK_S,
            )
        elif found.missing:
            log.warning("topics.still_missing", topics=list(found.missing))
        elif not found.mismatched:
            log.info("topics.verified", topics=total)


class DeclaringBootStrategy(BootStrategy):
    """Faust's boot order, with topic declaration between the web server and the consumer."""

    declaration: ServiceT | None = None

    def kafka_consumer(self) -> Iterable[ServiceT]:
        consumers = list(super().kafka_consumer())
        if not consumers:
            return consumers
        if self.declaration is None:
            self.declaration = TopicDeclaration(loop=self.app.loop)
        return [self.declaration, *consumers]


app.boot_strategy = DeclaringBootStrategy(app)
