"""Event-time watermarks in the Dataflow model (Flink, Beam), not Kafka Streams' stream time.

- An *input* is one partition of a topic that feeds an operator (``input_name``). Its
  reader keeps an :class:`InputClock`: the largest event time read from it and since when
  it has been read to its end offset. Its watermark is that largest time minus the grace.
- The reader sends a :class:`Marker` with its input's watermark and idleness after the
  records it covers, to every partition of the operator's topic (through a re-keying topic,
  or applied directly when the operator reads the input itself).
- An operator partition keeps an :class:`OperatorWatermark`: each expected input's latest
  marker, merged. Its watermark is the minimum over the inputs that are not idle, so a
  lagging input (a restarted worker catching up, a slow producer) never makes another
  input's events late. Idle inputs stop holding it back; when every input is idle it is the
  largest of their watermarks. It never decreases.
- An event is late when its time is below its operator's watermark: every window, session
  and join probe that could hold it has been closed (they close when the watermark reaches
  their end), so it is reported, never merged.
- A marker also carries the input's offset it covers (every record before it has been
  forwarded); the operator keeps the largest per input. A record of that input below it
  that arrives after the marker is a re-sent copy (a reader restarted from an older
  committed offset): its original came first and was judged then, so the copy is not
  reported late although the watermark may have passed its time.

Wall-clock time enters only through ``now`` (seconds, any clock) given to the reader's
clock; the operator side is a pure function of the markers it has merged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["InputClock", "Marker", "OperatorWatermark", "input_name", "joint_watermark"]


def input_name(topic: str, partition: int) -> str:
    """The name of an operator input: one partition of a topic."""
    return f"{topic}/{partition}"


def _later(first: int | None, second: int | None) -> int | None:
    if first is None:
        return second
    if second is None:
        return first
    return max(first, second)


@dataclass(frozen=True, slots=True)
class Marker:
    """One input's progress: its watermark (None before its first event), idleness, and
    the offset every record before which has been forwarded (None: none since the reader
    started)."""

    input: str
    watermark: int | None
    idle: bool = False
    offset: int | None = None

    def to_record(self) -> list[Any]:
        """The JSON-ready message value: ``[input, watermark, idle, offset]``."""
        return [self.input, self.watermark, self.idle, self.offset]

    @classmethod
    def from_record(cls, record: Sequence[Any]) -> Marker:
        """The marker sent as ``record`` by to_record (or without the offset, as before)."""
        name, watermark, idle, *rest = record
        offset = rest[0] if rest else None
        return cls(
            str(name),
            None if watermark is None else int(watermark),
            bool(idle),
            None if offset is None else int(offset),
        )


@dataclass(frozen=True, slots=True)
class InputClock:
    """What the reader of one input partition has seen (kept by the reader, not the operator)."""

    input: str
    max_event_time: int | None = None
    # Wall-clock seconds since the reader has been at the partition's end offset; None while
    # it is behind. Not persisted: a restarted reader proves idleness again.
    caught_up_since: float | None = None

    def read(self, event_time: int | None) -> InputClock:
        """After reading a record (``event_time`` None for one without a valid time)."""
        return InputClock(self.input, _later(self.max_event_time, event_time), None)

    def at_end(self, now: float) -> InputClock:
        """The reader's position equals the partition's end offset at ``now``."""
        return self if self.caught_up_since is not None else replace(self, caught_up_since=now)

    def behind(self) -> InputClock:
        """The partition has records past the reader's position."""
        return self if self.caught_up_since is None else replace(self, caught_up_since=None)

    def watermark(self, grace: int) -> int | None:
        """The largest event time read minus ``grace``; None before the first event."""
        return None if self.max_event_time is None else self.max_event_time - grace

    def is_idle(self, now: float, idle_after_s: float) -> bool:
        """True once the reader has been at the end offset for ``idle_after_s`` seconds."""
        return self.caught_up_since is not None and now - self.caught_up_since >= idle_after_s

    def marker(self, grace: int, idle_after_s: float, now: float) -> Marker:
        """The marker to send after the records read so far."""
        return Marker(self.input, self.watermark(grace), self.is_idle(now, idle_after_s))

    def to_record(self) -> list[Any]:
        """The JSON-ready value: ``[input, max_event_time]``."""
        return [self.input, self.max_event_time]

    @classmethod
    def from_record(cls, record: Sequence[Any]) -> InputClock:
        """The clock stored as ``record`` by to_record (not caught up)."""
        name, max_event_time = record
        return cls(str(name), None if max_event_time is None else int(max_event_time))


@dataclass(frozen=True, slots=True)
class OperatorWatermark:
    """One operator partition's merged markers: O(number of inputs) small values."""

    # input -> (its largest watermark seen, idle per its latest marker)
    inputs: Mapping[str, tuple[int | None, bool]] = field(default_factory=dict)
    reached: int | None = None  # the watermark so far; never decreases
    # input -> the largest offset a merged marker covered (records before it were forwarded)
    forwarded: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def expecting(cls, inputs: Iterable[str]) -> OperatorWatermark:
        """A fresh operator that waits for a marker from each of ``inputs``."""
        return cls({name: (None, False) for name in inputs})

    @property
    def watermark(self) -> int | None:
        """Every event below this time is late; None while some active input has no time yet."""
        return self.reached

    def expect(self, inputs: Iterable[str]) -> OperatorWatermark:
        """This operator also waiting for ``inputs`` (e.g. after partitions were added)."""
        missing = {name: (None, False) for name in inputs if name not in self.inputs}
        return self if not missing else replace(self, inputs={**self.inputs, **missing})

    def merge(self, marker: Marker) -> OperatorWatermark:
        """This operator after ``marker`` (from any input, expected or not)."""
        previous, _ = self.inputs.get(marker.input, (None, False))
        # A marker from before a rebalance may arrive after a newer one: the watermark only
        # moves up; idleness follows the latest marker, the next one corrects a stale flag.
        inputs = {**self.inputs, marker.input: (_later(previous, marker.watermark), marker.idle)}
        forwarded = self.forwarded
        covered = _later(forwarded.get(marker.input), marker.offset)
        if covered is not None and covered != forwarded.get(marker.input):
            forwarded = {**forwarded, marker.input: covered}
        return OperatorWatermark(inputs, _later(self.reached, _combined(inputs)), forwarded)

    def is_late(self, event_time: int) -> bool:
        """True when ``event_time`` is below the watermark: its windows have closed."""
        return self.reached is not None and event_time < self.reached

    def is_resent(self, name: str, offset: int) -> bool:
        """True when record ``offset`` of input ``name`` arrives after a marker that covered it:
        a copy of a record already forwarded (and judged) before that marker."""
        covered = self.forwarded.get(name)
        return covered is not None and offset < covered

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready table value."""
        inputs = {name: [mark, idle] for name, (mark, idle) in self.inputs.items()}
        return {"inputs": inputs, "reached": self.reached, "forwarded": dict(self.forwarded)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> OperatorWatermark:
        """The state stored as ``record`` by to_record."""
        inputs = {
            str(name): (None if mark is None else int(mark), bool(idle))
            for name, (mark, idle) in record["inputs"].items()
        }
        reached = record["reached"]
        forwarded = {str(name): int(offset) for name, offset in record.get("forwarded", {}).items()}
        return cls(inputs, None if reached is None else int(reached), forwarded)


def joint_watermark(*operators: OperatorWatermark) -> int | None:
    """The watermark of every input of ``operators`` merged as one operator's (the minimum
    over the active ones, the largest when all are idle), without its memory of ``reached``:
    an operator fed by two topics whose markers are kept apart (the errors-by-page join)."""
    return _combined({name: mark for operator in operators for name, mark in operator.inputs.items()})


def _combined(inputs: Mapping[str, tuple[int | None, bool]]) -> int | None:
    """The minimum over active inputs; the largest watermark when all are idle."""
    active = [mark for mark, idle in inputs.values() if not idle]
    if active:
        known_active = [mark for mark in active if mark is not None]
        return min(known_active) if len(known_active) == len(active) else None
    known = [mark for mark, _ in inputs.values() if mark is not None]
    return max(known) if known else None
