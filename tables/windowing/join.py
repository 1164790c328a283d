"""Event-time interval join of two streams of one key, with bounded state.

Each *probe* (an ``error`` event) is joined with the key's latest *candidate* (a
``page_view``) at most ``bound`` before it: ``probe.time - bound <= candidate.time <=
probe.time``, latest by (time, event id). Inner joins emit probes with a match; left joins
emit every probe, with None where nothing matched.

A probe's result is final once the watermark (the minimum over both streams' inputs)
passes its time: any candidate not late from then on is after the probe. Until then the
probe is pending and :meth:`JoinState.peek` shows its result so far. The state keeps the
pending probes and the candidates a pending or future probe can still match: those at or
after ``watermark - bound``, and of those before the watermark only the latest (it beats
every older one for any probe not late). Both are bounded by the key's events within the
watermark's lag, not by its history. Duplicates (same event id) are ignored; late events
are filtered before (``tables.windowing.dedupe.admit`` with the join's watermark).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Candidate", "IntervalJoin", "JoinResult", "JoinState", "Probe"]


@dataclass(frozen=True, slots=True, order=True)
class Candidate:
    """A right-side event (a page view): ordered by (time, event id)."""

    time: int
    event_id: str
    value: str  # what the join carries over (the page URL)


@dataclass(frozen=True, slots=True, order=True)
class Probe:
    """A left-side event (an error)."""

    time: int
    event_id: str


@dataclass(frozen=True, slots=True)
class JoinResult:
    probe: Probe
    match: Candidate | None


@dataclass(frozen=True, slots=True)
class IntervalJoin:
    """How far back a probe looks (microseconds), and whether unmatched probes are emitted."""

    bound: int
    kind: Literal["inner", "left"] = "inner"

    def __post_init__(self) -> None:
        if self.bound < 0:
            raise ValueError(f"join bound of {self.bound} µs: must not be negative")


@dataclass(frozen=True, slots=True)
class JoinState:
    """One key's pending probes and the candidates they may still match: the table value."""

    candidates: tuple[Candidate, ...] = ()  # ascending
    pending: tuple[Probe, ...] = ()  # ascending

    def add_candidate(self, candidate: Candidate) -> JoinState:
        """With ``candidate`` (admitted: not late)."""
        candidates = self.candidates
        for kept in candidates:  # a loop, not any(generator): every page view asks
            if kept.event_id == candidate.event_id:
                return self
        if not candidates or candidates[-1] < candidate:  # most page views: the latest
            return JoinState((*candidates, candidate), self.pending)
        return JoinState(tuple(sorted((*candidates, candidate))), self.pending)

    def add_probe(self, probe: Probe) -> JoinState:
        """With ``probe`` pending (admitted: not late)."""
        if any(p.event_id == probe.event_id for p in self.pending):
            return self
        return JoinState(self.candidates, tuple(sorted((*self.pending, probe))))

    def match(self, probe: Probe, join: IntervalJoin) -> Candidate | None:
        """The latest candidate within ``join.bound`` before ``probe``, so far."""
        within = [c for c in self.candidates if probe.time - join.bound <= c.time <= probe.time]
        return within[-1] if within else None

    def peek(self, join: IntervalJoin) -> tuple[JoinResult, ...]:
        """The pending probes' results so far (not final)."""
        return self._results(self.pending, join)

    def advance(self, join: IntervalJoin, watermark: int | None) -> tuple[tuple[JoinResult, ...], JoinState]:
        """The results ``watermark`` makes final (by probe time), and the state that remains."""
        if watermark is None:
            return (), self
        # Every page view asks, most often to no effect: nothing pending is final and at
        # most one candidate, recent enough, is before the watermark (both are ascending).
        if not self.pending or self.pending[0].time >= watermark:
            candidates = self.candidates
            if len(candidates) < 2 or candidates[1].time >= watermark:
                if not candidates or candidates[0].time >= watermark - join.bound:
                    return (), self
        final = tuple(p for p in self.pending if p.time < watermark)
        results = self._results(final, join)
        before = [c for c in self.candidates if c.time < watermark]
        kept = tuple(c for c in before[-1:] if c.time >= watermark - join.bound) + tuple(
            c for c in self.candidates if c.time >= watermark
        )
        return results, JoinState(kept, self.pending[len(final) :])

    def _results(self, probes: Sequence[Probe], join: IntervalJoin) -> tuple[JoinResult, ...]:
        results = (JoinResult(p, self.match(p, join)) for p in probes)
        return tuple(r for r in results if r.match is not None or join.kind == "left")

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready table value."""
        return {
            "candidates": [[c.time, c.event_id, c.value] for c in self.candidates],
            "pending": [[p.time, p.event_id] for p in self.pending],
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | JoinState) -> JoinState:
        """The state stored as ``record`` by to_record (or kept decoded: runtime.coalesced)."""
        if isinstance(record, JoinState):
            return record
        return cls(
            tuple(Candidate(int(t), str(i), str(v)) for t, i, v in record["candidates"]),
            tuple(Probe(int(t), str(i)) for t, i in record["pending"]),
        )
