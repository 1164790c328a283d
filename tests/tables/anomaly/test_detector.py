from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tables.anomaly.detector import DetectorConfig, LogPoint, ServiceState, check_quiet, score_log
from tables.anomaly.forest import ForestMasses, ForestShape
from tables.anomaly.levels import Level

CONFIG = DetectorConfig()
SHAPE = CONFIG.shape()


def normal_logs(n: int, seed: int, *, start: float = 0.0, rate: float = 1.0) -> list[LogPoint]:
    rng = random.Random(seed)
    t = start
    logs = []
    for _ in range(n):
        t += rng.expovariate(rate)
        level: Level = "error" if rng.random() < 0.01 else "info"
        logs.append(LogPoint(t, level, f"t{rng.randrange(6)}", 100.0 * rng.lognormvariate(0.0, 0.3)))
    return logs


def run(state: ServiceState, logs: list[LogPoint]) -> list[float]:
    return [score_log(state, log, CONFIG, SHAPE).score for log in logs]


def test_forest_shape_is_a_function_of_its_seed() -> None:
    assert ForestShape.seeded(7) == ForestShape.seeded(7)
    assert ForestShape.seeded(7) != ForestShape.seeded(8)
    with pytest.raises(ValueError, match="window"):
        ForestShape.seeded(7, window=70000)


def test_forest_learns_where_the_mass_is() -> None:
    shape = ForestShape.seeded(3)
    masses = ForestMasses.empty(shape)
    rng = random.Random(1)
    first = masses.score_and_learn(shape, [0.5] * 5)
    assert first == 1.0  # no reference window yet
    for _ in range(2 * shape.window):
        masses.score_and_learn(shape, [rng.gauss(0.3, 0.03) for _ in range(5)])
    inside = masses.score_and_learn(shape, [0.3] * 5)
    outside = masses.score_and_learn(shape, [0.95] * 5)
    assert 0.0 <= inside < 0.3 < 0.7 < outside <= 1.0
    # The reference window holds exactly `window` samples at every root.
    assert all(masses.reference[t * shape.nodes] == shape.window for t in range(shape.trees))
    again = ForestMasses.decode(json.loads(json.dumps(masses.encode())), shape)
    assert again == masses


def test_the_score_is_deterministic_for_a_seed_and_history() -> None:
    logs = normal_logs(1500, seed=11)
    assert run(ServiceState(), logs) == run(ServiceState(), logs)
    other = replace(CONFIG, seed=8)
    a = [score_log(s, log, other, other.shape()).forest for s in [ServiceState()] for log in logs]
    assert a != [score_log(s, log, CONFIG, SHAPE).forest for s in [ServiceState()] for log in logs]


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**16), st.integers(310, 1200))
def test_a_restored_state_scores_like_the_one_that_was_never_stopped(seed: int, cut: int) -> None:
    logs = normal_logs(1300, seed=seed)
    kept = ServiceState()
    expected = run(kept, logs)
    restarted = ServiceState()
    head = run(restarted, logs[:cut])
    value = json.loads(json.dumps(restarted.to_value()))
    tail = run(ServiceState.from_value(value, SHAPE), logs[cut:])
    assert head + tail == expected


def test_state_size_does_not_grow_with_history() -> None:
    state = ServiceState()
    rng = random.Random(5)
    sizes = []
    t = 0.0
    for i in range(20_000):
        t += 0.5
        # Many distinct lines: the template counts must stay capped.
        score_log(
            state, LogPoint(t, "info", f"line{rng.randrange(500)}", rng.uniform(10, 500)), CONFIG, SHAPE
        )
        if i in (2_000, 19_999):
            sizes.append(len(json.dumps(state.to_value())))
    assert len(state.templates) == CONFIG.templates
    assert len(state.recent) == CONFIG.recent
    assert sizes[1] < 64 * 1024
    assert abs(sizes[1] - sizes[0]) < 2048


def test_nothing_is_flagged_during_warm_up() -> None:
    state = ServiceState()
    wild = [LogPoint(float(i), "critical", f"new {i}", 10.0 ** (i % 6)) for i in range(CONFIG.warmup)]
    parts = [score_log(state, log, CONFIG, SHAPE) for log in wild]
    assert not any(p.is_anomaly for p in parts)
    assert not parts[-1].warmed


def test_a_latency_spike_is_flagged_and_one_slow_request_is_not() -> None:
    state = ServiceState()
    logs = normal_logs(2000, seed=3)
    run(state, logs)
    t = logs[-1].at
    single = score_log(state, LogPoint(t + 1, "info", "t1", 800.0), CONFIG, SHAPE)
    assert not single.is_anomaly
    run(state, normal_logs(20, seed=4, start=t + 2))
    t += 30
    spike = [score_log(state, LogPoint(t + i, "info", "t2", 800.0), CONFIG, SHAPE) for i in range(6)]
    assert spike[0].latency == 0.0  # one slow log does not move a median of five
    assert spike[-1].is_anomaly and spike[-1].latency == 1.0


def test_an_error_burst_is_flagged_and_background_errors_are_not() -> None:
    state = ServiceState()
    logs = normal_logs(2000, seed=5)
    parts = [score_log(state, log, CONFIG, SHAPE) for log in logs]
    assert not any(p.is_anomaly for p in parts)
    t = logs[-1].at
    burst = [score_log(state, LogPoint(t + i, "error", "t0", 100.0), CONFIG, SHAPE) for i in range(1, 8)]
    assert burst[-1].error_rate > 0.9 and burst[-1].is_anomaly
    assert burst[0].error_rate == 0.0


def test_a_new_error_line_is_novel_an_old_one_is_not() -> None:
    state = ServiceState()
    logs = normal_logs(1200, seed=6)
    run(state, logs)
    t = logs[-1].at
    new = score_log(state, LogPoint(t + 1, "error", "never seen", 100.0), CONFIG, SHAPE)
    assert new.novelty == 1.0 and new.is_anomaly
    again = score_log(state, LogPoint(t + 2, "error", "never seen", 100.0), CONFIG, SHAPE)
    assert again.novelty == 0.0
    info = score_log(state, LogPoint(t + 3, "info", "also new", 100.0), CONFIG, SHAPE)
    assert info.novelty == pytest.approx(0.3) and not info.is_anomaly


def test_a_quiet_service_is_flagged_once_by_time_passing() -> None:
    state = ServiceState()
    logs = normal_logs(1200, seed=7, rate=1.0)
    run(state, logs)
    last = logs[-1].at
    assert check_quiet(state, last + 5, CONFIG) is None
    flag = check_quiet(state, last + 30, CONFIG)
    assert flag is not None and flag.since == last and flag.expected >= CONFIG.quiet_expected
    assert flag.score > 0.999
    assert check_quiet(state, last + 60, CONFIG) is None  # once per silence
    run(state, [LogPoint(last + 61, "info", "t1", 100.0)])
    assert check_quiet(state, last + 100, CONFIG) is not None


def test_a_service_in_warm_up_is_never_quiet() -> None:
    state = ServiceState()
    run(state, normal_logs(50, seed=8))
    assert check_quiet(state, 1e9, CONFIG) is None
