"""Baselines that stay the same size whatever the history: an exponentially weighted mean
and variance per sample, and counts decayed in event time.

``Ewma`` weights sample ``k`` back by ``(1 - alpha) ** k``: after ``n`` samples the first
ones weigh almost nothing, so the baseline follows a service that slowly changes while a
burst of outliers moves it little. ``update`` clips its input to ``mean +/- clip * std``
once warmed: a latency spike then shifts the baseline by at most ``clip`` standard
deviations per sample instead of dragging it up to the spike (median/MAD would need a
window of samples; this needs three floats).

``DecayedCount`` is a count whose past halves every ``half_life`` seconds of event time:
``value * ln 2 / half_life`` estimates the current rate per second.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

__all__ = ["DecayedCount", "Ewma", "alpha_for_half_life"]

_LN2 = math.log(2.0)


@functools.cache  # called per log with a handful of configured half-lives
def alpha_for_half_life(samples: float) -> float:
    """The EWMA weight whose samples lose half their weight after ``samples`` newer ones."""
    if samples <= 0:
        raise ValueError(f"half-life of {samples} samples must be positive")
    return 1.0 - math.pow(0.5, 1.0 / samples)


@dataclass(slots=True)
class Ewma:
    """Exponentially weighted mean and variance (West/Finch incremental form)."""

    mean: float = 0.0
    var: float = 0.0
    n: int = 0  # samples seen, capped: only "warmed or not" depends on it

    def update(
        self, x: float, alpha: float, clip: float | None = None, warm: int = 0, scale: float = 1.0
    ) -> None:
        """Learn ``x``. The first ``1 / alpha`` samples weigh equally (a plain running mean and
        variance): a long half-life would otherwise start from the first sample with a
        variance near zero. ``scale`` slows learning (0.1: ten times slower)."""
        if self.n == 0:
            self.mean, self.var, self.n = x, 0.0, 1
            return
        if clip is not None and self.n >= warm:
            bound = clip * math.sqrt(self.var)
            x = min(max(x, self.mean - bound), self.mean + bound)
        weight = max(alpha, 1.0 / (self.n + 1)) * scale
        delta = x - self.mean
        self.mean += weight * delta
        self.var = (1.0 - weight) * (self.var + weight * delta * delta)
        self.n = min(self.n + 1, 1 << 30)

    def std(self, floor: float) -> float:
        return max(math.sqrt(self.var), floor)

    def z(self, x: float, floor: float) -> float:
        """How many standard deviations ``x`` is above the mean (negative below)."""
        return (x - self.mean) / self.std(floor)


@dataclass(slots=True)
class DecayedCount:
    """A count decayed with a half-life in seconds of event time."""

    value: float = 0.0
    at: float = 0.0  # event time (seconds) the value is as of

    def at_time(self, t: float, half_life: float) -> float:
        """The value decayed to ``t`` (a time before ``at`` is read as ``at``)."""
        if t <= self.at:
            return self.value
        return self.value * math.pow(0.5, (t - self.at) / half_life)

    def add(self, t: float, weight: float, half_life: float) -> None:
        self.add_decayed(t, self.at_time(t, half_life), weight)

    def add_decayed(self, t: float, decayed: float, weight: float) -> None:
        """``add``, given the value already decayed to ``t`` (``at_time(t, half_life)``,
        read since the last change): the same value, without decaying it a second time."""
        self.value = decayed + weight
        self.at = max(self.at, t)

    def rate(self, t: float, half_life: float) -> float:
        """Events per second: a steady rate ``r`` converges to ``r * half_life / ln 2``."""
        return self.at_time(t, half_life) * _LN2 / half_life
