"""Instants as integer microseconds since the Unix epoch (UTC).

Tables store times as integers: exact round trips (a float would drift by a microsecond
and break equality with the database's timestamptz), small JSON, cheap comparisons.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

__all__ = ["to_micros", "from_micros", "utc_day"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    return (moment - EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """The aware UTC datetime of ``micros``."""
    return EPOCH + timedelta(microseconds=micros)


def utc_day(micros: int) -> date:
    """The UTC calendar day containing ``micros``."""
    return from_micros(micros).date()
