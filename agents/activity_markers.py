"""The watermark markers of one source topic's partitions, sent to every partition of an
internal topic (docs/activity.md, docs/windowing.md "Wiring").

A re-keying reader sends each batch's events on, awaits the acknowledgements, and only
then advances the clocks of the partitions they came from (``read``): a marker computed
after that covers them, and, sent on the same producer, follows them in every internal
partition. ``send`` sends the markers that changed, at most every ``MARKER_INTERVAL_S``
per busy partition; ``tick`` (a timer's body) follows each assigned partition's position
against its end offset, so that a partition read to its end for ``ACTIVITY_IDLE_S``
(also one that never held a record: its end offset is 0) is marked idle and stops holding
the operators' watermark back, and sends what changed since.

One lock per source topic orders the timer's and the reader's markers: a marker computed
earlier never reaches a partition after a later one (its idle flag would be stale). The
clocks live in memory: a restarted reader starts with no time, and the operators keep
each input's largest watermark, so its first, lower markers move nothing back.

agents.activity_errors uses it for the ingest topic; agents.activity_rekey keeps its own
copy of the same steps for the activity topic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import cast

import orjson
from aiokafka import AIOKafkaProducer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, TopicT

from app.main import app, settings
from tables.windowing.watermark import InputClock, Marker, input_name

__all__ = ["MARKER_INTERVAL_S", "TICK_S", "SourceMarkers", "SourceReader", "producer"]

MARKER_INTERVAL_S = 0.5
TICK_S = 1.0


@dataclass(slots=True)
class SourceReader:
    """This worker's view of one source partition."""

    clock: InputClock
    next_offset: int | None = None  # after the last record handled; None: none since start
    sent: Marker | None = None
    sent_at: float = 0.0


def producer() -> AIOKafkaProducer:
    """The app's aiokafka producer (markers and the events they cover go on the same one)."""
    return cast(faust_aiokafka.Producer, app.producer)._ensure_producer()


class SourceMarkers:
    """The readers of ``source``'s partitions on this worker, and their markers to ``target``."""

    def __init__(self, source: TopicT, target: TopicT, grace: int) -> None:
        self.source = source
        self.target = target
        self.grace = grace
        self.readers: dict[int, SourceReader] = {}
        self._sending = asyncio.Lock()

    def reader(self, partition: int) -> SourceReader:
        found = self.readers.get(partition)
        if found is None:
            name = input_name(self.source.get_topic_name(), partition)
            found = self.readers[partition] = SourceReader(InputClock(name))
        return found

    def read(self, partition: int, offset: int, event_time: int | None) -> None:
        """Record ``offset`` handled (its event sent on and acknowledged; ``event_time`` None
        for a record without a valid time)."""
        reader = self.reader(partition)
        reader.clock = reader.clock.read(event_time)
        reader.next_offset = offset + 1

    async def send(self, partitions: Sequence[int], *, now: float, throttle: bool) -> int:
        """Send the markers of ``partitions`` that changed since last sent (``throttle``: and
        were last sent MARKER_INTERVAL_S ago) to every partition of the target; how many."""
        async with self._sending:
            sender = producer()
            internal = self.target.get_topic_name()
            targets = sorted(await sender.partitions_for(internal))
            futures = []
            sent = 0
            for partition in partitions:
                reader = self.reader(partition)
                # The offset too: a record of this input below it that arrives later is a re-sent copy.
                marker = replace(
                    reader.clock.marker(self.grace, settings.activity_idle_s, now), offset=reader.next_offset
                )
                if marker == reader.sent or (throttle and now - reader.sent_at < MARKER_INTERVAL_S):
                    continue
                value = orjson.dumps(marker.to_record())
                futures += [await sender.send(internal, value, key=None, partition=t) for t in targets]
                reader.sent, reader.sent_at = marker, now
                sent += 1
            if futures:
                await asyncio.gather(*futures)
            return sent

    async def _at_end(self, tp: TP, reader: SourceReader) -> bool | None:
        """Whether this worker has read ``tp`` to its end offset (None: not known yet)."""
        end = app.consumer.highwater(tp)
        if end is None:
            return None
        position = reader.next_offset
        if position is None:
            position = await app.consumer.position(tp)
        return None if position is None else position >= end

    async def tick(self, now: float) -> None:
        """Follow the assigned partitions' positions (idleness), forget the others, and send
        the markers that changed."""
        topic = self.source.get_topic_name()
        mine = sorted(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic)
        for partition in set(self.readers) - set(mine):
            del self.readers[partition]
        for partition in mine:
            reader = self.reader(partition)
            at_end = await self._at_end(TP(topic, partition), reader)
            if at_end is True:
                reader.clock = reader.clock.at_end(now)
            elif at_end is False:
                reader.clock = reader.clock.behind()
        await self.send(mine, now=now, throttle=False)
