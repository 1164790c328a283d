"""The connection cap of the worker's web server (runtime.web_server.ConnectionCap)."""

from __future__ import annotations

from typing import Any, cast

from aiohttp import web

from runtime.web_server import ConnectionCap


class Connection:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    def force_close(self) -> None:
        self.closed = True


class Server:
    """aiohttp's Server as the cap sees it: open connections, oldest first, and a factory."""

    def __init__(self, *names: str) -> None:
        self.open = [Connection(n) for n in names]

    @property
    def connections(self) -> list[Any]:
        return list(self.open)

    def __call__(self) -> Connection:
        connection = Connection("new")
        self.open.append(connection)
        return connection


def cap(server: Server, busy: set[Any], limit: int) -> ConnectionCap:
    return ConnectionCap(cast(web.Server, server), busy, limit)


def test_cap_under_the_limit_accepts_and_closes_nothing() -> None:
    server = Server("a", "b")
    assert isinstance(cap(server, set(), 3)(), Connection)
    assert not any(c.closed for c in server.open)


def test_cap_at_the_limit_evicts_the_oldest_connection_not_in_a_view() -> None:
    server = Server("a", "b", "c")
    a, b, c = server.open
    protocol = cap(server, {a}, 3)()
    assert isinstance(protocol, Connection)
    assert (a.closed, b.closed, c.closed) == (False, True, False)


def test_cap_does_not_count_an_evicted_connection_twice() -> None:
    server = Server("a", "b", "c")
    a, b, c = server.open
    guard = cap(server, set(), 3)
    guard()  # evicts a; aiohttp drops it from its list only once its task ends
    guard()  # a is still listed, but evicted: b goes, not a again
    assert (a.closed, b.closed, c.closed) == (True, True, False)


def test_cap_with_every_connection_in_a_view_refuses_the_new_one() -> None:
    server = Server("a", "b")
    protocol = cap(server, set(server.open), 2)()
    assert not isinstance(protocol, Connection)
    assert not any(c.closed for c in server.open)
