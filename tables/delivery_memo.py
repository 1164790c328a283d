"""A repository's shipped deliveries kept between ``GET /dora`` queries.

Shipping a repository's commits to its deployments is most of what a live DORA query costs:
it reads every commit of the lookback (the window's start less STATE_RETENTION_DAYS, which
ships the window's commits as the whole state would), 45,000 of them for a monorepo with
300 commits a day, where the window itself holds a fifth of that. The result does not
depend on the window, only on the repository's deployments and commits, which change when
an agent's batch changes them. So the owner keeps it per (repository, lookback day) until
the repository changes: dashboards ask the same repository every few seconds, and a busy
repository changes every few minutes.

Forgotten when an agent marks the repository changed (agents.projection), when its state is
aged (agents.retention), and all of it when the worker's partitions change (a rebalance may
have moved the repository away and back while another worker changed it). Bounded by the
samples it holds, least recently used first out, so memory does not grow with repositories
or history.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from tables.dora import Delivery

__all__ = ["DeliveryMemo", "delivery_memo"]

# About 8 MB of samples and deployments at most: a full monorepo's lookback holds ~45,000.
MAX_SAMPLES = 250_000


class DeliveryMemo:
    """Delivery per (repository, lookback day, production environments), least recently
    used first out beyond ``max_samples``."""

    def __init__(self, max_samples: int = MAX_SAMPLES) -> None:
        self.max_samples = max_samples
        self._kept: OrderedDict[tuple[str, str, frozenset[str]], tuple[Delivery, int]] = OrderedDict()
        self._samples = 0
        self.hits = 0
        self.misses = 0

    def get(self, repository_id: str, since: str, environments: frozenset[str]) -> Delivery | None:
        key = (repository_id, since, environments)
        kept = self._kept.get(key)
        if kept is None:
            self.misses += 1
            return None
        self._kept.move_to_end(key)
        self.hits += 1
        return kept[0]

    def put(self, repository_id: str, since: str, environments: frozenset[str], delivery: Delivery) -> None:
        key = (repository_id, since, environments)
        self._drop(key)
        size = len(delivery.counted) + sum(len(samples) for samples in delivery.lead_times.values())
        if size > self.max_samples:
            return
        self._kept[key] = (delivery, size)
        self._samples += size
        while self._samples > self.max_samples:
            self._drop(next(iter(self._kept)))

    def forget(self, repository_ids: Iterable[str]) -> None:
        """These repositories changed: their deliveries are stale."""
        changed = set(repository_ids)
        if changed and self._kept:
            for key in [k for k in self._kept if k[0] in changed]:
                self._drop(key)

    def clear(self) -> None:
        self._kept.clear()
        self._samples = 0

    def __len__(self) -> int:
        return len(self._kept)

    def _drop(self, key: tuple[str, str, frozenset[str]]) -> None:
        kept = self._kept.pop(key, None)
        if kept is not None:
            self._samples -= kept[1]


delivery_memo = DeliveryMemo()
