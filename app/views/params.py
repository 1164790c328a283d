"""Query parameters shared by the views: ``window`` and ``end`` (metric views), minute
bounds and ``k`` (activity views)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from faust.web import Request

from app.exceptions import ProcessorError
from models.fields import MAX_EVENT_TIME, MIN_EVENT_TIME
from tables.instants import from_micros, to_micros

__all__ = [
    "WINDOWS",
    "MAX_K",
    "BadParameter",
    "parse_window",
    "parse_end",
    "window_and_end",
    "check_identifier",
    "minute_bound",
    "top_k_count",
]

WINDOWS = (7, 30, 90)
MAX_K = 1_000
DEFAULT_WINDOW = "30d"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BadParameter(ProcessorError, ValueError):
    """A query parameter the view cannot use; the message names it (HTTP 400)."""


def parse_window(text: str) -> int:
    """``7d``, ``30d``, ``90d`` (or the bare number) -> days; ValueError otherwise."""
    days = int(text.removesuffix("d"))
    if days not in WINDOWS:
        raise ValueError(text)
    return days


def parse_end(text: str | None, now: datetime | None = None) -> int:
    """``?end=`` (ISO-8601, default now) as microseconds, UTC; naive means UTC.

    ValueError outside the event times' range: the window math turns the end back into a
    datetime, which does not exist past year 9999 (9999-12-31T23:59:59-01:00).
    """
    if text is None:
        return to_micros(now or datetime.now(UTC))
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if not MIN_EVENT_TIME <= moment <= MAX_EVENT_TIME:
        raise ValueError(text)
    return to_micros(moment)


def window_and_end(request: Request) -> tuple[int, int]:
    """The request's window (days) and end (µs); BadParameter naming the parameter."""
    try:
        window_days = parse_window(request.query.get("window", DEFAULT_WINDOW))
    except ValueError:
        raise BadParameter("window must be one of 7d, 30d, 90d") from None
    try:
        end = parse_end(request.query.get("end"))
    except ValueError:
        raise BadParameter(
            "end must be an ISO-8601 timestamp between 1990-01-01 and 2100-01-01, e.g. 2026-11-01T00:00:00Z"
        ) from None
    return window_days, end


def check_identifier(value: str, name: str) -> str:
    """``value`` if it can be an identifier (models.fields.Identifier: 1-200 characters, no
    control characters, valid UTF-8); BadParameter naming ``name`` otherwise.

    Such a value can name nothing stored, and PostgreSQL refuses a NUL in a query parameter
    (which would read as a database failure).
    """
    try:
        value.encode()
    except UnicodeEncodeError:
        raise BadParameter(f"{name} must be valid UTF-8") from None
    if not 1 <= len(value.strip()) <= 200 or _CONTROL.search(value):
        raise BadParameter(f"{name} must be 1-200 characters without control characters")
    return value


def minute_bound(query: Mapping[str, str], name: str) -> datetime:
    """The required ``name`` parameter: an ISO-8601 instant on a whole minute (naive means
    UTC), as an aware UTC datetime; BadParameter naming it otherwise. Per-minute counts
    answer whole minutes only: a bound inside a minute could not be honoured."""
    example = "e.g. 2026-11-01T10:00:00Z"
    text = query.get(name)
    if text is None or not text.strip():
        raise BadParameter(f"{name} is required: an ISO-8601 timestamp on a whole minute, {example}")
    try:
        micros = parse_end(text)
    except ValueError:
        raise BadParameter(
            f"{name} must be an ISO-8601 timestamp between 1990-01-01 and 2100-01-01, {example}"
        ) from None
    moment = from_micros(micros)
    if moment.second or moment.microsecond:
        raise BadParameter(
            f"{name} must be on a whole minute (seconds 0), {example}: the counts are per minute"
        )
    return moment


def top_k_count(query: Mapping[str, str], default: int = 10) -> int:
    """``k``: how many entries a top-k answer lists, 1 to MAX_K; BadParameter otherwise."""
    text = query.get("k")
    if text is None:
        return default
    try:
        k = int(text)
    except ValueError:
        k = 0
    if not 1 <= k <= MAX_K:
        raise BadParameter(f"k must be an integer from 1 to {MAX_K}")
    return k
