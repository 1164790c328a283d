"""Forward a live-table query to the worker that owns its key (app.routing decides when).

What is sent is built from the owner's advertised address and the query alone: the method
(``GET``, or a bodiless ``POST`` for a view that asks the owner to act, e.g. ``POST
/projections/{id}/refresh``), the request's path and query string, ``Accept`` when it is
plain, and the hop guard header. Nothing else of the client's request travels: not its
``Host`` (a forged one used to become the forwarded URL, userinfo included), not
``X-API-Key`` or cookies, not ``Content-Length`` or ``Transfer-Encoding`` (copied onto a
bodiless request they desynchronized the pooled connection for the next request, possibly
another client's).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from yarl import URL

__all__ = [
    "FORWARDED_METHODS",
    "HOP_HEADER",
    "Forwarded",
    "Forwarder",
    "forward_url",
    "forward_headers",
    "same_worker",
]

FORWARDED_METHODS = ("GET", "POST")
#: Set on every forwarded request: a worker that receives one for a key it does not own
#: answers 503 instead of forwarding again (two workers with different views of the
#: assignment during a rebalance would otherwise bounce it between them).
HOP_HEADER = "X-Sei-Forwarded"
_PLAIN = re.compile(r"[ -~]{1,256}")
# Under the web server's idle keep-alive bound (runtime.web_server.LIMITS.header_timeout_s), so
# the pool never reuses a connection the owner is closing.
POOL_KEEPALIVE_S = 4.0


def forward_url(owner: URL, raw_path: str, raw_query: str) -> URL:
    """The owner's origin (scheme, host, port; no userinfo) with the request's path and query."""
    path = raw_path if raw_path.startswith("/") else f"/{raw_path}"
    query = f"?{raw_query}" if raw_query else ""
    return URL(f"{owner.origin()}{path}{query}", encoded=True)


def forward_headers(client: Mapping[str, str]) -> dict[str, str]:
    """The headers a forwarded query carries: the hop guard and a plain ``Accept``."""
    headers = {HOP_HEADER: "1"}
    accept = client.get("Accept")
    if accept is not None and _PLAIN.fullmatch(accept):
        headers["Accept"] = accept
    return headers


def same_worker(owner: URL, own: URL) -> bool:
    """Whether the advertised ``owner`` address is this worker's own."""
    return (owner.host or "", owner.port or 80) == (own.host or "", own.port or 80)


@dataclass(frozen=True, slots=True)
class Forwarded:
    """The owner's answer, as it is handed back to the client."""

    status: int
    body: bytes
    content_type: str
    retry_after: str | None


class Forwarder:
    """One pooled client session for every forwarded query of a worker."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use, in the loop that serves the web views.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=POOL_KEEPALIVE_S),
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def send(self, method: str, url: URL, headers: Mapping[str, str]) -> Forwarded:
        """``method`` (GET or POST, no body) ``url`` on the owner; aiohttp.ClientError /
        TimeoutError when it does not answer."""
        if method not in FORWARDED_METHODS:
            raise ValueError(f"cannot forward a {method} request: only {', '.join(FORWARDED_METHODS)}")
        client = self._client()
        async with client.request(method, url, headers=dict(headers), allow_redirects=False) as response:
            body = await response.read()
            return Forwarded(
                status=response.status,
                body=body,
                content_type=response.content_type,
                retry_after=response.headers.get("Retry-After"),
            )

    async def close(self) -> None:
        """Close the pool (at worker shutdown)."""
        if self._session is not None:
            await self._session.close()
            self._session = None
