"""Redis: optional. Without it the processor keeps working (dedupe falls back to the
tables, no lookup cache) and /health says ``degraded``."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

__all__ = ["RedisCache"]


class RedisCache:
    """A lazily connected Redis client whose calls never raise into the pipeline."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client: aioredis.Redis | None = None

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self.url, socket_connect_timeout=1.0, socket_timeout=1.0, health_check_interval=10
            )
        return self._client

    async def ping(self, timeout: float = 1.5) -> bool:
        try:
            async with asyncio.timeout(timeout):
                return bool(await self.client.ping())
        except Exception:
            return False

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
