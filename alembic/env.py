"""Alembic environment: async engine from TIMESCALE_URL; online and offline (--sql).

The TimescaleDB mode (auto, on, off) comes from ``-x timescaledb=...`` or TIMESCALEDB and is
recorded in the session (``sei.timescaledb``) first, so the migrations' guarded blocks see
it at run time, online or when a DBA runs the printed script.
"""

from __future__ import annotations

import asyncio
import sys
from logging.config import fileConfig
from typing import Any

from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from alembic import context
from app.settings import load_settings_or_exit
from models.orm import TIMESCALE_MANAGED, Base
from models.timescale import PRELOAD_FIX, is_not_preloaded, normalize_mode, set_mode

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

target_metadata = Base.metadata


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Leave Timescale-managed relations and Timescale's own indexes out of autogenerate."""
    if type_ == "table" and name in TIMESCALE_MANAGED:
        return False
    if type_ == "index" and reflected and compare_to is None:
        return False
    return True


def _url() -> str:
    return load_settings_or_exit().sqlalchemy_url


def _mode() -> str:
    """``-x timescaledb=...`` if given, else the TIMESCALEDB setting."""
    given = context.get_x_argument(as_dictionary=True).get("timescaledb")
    if given is None:
        return load_settings_or_exit().timescaledb
    try:
        return normalize_mode(given)
    except ValueError as exc:
        print(f"sei-processor: configuration error: -x timescaledb: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        include_object=include_object,
    )
    with context.begin_transaction():
        context.execute(set_mode(_mode()))
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.execute(set_mode(_mode()))
        context.run_migrations()


async def run_async_migrations() -> None:
    connectable = create_async_engine(_url(), poolclass=pool.NullPool)
    async with connectable.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await connectable.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    try:
        if connection is not None:
            do_run_migrations(connection)
        else:
            asyncio.run(run_async_migrations())
    except Exception as exc:
        # The one server misconfiguration a DBA meets first gets one line, not a traceback
        # (the whole run is one transaction: nothing was applied).
        if not is_not_preloaded(exc):
            raise
        print(f"sei-processor: migration error: {PRELOAD_FIX}", file=sys.stderr)
        raise SystemExit(2) from None


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
