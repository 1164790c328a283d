"""What shipping a repository gave, kept between ``GET /dora`` and ``GET /cycle-time`` queries.

Shipping a repository's commits to its deployments is most of what a live DORA or
cycle-time query costs: it reads every commit of the lookback (the window's start less
STATE_RETENTION_DAYS, which ships the window's commits as the whole state would), 45,000 of
them for a monorepo with 300 commits a day, where the window itself holds a fifth of that.
What it gives (each deployment's lead-time samples: ``tables.dora.Delivery``; each pull
request's timeline: ``tables.cycle_time.Timeline``) does not depend on the window, only on
the repository's deployments, commits and pull requests, which change when an agent's batch
changes them. So the owner keeps it per (kind, repository, lookback day, production
environments) until the repository changes: dashboards ask the same repository every few
seconds, and a busy repository changes every few minutes.

Forgotten when an agent marks the repository changed (agents.projection), when its state is
aged (agents.retention), and all of it when the worker's partitions change (a rebalance may
have moved the repository away and back while another worker changed it). Bounded by the
items it holds (deployments, samples, timelines), least recently used first out, so memory
does not grow with repositories or history.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

__all__ = ["MAX_ITEMS", "MemoKey", "ShippingMemo", "shipping_memo"]

# About 10 MB at most: a full monorepo's lookback is ~3,000 deployments and ~45,000 samples.
MAX_ITEMS = 250_000

MemoKey = tuple[str, str, str, frozenset[str]]  # (kind, repository_id, lookback day, environments)


class ShippingMemo:
    """Values per ``MemoKey``, least recently used first out beyond ``max_items``."""

    def __init__(self, max_items: int = MAX_ITEMS) -> None:
        self.max_items = max_items
        self._kept: OrderedDict[MemoKey, tuple[object, int]] = OrderedDict()
        self._items = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: MemoKey) -> object | None:
        kept = self._kept.get(key)
        if kept is None:
            self.misses += 1
            return None
        self._kept.move_to_end(key)
        self.hits += 1
        return kept[0]

    def put(self, key: MemoKey, value: object, items: int) -> None:
        """Keep ``value``, which holds ``items`` items (what the bound counts)."""
        self._drop(key)
        if items > self.max_items:
            return
        self._kept[key] = (value, items)
        self._items += items
        while self._items > self.max_items:
            self._drop(next(iter(self._kept)))

    def forget(self, repository_ids: Iterable[str]) -> None:
        """These repositories changed: what was kept of them is stale."""
        changed = set(repository_ids)
        if changed and self._kept:
            for key in [k for k in self._kept if k[1] in changed]:
                self._drop(key)

    def clear(self) -> None:
        self._kept.clear()
        self._items = 0

    def __len__(self) -> int:
        return len(self._kept)

    def _drop(self, key: MemoKey) -> None:
        kept = self._kept.pop(key, None)
        if kept is not None:
            self._items -= kept[1]


shipping_memo = ShippingMemo()
