from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tables.stats import NO_DURATIONS, DurationStats, percentile, summarize

HOUR = 3600.0


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        pytest.param([7.0], 95, 7.0, id="single-sample"),
        pytest.param([1.0, 2.0, 3.0, 4.0], 50, 2.5, id="even-median-interpolates"),
        pytest.param([1.0, 2.0, 3.0, 4.0], 90, 3.7, id="p90-rank-2.7"),
        pytest.param([1.0, 2.0, 3.0, 4.0], 95, 3.85, id="p95-rank-2.85"),
        pytest.param([1.0, 2.0, 3.0, 4.0, 10.0], 90, 7.6, id="p90-rank-3.6"),
        pytest.param([1.0, 2.0, 3.0], 50, 2.0, id="odd-median-exact"),
        pytest.param([1.0, 2.0, 3.0], 0, 1.0, id="p0-minimum"),
        pytest.param([1.0, 2.0, 3.0], 100, 3.0, id="p100-maximum"),
    ],
)
def test_percentile_hand_computed_matches(values: list[float], q: int, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_no_samples_raises() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)


@pytest.mark.parametrize("q", [pytest.param(-1, id="negative"), pytest.param(101, id="above-100")])
def test_percentile_out_of_range_raises(q: int) -> None:
    with pytest.raises(ValueError, match=str(q)):
        percentile([1.0], q)


samples = st.lists(st.floats(-1e7, 1e7, allow_nan=False), min_size=2, max_size=60)


@given(samples, st.sampled_from([1, 10, 25, 50, 75, 90, 95, 99]))
def test_percentile_any_samples_matches_inclusive_quantiles(values: list[float], q: int) -> None:
    # statistics' "inclusive" method is R-7: linear interpolation at rank p * (n - 1).
    expected = statistics.quantiles(values, n=100, method="inclusive")[q - 1]
    assert percentile(sorted(values), q) == pytest.approx(expected, rel=1e-9, abs=1e-6)


def test_summarize_no_samples_all_null() -> None:
    assert summarize([]) == NO_DURATIONS
    assert set(summarize([]).as_dict().values()) == {None}


def test_summarize_hand_computed_hours() -> None:
    stats = summarize([10 * HOUR, 1 * HOUR, 3 * HOUR, 2 * HOUR])
    assert stats.count == 4
    assert stats.p50_hours == pytest.approx(2.5)
    assert stats.p90_hours == pytest.approx(3 + 0.7 * 7)
    assert stats.p95_hours == pytest.approx(3 + 0.85 * 7)
    assert stats.mean_hours == pytest.approx(4.0)


def test_summarize_zero_and_negative_samples_kept() -> None:
    # Filtering (lead time's values <= 0) is the caller's rule, not the statistic's.
    assert summarize([-HOUR, 0.0, HOUR]) == DurationStats(0.0, 0.8, 0.9, 0.0, 3)


def test_summarize_as_dict_has_contract_keys() -> None:
    assert list(summarize([HOUR]).as_dict()) == ["p50_hours", "p90_hours", "p95_hours", "mean_hours", "count"]


@given(st.lists(st.integers(-(10**9), 10**9), max_size=40), st.randoms(use_true_random=False))
def test_summarize_any_order_same_result(values: list[int], rng: object) -> None:
    shuffled = list(values)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert summarize(map(float, shuffled)) == summarize(map(float, values))
