"""Half-space trees (Tan, Ting & Liu, 2011): an online isolation forest in fixed memory.

Why this and not scikit-learn's ``IsolationForest`` refitted on a sliding sample, or
``river.anomaly.HalfSpaceTrees``: the trees' shape (which feature each node splits and
where) is random but does not depend on the data, so it is drawn once from a seed and
shared by every service; what a service learns is only the mass (count of its samples)
in each node. That state is two arrays of ``trees * (2 ** (height + 1) - 1)`` small
integers, compressed into the service's table value (about 1 KiB at 10 trees of height
6), the same size after a day as after a minute, and a restarted worker scores exactly as
the one before it. river keeps the same masses in Python objects per node (pickled, tens
of KiB a service) and scikit-learn would refit 100 trees on a stored sample per service.
Cost per log: one bisect per feature (where it falls among the split values decides every
split: the leaves are looked up, ``ForestShape.leaves_at``), one count per tree at its leaf
(inner nodes' masses are their children's sums) and one cached path sum per tree: a few µs
for 10 trees of height 6 in CPython, against about 20 µs for the walk down every node.

Masses are counted in windows of ``window`` samples: the latest window counts into
``latest``; when it is full it becomes the ``reference`` the scores are read from. A
point is anomalous when the reference window had little mass on its path: score
``1 - sum(mass(node) * 2 ** depth) / max``, in [0, 1].
"""

from __future__ import annotations

import base64
import bisect
import random
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["ForestMasses", "ForestShape"]

_LEAF_CACHE = 1 << 15  # places remembered per shape (a few MB at most), then forgotten


@dataclass(frozen=True, slots=True)
class ForestShape:
    """Split features and values of every internal node, heap-ordered (children of node
    ``i`` are ``2i + 1`` and ``2i + 2``); features are expected in [0, 1]."""

    trees: int
    height: int
    features: int
    window: int
    split_feature: tuple[tuple[int, ...], ...]
    split_value: tuple[tuple[float, ...], ...]
    # Derived (__post_init__): per feature, its split values sorted (``cuts``), and per node
    # the place of its split value among them (``split_rank``). Which side of every split a
    # sample falls is then known from where each feature's value falls among the cuts
    # (``x < value`` exactly when ``rank(value) >= bisect_right(cuts, x)``), so the leaves
    # a sample reaches are looked up by those places (``leaves_at``), not walked to.
    cuts: tuple[tuple[float, ...], ...] = field(init=False, compare=False, repr=False)
    split_rank: tuple[tuple[int, ...], ...] = field(init=False, compare=False, repr=False)
    _leaves: dict[tuple[int, ...], tuple[int, ...]] = field(
        init=False, compare=False, repr=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        cuts = tuple(
            tuple(
                sorted(
                    {
                        v
                        for fs, vs in zip(self.split_feature, self.split_value, strict=True)
                        for f, v in zip(fs, vs, strict=True)
                        if f == q
                    }
                )
            )
            for q in range(self.features)
        )
        ranks = tuple(
            tuple(bisect.bisect_left(cuts[f], v) for f, v in zip(fs, vs, strict=True))
            for fs, vs in zip(self.split_feature, self.split_value, strict=True)
        )
        object.__setattr__(self, "cuts", cuts)
        object.__setattr__(self, "split_rank", ranks)

    def leaves_at(self, x: Sequence[float]) -> tuple[int, ...]:
        """The leaf ``x`` reaches in each tree, as an index into all trees' leaves
        (``tree * 2 ** height + leaf``); remembered by where ``x`` falls among the cuts (a
        few thousand places in bench.anomalies' history, bounded by ``_LEAF_CACHE``)."""
        places = tuple(map(bisect.bisect_right, self.cuts, x))
        leaves = self._leaves.get(places)
        if leaves is None:
            if len(self._leaves) >= _LEAF_CACHE:
                self._leaves.clear()
            leaves = self._leaves[places] = self._walk(places)
        return leaves

    def _walk(self, places: tuple[int, ...]) -> tuple[int, ...]:
        height, per_tree = self.height, 1 << self.height
        leaves = []
        for tree, (feats, ranks) in enumerate(zip(self.split_feature, self.split_rank, strict=True)):
            node = 0
            for _ in range(height):
                node = 2 * node + 1 if ranks[node] >= places[feats[node]] else 2 * node + 2
            leaves.append(tree * per_tree + node - (per_tree - 1))
        return tuple(leaves)

    @classmethod
    def seeded(
        cls, seed: int, *, trees: int = 10, height: int = 6, features: int = 5, window: int = 200
    ) -> ForestShape:
        if not (1 <= window <= 0xFFFF):
            raise ValueError(f"window={window} must be within 1..65535 (masses are stored in 16 bits)")
        rng = random.Random(seed)
        internal = 2**height - 1
        feature_rows: list[tuple[int, ...]] = []
        value_rows: list[tuple[float, ...]] = []
        for _ in range(trees):
            # Each tree's work range per feature: a random centre, wide enough to hold [0, 1].
            lows, highs = [], []
            for _ in range(features):
                s = rng.random()
                half = 2.0 * max(s, 1.0 - s)
                lows.append(s - half)
                highs.append(s + half)
            ranges: list[tuple[list[float], list[float]]] = [(lows, highs)]
            feats: list[int] = []
            values: list[float] = []
            for node in range(internal):
                lo, hi = ranges[node]
                q = rng.randrange(features)
                mid = (lo[q] + hi[q]) / 2.0
                feats.append(q)
                values.append(mid)
                left_hi = list(hi)
                left_hi[q] = mid
                right_lo = list(lo)
                right_lo[q] = mid
                ranges.append((lo, left_hi))
                ranges.append((right_lo, hi))
            feature_rows.append(tuple(feats))
            value_rows.append(tuple(values))
        return cls(trees, height, features, window, tuple(feature_rows), tuple(value_rows))

    @property
    def nodes(self) -> int:
        return (1 << (self.height + 1)) - 1

    @property
    def max_score(self) -> float:
        return float(self.trees * self.window * self.nodes)


@dataclass(slots=True)
class ForestMasses:
    """One service's masses: the reference window scores are read from, the window being
    counted, and how many samples it holds.

    A sample counts into every node of its path, so a node's mass in the latest window is
    the sum of its children's: only the leaves' are kept (``leaves``, per tree in heap
    order), one increment per tree instead of one per node; ``latest`` rebuilds the rest.
    A tree's part of the score depends only on the leaf a sample reaches while the
    reference stands, so it is worked out once per leaf and window (``_parts``)."""

    reference: list[int]
    leaves: list[int]
    counted: int = 0
    windows: int = 0  # complete windows seen (capped); 0: no reference yet
    # Per leaf (tree-major): its path's sum against the reference at ``_limit``, or -1.
    _parts: list[int] = field(default_factory=list, compare=False, repr=False)
    _limit: float = field(default=-1.0, compare=False, repr=False)

    @classmethod
    def empty(cls, shape: ForestShape) -> ForestMasses:
        return cls([0] * (shape.trees * shape.nodes), [0] * (shape.trees << shape.height))

    def copy(self) -> ForestMasses:
        """A copy that shares nothing scoring changes in place (``reference`` is replaced
        at the end of a window, never changed in place)."""
        return ForestMasses(
            self.reference, list(self.leaves), self.counted, self.windows, list(self._parts), self._limit
        )

    @property
    def latest(self) -> list[int]:
        """The latest window's mass of every node (heap-ordered per tree, like ``reference``)."""
        # trees * (2 * per_tree - 1) reference nodes and trees * per_tree leaves: the shape.
        trees = 2 * len(self.leaves) - len(self.reference)
        per_tree = len(self.leaves) // trees
        masses: list[int] = []
        for tree in range(trees):
            nodes = [0] * (per_tree - 1) + self.leaves[tree * per_tree : (tree + 1) * per_tree]
            for node in range(per_tree - 2, -1, -1):
                nodes[node] = nodes[2 * node + 1] + nodes[2 * node + 2]
            masses.extend(nodes)
        return masses

    def score_and_learn(self, shape: ForestShape, x: Sequence[float], *, size_limit: float = 0.1) -> float:
        """The anomaly score of ``x`` against the reference window (1.0 while there is none),
        then ``x`` counted into the latest window.

        Score: per tree, the reference masses down the sample's path, ``mass * 2 ** depth``
        summed down to the first node holding less than ``size_limit * window`` (included);
        every term is an integer, so the sum is exact whatever order it is taken in."""
        limit = size_limit * shape.window
        if self._limit != limit or not self._parts:
            self._parts = [-1] * (shape.trees << shape.height)
            self._limit = limit
        parts, leaves = self._parts, self.leaves
        total = 0
        for leaf in shape.leaves_at(x):
            leaves[leaf] += 1
            part = parts[leaf]
            if part < 0:
                part = parts[leaf] = self._path_part(shape, leaf, limit)
            total += part
        self.counted += 1
        if self.counted >= shape.window:
            self.reference = self.latest
            self.leaves = [0] * len(leaves)
            self._parts = []
            self.counted = 0
            self.windows = min(self.windows + 1, 1 << 30)
        if self.windows == 0:
            return 1.0
        return max(0.0, min(1.0, 1.0 - float(total) / shape.max_score))

    def _path_part(self, shape: ForestShape, leaf: int, limit: float) -> int:
        """A tree's part of the score of a sample reaching ``leaf`` (as ``leaves_at`` gives)."""
        height = shape.height
        tree, local = divmod(leaf, 1 << height)
        leaf_node = (1 << height) - 1 + local  # its heap index in the tree
        reference, base = self.reference, tree * shape.nodes
        part = 0
        for depth in range(height + 1):
            mass = reference[base + ((leaf_node + 1) >> (height - depth)) - 1]
            part += mass << depth
            if mass < limit:
                break
        return part

    def encode(self) -> dict[str, object]:
        """A JSON-able value: both arrays as 16-bit little-endian, zlib, base64."""
        latest = self.latest
        packed = struct.pack(f"<{2 * len(self.reference)}H", *self.reference, *latest)
        return {
            "masses": base64.b64encode(zlib.compress(packed, 6)).decode("ascii"),
            "counted": self.counted,
            "windows": self.windows,
        }

    @classmethod
    def decode(cls, value: dict[str, object], shape: ForestShape) -> ForestMasses:
        raw = zlib.decompress(base64.b64decode(str(value["masses"])))
        size = shape.trees * shape.nodes
        if len(raw) != 4 * size:
            raise ValueError(f"forest masses of {len(raw)} bytes do not fit a shape of {size} nodes")
        numbers = list(struct.unpack(f"<{2 * size}H", raw))
        latest = numbers[size:]
        internal = (1 << shape.height) - 1
        leaves = [
            m
            for tree in range(shape.trees)
            for m in latest[tree * shape.nodes + internal : (tree + 1) * shape.nodes]
        ]
        masses = cls(numbers[:size], leaves, int(str(value["counted"])), int(str(value["windows"])))
        if masses.latest != latest:
            raise ValueError("forest masses: a node's latest mass is not the sum of its children's")
        return masses
