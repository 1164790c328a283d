"""tables.instants: the one conversion between datetimes and integer microseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from tables.instants import from_micros, to_micros


@given(st.integers(min_value=-(10**15), max_value=10**17))
def test_micros_round_trip_exactly(micros: int) -> None:
    assert to_micros(from_micros(micros)) == micros


def test_an_offset_datetime_counts_from_the_utc_epoch() -> None:
    moment = datetime(2025, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    assert to_micros(moment) == to_micros(datetime(2025, 1, 1, tzinfo=UTC)) == 1_735_689_600_000_000


def test_an_unset_field_stays_unset_both_ways() -> None:
    assert to_micros(None) is None
    assert from_micros(None) is None
