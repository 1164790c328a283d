"""Option values of the operator commands: ISO-8601 instants and window lengths."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click

__all__ = ["parse_instant", "parse_window", "INSTANT", "WINDOW", "format_instant"]

_WINDOW = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
MAX_WINDOW = timedelta(days=3660)


def parse_instant(text: str) -> datetime:
    """An aware UTC datetime from ISO-8601 (``Z`` or any offset; no offset means UTC)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO-8601 time (e.g. 2025-11-19T10:30:00Z)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_window(text: str) -> timedelta:
    """``90m``, ``24h``, ``7d``, ``2w`` (or seconds, ``30s``) as a timedelta."""
    match = _WINDOW.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a window: use a number and a unit (s, m, h, d, w), e.g. 90m, 24h, 7d"
        )
    window = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])
    if not timedelta(0) < window <= MAX_WINDOW:
        raise ValueError(
            f"{text!r} is out of range: a window is longer than 0 and at most {MAX_WINDOW.days}d"
        )
    return window


def format_instant(value: datetime | None) -> str:
    """``2025-11-19T10:30:00.123456Z`` (UTC), or ``-`` for None."""
    if value is None:
        return "-"
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class _Instant(click.ParamType):
    name = "ISO-8601"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_instant(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class _Window(click.ParamType):
    name = "WINDOW"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_window(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


INSTANT = _Instant()
WINDOW = _Window()
