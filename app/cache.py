"""Redis: optional. Without it the processor keeps working (dedupe falls back to the
tables, no cache) and /health says ``degraded``.

After a failed call the client stays quiet for a few seconds (a small circuit breaker):
a Redis that is down must not cost every batch a socket timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import cast

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from app.logging import get_logger
from app.redaction import scrub

__all__ = ["RedisCache"]

log = get_logger("sei.cache")

_SET_ALL_WITH_TTL = "for _, key in ipairs(KEYS) do redis.call('SET', key, '1', 'EX', ARGV[1]) end return #KEYS"
_SCRIPT_CHUNK = 1000


class RedisCache:
    """A lazily connected Redis client whose calls never raise into the pipeline."""

    def __init__(self, url: str, *, quiet_after_failure_s: float = 5.0) -> None:
        self.url = url
        self.quiet_after_failure_s = quiet_after_failure_s
        self._client: aioredis.Redis | None = None
        self._quiet_until = 0.0
        self._down = False
        self._set_all: AsyncScript | None = None

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self.url, socket_connect_timeout=1.0, socket_timeout=1.0, health_check_interval=10
            )
        return self._client

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._quiet_until

    def _failed(self, exc: Exception, what: str) -> None:
        self._quiet_until = time.monotonic() + self.quiet_after_failure_s
        if not self._down:
            log.warning(
                "redis.unavailable",
                what=what,
                error=scrub(f"{type(exc).__name__}: {exc}", [self.url]),
                mode="degraded",
            )
        self._down = True

    def _succeeded(self) -> None:
        if self._down:
            log.info("redis.available")
        self._down = False

    async def ping(self, timeout: float = 1.5) -> bool:
        try:
            async with asyncio.timeout(timeout):
                ok = bool(await self.client.ping())
        except Exception as exc:
            self._failed(exc, "ping")
            return False
        self._succeeded()
        self._quiet_until = 0.0
        return ok

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values of ``keys``; all None when Redis is unavailable."""
        if not keys or not self.available:
            return [None] * len(keys)
        try:
            values = await self.client.mget(keys)
        except Exception as exc:
            self._failed(exc, "mget")
            return [None] * len(keys)
        self._succeeded()
        # Made without decode_responses: Redis answers bytes, never str.
        return cast(list[bytes | None], list(values))

    async def set_many(self, keys: Sequence[str], ttl_s: int) -> None:
        """Set each key to 1 with a TTL; nothing when unavailable.

        One script call per chunk rather than a pipeline of SETs: redis-py spends about
        30 us of the worker's event loop packing each pipelined command, which a batch of
        dedupe marks paid per message (6 % of the worker in bench.commits).
        """
        if not keys or not self.available:
            return
        if self._set_all is None:
            self._set_all = self.client.register_script(_SET_ALL_WITH_TTL)
        try:
            for start in range(0, len(keys), _SCRIPT_CHUNK):
                await self._set_all(keys=keys[start : start + _SCRIPT_CHUNK], args=[ttl_s])
        except Exception as exc:
            self._failed(exc, "set")
            return
        self._succeeded()

    async def set_values(self, values: Mapping[str, bytes], ttl_s: int) -> None:
        """Set each key to its value with a TTL (one round trip); nothing when unavailable."""
        if not values or not self.available:
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for key, value in values.items():
                    pipe.set(key, value, ex=ttl_s)
                await pipe.execute()
        except Exception as exc:
            self._failed(exc, "set")
            return
        self._succeeded()

    async def close(self) -> None:
        self._set_all = None  # bound to the client being closed
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
