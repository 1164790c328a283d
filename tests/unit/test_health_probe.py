from __future__ import annotations

import asyncio

from app.health_probe import HealthProbe


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_probe_concurrent_requests_share_one_check() -> None:
    calls = 0

    async def check() -> tuple[bool, bool]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return True, True

    probe = HealthProbe(check, refresh_s=5, clock=Clock())
    answers = await asyncio.gather(*(probe.latest() for _ in range(50)))
    assert calls == 1
    assert all(a.kafka and a.timescale for a in answers)


async def test_probe_stale_result_answered_at_once_and_refreshed_in_background() -> None:
    results = [(True, True), (False, True)]
    release = asyncio.Event()

    async def check() -> tuple[bool, bool]:
        if len(results) == 1:
            await release.wait()
        return results.pop(0)

    clock = Clock()
    probe = HealthProbe(check, refresh_s=5, clock=clock)
    assert (await probe.latest()).kafka is True
    clock.now += 4.9
    assert (await probe.latest()).kafka is True  # fresh: no refresh started
    assert len(results) == 1
    clock.now += 0.2
    stale = await probe.latest()  # stale: answered from the last checks, a refresh started
    assert stale.kafka is True
    release.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert (await probe.latest()).kafka is False


async def test_probe_result_older_than_a_failure_is_refreshed_first() -> None:
    results = [(True, True), (True, False)]

    async def check() -> tuple[bool, bool]:
        return results.pop(0)

    clock = Clock()
    probe = HealthProbe(check, refresh_s=5, clock=clock)
    assert (await probe.latest()).timescale is True
    clock.now += 1
    assert (await probe.latest(not_before=clock.now - 0.5)).timescale is False
