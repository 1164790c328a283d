"""app.loop_lag sees the event loop held by synchronous work, and only then."""

from __future__ import annotations

import asyncio
import time

from app.loop_lag import NOTABLE_S, LoopLag, watch


async def test_a_synchronous_step_shows_as_a_pause_of_its_length() -> None:
    lags = LoopLag()
    watcher = asyncio.ensure_future(watch(lags, tick_s=0.02))
    try:
        await asyncio.sleep(0.2)
        time.sleep(0.3)  # holds the loop, as a long projection would
        await asyncio.sleep(0.1)
    finally:
        watcher.cancel()
    long_ones = [seconds for _, seconds in lags.notable if seconds >= 0.25]
    assert len(long_ones) == 1 and long_ones[0] < 0.6  # one pause, the step's length
    assert lags.as_dict()["worst_lag_s"] >= 0.25


def test_only_pauses_from_the_notable_length_are_kept() -> None:
    lags = LoopLag()
    lags.record(NOTABLE_S / 2, 1.0)
    lags.record(NOTABLE_S, 2.0)
    assert list(lags.notable) == [(2.0, NOTABLE_S)]
    assert lags.worst_s == NOTABLE_S
