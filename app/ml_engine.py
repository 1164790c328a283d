"""The external ML engine (seed 004's ``ml-engine``), optional: ``ML_ENGINE_URL``.

Each batch of logs is sent as one ``POST {ML_ENGINE_URL}/score`` (docs/anomalies.md has
the request and the answer) with a timeout of ``ML_ENGINE_TIMEOUT_MS``. An answer that is
late, not 200, not JSON, or not one score in [0, 1] per log in order is a failure; failures
open a circuit breaker (runtime.breaker) and the batch is scored by the local detector,
which learns every log either way, so it takes over with warm baselines. ``score`` returns
None whenever the local scores stand.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from app.exceptions import ProcessorError
from app.logging import get_logger
from app.metrics import ProcessorMetrics
from runtime.breaker import CircuitBreaker

__all__ = ["EngineScore", "MlEngine", "WrongAnswer"]

log = get_logger("sei.ml_engine")


class WrongAnswer(ProcessorError, ValueError):
    """The engine answered, but not with one score in [0, 1] per log."""


@dataclass(frozen=True, slots=True)
class EngineScore:
    anomaly_score: float
    is_anomaly: bool


def parse_answer(body: bytes, expected: int) -> list[EngineScore]:
    """``{"scores": [{"anomaly_score": x, "is_anomaly": b}, ...]}``, one per log sent, in order."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WrongAnswer(f"not JSON: {exc}") from None
    scores = document.get("scores") if isinstance(document, dict) else None
    if not isinstance(scores, list) or len(scores) != expected:
        got = len(scores) if isinstance(scores, list) else type(scores).__name__
        raise WrongAnswer(f"expected {expected} scores, got {got}")
    answer = []
    for i, item in enumerate(scores):
        score = item.get("anomaly_score") if isinstance(item, dict) else None
        flag = item.get("is_anomaly") if isinstance(item, dict) else None
        if (
            isinstance(score, bool)
            or not isinstance(score, int | float)
            or not math.isfinite(score)
            or not 0 <= score <= 1
        ):
            raise WrongAnswer(f"score {i} is {score!r}, not a number in [0, 1]")
        if not isinstance(flag, bool):
            raise WrongAnswer(f"is_anomaly {i} is {flag!r}, not a boolean")
        answer.append(EngineScore(float(score), flag))
    return answer


class MlEngine:
    def __init__(
        self, url: str, timeout_s: float, breaker: CircuitBreaker, metrics: ProcessorMetrics | None = None
    ) -> None:
        self.url = url.rstrip("/") + "/score"
        self.timeout_s = timeout_s
        self.breaker = breaker
        self.metrics = metrics
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _report(self) -> None:
        if self.metrics is not None:
            self.metrics.ml_breaker_state.set(self.breaker.code)

    async def score(self, logs: Sequence[dict[str, Any]]) -> list[EngineScore] | None:
        """The engine's scores of ``logs``, or None (breaker open, or this call failed)."""
        if not logs or not self.breaker.allow(time.monotonic()):
            self._report()
            return None
        trial = self.breaker.state == "half_open"
        try:
            if self._session is None:
                self._session = aiohttp.ClientSession()
            async with asyncio.timeout(self.timeout_s):
                async with self._session.post(
                    self.url,
                    data=orjson.dumps({"logs": list(logs)}),
                    headers={"Content-Type": "application/json"},
                ) as response:
                    body = await response.read()
                    if response.status != 200:
                        raise WrongAnswer(f"HTTP {response.status}: {body[:200].decode(errors='replace')}")
            answer = parse_answer(body, len(logs))
        except Exception as exc:  # late, refused, unreachable or wrong: the local scores stand
            before = self.breaker.state
            self.breaker.failed(time.monotonic())
            reason = "timeout" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            log.warning("ml_engine.failed", url=self.url, reason=reason[:300], breaker=self.breaker.state)
            if before != "open" and self.breaker.state == "open":
                log.warning("ml_engine.breaker_open", url=self.url, open_s=self.breaker.open_s)
            self._report()
            return None
        if trial:
            log.info("ml_engine.breaker_closed", url=self.url)
        self.breaker.succeeded()
        self._report()
        return answer
