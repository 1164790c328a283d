"""How long the worker's event loop was held by one piece of work.

Every view, health probe, batch and commit of a worker runs on one event loop: a long
synchronous step (a busy repository's projection or ageing pass, a large batch's math)
makes all of them wait, and a liveness probe with a short timeout may then kill a healthy
worker. A timer that asks to wake every ``TICK_S`` and measures how late it woke sees every
such pause: ``processor_event_loop_lag_seconds`` (histogram) on /metrics, and the latest
pauses over ``NOTABLE_S`` with their time under ``event_loop`` in /stats (what bench.year
reads per month).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from prometheus_client import Histogram

from app.main import app
from app.resources import metrics

__all__ = ["LoopLag", "loop_lag", "watch"]

TICK_S = 0.25
NOTABLE_S = 0.05  # pauses kept for /stats: shorter ones are scheduling noise
KEPT = 512

_lag = Histogram(
    "processor_event_loop_lag_seconds",
    "How late the event loop ran a timer due every 0.25 s: the longest pause it saw in each period",
    buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
    registry=metrics.registry,
)


class LoopLag:
    """The pauses seen, for /stats: the worst since start and the latest notable ones."""

    def __init__(self) -> None:
        self.worst_s = 0.0
        self.notable: deque[tuple[float, float]] = deque(maxlen=KEPT)  # (unix time, seconds)

    def record(self, lag_s: float, now: float) -> None:
        _lag.observe(lag_s)
        self.worst_s = max(self.worst_s, lag_s)
        if lag_s >= NOTABLE_S:
            self.notable.append((now, lag_s))

    def as_dict(self) -> dict[str, Any]:
        return {
            "worst_lag_s": round(self.worst_s, 4),
            "notable_lags": [[round(at, 3), round(lag, 4)] for at, lag in self.notable],
        }


loop_lag = LoopLag()


async def watch(lags: LoopLag, tick_s: float = TICK_S) -> None:
    """Wake every ``tick_s`` and record how late each wake-up came, forever."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + tick_s
        await asyncio.sleep(tick_s)
        lags.record(max(0.0, loop.time() - due), time.time())


@app.task  # type: ignore[untyped-decorator]  # faust marks App.task no_type_check
async def _watch_event_loop() -> None:
    await watch(loop_lag)
