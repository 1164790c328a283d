"""Route a live-table query to the worker that owns the key's partition, from any worker."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import aiohttp
from faust.exceptions import SameNode
from faust.types import TopicT
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable

from app.main import app

__all__ = ["FORWARD_TIMEOUT_S", "SETTLE_RETRY_AFTER_S", "unavailable_answer", "routed_by_source_key"]

ViewMethod = Callable[..., Awaitable[Response]]
# A rebalance or a table recovery settles within seconds (one session timeout at worst).
SETTLE_RETRY_AFTER_S = 2
# How long a forwarded request may wait for the worker that owns the key (a frozen or
# partitioned worker accepts the connection and never answers).
FORWARD_TIMEOUT_S = 10.0


def unavailable_answer(view: View, why: str) -> Response:
    """503 while the answer would be wrong or cannot be found (a rebalance, a table
    recovery), saying why and when to ask again (``Retry-After``)."""
    return view.json(
        {"error": f"{why}; try again in a few seconds"},
        status=503,
        headers={"Retry-After": str(SETTLE_RETRY_AFTER_S)},
    )


def routed_by_source_key(
    topic: TopicT, match_info: str, key_of: Callable[[str], str] | None = None
) -> Callable[[ViewMethod], ViewMethod]:
    """Answer on the worker that consumes ``topic``'s partition of the URL's key.

    ``key_of`` derives the topic's key from the URL's value when they differ (an issue key
    names its project). Faust's ``topic_route`` hashes the key with the producer's view of
    the topic, which the producer only has once it was asked for it; we ask first (cached
    after that).
    """

    def decorator(method: ViewMethod) -> ViewMethod:
        @wraps(method)
        async def view(self: View, request: Request, **kwargs: Any) -> Response:
            producer = app.producer._ensure_producer()  # type: ignore[attr-defined]
            await producer.partitions_for(topic.get_topic_name())
            value = request.match_info[match_info]
            key = key_of(value) if key_of is not None else value
            try:
                response = await asyncio.wait_for(
                    app.router.route_topic_req(topic, key, self.web, request), FORWARD_TIMEOUT_S
                )
            except SameNode:
                if app.in_recovery or app.rebalancing:
                    # The tables are being restored from their changelogs or handed over:
                    # answering now could say "no commits" or give part of the numbers.
                    return unavailable_answer(
                        self,
                        "this worker is restoring its tables (after a start or a rebalance) and "
                        "would answer from part of them",
                    )
                return await method(self, request, **kwargs)
            except ServiceUnavailable:  # Faust's answer when the partition has no known owner
                return unavailable_answer(
                    self,
                    f"no worker owns the partition of {match_info} {value!r} right now: the workers are "
                    "rebalancing (one joined, left or restarted)",
                )
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                # The owner died or froze: the group moves its partitions once its session
                # times out (KAFKA_SESSION_TIMEOUT_MS).
                return unavailable_answer(
                    self,
                    f"the worker that owns the partition of {match_info} {value!r} does not answer "
                    f"({type(exc).__name__}); its partitions move to another worker once its session times out",
                )
            if response.status == 503:  # the owner's own 503, forwarded without its headers
                response.headers["Retry-After"] = str(SETTLE_RETRY_AFTER_S)
            return response

        return view

    return decorator
