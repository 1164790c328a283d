"""One service's anomaly state and the score of each of its logs.

The score of a log is ``0.6 * statistics + 0.4 * forest`` (seed 004's split), in [0, 1]:

- statistics, the largest of three parts, each ramped from 0 to 1 between two thresholds:
  - latency: the median of the service's last ``recent`` latencies (log scale) against the
    baseline (``Ewma``, clipped updates) in standard deviations: one slow request moves a
    median of five little, a slowdown moves it within a few logs;
  - error rate: errors (critical counts twice) in the last ``short_half_life`` seconds of
    event time against what the service's long-run error share predicts for that many logs,
    as a Poisson excess ``(observed - expected) / sqrt(expected + 1)``;
  - novelty: a template the service has never logged, weighted by level (a new error line
    matters, a new info line a little);
- forest: half-space trees (tables.anomaly.forest) over five features in [0, 1]: the
  latency's deviation, the level, the template's rarity, the short-run error share and the
  short-run rate against the ten-minute rate.

Nothing flags before ``warmup`` logs of the service. A service gone quiet has no log to
score: ``check_quiet`` is called as event time passes (the watermark of the partition)
and flags a service once when the logs its recent rate predicts for the silence exceed
``quiet_expected``.

State is bounded: a few floats, ``recent`` latencies, at most ``templates`` template
counts (the smallest evicted), and the forest's fixed arrays; ``to_value`` is a JSON-able
dict of a few KiB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tables.anomaly.baseline import DecayedCount, Ewma, alpha_for_half_life
from tables.anomaly.forest import ForestMasses, ForestShape
from tables.anomaly.levels import Level, level_rank

__all__ = [
    "DetectorConfig",
    "LogPoint",
    "QuietFlag",
    "ScoreParts",
    "ServiceState",
    "check_quiet",
    "quiet_due",
    "score_log",
]

_NOVELTY_WEIGHT: dict[str, float] = {"debug": 0.2, "info": 0.3, "warning": 0.6, "error": 1.0, "critical": 1.0}
_ERROR_WEIGHT: dict[str, float] = {"error": 1.0, "critical": 2.0}
_COUNTS_CAP = 1 << 15  # template counts are halved past this total: rarity is relative anyway
_STATE_VERSION = 1
_LN2 = math.log(2.0)


def poisson_surprise(observed: float, expected: float) -> float:
    """``-log10 P(X >= observed)`` for X Poisson with mean ``expected`` (observed rounded to a
    count: decayed counts are fractional): 0 when nothing stands out, 4 for a 1-in-10,000 excess."""
    k = int(observed + 0.5)
    if k <= 0 or k <= expected:
        return 0.0
    lam = max(expected, 1e-9)
    # The tail summed from k up (1 - P(X < k) loses every digit when the tail is tiny); the
    # terms fall fast once past the mean, so a few dozen are enough.
    term = math.exp(-lam + k * math.log(lam) - math.lgamma(k + 1))
    tail = 0.0
    i = k
    while term > 1e-300 and i < k + 200:
        tail += term
        i += 1
        term *= lam / i
    return -math.log10(max(tail, 1e-300))


def ramp(x: float, low: float, high: float) -> float:
    """0 at or below ``low``, 1 at or above ``high``, linear between."""
    if x <= low:
        return 0.0
    if x >= high:
        return 1.0
    return (x - low) / (high - low)


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Tunables; the defaults are the ones bench.anomalies measured (docs/anomalies.md)."""

    threshold: float = 0.6
    stat_weight: float = 0.6
    warmup: int = 300
    novelty_warmup: int = 1000  # a service's vocabulary of lines takes longer to learn than its latency
    latency_half_life: float = 2000.0  # samples
    latency_clip: float = 3.0  # baseline updates clipped at mean +/- this many std
    latency_floor: float = 0.05  # std floor, log scale (5 %)
    latency_z: tuple[float, float] = (2.0, 4.0)
    recent: int = 5
    drift_half_life: float = 30.0  # samples: the medium-run latency a slow creep moves
    drift_z: tuple[float, float] = (1.0, 2.0)
    drift_gate: tuple[float, float] = (0.5, 1.5)  # ... counted only while the recent median agrees
    short_half_life: float = 30.0  # seconds of event time
    long_half_life: float = 3600.0
    rate_half_life: float = 600.0
    error_prior_logs: float = 20.0
    error_prior_share: float = 0.01
    error_surprise: tuple[float, float] = (3.5, 5.5)  # -log10 of the Poisson tail
    quiet_expected: float = 12.0
    templates: int = 64
    seed: int = 7

    def shape(self) -> ForestShape:
        return ForestShape.seeded(self.seed)


# Not frozen: one per log (a frozen __init__ is several times slower); never mutated.
@dataclass(slots=True)
class LogPoint:
    """What the detector reads of a log: event time (seconds), level, template key, latency."""

    at: float
    level: Level
    template: str
    latency_ms: float | None = None


# Not frozen: one per log (a frozen __init__ is several times slower); never mutated.
@dataclass(slots=True)
class ScoreParts:
    latency: float
    error_rate: float
    novelty: float
    statistics: float
    forest: float
    score: float
    is_anomaly: bool
    warmed: bool


@dataclass(frozen=True, slots=True)
class QuietFlag:
    """A service silent for longer than its rate allows: ``expected`` logs did not come."""

    since: float
    at: float
    expected: float
    score: float


@dataclass(slots=True)
class ServiceState:
    seen: int = 0
    last_at: float = 0.0
    latency: Ewma = field(default_factory=Ewma)
    drift: Ewma = field(default_factory=Ewma)
    recent: list[float] = field(default_factory=list)
    short_total: DecayedCount = field(default_factory=DecayedCount)
    short_errors: DecayedCount = field(default_factory=DecayedCount)
    long_total: DecayedCount = field(default_factory=DecayedCount)
    long_errors: DecayedCount = field(default_factory=DecayedCount)
    rate: DecayedCount = field(default_factory=DecayedCount)
    templates: dict[str, int] = field(default_factory=dict)
    forest: ForestMasses | None = None
    quiet_flagged: bool = False

    def to_value(self) -> dict[str, Any]:
        def count(c: DecayedCount) -> list[float]:
            return [c.value, c.at]

        return {
            "v": _STATE_VERSION,
            "seen": self.seen,
            "last_at": self.last_at,
            "latency": [self.latency.mean, self.latency.var, self.latency.n],
            "drift": [self.drift.mean, self.drift.var, self.drift.n],
            "recent": list(self.recent),
            "short": [count(self.short_total), count(self.short_errors)],
            "long": [count(self.long_total), count(self.long_errors)],
            "rate": count(self.rate),
            "templates": dict(self.templates),
            "forest": None if self.forest is None else self.forest.encode(),
            "quiet": self.quiet_flagged,
        }

    def copy(self) -> ServiceState:
        """A copy that shares nothing scoring changes in place."""

        def count(c: DecayedCount) -> DecayedCount:
            return DecayedCount(c.value, c.at)

        return ServiceState(
            seen=self.seen,
            last_at=self.last_at,
            latency=Ewma(self.latency.mean, self.latency.var, self.latency.n),
            drift=Ewma(self.drift.mean, self.drift.var, self.drift.n),
            recent=list(self.recent),
            short_total=count(self.short_total),
            short_errors=count(self.short_errors),
            long_total=count(self.long_total),
            long_errors=count(self.long_errors),
            rate=count(self.rate),
            templates=dict(self.templates),
            forest=None if self.forest is None else self.forest.copy(),
            quiet_flagged=self.quiet_flagged,
        )

    @classmethod
    def from_value(cls, value: dict[str, Any], shape: ForestShape) -> ServiceState:
        if value.get("v") != _STATE_VERSION:
            raise ValueError(f"service state version {value.get('v')!r} is not {_STATE_VERSION}")
        mean, var, n = value["latency"]
        d_mean, d_var, d_n = value["drift"]
        (st_v, st_at), (se_v, se_at) = value["short"]
        (lt_v, lt_at), (le_v, le_at) = value["long"]
        rate_v, rate_at = value["rate"]
        forest = value["forest"]
        return cls(
            seen=int(value["seen"]),
            last_at=float(value["last_at"]),
            latency=Ewma(float(mean), float(var), int(n)),
            drift=Ewma(float(d_mean), float(d_var), int(d_n)),
            recent=[float(x) for x in value["recent"]],
            short_total=DecayedCount(st_v, st_at),
            short_errors=DecayedCount(se_v, se_at),
            long_total=DecayedCount(lt_v, lt_at),
            long_errors=DecayedCount(le_v, le_at),
            rate=DecayedCount(rate_v, rate_at),
            templates={str(k): int(v) for k, v in value["templates"].items()},
            forest=None if forest is None else ForestMasses.decode(forest, shape),
            quiet_flagged=bool(value["quiet"]),
        )


def _remember_template(templates: dict[str, int], key: str, cap: int) -> None:
    if key not in templates and len(templates) >= cap:
        # Evict the rarest (ties: the smallest key, so eviction is deterministic).
        rarest = min(templates.items(), key=lambda item: (item[1], item[0]))[0]
        del templates[rarest]
    templates[key] = templates.get(key, 0) + 1
    if sum(templates.values()) > _COUNTS_CAP:
        for k in list(templates):
            templates[k] //= 2


def score_log(state: ServiceState, log: LogPoint, config: DetectorConfig, shape: ForestShape) -> ScoreParts:
    """Score ``log`` against its service's state, then learn it (``state`` is updated)."""
    t = log.at
    warmed = state.seen >= config.warmup
    latency = state.latency

    # Latency: the median of the recent ones against the baseline.
    latency_part = 0.0
    z_single = 0.0
    y: float | None = None
    if log.latency_ms is not None:
        y = math.log1p(max(0.0, log.latency_ms))
        recent = state.recent
        recent.append(y)
        del recent[: -config.recent]
        state.drift.update(y, alpha_for_half_life(config.drift_half_life))
        if latency.n >= 2:
            ordered = sorted(recent)
            std = latency.std(config.latency_floor)  # Ewma.z's denominator, read once
            z_median = (ordered[len(ordered) // 2] - latency.mean) / std
            z_drift = (state.drift.mean - latency.mean) / std
            latency_part = max(
                ramp(z_median, *config.latency_z),
                min(ramp(z_drift, *config.drift_z), ramp(z_median, *config.drift_gate)),
            )
            z_single = (y - latency.mean) / std

    # Error rate: this log counts in the short window it is judged by. After ``add`` a
    # count is as of ``t``: its value is its value at ``t``.
    weight = _ERROR_WEIGHT.get(log.level, 0.0)
    state.short_total.add(t, 1.0, config.short_half_life)
    state.short_errors.add(t, weight, config.short_half_life)
    total = state.short_total.value
    errors = state.short_errors.value
    long_errors = state.long_errors.at_time(t, config.long_half_life)
    long_total = state.long_total.at_time(t, config.long_half_life)
    share = (long_errors + config.error_prior_logs * config.error_prior_share) / (
        long_total + config.error_prior_logs
    )
    expected = share * total
    error_part = ramp(poisson_surprise(errors, expected), *config.error_surprise)

    # Novelty of the template for this service.
    count = state.templates.get(log.template, 0)
    novelty = _NOVELTY_WEIGHT[log.level] if count == 0 and state.seen >= config.novelty_warmup else 0.0

    rate_now = total * _LN2 / config.short_half_life  # DecayedCount.rate at t
    usual = state.rate.at_time(t, config.rate_half_life)
    rate_usual = usual * _LN2 / config.rate_half_life
    ratio = rate_now / (rate_usual + 1e-9)
    features = (
        1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z_single)) / 2.0)),
        level_rank(log.level) / 4.0,
        1.0 / (1.0 + count),
        min(1.0, errors / max(total, 1.0)),
        ratio / (1.0 + ratio),
    )
    if state.forest is None:
        state.forest = ForestMasses.empty(shape)
    forest_part = state.forest.score_and_learn(shape, features)

    statistics = max(latency_part, error_part, novelty)
    score = config.stat_weight * statistics + (1.0 - config.stat_weight) * forest_part
    parts = ScoreParts(
        latency=latency_part,
        error_rate=error_part,
        novelty=novelty,
        statistics=statistics,
        forest=forest_part,
        score=score,
        is_anomaly=warmed and score >= config.threshold,
        warmed=warmed,
    )

    # Learn.
    if y is not None:
        # While the latency looks wrong the baseline learns ten times slower: a creep is
        # flagged until it ends instead of becoming the new normal within the hour.
        slow = 0.1 if latency_part >= 0.5 else 1.0
        latency.update(
            y, alpha_for_half_life(config.latency_half_life), config.latency_clip, config.warmup, slow
        )
    # Unchanged since they were read above: added to as read, not decayed again.
    state.long_total.add_decayed(t, long_total, 1.0)
    state.long_errors.add_decayed(t, long_errors, weight)
    state.rate.add_decayed(t, usual, 1.0)
    _remember_template(state.templates, log.template, config.templates)
    state.seen = min(state.seen + 1, 1 << 30)
    state.last_at = max(state.last_at, t)
    state.quiet_flagged = False
    return parts


def quiet_due(state: ServiceState, config: DetectorConfig) -> float | None:
    """The event time from which ``check_quiet`` flags the service if it logs nothing more
    (None: in warm-up, already flagged, or no rate): callers check only services due."""
    if state.seen < config.warmup or state.quiet_flagged:
        return None
    rate = state.rate.rate(state.last_at, config.rate_half_life)
    if rate <= 0.0:
        return None
    return state.last_at + config.quiet_expected / rate


def check_quiet(state: ServiceState, now: float, config: DetectorConfig) -> QuietFlag | None:
    """Flag a warmed service that has logged nothing since ``last_at`` while its recent rate
    predicted at least ``quiet_expected`` logs; once per silence (a log resets it)."""
    if state.seen < config.warmup or state.quiet_flagged or now <= state.last_at:
        return None
    expected = state.rate.rate(state.last_at, config.rate_half_life) * (now - state.last_at)
    if expected < config.quiet_expected * (1.0 - 1e-9):  # quiet_due's time rounds either way
        return None
    state.quiet_flagged = True
    # The chance that a service at its rate would have logged something by now.
    return QuietFlag(since=state.last_at, at=now, expected=expected, score=1.0 - math.exp(-expected))
