"""The commit offset our consumer computes: never over an unprocessed message."""

from __future__ import annotations

from typing import Any

import faust
import pytest
from faust.types import TP

from app.transport import SafeConsumer

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
