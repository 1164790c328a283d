"""Instants as integer microseconds since the Unix epoch (UTC).

Tables store times as integers: exact round trips (a float would drift by a microsecond
and break equality with the database's timestamptz), small JSON, cheap comparisons.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import overload

__all__ = ["to_micros", "from_micros", "utc_day"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@overload
def to_micros(moment: datetime) -> int: ...
@overload
def to_micros(moment: None) -> None: ...
@overload
def to_micros(moment: datetime | None) -> int | None: ...
def to_micros(moment: datetime | None) -> int | None:
    """Microseconds since the epoch of an aware datetime; None for None (an unset field)."""
    return None if moment is None else (moment - EPOCH) // _MICROSECOND


@overload
def from_micros(micros: int) -> datetime: ...
@overload
def from_micros(micros: None) -> None: ...
@overload
def from_micros(micros: int | None) -> datetime | None: ...
def from_micros(micros: int | None) -> datetime | None:
    """The aware UTC datetime of ``micros``; None for None (an unset field)."""
    return None if micros is None else EPOCH + timedelta(microseconds=micros)


def utc_day(micros: int) -> date:
    """The UTC calendar day containing ``micros``."""
    return from_micros(micros).date()
