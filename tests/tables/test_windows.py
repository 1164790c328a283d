from __future__ import annotations

import pytest

from tables.windows import MICROS_PER_DAY, Window

END = 1_000 * MICROS_PER_DAY


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        pytest.param(END, True, id="end-inclusive"),
        pytest.param(END - 30 * MICROS_PER_DAY, False, id="start-exclusive"),
        pytest.param(END - 30 * MICROS_PER_DAY + 1, True, id="just-after-start"),
        pytest.param(END + 1, False, id="after-end"),
        pytest.param(None, False, id="unknown-time"),
    ],
)
def test_window_contains_half_open_interval(moment: int | None, inside: bool) -> None:
    assert Window(END, 30).contains(moment) is inside


@pytest.mark.parametrize(
    ("days", "slice_days", "count"),
    [
        pytest.param(30, 7, 4, id="30d-has-4-weeks"),
        pytest.param(90, 7, 12, id="90d-has-12-weeks"),
        pytest.param(7, 7, 1, id="7d-has-1-week"),
        pytest.param(7, 30, 0, id="7d-has-no-month"),
        pytest.param(90, 30, 3, id="90d-has-3-months"),
    ],
)
def test_window_slices_counted_back_from_end(days: int, slice_days: int, count: int) -> None:
    slices = Window(END, days).slices(slice_days)
    assert len(slices) == count
    assert [s.end for s in slices] == [END - i * slice_days * MICROS_PER_DAY for i in range(count)]
    assert all(s.days == slice_days for s in slices)


def test_window_zero_days_raises() -> None:
    with pytest.raises(ValueError, match="0 days"):
        Window(END, 0)


def test_window_end_iso_is_utc() -> None:
    assert Window(0, 1).end_iso() == "1970-01-01T00:00:00+00:00"
