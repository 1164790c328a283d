"""What a routed query sends to the worker that owns its key (app.forwarding)."""

from __future__ import annotations

import pytest
from aiohttp import web
from yarl import URL

from app.forwarding import HOP_HEADER, Forwarder, forward_headers, forward_url, same_worker


@pytest.mark.parametrize(
    ("owner", "raw_path", "raw_query", "expected"),
    [
        pytest.param(
            "http://10.0.0.2:6066",
            "/dora/r1",
            "window=7d",
            "http://10.0.0.2:6066/dora/r1?window=7d",
            id="plain",
        ),
        pytest.param(
            "http://user:pw@w2:6066/base", "/dora/r1", "", "http://w2:6066/dora/r1", id="no-userinfo-no-base"
        ),
        pytest.param(
            "http://w2:6066", "//evil.example/x", "", "http://w2:6066//evil.example/x", id="path-stays-a-path"
        ),
        pytest.param(
            "http://[::1]:6066",
            "/dora/a%2Fb",
            "end=2026-01-01T00:00:00%2B01:00",
            "http://[::1]:6066/dora/a%2Fb?end=2026-01-01T00:00:00%2B01:00",
            id="ipv6-encoded-kept",
        ),
    ],
)
def test_forward_url_is_the_owners_origin_with_the_requests_path_and_query(
    owner: str, raw_path: str, raw_query: str, expected: str
) -> None:
    url = forward_url(URL(owner), raw_path, raw_query)
    assert str(url) == expected
    assert url.host == URL(owner).host and url.user is None


def test_forward_headers_carry_the_hop_guard_and_a_plain_accept_only() -> None:
    client = {
        "Accept": "application/json",
        "Host": "evil@x:1",
        "X-API-Key": "secret",
        "Cookie": "c=1",
        "Content-Length": "20",
        "Transfer-Encoding": "chunked",
        "Connection": "keep-alive",
    }
    assert forward_headers(client) == {HOP_HEADER: "1", "Accept": "application/json"}
    assert forward_headers({"Accept": "a" * 300}) == {HOP_HEADER: "1"}
    assert forward_headers({"Accept": "ü"}) == {HOP_HEADER: "1"}


@pytest.mark.parametrize(
    ("owner", "own", "same"),
    [
        ("http://w1:6066", "http://w1:6066", True),
        ("http://w1", "http://w1:80", True),
        ("http://w1:6066", "http://w1:6067", False),
        ("http://w2:6066", "http://w1:6066", False),
    ],
)
def test_same_worker_compares_host_and_port(owner: str, own: str, same: bool) -> None:
    assert same_worker(URL(owner), URL(own)) is same


async def test_forwarder_sends_get_and_bodiless_post_and_refuses_other_methods() -> None:
    seen: list[tuple[str, str, bytes, str | None]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.method, request.path_qs, await request.read(), request.headers.get(HOP_HEADER)))
        return web.json_response({"ok": True}, status=202 if request.method == "POST" else 200)

    server = web.Application()
    server.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    forwarder = Forwarder(5.0)
    try:
        owner = URL(f"http://127.0.0.1:{port}")
        got = await forwarder.send("GET", forward_url(owner, "/projections/r1", "end=1"), forward_headers({}))
        posted = await forwarder.send(
            "POST", forward_url(owner, "/projections/r1/refresh", ""), forward_headers({})
        )
        with pytest.raises(ValueError, match="PUT"):
            await forwarder.send("PUT", forward_url(owner, "/projections/r1", ""), forward_headers({}))
    finally:
        await forwarder.close()
        await runner.cleanup()
    assert (got.status, posted.status) == (200, 202)
    assert seen == [("GET", "/projections/r1?end=1", b"", "1"), ("POST", "/projections/r1/refresh", b"", "1")]
