"""The web API against hostile clients, over raw sockets, on two workers in one consumer
group (so routed views are forwarded): bad requests are 4xx naming what is wrong, forwarding
sends only what the owner needs, slow clients are cut off, and a hypothesis run over every
view never sees a 5xx other than the documented 503s (with Retry-After)."""

from __future__ import annotations

import asyncio
import http.client
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from devtools.localstack import LocalStack
from devtools.worker_process import WorkerProcess
from runtime.web_server import LIMITS
from tests.integration.conftest import isolated_env, new_worker, temporary_database, wait_for

pytestmark = pytest.mark.integration

API_KEY = "hardening-key-" + uuid.uuid4().hex
OVERFLOWING = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"]
OVERFLOWING_END = ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"]
KEYS = [f"hh-{n}" for n in range(16)]  # 16 keys: some on each worker's partitions


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return orjson.loads(self.body)


def exchange(port: int, raw: bytes, timeout_s: float = 15.0) -> Answer:
    """Send ``raw`` (one request, ``Connection: close``) and read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(raw)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return parse_answer(received)


def parse_answer(received: bytes) -> Answer:
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith(("HTTP/1.1 ", "HTTP/1.0 ")), received[:200]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(lines[0].split()[1]), headers, body)


def request(
    method: str, target: str, *, headers: dict[str, str] | None = None, body: bytes = b"", host: str = "w"
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    fields = {"Content-Length": str(len(body)), **(headers or {})}
    lines += [f"{name}: {value}" for name, value in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


@pytest.fixture(scope="module")
def pair(
    stack: LocalStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WorkerProcess, WorkerProcess]]:
    root = Path(tmp_path_factory.mktemp("hardening"))
    with temporary_database(stack, "sei_http") as database:
        env = isolated_env(
            stack, database, "http", INGEST_API_KEYS=API_KEY, TABLE_STANDBY_REPLICAS="0", STORE="memory://"
        )
        first = new_worker(env, root, "a").start()
        second = new_worker(env, root, "b")
        try:
            first.wait_consuming()
            second.start()
            second.wait_consuming()
            wait_for(lambda: first.get("/health")[1].get("consuming"), 90, "the first worker consuming again")
            yield first, second
        finally:
            second.stop()
            first.stop()


def foreign_keys(worker: WorkerProcess) -> list[str]:
    """KEYS whose partitions the other worker owns: a forwarded-looking request for them is
    refused here (the hop guard) rather than answered."""
    foreign = []
    for key in KEYS:
        answer = exchange(
            worker.web_port, request("GET", f"/commits/{key}/daily", headers={"X-Sei-Forwarded": "1"})
        )
        assert answer.status in (404, 503), answer
        if answer.status == 503:
            assert "disagree" in orjson.loads(answer.body)["error"] and answer.headers["retry-after"], answer
            foreign.append(key)
    return foreign


def test_hop_guard_a_forwarded_query_for_a_foreign_key_is_503_not_forwarded_again(
    pair: tuple[WorkerProcess, WorkerProcess],
) -> None:
    first, second = pair
    foreign = foreign_keys(first)
    assert foreign and len(foreign) < len(KEYS), "both workers should own some of the keys"
    assert set(foreign_keys(second)) == set(KEYS) - set(foreign)
    for key in foreign:  # without the guard header the query is forwarded and answered by the owner
        assert exchange(first.web_port, request("GET", f"/commits/{key}/daily")).status == 404


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("x:notaport", id="not-a-port"),
        pytest.param("", id="empty"),
        pytest.param("[", id="bracket"),
        pytest.param("x:99999", id="port-out-of-range"),
        pytest.param("evil@127.0.0.1", id="userinfo"),
    ],
)
def test_forwarding_ignores_the_client_host_header(
    pair: tuple[WorkerProcess, WorkerProcess], host: str
) -> None:
    first, _ = pair
    for key in KEYS:
        answer = exchange(first.web_port, request("GET", f"/dora/{key}", host=host))
        assert answer.status == 404, (key, answer)
        assert b"no deployments or incidents" in answer.body


@pytest.mark.parametrize(
    "chunked", [pytest.param(False, id="content-length"), pytest.param(True, id="chunked")]
)
def test_a_get_with_a_body_does_not_desynchronize_forwarded_queries(
    pair: tuple[WorkerProcess, WorkerProcess], chunked: bool
) -> None:
    # A keep-alive client, as browsers and proxies are: what the forwarding copied of its
    # request then kept the pooled connection to the owner open too.
    first, _ = pair
    client = http.client.HTTPConnection("127.0.0.1", first.web_port, timeout=15)
    try:
        for key in KEYS:  # each query with a body is followed by a plain one
            started = time.monotonic()
            path = f"/commits/{key}/daily"
            if chunked:
                client.request("GET", path, body=iter([b"hello"]), encode_chunked=True)
            else:
                client.request("GET", path, body=b"x" * 20)
            first_answer = client.getresponse()
            first_answer.read()
            client.request("GET", path)
            second_answer = client.getresponse()
            second_answer.read()
            assert (first_answer.status, second_answer.status) == (404, 404), key
            assert time.monotonic() - started < 5, f"{key}: the forwarded queries waited"
    finally:
        client.close()


def test_overflowing_timestamps_are_4xx_naming_the_field(pair: tuple[WorkerProcess, WorkerProcess]) -> None:
    first, _ = pair
    json = {"Content-Type": "application/json"}
    for timestamp in OVERFLOWING:
        event = orjson.dumps({"timestamp": timestamp, "payload": {"event_type": "metric", "source": "s"}})
        validated = exchange(first.web_port, request("POST", "/validate", headers=json, body=event))
        assert validated.status == 200 and not orjson.loads(validated.body)["valid"], validated
        assert "timestamp" in validated.body.decode()
        ingested = exchange(
            first.web_port, request("POST", "/ingest", headers={**json, "X-API-Key": API_KEY}, body=event)
        )
        assert ingested.status == 422 and b"timestamp" in ingested.body, ingested
    for end in OVERFLOWING_END:
        for path in ("/dora/hh-0", "/dora/teams/t", "/cycle-time/teams/t", "/cycle-time/hh-0"):
            answer = exchange(first.web_port, request("GET", f"{path}?end={quote(end)}"))
            assert answer.status == 400 and b"end must be" in answer.body, (path, answer)


@pytest.mark.parametrize("team", ["%00", "a%0Ab", "x" * 201])
def test_a_team_name_that_cannot_exist_is_400_not_a_database_failure(
    pair: tuple[WorkerProcess, WorkerProcess], team: str
) -> None:
    first, _ = pair
    for view in ("/dora/teams/", "/cycle-time/teams/"):
        answer = exchange(first.web_port, request("GET", f"{view}{team}"))
        assert answer.status == 400 and b"team must be" in answer.body, (view, answer)


def test_content_encoding_gzip_over_plain_bytes_is_400(pair: tuple[WorkerProcess, WorkerProcess]) -> None:
    first, _ = pair
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip", "X-API-Key": API_KEY}
    for path in ("/validate", "/ingest"):
        answer = exchange(first.web_port, request("POST", path, headers=headers, body=b'{"not": "gzip"}'))
        assert answer.status == 400 and b"content-encoding" in answer.body.lower(), answer


@pytest.mark.parametrize("path", ["/validate", "/dora/hh-0", "/no-such-view"])
def test_an_expect_header_other_than_100_continue_is_417_even_when_not_utf8(
    pair: tuple[WorkerProcess, WorkerProcess], path: str
) -> None:
    first, _ = pair
    for expect in ("\udcff\udc80", "something"):
        answer = exchange(first.web_port, request("POST", path, headers={"Expect": expect}))
        assert answer.status == 417 and b"Expect must be" in answer.body, (path, answer)


def test_validate_whose_body_is_shorter_than_its_content_length_is_408(
    pair: tuple[WorkerProcess, WorkerProcess],
) -> None:
    first, _ = pair
    raw = request("POST", "/validate", headers={"Content-Type": "application/json"}, body=b"{}")
    raw = raw.replace(b"Content-Length: 2", b"Content-Length: 100")
    started = time.monotonic()
    answer = exchange(first.web_port, raw, timeout_s=LIMITS.body_timeout_s + 10)
    assert answer.status == 408 and b"did not arrive" in answer.body, answer
    assert time.monotonic() - started < LIMITS.body_timeout_s + 3


async def _slow_clients(port: int, opening: bytes, drip: bytes, clients: int, budget_s: float) -> list[float]:
    """``clients`` connections that send ``opening`` then one ``drip`` a second; how long
    each stayed open (``budget_s`` for one never closed by the server)."""

    async def one() -> float:
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(opening)
            while time.monotonic() - started < budget_s:
                try:
                    if await asyncio.wait_for(reader.read(65536), 1.0) == b"":
                        return time.monotonic() - started
                except TimeoutError:
                    pass
                writer.write(drip)
                await writer.drain()
            return budget_s
        except ConnectionError:
            return time.monotonic() - started
        finally:
            writer.close()

    return await asyncio.gather(*(one() for _ in range(clients)))


def test_slow_header_and_slow_body_connections_are_closed(pair: tuple[WorkerProcess, WorkerProcess]) -> None:
    first, _ = pair
    budget = 25.0
    headers = asyncio.run(
        _slow_clients(first.web_port, b"GET /health HTTP/1.1\r\nHost: w\r\n", b"X-Slow: 1\r\n", 200, budget)
    )
    body_head = b"POST /validate HTTP/1.1\r\nHost: w\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n["
    bodies = asyncio.run(_slow_clients(first.web_port, body_head, b"1,", 200, budget))
    assert max(headers) < LIMITS.header_timeout_s + 4, sorted(headers)[-5:]
    assert max(bodies) < LIMITS.body_timeout_s + LIMITS.lingering_s + 4, sorted(bodies)[-5:]
    assert first.get("/health")[0] in (200, 503)  # and the worker still answers


async def _idle_flood(port: int, clients: int, watch_s: float) -> list[bool]:
    """Open ``clients`` connections, each with half a request head, one after the other;
    then which of them the server closed within ``watch_s`` (well under the head timeout)."""
    streams = []
    for _ in range(clients):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: w\r\n")
        streams.append((reader, writer))

    async def closed(reader: asyncio.StreamReader) -> bool:
        try:
            return await asyncio.wait_for(reader.read(1), watch_s) == b""
        except TimeoutError:
            return False
        except ConnectionError:
            return True

    try:
        return list(await asyncio.gather(*(closed(reader) for reader, _ in streams)))
    finally:
        for _, writer in streams:
            writer.close()


def test_connections_over_the_cap_evict_the_oldest_idle_ones(
    pair: tuple[WorkerProcess, WorkerProcess],
) -> None:
    first, _ = pair
    clients = LIMITS.max_connections + 100
    started = time.monotonic()
    closed = asyncio.run(_idle_flood(first.web_port, clients, 2.0))
    assert time.monotonic() - started < LIMITS.header_timeout_s, (
        "too slow to tell eviction from the head timeout"
    )
    evicted = [n for n, gone in enumerate(closed) if gone]
    assert len(evicted) >= 100, len(evicted)
    assert max(evicted) < 150, evicted  # the oldest went first
    assert first.get("/health")[0] in (200, 503)  # a new client is still served


# --- hypothesis over every view -------------------------------------------------------

HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "..",
            "%",
            "%00",
            "%ED%A0%80",
            "%FF",
            "a/b",
            "\x00",
            "9" * 400,
            "x" * 5000,
            "𝕏",
            "-",
        ]
    ),
)
# Path segments also carry bytes that are not UTF-8 (sent as they are).
PATH_TEXT = st.one_of(HOSTILE_TEXT, st.sampled_from(["\udcff", "a\udc80b"]))
ENDS = st.one_of(
    st.sampled_from(
        OVERFLOWING_END + OVERFLOWING + ["", "Z", "2026-13-01", "2026-01-01T00:00:00Z", "1e309", "NaN"]
    ),
    st.text(max_size=30),
)
WINDOWS = st.one_of(st.sampled_from(["7d", "30d", "90d", "0d", "-7d", "9" * 5000, ""]), st.text(max_size=10))
GET_VIEWS = [
    "/health",
    "/metrics",
    "/stats",
    "/openapi.json",
    "/commits/{}/daily",
    "/dora/{}",
    "/dora/teams/{}",
    "/cycle-time/{}",
    "/cycle-time/teams/{}",
    "/issues/{}",
    "/issues/{}-1",
    "/sprints/{}",
    "/organization/dora",
    "/organization/cycle-time",
    "/",
    "/teams/{}",
    "/repositories/{}",
]
HOSTS = st.sampled_from(["w", "", "x:notaport", "[", "x:99999", "evil@127.0.0.1", "a" * 2000])
EXTRA_HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "Accept",
            "X-API-Key",
            "X-Sei-Forwarded",
            "Content-Encoding",
            "Cookie",
            "Forwarded",
            "X-Forwarded-For",
            "Expect",
            "Transfer-Encoding",
        ]
    ),
    st.one_of(
        st.sampled_from(
            [
                "gzip",
                "deflate",
                "br",
                "chunked",
                "identity",
                "*/*",
                "1",
                "100-continue",
                "ü",
                "\udcff\udc80",
                "a\tb",
            ]
        ),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=50),
    ),
    max_size=3,
)


def _query(window: str | None, end: str | None, raw: str | None) -> str:
    parts = [
        f"window={quote(window, safe='', errors='surrogateescape')}" if window is not None else "",
        f"end={quote(end, safe='', errors='surrogateescape')}" if end is not None else "",
    ]
    if raw is not None:
        parts.append(raw)
    query = "&".join(p for p in parts if p)
    return f"?{query}" if query else ""


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
EVENTS = st.fixed_dictionaries(
    {
        "payload": st.fixed_dictionaries(
            {"event_type": st.sampled_from(["metric", "error", "x"]), "source": st.text(max_size=5)}
        )
    },
    optional={"timestamp": ENDS, "id": HOSTILE_TEXT, "schema_version": JSON_VALUES},
)
BODIES = st.one_of(
    st.binary(max_size=200),
    JSON_VALUES.map(orjson.dumps),
    EVENTS.map(orjson.dumps),
    st.lists(EVENTS, min_size=1, max_size=5).map(orjson.dumps),
    st.just(b"[" * 2000 + b"]" * 2000),
)


@st.composite
def hostile_requests(draw: st.DrawFn) -> bytes:
    host = draw(HOSTS)
    headers = draw(EXTRA_HEADERS)
    if draw(st.integers(0, 20)) == 0:  # past the server's header count limit
        headers.update({f"X-Junk-{n}": "1" for n in range(LIMITS.max_headers + 5)})
    if draw(st.booleans()):
        headers["X-API-Key"] = API_KEY
    if draw(st.integers(0, 4)) == 0:
        body = draw(BODIES)
        content_type = draw(st.sampled_from(["application/json", "text/plain", "application/x+json", ""]))
        if content_type:
            headers["Content-Type"] = content_type
        return request(
            draw(st.sampled_from(["POST", "PUT"])),
            draw(st.sampled_from(["/validate", "/ingest"])),
            headers=headers,
            body=body,
            host=host,
        )
    template = draw(st.sampled_from(GET_VIEWS))
    segment = draw(PATH_TEXT)
    # Mostly well-encoded segments; sometimes verbatim (the server sees what it sees).
    encoded = (
        quote(segment, safe="", errors="surrogateescape")
        if draw(st.booleans())
        else segment.replace(" ", "%20")
        .replace("?", "%3F")
        .replace("#", "%23")
        .replace("\r", "")
        .replace("\n", "")
    )
    path = template.format(encoded or "x")
    query = _query(
        draw(st.none() | WINDOWS),
        draw(st.none() | ENDS),
        draw(
            st.none()
            | st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="#"), max_size=30)
        ),
    )
    method = draw(st.sampled_from(["GET", "GET", "GET", "HEAD", "POST", "DELETE"]))
    body = draw(st.sampled_from([b"", b"x" * 20]))
    return request(method, f"{path}{query}", headers=headers, body=body, host=host)


@settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
    derandomize=False,
)
@given(raw=hostile_requests(), worker_index=st.integers(0, 1))
# A HEAD of a routed view, on both workers: one of them forwards it to the owner.
@example(raw=request("HEAD", "/commits/0000000/daily", headers={}, body=b"", host="w"), worker_index=0)
@example(raw=request("HEAD", "/commits/0000000/daily", headers={}, body=b"", host="w"), worker_index=1)
def test_fuzz_every_view_on_two_workers_never_answers_5xx(
    pair: tuple[WorkerProcess, WorkerProcess], raw: bytes, worker_index: int
) -> None:
    answer = exchange(pair[worker_index].web_port, raw, timeout_s=LIMITS.body_timeout_s + 15)
    if answer.status == 503:  # the documented 503s: rebalance, recovery, an owner that is gone
        assert answer.headers.get("retry-after"), (raw[:300], answer)
        return
    assert answer.status < 500, (raw[:300], answer)
