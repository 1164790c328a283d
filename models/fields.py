"""Field types shared by the event schemas, with their normalization rules.

- Counts: non-negative integers (strict: a bool, a string or a fraction is a wrong type),
  at most 2**31 - 1 (the database column is an integer).
- Timestamps: ISO-8601 with any offset, or none (then UTC); stored as aware UTC; a time
  outside [1990-01-01, 2100-01-01) is a producer bug (epoch zero, 9999 sentinels), not data.
- Identifiers: strings, trimmed, 1-200 chars, no control characters (they are keys).
- Text: strings; invalid UTF-8 arrives already replaced by U+FFFD (models.decoding); NUL,
  which PostgreSQL text cannot hold, becomes U+FFFD too; everything else is verbatim.
Constraints are declared so pydantic-core checks them natively; Python runs only where a
rule has no native form.

``plain_identifier`` and ``plain_event_time`` serve the agents' fast paths (models.logs,
agents.activity_change): they vouch for the common form of a value, which validation would
keep as it is (or parse as they do), and refuse anything else, valid or not.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, TypeGuard

from pydantic import AfterValidator, Field, Strict, StringConstraints

__all__ = [
    "Count",
    "EventTime",
    "Identifier",
    "Text",
    "Email",
    "MIN_EVENT_TIME",
    "MAX_EVENT_TIME",
    "MAX_COUNT",
    "plain_identifier",
    "plain_event_time",
]

MIN_EVENT_TIME = datetime(1990, 1, 1, tzinfo=UTC)
MAX_EVENT_TIME = datetime(2100, 1, 1, tzinfo=UTC)
MAX_COUNT = 2**31 - 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _utc(value: datetime) -> datetime:
    # astimezone rather than replace() for an offset of zero: the same instant, at less
    # than half the cost (this runs twice per commit).
    try:
        value = value.replace(tzinfo=UTC) if value.utcoffset() is None else value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is in year 10000 in UTC
        raise ValueError(f"timestamp {value.isoformat()} is outside 1990-01-01..2100-01-01") from None
    if not MIN_EVENT_TIME <= value < MAX_EVENT_TIME:
        raise ValueError(f"timestamp {value.isoformat()} is outside 1990-01-01..2100-01-01")
    return value


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _text(value: str) -> str:
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


Count = Annotated[int, Strict(), Field(ge=0, le=MAX_COUNT)]
EventTime = Annotated[datetime, AfterValidator(_utc)]
Identifier = Annotated[
    str,
    Strict(),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_control),
]
Text = Annotated[str, Strict(), AfterValidator(_text)]
Email = Annotated[
    str,
    Strict(),
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=320),
    AfterValidator(_text),
]


# Years 1990-2099 and no offset: a time of this form that exists is within EventTime's range
# and in UTC already, and fromisoformat alone gives what validation gives.
_PLAIN_TIME = re.compile(
    r"(?:199[0-9]|20[0-9]{2})-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|\+00:00)"
).fullmatch


def plain_identifier(value: object) -> TypeGuard[str]:
    """Whether ``value`` is an Identifier that validation keeps as it is."""
    # Identifier's rules hold and its stripping changes nothing: every blank but the space,
    # and every control character, is unprintable (and a printable value has neither).
    return (
        type(value) is str and 0 < len(value) <= 200 and value.isprintable() and value[0] != " " != value[-1]
    )


def plain_event_time(value: object) -> datetime | None:
    """``value`` as EventTime validates it, when it is a UTC time in the usual ISO form
    (``Z`` or ``+00:00``, up to six decimals); None for anything else, valid or not."""
    if type(value) is not str or _PLAIN_TIME(value) is None:
        return None
    try:
        return datetime.fromisoformat(value)  # tzinfo is UTC (the same object as _utc's)
    except ValueError:  # no such day or time
        return None
