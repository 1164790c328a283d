"""Route a live-table query to the worker that owns the key's partition, from any worker.

The forwarding itself (what is sent, and over which connections) is app.forwarding.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import aiohttp
from faust.types import TopicT
from faust.web import Request, Response, View
from yarl import URL

from app.forwarding import HOP_HEADER, Forwarder, forward_headers, forward_url, same_worker
from app.main import app

__all__ = ["FORWARD_TIMEOUT_S", "SETTLE_RETRY_AFTER_S", "unavailable_answer", "routed_by_source_key"]

ViewMethod = Callable[..., Awaitable[Response]]
# A rebalance or a table recovery settles within seconds (one session timeout at worst).
SETTLE_RETRY_AFTER_S = 2
# How long a forwarded request may wait for the worker that owns the key (a frozen or
# partitioned worker accepts the connection and never answers).
FORWARD_TIMEOUT_S = 10.0

_forwarder = Forwarder(FORWARD_TIMEOUT_S)


@app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode's SignalHandlerT matches no function
async def _close_forwarder(sender: object, **kwargs: object) -> None:
    await _forwarder.close()


def unavailable_answer(view: View, why: str) -> Response:
    """503 while the answer would be wrong or cannot be found (a rebalance, a table
    recovery), saying why and when to ask again (``Retry-After``)."""
    return view.json(
        {"error": f"{why}; try again in a few seconds"},
        status=503,
        headers={"Retry-After": str(SETTLE_RETRY_AFTER_S)},
    )


def _owner(topic: TopicT, key: str) -> URL | None:
    """The advertised address of the worker consuming ``key``'s partition, None if unknown."""
    try:
        return URL(str(app.router.external_topic_key_store(topic, key)))
    except KeyError:
        return None


def routed_by_source_key(
    topic: TopicT, match_info: str, key_of: Callable[[str], str] | None = None
) -> Callable[[ViewMethod], ViewMethod]:
    """Answer on the worker that consumes ``topic``'s partition of the URL's key.

    ``key_of`` derives the topic's key from the URL's value when they differ (an issue key
    names its project). Faust's key lookup hashes the key with the producer's view of the
    topic, which the producer only has once it was asked for it; we ask first (cached
    after that).
    """

    def decorator(method: ViewMethod) -> ViewMethod:
        @wraps(method)
        async def view(self: View, request: Request, **kwargs: Any) -> Response:
            producer = app.producer._ensure_producer()  # type: ignore[attr-defined]
            await producer.partitions_for(topic.get_topic_name())
            value = request.match_info[match_info]
            try:
                key = key_of(value) if key_of is not None else value
                key.encode()
            except UnicodeEncodeError:  # a lone surrogate from a percent-encoded path
                return self.json({"error": f"{match_info} must be valid UTF-8"}, status=400)
            owner = _owner(topic, key)
            if owner is None:  # no assignment known for the partition
                return unavailable_answer(
                    self,
                    f"no worker owns the partition of {match_info} {value!r} right now: the workers are "
                    "rebalancing (one joined, left or restarted)",
                )
            if same_worker(owner, URL(str(app.conf.canonical_url))):
                if app.in_recovery or app.rebalancing:
                    # The tables are being restored from their changelogs or handed over:
                    # answering now could say "no commits" or give part of the numbers.
                    return unavailable_answer(
                        self,
                        "this worker is restoring its tables (after a start or a rebalance) and "
                        "would answer from part of them",
                    )
                return await method(self, request, **kwargs)
            if HOP_HEADER in request.headers:
                # Forwarded here by a worker that thinks this one owns the key; this one thinks
                # otherwise: the assignment is changing. Forwarding again could loop.
                return unavailable_answer(
                    self,
                    f"the workers disagree on who owns the partition of {match_info} {value!r} "
                    "(a rebalance is in progress)",
                )
            url = forward_url(owner, request.rel_url.raw_path, request.rel_url.raw_query_string)
            try:
                # A HEAD is answered by the GET handler (aiohttp leaves the body out): ask the owner a GET.
                asked = "GET" if request.method == "HEAD" else request.method
                answer = await _forwarder.send(asked, url, forward_headers(request.headers))
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                # The owner died or froze: the group moves its partitions once its session
                # times out (KAFKA_SESSION_TIMEOUT_MS).
                return unavailable_answer(
                    self,
                    f"the worker that owns the partition of {match_info} {value!r} does not answer "
                    f"({type(exc).__name__}); its partitions move to another worker once its session times out",
                )
            headers = {}
            if answer.status == 503:
                headers["Retry-After"] = answer.retry_after or str(SETTLE_RETRY_AFTER_S)
            return self.bytes(
                answer.body, content_type=answer.content_type, status=answer.status, headers=headers
            )

        return view

    return decorator
