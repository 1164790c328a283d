"""The TimescaleDB mode and the not-preloaded diagnosis used by alembic/env.py."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError

from app.settings import SettingsError, load_settings
from models.timescale import is_not_preloaded, normalize_mode, set_mode

# What TimescaleDB's loader reports (FATAL, the session ends) and asyncpg raises for it.
PRELOAD_MESSAGE = 'extension "timescaledb" must be preloaded'


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("auto", "auto"),
        ("ON", "on"),
        (" off ", "off"),
        ("true", "on"),
        ("false", "off"),
        ("1", "on"),
        ("no", "off"),
    ],
)
def test_normalize_mode_accepts_names_and_booleans(value: str, mode: str) -> None:
    assert normalize_mode(value) == mode


def test_normalize_mode_rejects_other_values_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="expected one of auto, on, off"):
        normalize_mode("maybe")
    with pytest.raises(ValueError):
        set_mode("off'; DROP TABLE commits; --")


def test_settings_timescaledb_defaults_to_auto_and_names_the_variable() -> None:
    url = "postgresql://sei@db/sei"
    assert load_settings(timescale_url=url).timescaledb == "auto"
    assert load_settings(timescale_url=url, timescaledb="false").timescaledb == "off"
    with pytest.raises(SettingsError, match="TIMESCALEDB='sometimes' is invalid"):
        load_settings(timescale_url=url, timescaledb="sometimes")


def _wrapped(server_error: BaseException) -> BaseException:
    """As alembic sees it: SQLAlchemy's DBAPIError raised from asyncpg's error, and then a
    second error while rolling back on the closed connection."""
    try:
        try:
            raise DBAPIError("CREATE EXTENSION", None, server_error) from server_error
        except DBAPIError:
            raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed") from None
    except asyncpg.exceptions.ConnectionDoesNotExistError as exc:
        return exc


def test_is_not_preloaded_finds_timescale_message_in_the_exception_chain() -> None:
    server_error = asyncpg.exceptions.InternalServerError(PRELOAD_MESSAGE)
    assert is_not_preloaded(server_error)
    assert is_not_preloaded(_wrapped(server_error))


def test_is_not_preloaded_ignores_other_errors() -> None:
    assert not is_not_preloaded(
        _wrapped(asyncpg.exceptions.UndefinedTableError('relation "x" does not exist'))
    )
    assert not is_not_preloaded(RuntimeError("timescaledb"))
