"""KAFKA_FETCH_MIN_BYTES / KAFKA_FETCH_MAX_WAIT_MS reach the worker's consumer: app.main hands
them to runtime.transport, which imports nothing of the app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import faust
import pytest

import runtime.transport as transport


@pytest.fixture
def restore_limits() -> Iterator[None]:
    saved = transport._fetch_limits_in_use
    yield
    transport._fetch_limits_in_use = saved


def worker_consumer(broker: str) -> Any:
    consumer = faust.App("fetch-limits", broker=broker).consumer
    return consumer._thread._create_worker_consumer(consumer.transport)


@pytest.mark.usefixtures("restore_limits")
async def test_the_worker_consumer_fetches_with_the_limits_in_use() -> None:
    transport.use_fetch_limits(4096, 120)
    for broker in ("sei-kafka://127.0.0.1:1", "tansu://127.0.0.1:1"):
        built = worker_consumer(broker)
        assert (built._fetch_min_bytes, built._fetch_max_wait_ms) == (4096, 120)


@pytest.mark.usefixtures("restore_limits")
def test_the_app_sets_the_limits_from_its_settings() -> None:
    from app.main import settings

    assert transport._fetch_limits_in_use == (settings.kafka_fetch_min_bytes, settings.kafka_fetch_max_wait_ms)


async def test_a_worker_behind_its_input_holds_1024_events_per_agent() -> None:
    """What a backlog costs in memory (app.main): each agent's queue holds 1,024 events."""
    from app.main import STREAM_BUFFER_EVENTS, app

    assert app.conf.stream_buffer_maxsize == STREAM_BUFFER_EVENTS == 1024
    assert app.channel().queue.maxsize == 1024
