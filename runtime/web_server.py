"""The worker's web server: Faust's aiohttp driver with bounds on slow and hostile clients.

- Header phase: a connection with no complete request head ``header_timeout_s`` after it
  opened, or after its last answer, is closed (aiohttp's keep-alive timer; it is armed
  when the connection opens and is not reset by bytes that do not finish a request head).
- Body phase: views that read a body give it at most ``body_timeout_s`` in all (a
  ``Content-Length`` larger than what is sent would hold the request until the client
  gives up); an unread body is drained for ``lingering_s`` after the answer.
- Connections: at most ``max_connections`` open; one more evicts the oldest connection that
  has no request in a view, or is refused when every one is busy.
- A body the server cannot decode (``Content-Encoding: gzip`` over bytes that are not
  gzip, a broken chunked encoding) is a 400 naming the problem, wherever a view reads it;
  a request that fails before reaching a view (an ``Expect`` that is not UTF-8) is a 4xx.

``faust -A app`` loads this driver through ``web="sei-aiohttp://"`` (app.main).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler, RequestPayloadError
from faust.types import AppT
from faust.web.drivers import aiohttp as faust_aiohttp

from runtime import tracing
from runtime.log import get_logger

__all__ = ["WebLimits", "LIMITS", "Web", "ConnectionCap", "request_guard", "outer_guard", "REQUEST_OBSERVERS"]

# Called after every request a view answered with (route template, method, status, seconds):
# the app's wiring registers its HTTP metrics here (runtime sits below the app).
RequestObserver = Callable[[str, str, int, float], None]
REQUEST_OBSERVERS: list[RequestObserver] = []

log = get_logger("sei.web")


@dataclass(frozen=True)
class WebLimits:
    """Bounds on what one client may hold of a worker's web server."""

    #: time to send a complete request head, from connecting or from the last answer
    #: (also how long an idle keep-alive connection stays open)
    header_timeout_s: float = 10.0
    #: time to send a whole request body once its head has arrived
    body_timeout_s: float = 10.0
    #: how long an answered request's unread body is drained before the connection closes
    lingering_s: float = 2.0
    #: open connections per worker
    max_connections: int = 512
    max_line_size: int = 8190
    max_field_size: int = 8190
    max_headers: int = 64


LIMITS = WebLimits()


def _reason(exc: Exception) -> str:
    # aiohttp's messages read "400, message:\n  Can not decode content-encoding: gzip".
    return str(exc).rsplit("message:", 1)[-1].strip() or type(exc).__name__


def request_guard(busy: set[RequestHandler]) -> Any:
    """Middleware: mark the connection busy while a view runs; undecodable bodies are 400s."""

    @web.middleware
    async def guard(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        protocol = request.protocol
        busy.add(protocol)
        request[_IN_VIEW] = True
        started = time.perf_counter()
        status = 500
        with tracing.span(f"HTTP {request.method} {_view(request)}", _http_attributes(request)) as span:
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            except (RequestPayloadError, HttpProcessingError) as exc:
                status = 400
                return web.json_response(
                    {
                        "error": f"the request body cannot be read: {_reason(exc)} (check Content-Encoding and Transfer-Encoding)"
                    },
                    status=400,
                )
            finally:
                busy.discard(protocol)
                if span is not None:
                    span.set_attribute("http.response.status_code", status)
                if REQUEST_OBSERVERS:
                    _observe(request, status, time.perf_counter() - started)

    return guard


_IN_VIEW = "sei.in_view"


def _view(request: web.Request) -> str:
    # The route's template, not the path: a label per URL would grow without bound.
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _http_attributes(request: web.Request) -> dict[str, Any]:
    if not tracing.enabled():
        return {}
    return {"http.request.method": request.method, "http.route": _view(request), "url.path": request.path}


def _observe(request: web.Request, status: int, seconds: float) -> None:
    view = _view(request)
    for observer in REQUEST_OBSERVERS:
        observer(view, request.method, status, seconds)


def outer_guard(
    handle: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
) -> Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]:
    """Around the whole application (routing and aiohttp's ``Expect`` handling run before
    any middleware): a request that fails there is a 4xx, not a 500.

    aiohttp answers an unknown ``Expect`` with a 417 whose text repeats the value, and
    raises UnicodeEncodeError instead when the value is not UTF-8 (a 500).
    """

    async def guarded(request: web.BaseRequest) -> web.StreamResponse:
        expect = request.headers.get("Expect")
        if expect is not None and expect.strip().lower() != "100-continue":
            return web.json_response({"error": "Expect must be 100-continue or absent"}, status=417)
        try:
            return await handle(request)
        except web.HTTPException:
            raise
        except Exception as exc:
            if request.get(_IN_VIEW):
                raise  # a view's own bug: aiohttp's 500, logged with its traceback
            log.warning(
                "web.request_refused",
                error=f"{type(exc).__name__}: {exc}",
                path=request.rel_url.raw_path[:200],
            )
            return web.json_response(
                {"error": f"the request cannot be handled ({type(exc).__name__}); check its headers"},
                status=400,
            )

    return guarded


class _Refused(asyncio.Protocol):
    """Closes the connection at once: every slot is held by a request in a view."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class ConnectionCap:
    """Protocol factory: aiohttp's server, with at most ``limit`` open connections."""

    def __init__(self, server: web.Server, busy: set[RequestHandler], limit: int) -> None:
        self._server = server
        self._busy = busy
        self._limit = limit
        self._evicted: set[RequestHandler] = set()
        self._refused = 0
        self._logged_at = 0.0

    def __call__(self) -> asyncio.BaseProtocol:
        connections = self._server.connections
        self._evicted.intersection_update(connections)  # closed ones are gone from the server
        live = [c for c in connections if c not in self._evicted]
        if len(live) >= self._limit:
            # The oldest first: a slow client holds its connection longest.
            idle = next((c for c in live if c not in self._busy), None)
            if idle is None:
                self._refused += 1
                self._warn()
                return _Refused()
            self._evicted.add(idle)
            idle.force_close()
        return self._server()

    def _warn(self) -> None:
        now = time.monotonic()
        if now - self._logged_at >= 10:
            self._logged_at = now
            log.warning(
                "web.connections_refused",
                refused=self._refused,
                max_connections=self._limit,
                hint="every connection has a request in progress; more workers or a proxy in front",
            )


class CappedTCPSite(web.TCPSite):
    """aiohttp's TCPSite serving through a ConnectionCap."""

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        *,
        cap: Callable[[web.Server], ConnectionCap],
        **kwargs: Any,
    ) -> None:
        super().__init__(runner, host, port, **kwargs)
        self._cap = cap

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self._cap(server),
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )


class Web(faust_aiohttp.Web):
    """Faust's aiohttp web driver with WebLimits applied."""

    limits: WebLimits = LIMITS

    def __init__(self, app: AppT, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._busy: set[RequestHandler] = set()
        self.web_app.middlewares.append(request_guard(self._busy))
        limits = self.limits
        self._runner = web.AppRunner(
            self.web_app,
            access_log=None,
            keepalive_timeout=limits.header_timeout_s,
            lingering_time=limits.lingering_s,
            max_line_size=limits.max_line_size,
            max_field_size=limits.max_field_size,
            max_headers=limits.max_headers,
        )

    def _new_transport_tcp(self) -> web.BaseSite:
        server = self._runner.server  # set up by now (start_server)
        assert server is not None
        server.request_handler = outer_guard(server.request_handler)
        return CappedTCPSite(
            self._runner,
            self.app.conf.web_bind,
            self.app.conf.web_port,
            ssl_context=self.app.conf.web_ssl_context,
            cap=lambda server: ConnectionCap(server, self._busy, self.limits.max_connections),
        )
