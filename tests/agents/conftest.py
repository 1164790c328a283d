"""Agent tests: Faust's test_context (no broker), a memory store, a real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from devtools.localstack import fresh_database, postgres_url


@pytest.fixture(scope="session")
def agent_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The database the app's settings name (TIMESCALE_URL), fresh and migrated."""
    url, _ = postgres_url(os.environ["TIMESCALE_URL"], Path(tmp_path_factory.mktemp("pg")))
    asyncio.run(fresh_database(url))
    yield url


@pytest.fixture
async def app(agent_database: str) -> AsyncIterator[object]:
    from app.main import app as faust_app
    from app.resources import database

    faust_app.loop = asyncio.get_running_loop()
    faust_app.finalize()
    faust_app.conf.store = "memory://"
    faust_app.flow_control.resume()
    database.dsn = agent_database
    yield faust_app
    await database.close()
