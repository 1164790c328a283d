"""Our consumer: never commits over an unprocessed message, never reads a partition before its seek."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import faust
import pytest
from faust.types import TP

from runtime.transport import SafeConsumer

TP0 = TP("git.commits", 0)


def consumer(broker: str) -> Any:
    return faust.App(f"offsets-{broker.split(':')[0]}", broker=broker).consumer


def acked(c: Any, *offsets: int) -> None:
    for offset in offsets:
        c._acked[TP0].append(offset)
        c._acked_index[TP0].add(offset)


@pytest.fixture
def ours() -> Any:
    c = consumer("sei-kafka://127.0.0.1:1")
    assert isinstance(c, SafeConsumer)
    c._committed_offset[TP0] = 10
    return c


def test_faust_alone_commits_over_a_missing_head() -> None:
    # Pinned: when Faust fixes this, SafeConsumer._new_offset can go.
    c = consumer("kafka://127.0.0.1:1")
    c._committed_offset[TP0] = 10
    acked(c, 11, 12)
    assert c._new_offset(TP0) == 13


def test_no_commit_while_the_head_is_unprocessed(ours: Any) -> None:
    acked(ours, 11, 12)
    assert ours._new_offset(TP0) is None
    acked(ours, 10)
    assert ours._new_offset(TP0) == 13


def test_a_known_hole_at_the_head_is_committed_over(ours: Any) -> None:
    acked(ours, 12, 13)
    ours._gap[TP0].addi(10, 12)
    assert ours._new_offset(TP0) == 14


class _Fetcher:
    """aiokafka's Fetcher as far as _fetch_records uses it: waits, then reads the set."""

    _closed = False

    def __init__(self) -> None:
        self.seen: set[TP] | None = None
        self._subscriptions = type("Subs", (), {"fetch_context": staticmethod(contextlib.nullcontext)})()

    async def fetched_records(self, partitions: set[TP], timeout: float, max_records: int | None) -> dict:
        await asyncio.sleep(0.01)  # meanwhile recovery resumes the source partitions
        self.seen = set(partitions)
        return {}


async def test_a_waiting_fetch_never_sees_partitions_resumed_meanwhile(ours: Any) -> None:
    changelog, source = TP("x-changelog", 0), TP0
    live = {changelog}
    fetcher = _Fetcher()
    aiokafka_consumer = type("C", (), {"_fetcher": fetcher, "_closed": False})()
    ours.resume_flow()
    waiting = asyncio.ensure_future(ours._thread._fetch_records(aiokafka_consumer, live, timeout=1.0))
    await asyncio.sleep(0)
    live.add(source)  # Faust resumes the source partitions in its live set
    ours.awaiting_seek[source] = 1
    await waiting
    assert fetcher.seen == {changelog}


TP1 = TP("git.commits", 1)


def committed_when(ours: Any, release: asyncio.Event, offsets: dict[TP, int]) -> None:
    async def seek_to_committed() -> dict[TP, int]:
        await release.wait()
        return offsets

    ours.seek_to_committed = seek_to_committed


async def test_a_seek_begun_before_the_resume_leaves_the_partitions_held(ours: Any) -> None:
    # Faust's fetcher seeks when a rebalance stops the flow; that seek may finish after
    # the next assignment resumed its partitions and before their own seek.
    stale_release = asyncio.Event()
    committed_when(ours, stale_release, {TP0: 40})
    stale = asyncio.ensure_future(ours.perform_seek())
    await asyncio.sleep(0)
    ours.resume_partitions({TP0, TP1})
    stale_release.set()
    await stale
    assert set(ours.awaiting_seek) == {TP0, TP1}
    assert ours._read_offset[TP0] == 40  # it did seek: only the release waits
    committed_when(ours, asyncio.Event(), {})
    release = asyncio.Event()
    release.set()
    committed_when(ours, release, {TP0: 41, TP1: 7})
    await ours.perform_seek()
    assert ours.awaiting_seek == {}
    assert (ours._read_offset[TP0], ours._read_offset[TP1]) == (41, 7)


async def test_a_seek_overtaken_by_a_later_one_changes_nothing(ours: Any) -> None:
    ours.resume_partitions({TP0})
    first_release = asyncio.Event()
    committed_when(ours, first_release, {TP0: 3})
    first = asyncio.ensure_future(ours.perform_seek())
    await asyncio.sleep(0)
    release = asyncio.Event()
    release.set()
    committed_when(ours, release, {TP0: 9})
    await ours.perform_seek()
    first_release.set()
    await first
    assert ours._read_offset[TP0] == 9 and ours._committed_offset[TP0] == 9
    assert ours.awaiting_seek == {}
