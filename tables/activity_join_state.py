"""The errors-by-page join's table values and what one event or one watermark does to them
(pure: tables.windowing.join put together per user and per partition; docs/activity.md).

Each ``error`` event of the ingest topic that names a user (a *probe*) is joined with the
same user's latest ``page_view`` (a *candidate*) at most ``JOIN.bound`` before it. Both
arrive keyed by user on the activity operator's internal partitions, so a user's two
sides meet on one partition, in the order they were re-keyed.

- The join's watermark is the one of an operator fed by every source partition of both
  topics (``joint_watermark``: the minimum over the active inputs, idle ones left out),
  never above the activity watermark: a page view the activity operator admits (not late
  for it) is then never late for the join, so the join sees every page view the sessions
  and minutes count, and only those.
- ``UserJoinState`` (one per user): the pending probes and the candidates they may still
  match (``JoinState``). Every change first advances it to the watermark, which makes the
  probes below it final and only then drops the candidates no pending or future probe can
  match: a probe is always matched against every candidate it could match.
- ``PartitionJoinState`` (one per internal partition): the ingest inputs' markers, the
  watermark reached, and the buckets of its due index (users by the time their state next
  has something to do: a probe to make final, candidates to drop), as the session index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tables.windowing.dedupe import Admission
from tables.windowing.join import Candidate, IntervalJoin, JoinResult, JoinState, Probe
from tables.windowing.tumbling import shard_of
from tables.windowing.units import MICROS_PER_MINUTE, seconds
from tables.windowing.watermark import Marker, OperatorWatermark, joint_watermark

__all__ = [
    "ErrorChange",
    "JOIN",
    "JoinRules",
    "PartitionJoinState",
    "add_candidate",
    "add_probe",
    "advance_user",
    "is_empty",
    "next_due",
]

# Left: a probe without a page view within the bound is written too (page None), so every
# error is accounted for; GET /activity/errors-by-page lists the matched ones.
JOIN = IntervalJoin(bound=seconds(60), kind="left")


@dataclass(frozen=True, slots=True)
class JoinRules:
    """The join and its due index's granularity (microseconds)."""

    join: IntervalJoin = JOIN
    due_bucket: int = MICROS_PER_MINUTE
    due_shards: int = 16

    def due_bucket_of(self, due: int) -> int:
        return due // self.due_bucket

    def due_shard_of(self, user_id: str) -> int:
        return shard_of(user_id, self.due_shards)


@dataclass(frozen=True, slots=True)
class ErrorChange:
    """One error event of the ingest topic as the join applies it (time in microseconds)."""

    event_id: str
    time: int
    user_id: str

    @property
    def probe(self) -> Probe:
        return Probe(self.time, self.event_id)

    def to_record(self) -> list[Any]:
        """The JSON-ready value: ``[event_id, time, user_id]``."""
        return [self.event_id, self.time, self.user_id]

    @classmethod
    def from_record(cls, record: Sequence[Any]) -> ErrorChange:
        """The change stored as ``record`` by to_record (a malformed one raises)."""
        event_id, time, user_id = record
        if not isinstance(event_id, str) or not isinstance(user_id, str):
            raise TypeError(f"error change {record!r}: ids must be strings")
        if not isinstance(time, int) or isinstance(time, bool):
            raise TypeError(f"error change {record!r}: time must be an integer (µs)")
        return cls(event_id, time, user_id)


def advance_user(
    state: JoinState, watermark: int | None, rules: JoinRules = JoinRules()
) -> tuple[tuple[JoinResult, ...], JoinState]:
    """The results ``watermark`` makes final for one user, and what it keeps after."""
    return state.advance(rules.join, watermark)


def add_candidate(
    state: JoinState, candidate: Candidate, watermark: int | None, rules: JoinRules = JoinRules()
) -> tuple[tuple[JoinResult, ...], JoinState]:
    """A page view the activity operator admitted as new (so not below ``watermark``, which
    is at most its own): the results final before it, and the user's state with it."""
    results, state = state.advance(rules.join, watermark)
    return results, state.add_candidate(candidate)


def add_probe(
    state: JoinState, probe: Probe, watermark: int | None, rules: JoinRules = JoinRules()
) -> tuple[Admission, tuple[JoinResult, ...], JoinState]:
    """Admit an error against ``watermark``: late (below it: its result may be written
    already), a duplicate of a pending one, or new (pending until the watermark passes it).
    A copy of a probe already made final is below the watermark: late."""
    results, state = state.advance(rules.join, watermark)
    if watermark is not None and probe.time < watermark:
        return Admission.LATE, results, state
    if any(p.event_id == probe.event_id for p in state.pending):
        return Admission.DUPLICATE, results, state
    return Admission.NEW, results, state.add_probe(probe)


def next_due(state: JoinState, rules: JoinRules = JoinRules()) -> int | None:
    """The watermark at which the user's state next changes by itself: its first pending
    probe becomes final, or (none pending) its candidates are all too old to match; None
    for an empty state (nothing to visit: the key can go)."""
    if state.pending:
        return state.pending[0].time + 1
    if state.candidates:
        return state.candidates[-1].time + rules.join.bound + 1
    return None


def is_empty(state: JoinState) -> bool:
    return not state.pending and not state.candidates


def _lower(first: int | None, second: int | None) -> int | None:
    if first is None or second is None:
        return None
    return min(first, second)


@dataclass(frozen=True, slots=True)
class PartitionJoinState:
    """One internal partition's join value: the ingest inputs' markers merged, the join's
    watermark reached (never decreases), the due index's buckets holding entries."""

    errors: OperatorWatermark
    reached: int | None = None
    due: tuple[int, ...] = ()

    @classmethod
    def expecting(cls, inputs: Iterable[str]) -> PartitionJoinState:
        """A fresh partition waiting for a marker from each ingest input."""
        return cls(OperatorWatermark.expecting(inputs))

    def merge(self, marker: Marker) -> PartitionJoinState:
        """With an ingest input's marker (the activity inputs' stay in the activity value)."""
        return replace(self, errors=self.errors.merge(marker))

    def settle(self, activity: OperatorWatermark) -> PartitionJoinState:
        """The watermark over both topics' inputs, capped by the activity watermark."""
        now = _lower(activity.watermark, joint_watermark(activity, self.errors))
        if now is None or (self.reached is not None and now <= self.reached):
            return self
        return replace(self, reached=now)

    def with_due(self, buckets: Iterable[int]) -> PartitionJoinState:
        buckets = tuple(buckets)
        if len(buckets) == 1 and buckets[0] in self.due:  # most calls: a bucket listed already
            return self
        merged = set(self.due).union(buckets)
        if len(merged) == len(self.due):
            return self
        return replace(self, due=tuple(sorted(merged)))

    def due_reached(self, rules: JoinRules = JoinRules()) -> tuple[tuple[int, ...], PartitionJoinState]:
        """The index buckets the watermark has passed entirely (visit them), and the rest."""
        if self.reached is None:
            return (), self
        mark = self.reached
        reached = tuple(b for b in self.due if (b + 1) * rules.due_bucket <= mark)
        if not reached:
            return (), self
        return reached, replace(self, due=self.due[len(reached) :])

    def to_record(self) -> dict[str, Any]:
        return {"errors": self.errors.to_record(), "reached": self.reached, "due": list(self.due)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | PartitionJoinState) -> PartitionJoinState:
        """The value stored as ``record`` by to_record (or kept decoded: runtime.coalesced)."""
        if isinstance(record, PartitionJoinState):
            return record
        reached = record["reached"]
        return cls(
            OperatorWatermark.from_record(record["errors"]),
            None if reached is None else int(reached),
            tuple(int(b) for b in record["due"]),
        )
