from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tables.anomaly.baseline import DecayedCount, Ewma, alpha_for_half_life
from tables.anomaly.detector import poisson_surprise, ramp


def test_ewma_by_hand() -> None:
    e = Ewma()
    for x in (1.0, 2.0, 3.0):
        e.update(x, 0.5)
    # x=1: mean 1, var 0. x=2: w=.5, d=1, mean 1.5, var .5*(0+.5*1)=.25.
    # x=3: w=.5, d=1.5, mean 2.25, var .5*(.25+.5*2.25)=.6875.
    assert e.mean == pytest.approx(2.25)
    assert e.var == pytest.approx(0.6875)
    assert e.n == 3


@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=50))
def test_before_one_over_alpha_samples_it_is_the_plain_mean_and_variance(xs: list[float]) -> None:
    e = Ewma()
    for x in xs:
        e.update(x, 1e-6)
    assert e.mean == pytest.approx(statistics.fmean(xs), abs=1e-6)
    assert e.var == pytest.approx(statistics.pvariance(xs), rel=1e-6, abs=1e-6)


def test_half_life_halves_the_weight() -> None:
    alpha = alpha_for_half_life(10)
    assert (1 - alpha) ** 10 == pytest.approx(0.5)
    with pytest.raises(ValueError, match="half-life"):
        alpha_for_half_life(0)


def test_a_clipped_update_moves_the_mean_by_at_most_clip_deviations() -> None:
    e = Ewma(mean=10.0, var=4.0, n=1000)
    e.update(1e9, 0.1, clip=3.0, warm=100)
    # Clipped to 10 + 3 * 2 = 16: mean 10 + .1 * 6.
    assert e.mean == pytest.approx(10.6)
    assert e.var == pytest.approx(0.9 * (4.0 + 0.1 * 36.0))


def test_slowed_learning_scales_the_weight() -> None:
    a, b = Ewma(mean=0.0, var=1.0, n=1000), Ewma(mean=0.0, var=1.0, n=1000)
    a.update(1.0, 0.1)
    b.update(1.0, 0.1, scale=0.1)
    assert a.mean == pytest.approx(0.1)
    assert b.mean == pytest.approx(0.01)


def test_z_uses_the_floor_when_the_spread_is_tiny() -> None:
    assert Ewma(mean=1.0, var=0.0, n=5).z(1.5, floor=0.05) == pytest.approx(10.0)
    assert Ewma(mean=1.0, var=0.25, n=5).z(2.0, floor=0.05) == pytest.approx(2.0)


def test_decayed_count_by_hand() -> None:
    c = DecayedCount()
    c.add(100.0, 1.0, half_life=10.0)
    c.add(110.0, 1.0, half_life=10.0)
    assert c.value == pytest.approx(1.5)
    assert c.at_time(130.0, 10.0) == pytest.approx(0.375)
    # An older event is counted as of the latest time, not decayed backwards.
    c.add(105.0, 1.0, half_life=10.0)
    assert c.value == pytest.approx(2.5)
    assert c.at == 110.0


def test_a_steady_rate_is_read_back() -> None:
    c = DecayedCount()
    for second in range(3000):
        c.add(float(second) / 2, 1.0, half_life=60.0)  # 2 per second
    assert c.rate(1500.0, 60.0) == pytest.approx(2.0, rel=0.02)


def test_poisson_surprise_by_hand() -> None:
    lam = 0.15
    tail = 1 - math.exp(-lam) * (1 + lam + lam**2 / 2)
    assert poisson_surprise(3, lam) == pytest.approx(-math.log10(tail))
    assert poisson_surprise(2.6, lam) == pytest.approx(-math.log10(tail))  # rounded to 3
    assert poisson_surprise(1, 2.0) == 0.0  # at or under the mean: nothing stands out
    assert poisson_surprise(60, 1.0) > 60  # far tail, no loss of digits


def test_ramp() -> None:
    assert [ramp(x, 2.0, 4.0) for x in (1.0, 2.0, 3.0, 4.0, 9.0)] == [0.0, 0.0, 0.5, 1.0, 1.0]
