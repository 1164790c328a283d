"""The forest's leaf counts and per-leaf parts against the plain walk they replace: every
node of the path read and counted, per sample."""

from __future__ import annotations

import base64
import json
import random
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tables.anomaly.forest import ForestMasses, ForestShape


class PlainForest:
    """Half-space tree masses kept node by node (the definition the forest must match)."""

    def __init__(self, shape: ForestShape) -> None:
        self.reference = [0] * (shape.trees * shape.nodes)
        self.latest = [0] * (shape.trees * shape.nodes)
        self.counted = 0
        self.windows = 0

    def score_and_learn(self, shape: ForestShape, x: list[float], size_limit: float = 0.1) -> float:
        limit = size_limit * shape.window
        total = 0.0
        for tree in range(shape.trees):
            base, node, scoring = tree * shape.nodes, 0, True
            for depth in range(shape.height + 1):
                mass = self.reference[base + node]
                if scoring:
                    total += mass * (1 << depth)
                    scoring = mass >= limit
                self.latest[base + node] += 1
                if depth == shape.height:
                    break
                go_left = x[shape.split_feature[tree][node]] < shape.split_value[tree][node]
                node = 2 * node + 1 if go_left else 2 * node + 2
        self.counted += 1
        if self.counted >= shape.window:
            self.reference, self.latest = self.latest, [0] * len(self.latest)
            self.counted, self.windows = 0, self.windows + 1
        if self.windows == 0:
            return 1.0
        return max(0.0, min(1.0, 1.0 - total / shape.max_score))


def samples(seed: int, n: int) -> list[list[float]]:
    rng = random.Random(seed)
    centre = [rng.random() for _ in range(5)]
    return [
        [min(1.0, max(0.0, rng.gauss(c, 0.3 if rng.random() < 0.05 else 0.05))) for c in centre]
        for _ in range(n)
    ]


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**16), st.integers(0, 900), st.sampled_from([7, 11]))
def test_forest_scores_and_masses_equal_the_plain_walk(seed: int, cut: int, tree_seed: int) -> None:
    shape = ForestShape.seeded(tree_seed, window=50 + seed % 200)
    plain, masses = PlainForest(shape), ForestMasses.empty(shape)
    for i, x in enumerate(samples(seed, 1000)):
        if i == cut:  # a restart: the stored value scores on as the one never stopped
            masses = ForestMasses.decode(json.loads(json.dumps(masses.encode())), shape)
        assert masses.score_and_learn(shape, x) == plain.score_and_learn(shape, x)
    assert masses.reference == plain.reference
    assert masses.latest == plain.latest
    assert (masses.counted, masses.windows) == (plain.counted, plain.windows)


def test_forest_refuses_masses_whose_nodes_are_not_their_childrens_sums() -> None:
    shape = ForestShape.seeded(7)
    masses = ForestMasses.empty(shape)
    for x in samples(1, 30):
        masses.score_and_learn(shape, x)
    numbers = masses.reference + masses.latest
    numbers[len(masses.reference) + 1] += 1  # the latest window's first inner node below the root
    packed = struct.pack(f"<{len(numbers)}H", *numbers)
    value = {**masses.encode(), "masses": base64.b64encode(zlib.compress(packed)).decode("ascii")}
    with pytest.raises(ValueError, match="sum of its children"):
        ForestMasses.decode(value, shape)


def test_forest_leaves_looked_up_by_place_equal_the_walk_when_the_cache_is_forgotten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tables.anomaly.forest._LEAF_CACHE", 8)
    shape = ForestShape.seeded(5, window=40)
    plain, masses = PlainForest(shape), ForestMasses.empty(shape)
    on_cuts = [cuts[len(cuts) // 2] for cuts in shape.cuts]
    edges = [on_cuts, [0.0] * 5, [1.0] * 5, [float("nan")] * 5]  # on a cut, ends, NaN
    for x in edges + samples(9, 300):
        assert masses.score_and_learn(shape, x) == plain.score_and_learn(shape, x)
    assert len(shape._leaves) <= 8
    assert masses.latest == plain.latest
