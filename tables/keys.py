"""Composite table keys: parts joined by the ASCII unit separator.

Identifiers are validated to contain no control characters (models.fields.Identifier), so
the separator can never occur inside a part.
"""

from __future__ import annotations

__all__ = ["compose_key", "split_key"]

SEPARATOR = "\x1f"


def compose_key(*parts: str) -> str:
    """Join identifier parts into one table key."""
    return SEPARATOR.join(parts)


def split_key(key: str) -> list[str]:
    """The parts of a key made by compose_key."""
    return key.split(SEPARATOR)
