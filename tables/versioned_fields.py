"""Field-by-field merge: per field, the latest non-null value wins (METRICS edge rule 12).

A state keeps, for each field, the version that won so far: ``(field, timestamp, value)``,
the timestamp being the event's envelope time in microseconds (tables.instants). Merging
is a per-field maximum, so it is commutative, associative and idempotent: the same events
in any order and multiplicity give the same state. Two values of one field at one
timestamp (a producer bug) resolve to the larger canonical JSON form, deterministically.

Versions are a tuple sorted by field name, so states compare equal exactly when they hold
the same versions, and the record form (lists) is JSON as is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["Version", "Versions", "combine_versions", "latest_values", "merge_values", "versions_from_record"]

Version = tuple[str, int, Any]
Versions = tuple[Version, ...]


def _precedence(version: Version) -> tuple[int, str]:
    return version[1], json.dumps(version[2], sort_keys=True)


def combine_versions(*states: Iterable[Version]) -> Versions:
    """The merge of several version sets: per field, the latest non-null value."""
    winners: dict[str, Version] = {}
    for state in states:
        for version in state:
            name, _, value = version
            if value is None:
                continue
            current = winners.get(name)
            if current is None or _precedence(version) > _precedence(current):
                winners[name] = version
    return tuple(winners[name] for name in sorted(winners))


def merge_values(current: Versions, timestamp: int, values: Mapping[str, Any]) -> Versions:
    """``current`` merged with one event's ``values`` stamped ``timestamp`` (nulls ignored)."""
    return combine_versions(current, ((name, timestamp, value) for name, value in values.items()))


def latest_values(versions: Versions) -> dict[str, Any]:
    """Field -> winning value."""
    return {name: value for name, _, value in versions}


def versions_from_record(record: Iterable[Sequence[Any]]) -> Versions:
    """Versions back from their JSON form (a list of ``[field, timestamp, value]``)."""
    return combine_versions((str(name), int(stamp), value) for name, stamp, value in record)
