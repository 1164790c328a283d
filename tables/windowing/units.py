"""Event time in integer microseconds since the epoch, as every table stores it
(tables.instants); durations in the same unit, so comparisons need no conversion."""

from __future__ import annotations

__all__ = ["MICROS_PER_SECOND", "MICROS_PER_MINUTE", "seconds"]

MICROS_PER_SECOND = 1_000_000
MICROS_PER_MINUTE = 60 * MICROS_PER_SECOND


def seconds(amount: float) -> int:
    """``amount`` seconds in microseconds (settings are given in seconds)."""
    return round(amount * MICROS_PER_SECOND)
