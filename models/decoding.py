"""Bytes on the wire -> a JSON object, or a DecodeError saying exactly what is wrong.

Invalid UTF-8 inside an otherwise well-formed message is repaired (each bad byte becomes
U+FFFD, as the seed's "text encoding fixes" promise) and the message is kept; bytes that do
not form a JSON object after that repair are rejected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson

from models.exceptions import ModelError

__all__ = ["DecodeError", "Decoded", "decode_json_object", "MAX_MESSAGE_BYTES"]

MAX_MESSAGE_BYTES = 1024 * 1024


class DecodeError(ModelError):
    """The message is not a JSON object; ``kind`` is a stable short name for metrics."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# Not frozen: one per message (a frozen __init__ is several times slower); never mutated.
@dataclass(slots=True)
class Decoded:
    value: dict[str, Any]
    repaired_utf8: bool = False


def decode_json_object(raw: bytes | None, max_bytes: int = MAX_MESSAGE_BYTES) -> Decoded:
    """Parse ``raw`` as one JSON object (orjson); raise DecodeError otherwise."""
    if not raw:
        raise DecodeError("empty", "empty message")
    if len(raw) > max_bytes:
        raise DecodeError("oversized", f"message is {len(raw)} bytes, over the {max_bytes}-byte limit")
    repaired = False
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            try:
                value = orjson.loads(raw.decode("utf-8", errors="replace"))
                repaired = True
            except orjson.JSONDecodeError as inner:
                raise DecodeError("invalid_json", f"invalid JSON: {inner}") from None
        else:
            raise DecodeError("invalid_json", f"invalid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise DecodeError("not_an_object", f"expected a JSON object, got {type(value).__name__}")
    # A key given twice is ambiguous (parsers keep the last, producers may mean the first).
    # Counting is cheap; only a count that does not match pays for the exact check.
    if raw.count(b'":') != _count_keys(value):
        duplicate = _first_duplicate_key(raw)
        if duplicate is not None:
            raise DecodeError("duplicate_key", f"key {duplicate!r} appears more than once in one object")
    return Decoded(value, repaired)


def _count_keys(value: dict[str, Any] | list[Any]) -> int:
    # Called for every message: descends only into containers (orjson builds exact dicts
    # and lists), not into every scalar. A stack, not recursion: orjson accepts nesting
    # deeper than Python's recursion limit.
    count = 0
    stack: list[Any] = [value]
    pop, push = stack.pop, stack.append
    while stack:
        item = pop()
        if type(item) is dict:
            count += len(item)
            children = item.values()
        else:
            children = item
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                push(child)
    return count


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Duplicate(key)
        seen[key] = value
    return seen


def _first_duplicate_key(raw: bytes) -> str | None:
    try:
        json.loads(raw.decode("utf-8", errors="replace"), object_pairs_hook=_reject_duplicates)
    except _Duplicate as exc:
        return exc.key
    except (ValueError, RecursionError):
        return None
    return None
