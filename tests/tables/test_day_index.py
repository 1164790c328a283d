"""tables.day_index: spans, the days a reader walks, and an index kept from batches."""

from __future__ import annotations

from typing import Any

from tables.day_index import DayIndex, day_of, days_in, span_with
from tables.keys import compose_key

DAY = 86_400_000_000


class Event:
    """Stands for a Faust event: acting_for only keeps a weak reference to it."""


def test_span_widens_to_cover_new_days_only() -> None:
    assert span_with(None, ["2025-10-03", "2025-10-01"]) == ("2025-10-01", "2025-10-03")
    assert span_with(["2025-10-01", "2025-10-03"], ["2025-10-02"]) == ("2025-10-01", "2025-10-03")
    assert span_with(["2025-10-01", "2025-10-03"], ["2025-09-30"]) == ("2025-09-30", "2025-10-03")


def test_days_in_a_span_clipped_to_a_range() -> None:
    span = ("2025-12-30", "2026-01-02")
    assert days_in(span) == ["2025-12-30", "2025-12-31", "2026-01-01", "2026-01-02"]
    assert days_in(span, since="2025-12-31", until="2026-01-01") == ["2025-12-31", "2026-01-01"]
    assert days_in(span, since="2026-02-01") == []
    assert days_in(None) == []


def test_day_of_is_the_utc_day() -> None:
    assert day_of(0) == "1970-01-01" and day_of(DAY - 1) == "1970-01-01" and day_of(DAY) == "1970-01-02"


def test_an_index_lists_entries_per_day_and_reads_them_once() -> None:
    days: dict[str, Any] = {}
    spans: dict[str, Any] = {}
    index = DayIndex(days, spans, "k")  # type: ignore[arg-type]
    event = Event()
    index.keep({("r", "2025-10-01"): (event, {"a", "b"}), ("r", "2025-10-03"): (event, {"a"})})  # type: ignore[dict-item]
    index.keep({("r", "2025-10-01"): (event, {"b"})})  # type: ignore[dict-item]
    assert days == {
        compose_key("k", "r", "2025-10-01"): ["a", "b"],
        compose_key("k", "r", "2025-10-03"): ["a"],
    }
    assert spans == {compose_key("k", "r"): ["2025-10-01", "2025-10-03"]}
    assert sorted(index.entries("r")) == ["a", "b"]
    assert index.entries("r", since="2025-10-02") == ["a"]
    assert list(index.listed_days("r")) == ["2025-10-01", "2025-10-03"]
    assert index.knows("r") and not index.knows("s") and index.owners() == ["r"]
    assert DayIndex(days, spans, "other").entries("r") == []  # kinds share the tables, not entries
