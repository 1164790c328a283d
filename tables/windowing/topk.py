"""Exact top-k over counts merged from partitions and windows.

Top-k lists do not merge exactly (a key ranked k+1 on every partition can be first
overall), so partial counts are merged first (per partition, per window: the tumbling
tallies) and ranked once: ``top_k(merge_counts(parts), k)``. Ties are ordered by count
descending, then key ascending, so the answer does not depend on the order of the parts.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping

__all__ = ["merge_counts", "top_k"]


def merge_counts(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """The sum per key of ``parts`` (one per partition and window)."""
    total: dict[str, int] = {}
    for part in parts:
        for key, count in part.items():
            total[key] = total.get(key, 0) + count
    return total


def top_k(counts: Mapping[str, int], k: int) -> list[tuple[str, int]]:
    """The ``k`` keys with the largest counts as ``(key, count)``, ties by key ascending;
    keys counted zero times are left out."""
    if k < 0:
        raise ValueError(f"k={k}: must not be negative")
    return heapq.nsmallest(
        k, ((key, count) for key, count in counts.items() if count > 0), key=lambda item: (-item[1], item[0])
    )
