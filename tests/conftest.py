"""Shared test setup: a clean environment per test, and settings the app can import with."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# The app module builds its settings at import; agent tests import it. Integration tests
# never rely on these: they pass a full environment to the worker processes they start.
os.environ.setdefault("TIMESCALE_URL", "postgresql://postgres@127.0.0.1:5432/sei_unit_tests")
os.environ.setdefault("KAFKA_BROKERS", "127.0.0.1:9")
os.environ.setdefault("STORE", "memory://")
os.environ.setdefault("BATCH_TIMEOUT_MS", "200")


@pytest.fixture(autouse=True)
def clean_environ() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
