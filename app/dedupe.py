"""Seed 000's Redis dedupe: ``processor:dedupe:{group}:{database}:{message_id}``.

A message id is the hash of its topic, key and value: an exact redelivery (producer retry,
consumer replay) has the same id. An id is remembered only once the message's offset is
committed, when its table changes and rows are durable; a later delivery with that id is
skipped. Correctness never depends on this (tables and upserts are idempotent); it saves
work, and Redis being down only means no saving.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence

from faust.types import TP

from app.cache import RedisCache
from app.logging import get_logger

__all__ = ["Dedupe", "message_id"]

log = get_logger("sei.dedupe")
PREFIX = "processor:dedupe:"


def message_id(topic: str, key: bytes | None, value: bytes | None) -> str:
    """The id of a message's exact content on its topic."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (topic.encode(), key or b"", value or b""):
        digest.update(len(part).to_bytes(4, "big"))
        digest.update(part)
    return digest.hexdigest()


class Dedupe:
    """Ids of committed messages, in Redis with a TTL."""

    def __init__(self, cache: RedisCache, ttl_s: int, group: str) -> None:
        self.cache = cache
        self.ttl_s = ttl_s
        self.group = group
        self.prefix: str | None = None
        self._pending: dict[TP, deque[tuple[int, list[str]]]] = {}

    def bind(self, database_identity: str) -> None:
        """Scope the ids to this consumer group and this database.

        "Done" vouches for rows in one database: a recreated or restored database (new
        identity) must not inherit the skips of the old one, nor one group another's.
        """
        self.prefix = f"{PREFIX}{self.group}:{database_identity}:"

    async def seen(self, ids: Sequence[str]) -> set[str]:
        """The ids among ``ids`` that are known done (empty when Redis is unavailable)."""
        if not ids or self.prefix is None:
            return set()
        values = await self.cache.mget([self.prefix + i for i in ids])
        return {i for i, v in zip(ids, values, strict=True) if v is not None}

    def done_when_committed(self, tp: TP, offset: int, ids: list[str]) -> None:
        """Remember ``ids`` once ``tp`` is committed past ``offset``."""
        if ids:
            self._pending.setdefault(tp, deque()).append((offset, ids))

    def on_committed(self, offsets: Mapping[TP, int]) -> None:
        """Offsets were committed: store the ids of everything before them (background)."""
        ready: list[str] = []
        for tp, committed in offsets.items():
            pending = self._pending.get(tp)
            while pending and pending[0][0] < committed:
                ready.extend(pending.popleft()[1])
        if ready:
            asyncio.ensure_future(self._store(ready))

    async def _store(self, ids: Iterable[str]) -> None:
        if self.prefix is not None:
            await self.cache.set_many([self.prefix + i for i in ids], self.ttl_s)

    def forget(self, tps: Iterable[TP]) -> None:
        """Partitions revoked: their uncommitted ids are no longer ours to mark."""
        for tp in tps:
            self._pending.pop(tp, None)
