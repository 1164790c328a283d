"""Composite table keys: parts joined by the ASCII unit separator.

Identifiers are validated to contain no control characters (models.fields.Identifier), so
the separator can never occur inside a part.
"""

from __future__ import annotations

__all__ = ["compose_key"]

SEPARATOR = "\x1f"


def compose_key(*parts: str) -> str:
    """Join identifier parts into one table key."""
    return SEPARATOR.join(parts)
