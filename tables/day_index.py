"""An owner's entities found by UTC day: values that stay small whatever the history.

A repository (or project) used to hold one table value listing every entity it ever had;
that value grew with history, and each update rewrote all of it to the changelog (a busy
repository's deployments passed the broker's 1 MB message limit and killed the worker).
Instead every index (one ``kind`` of entries) lives in two tables shared by all kinds
(``entity_days``, ``entity_spans``: tables.entity_index):

- days: ``compose_key(kind, owner, YYYY-MM-DD)`` -> sorted entries (entity keys or
  numbers) with an event on that day: bounded by one day's events;
- spans: ``compose_key(kind, owner)`` -> ``[first day, last day]`` with entries.

Two shared tables rather than two per kind: each table is a changelog topic and a RocksDB
database per partition on every worker (memory, metadata, recovery).

Both tables are coalesced (runtime.coalesced): most batches rewrite the same days and spans,
and their writes reach RocksDB and the changelog once per offset commit.
A reader walks the days of the span it needs (a window, or everything retained), so one
event updates O(1) state and a query costs the days it reads. Entries are never removed by
the agents: an entity listed under two days (its events fell on both) is read once, as a
set. Ageing out (tables.retention, agents.retention) deletes whole days before the cutoff;
the open items among their entries move to the owner's ``carried`` list (the pseudo-day
``carried`` in the days table), which every reader reads: it holds what is still open,
never history.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date, timedelta
from typing import Any

from faust.types import EventT, TableT

from runtime.event_context import acting_for
from tables.instants import utc_day
from tables.keys import compose_key

__all__ = ["CARRIED", "DayIndex", "Span", "day_of", "days_in", "keep_spans", "span_with"]

Span = tuple[str, str]  # (first ISO day, last ISO day), inclusive
CARRIED = "carried"  # the pseudo-day of entries kept past their days' ageing (module doc)
_DAY = timedelta(days=1)


def day_of(micros: int) -> str:
    """The ISO UTC day of an instant in microseconds (tables.instants)."""
    return utc_day(micros).isoformat()


def span_with(span: Iterable[str] | None, days: Iterable[str]) -> Span:
    """``span`` widened to cover ``days`` (ISO strings order as dates)."""
    known = list(days) + (list(span) if span else [])
    return min(known), max(known)


def days_in(span: Iterable[str] | None, since: str | None = None, until: str | None = None) -> list[str]:
    """The ISO days of ``span`` within ``[since, until]`` (either open), oldest first."""
    if not span:
        return []
    first, last = span
    first = max(first, since) if since is not None else first
    last = min(last, until) if until is not None else last
    days: list[str] = []
    day, stop = date.fromisoformat(first), date.fromisoformat(last) if first <= last else None
    while stop is not None and day <= stop:
        days.append(day.isoformat())
        day += _DAY
    return days


def keep_spans(spans: TableT[str, Any], days: Mapping[str, tuple[EventT[Any], set[str]]]) -> None:
    """Widen each owner's span in ``spans`` to cover its ``days``, under ``acting_for`` an
    event of the owner's partition; unchanged spans are not written."""
    for owner, (event, owner_days) in days.items():
        with acting_for(event):
            span = spans.get(owner)
            widened = span_with(span, owner_days)
            if span is None or tuple(span) != widened:
                spans[owner] = list(widened)


class DayIndex:
    """One kind of entries (deployments, pull requests, ...) in the shared days and spans
    tables (module doc): keys are prefixed with ``kind``; entries are JSON scalars."""

    def __init__(self, days: TableT[str, Any], spans: TableT[str, Any], kind: str) -> None:
        self.days = days
        self.spans = spans
        self.kind = kind

    def day_key(self, owner: str, day: str) -> str:
        return compose_key(self.kind, owner, day)

    def span_key(self, owner: str) -> str:
        return compose_key(self.kind, owner)

    def keep(self, listed: Mapping[tuple[str, str], tuple[EventT[Any], set[Any]]]) -> None:
        """Make sure each entry is listed under its (owner, day), and the day in the owner's
        span; written under ``acting_for`` an event of the owner's partition.

        Checked on every delivery: after a crash between an entity's write and the index's,
        the redelivered batch completes the index.
        """
        by_owner: dict[str, tuple[EventT[Any], set[str]]] = {}
        for (owner, day), (event, entries) in listed.items():
            by_owner.setdefault(self.span_key(owner), (event, set()))[1].add(day)
            key = self.day_key(owner, day)
            with acting_for(event):
                known = self.days.get(key) or []
                if not entries.issubset(known):
                    self.days[key] = sorted(entries.union(known))
        keep_spans(self.spans, by_owner)

    def knows(self, owner: str) -> bool:
        return self.span_key(owner) in self.spans

    def owners(self) -> list[str]:
        """The owners whose spans of this kind this worker holds."""
        prefix = compose_key(self.kind, "")
        return [key[len(prefix) :] for key in self.spans.keys() if key.startswith(prefix)]

    def span(self, owner: str) -> Span | None:
        span = self.spans.get(self.span_key(owner))
        return (span[0], span[1]) if span else None

    def set_span(self, owner: str, span: Span) -> None:
        """Set the owner's span (ageing narrows it); under ``acting_for``."""
        self.spans[self.span_key(owner)] = list(span)

    def listed_days(self, owner: str, since: str | None = None, until: str | None = None) -> Iterator[str]:
        """The days of the owner's span within ``[since, until]`` that have entries."""
        for day in days_in(self.span(owner), since, until):
            if self.days.get(self.day_key(owner, day)):
                yield day

    def carried(self, owner: str) -> list[Any]:
        return list(self.days.get(self.day_key(owner, CARRIED)) or ())

    def entries(self, owner: str, since: str | None = None, until: str | None = None) -> list[Any]:
        """The owner's distinct entries listed on days within ``[since, until]``, and its
        carried entries, in first-seen order."""
        seen: dict[Any, None] = dict.fromkeys(self.carried(owner))
        seen.update(dict.fromkeys(self.listed(owner, since, until)))
        return list(seen)

    def listed(self, owner: str, since: str | None = None, until: str | None = None) -> list[Any]:
        """The owner's distinct entries listed on days within ``[since, until]`` (not carried)."""
        seen: dict[Any, None] = {}
        for day in days_in(self.span(owner), since, until):
            for entry in self.days.get(self.day_key(owner, day)) or ():
                seen.setdefault(entry, None)
        return list(seen)
