"""app.ml_engine against a real HTTP engine on localhost (aiohttp): answering, slow,
failing, answering wrong, and recovered; the breaker opens and half-opens on time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from app.metrics import ProcessorMetrics
from app.ml_engine import EngineScore, MlEngine
from runtime.breaker import CircuitBreaker


@dataclass
class StubEngine:
    """An engine whose behaviour the test switches: ok, slow, failing, wrong."""

    mode: str = "ok"
    requests: list[Any] = field(default_factory=list)

    async def score(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        logs = body["logs"]
        if self.mode == "slow":
            await asyncio.sleep(1.0)
        if self.mode == "failing":
            return web.json_response({"error": "model not loaded"}, status=500)
        if self.mode == "wrong":
            return web.json_response(
                {"scores": [{"anomaly_score": 0.5, "is_anomaly": False}] * (len(logs) + 1)}
            )
        scores = [
            {
                "anomaly_score": 0.95 if "boom" in log["message"] else 0.05,
                "is_anomaly": "boom" in log["message"],
            }
            for log in logs
        ]
        return web.json_response({"scores": scores})


@pytest.fixture
async def stub() -> AsyncIterator[tuple[StubEngine, str]]:
    engine = StubEngine()
    application = web.Application()
    application.router.add_post("/score", engine.score)
    runner = web.AppRunner(application)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield engine, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


LOGS = [
    {
        "service": "a",
        "timestamp": "2026-11-02T00:00:00+00:00",
        "level": "error",
        "message": "boom",
        "template": "boom",
        "latency_ms": 3.0,
        "local_score": 0.2,
    },
    {
        "service": "a",
        "timestamp": "2026-11-02T00:00:01+00:00",
        "level": "info",
        "message": "fine",
        "template": "fine",
        "latency_ms": None,
        "local_score": 0.1,
    },
]


async def test_the_engine_scores_then_fails_opens_the_breaker_and_recovers(
    stub: tuple[StubEngine, str],
) -> None:
    engine, url = stub
    metrics = ProcessorMetrics()
    client = MlEngine(url, timeout_s=0.3, breaker=CircuitBreaker(failures=2, open_s=0.5), metrics=metrics)
    try:
        assert await client.score(LOGS) == [EngineScore(0.95, True), EngineScore(0.05, False)]
        assert engine.requests[-1] == {"logs": LOGS}

        engine.mode = "slow"
        assert await client.score(LOGS) is None  # timed out: the local scores stand
        assert client.breaker.state == "closed"
        engine.mode = "failing"
        assert await client.score(LOGS) is None
        assert client.breaker.state == "open"
        assert metrics.ml_breaker_state._value.get() == 1
        sent = len(engine.requests)
        engine.mode = "ok"
        assert await client.score(LOGS) is None  # open: not even asked
        assert len(engine.requests) == sent

        await asyncio.sleep(0.55)
        engine.mode = "wrong"
        assert await client.score(LOGS) is None  # the half-open trial fails: open again
        assert client.breaker.state == "open" and len(engine.requests) == sent + 1

        await asyncio.sleep(0.55)
        engine.mode = "ok"
        assert await client.score(LOGS) == [EngineScore(0.95, True), EngineScore(0.05, False)]  # recovered
        assert client.breaker.state == "closed"
        assert metrics.ml_breaker_state._value.get() == 0
    finally:
        await client.close()


async def test_an_engine_that_is_not_there_is_a_failure(stub: tuple[StubEngine, str]) -> None:
    client = MlEngine("http://127.0.0.1:9", timeout_s=0.5, breaker=CircuitBreaker(failures=1, open_s=60))
    try:
        assert await client.score(LOGS) is None
        assert client.breaker.state == "open"
    finally:
        await client.close()


class ThreadedStub:
    """The stub engine served from a thread (its own event loop), for a worker process."""

    def __init__(self) -> None:
        import threading

        self.engine = StubEngine()
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        application = web.Application()
        application.router.add_post("/score", self.engine.score)
        runner = web.AppRunner(application)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> ThreadedStub:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.mark.integration
def test_a_worker_scores_with_the_engine_falls_back_to_local_and_recovers(stack: Any, tmp_path: Any) -> None:
    import uuid

    import asyncpg
    import orjson

    from devtools.kafka_io import produce
    from devtools.log_history import generate_log_history
    from tests.integration.conftest import isolated_env, new_worker, temporary_database, wait_for

    prefix = f"ml{uuid.uuid4().hex[:6]}"
    history = generate_log_history(
        services=2, hours=2.0, per_kind=0, seed=9, rate=0.5, prefix=prefix, deploys=0
    )
    messages = [(r.service.encode(), orjson.dumps(r.message_json())) for r in history.records]
    third = len(messages) // 3
    phases = [messages[:third], messages[third : 2 * third], messages[2 * third :]]
    # A database of its own: another worker of the session (no engine) also reads `logs` and
    # would store these lines first, scored locally.
    with ThreadedStub() as stub, temporary_database(stack, "sei_ml") as database_url:

        def db(sql: str, *args: object) -> list[Any]:
            async def run() -> list[Any]:
                conn = await asyncpg.connect(database_url)
                try:
                    return list(await conn.fetch(sql, *args))
                finally:
                    await conn.close()

            return asyncio.run(run())

        env = isolated_env(
            stack,
            database_url,
            "sei-ml",
            ML_ENGINE_URL=stub.url,
            ML_ENGINE_TIMEOUT_MS="5000",  # generous on a loaded machine; the failing phase answers 500 at once
            ML_ENGINE_FAILURES="1",
            ML_ENGINE_OPEN_S="2",
        )
        worker = new_worker(env, tmp_path, "ml").start()
        try:
            worker.wait_ready()

            def rows_of(prefix: str) -> int:
                return int(db("SELECT count(*) FROM logs WHERE service LIKE $1", f"{prefix}-%")[0][0])

            sources: list[set[str]] = []
            sent = 0
            for mode, phase in zip(("ok", "failing", "ok"), phases, strict=True):
                stub.engine.mode = mode
                if sent:
                    import time

                    time.sleep(2.5)  # the breaker's open time passes: the next batch is a trial
                asyncio.run(produce([stack.broker.bootstrap], "logs", phase))
                sent += len(phase)
                # Rows, not the consumed count: a new group reads `logs` from the start, other
                # tests' lines included.
                wait_for(lambda n=sent: rows_of(prefix) >= n, 300, f"{sent} rows of {prefix}")
                keys = {orjson.loads(v)["timestamp"] for _, v in phase}
                rows = db("SELECT created_at, score_source FROM logs WHERE service LIKE $1", f"{prefix}-%")
                sources.append(
                    {
                        r["score_source"]
                        for r in rows
                        if r["created_at"].isoformat().replace("+00:00", "Z") in keys
                    }
                )
                if mode == "failing":
                    assert "processor_ml_engine_breaker_state 1.0" in worker.get_text("/metrics")
            assert sources[0] == {"ml_engine"}
            assert sources[1] == {"local"}  # the engine failed: every row scored locally
            assert "ml_engine" in sources[2]  # recovered after the half-open trial
            assert "processor_ml_engine_breaker_state 0.0" in worker.get_text("/metrics")
            scored = db("SELECT score_source, anomaly_score FROM logs WHERE service LIKE $1", f"{prefix}-%")
            assert len(scored) == len(messages)
            assert {r["anomaly_score"] for r in scored if r["score_source"] == "ml_engine"} == {
                0.05
            }  # the engine's
            assert (
                len({r["anomaly_score"] for r in scored if r["score_source"] == "local"}) > 100
            )  # the detector's
        finally:
            worker.stop()
