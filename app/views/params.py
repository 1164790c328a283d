"""Query parameters shared by the metric views: ``window`` and ``end``."""

from __future__ import annotations

from datetime import UTC, datetime

from faust.web import Request

from tables.instants import to_micros

__all__ = ["WINDOWS", "BadParameter", "parse_window", "parse_end", "window_and_end"]

WINDOWS = (7, 30, 90)
DEFAULT_WINDOW = "30d"


class BadParameter(ValueError):
    """A query parameter the view cannot use; the message names it (HTTP 400)."""


def parse_window(text: str) -> int:
    """``7d``, ``30d``, ``90d`` (or the bare number) -> days; ValueError otherwise."""
    days = int(text.removesuffix("d"))
    if days not in WINDOWS:
        raise ValueError(text)
    return days


def parse_end(text: str | None, now: datetime | None = None) -> int:
    """``?end=`` (ISO-8601, default now) as microseconds, UTC; naive means UTC."""
    if text is None:
        return to_micros(now or datetime.now(UTC))
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return to_micros(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def window_and_end(request: Request) -> tuple[int, int]:
    """The request's window (days) and end (µs); BadParameter naming the parameter."""
    try:
        window_days = parse_window(request.query.get("window", DEFAULT_WINDOW))
    except ValueError:
        raise BadParameter("window must be one of 7d, 30d, 90d") from None
    try:
        end = parse_end(request.query.get("end"))
    except ValueError:
        raise BadParameter("end must be an ISO-8601 timestamp, e.g. 2026-11-01T00:00:00Z") from None
    return window_days, end
