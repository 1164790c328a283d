"""Dead letters: a message that could not be processed, kept exactly, with its context.

The record follows seed 002's DLQ format (``dlq_id``, ``original_message``, ``error``
{type, message, traceback}, ``retry_count``, ``failed_at``, ``metadata``) with the
original bytes kept exactly: as text when they are UTF-8, else base64
(``original_encoding`` says which). ``dlq_id`` is derived from the message's coordinates,
so a redelivered failure is the same dead letter, not a second one.

The `dead_letters` table keeps every original, key and header whole. The topic's copy is
bounded after encoding (``topic_record``: at most TOPIC_RECORD_LIMIT bytes, whatever the
message's value, key and headers): a record over the broker's 1 MiB limit would be refused,
and the producer's failure takes the worker down. JSON escaping grows a control byte
sixfold and base64 any byte by a third, so each part is cut to a budget of encoded bytes,
not of raw ones: the original to TOPIC_ORIGINAL_LIMIT (``original_truncated``,
``original_size``), the key (``key_truncated``), the headers (``headers_truncated``), the
error text and the traceback (its end: where the exception is). `dlq replay` sends the
table's copy.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = [
    "DeadLetter",
    "REPLAY_HEADER",
    "TOPIC_ORIGINAL_LIMIT",
    "TOPIC_RECORD_LIMIT",
    "TOPIC_KEY_LIMIT",
    "dead_letter_id",
    "encode_original",
]

# Budgets of encoded bytes on the DLQ topic; their sum stays far below TOPIC_RECORD_LIMIT.
TOPIC_ORIGINAL_LIMIT = 256 * 1024
TOPIC_KEY_LIMIT = 4 * 1024  # the record's Kafka key, and the key in its metadata
_HEADER_NAME_LIMIT = 256
_HEADER_VALUE_LIMIT = 4 * 1024
_HEADERS_LIMIT = 32 * 1024
_ERROR_MESSAGE_LIMIT = 16 * 1024
_TRACEBACK_LIMIT = 64 * 1024
TOPIC_RECORD_LIMIT = 512 * 1024  # the broker's default limit is 1 MiB

# Header on a dead letter sent back to its topic (`dlq replay`); the value is its dlq_id.
REPLAY_HEADER = "x-sei-replay-of"


def dead_letter_id(topic: str, partition: int, offset: int) -> str:
    """The identity of the dead letter of the message at these coordinates."""
    return f"dlq_{topic}_{partition}_{offset}"


def encode_original(raw: bytes) -> tuple[str, str]:
    """(encoding, text): the bytes as UTF-8 text when they are valid UTF-8, else base64."""
    try:
        return "utf-8", raw.decode("utf-8")
    except UnicodeDecodeError:
        return "base64", base64.b64encode(raw).decode("ascii")


def _json_size(text: str) -> int:
    return len(orjson.dumps(text)) - 2


def _longest_fitting(size: int, fits: Callable[[int], bool]) -> int:
    """The largest n <= size with fits(n) (fits is monotone, fits(0) holds)."""
    low, high = 0, size
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def fit_text(text: str, budget: int, *, keep_end: bool = False) -> tuple[str, bool]:
    """``text`` cut (its start, or its end) so that it takes at most ``budget`` bytes as a
    JSON string (quotes aside); and whether it was cut."""
    if len(text) <= budget // 6 or _json_size(text) <= budget:  # 6: the longest escape
        return text, False
    if keep_end:
        kept = _longest_fitting(min(len(text), budget), lambda n: _json_size(text[len(text) - n :]) <= budget)
        return text[len(text) - kept :], True
    kept = _longest_fitting(min(len(text), budget), lambda n: _json_size(text[:n]) <= budget)
    return text[:kept], True


def fit_bytes(raw: bytes, budget: int) -> tuple[str, str, int]:
    """(encoding, text, bytes kept) of the longest start of ``raw`` whose encoding
    (``encode_original``) takes at most ``budget`` bytes as a JSON string."""
    head = raw[:budget]
    encoding, text = encode_original(head)
    if encoding == "base64" and len(head) < len(raw):
        for trim in (1, 2, 3):  # the cut split a character of UTF-8 text: cut before it
            if encode_original(head[:-trim])[0] == "utf-8":
                head = head[:-trim]
                encoding, text = encode_original(head)
                break
    if encoding == "utf-8":
        fitted, cut = fit_text(text, budget)
        return encoding, fitted, len(fitted.encode("utf-8")) if cut else len(head)
    kept = min(len(head), budget // 4 * 3)  # base64: 4 characters per 3 bytes, none escaped
    encoding, text = encode_original(raw[:kept])
    if encoding == "utf-8":  # the cut left valid UTF-8 behind: still within budget? fit again
        fitted, cut = fit_text(text, budget)
        return encoding, fitted, len(fitted.encode("utf-8")) if cut else kept
    return encoding, text, kept


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    original: bytes
    error_type: str  # stable, e.g. DecodeError, ValidationError (the metric label)
    reason: str  # finer, e.g. invalid_json, not_an_object, validation, wrong_key
    message: str
    failed_at: datetime
    traceback: str | None = None
    retry_count: int = 0
    headers: tuple[tuple[str, bytes], ...] = field(default_factory=tuple)

    @property
    def dlq_id(self) -> str:
        return dead_letter_id(self.topic, self.partition, self.offset)

    @property
    def topic_key(self) -> bytes | None:
        """The DLQ record's Kafka key: the original key, cut to TOPIC_KEY_LIMIT bytes."""
        return None if self.key is None else self.key[:TOPIC_KEY_LIMIT]

    def headers_document(self) -> dict[str, str]:
        """The headers as the record shows them (text, or base64 where not UTF-8), whole."""
        return {name: encode_original(value)[1] for name, value in self.headers}

    def topic_record(self) -> bytes:
        """The encoded record for the DLQ topic, at most TOPIC_RECORD_LIMIT bytes (module doc)."""
        record = self.to_record(TOPIC_ORIGINAL_LIMIT)
        error, metadata = record["error"], record["metadata"]
        error["message"] = fit_text(self.message, _ERROR_MESSAGE_LIMIT)[0]
        if self.traceback is not None:
            error["traceback"] = fit_text(self.traceback, _TRACEBACK_LIMIT, keep_end=True)[0]
        if self.key is not None:
            encoding, metadata["key"], kept = fit_bytes(self.key, TOPIC_KEY_LIMIT)
            metadata["key_encoding"], metadata["key_truncated"] = encoding, kept < len(self.key)
        headers: dict[str, str] = {}
        left = _HEADERS_LIMIT
        for name, value in self.headers:
            shown_name = fit_text(name, _HEADER_NAME_LIMIT)[0]
            shown = fit_bytes(value, _HEADER_VALUE_LIMIT)[1]
            cost = _json_size(shown_name) + _json_size(shown) + 6
            if cost > left:
                break
            headers[shown_name] = shown
            left -= cost
        metadata["headers"] = headers
        metadata["headers_truncated"] = len(headers) < len(self.headers)
        encoded = orjson.dumps(record)
        if len(encoded) > TOPIC_RECORD_LIMIT:  # not reachable with the budgets above; a guard
            record["original_message"], record["original_truncated"] = "", True
            error["traceback"], metadata["headers"], metadata["headers_truncated"] = None, {}, True
            encoded = orjson.dumps(record)
        return encoded

    def to_record(self, original_limit: int | None = None) -> dict[str, Any]:
        """The JSON document of this dead letter; the original cut to ``original_limit``
        bytes when given (the topic's copy, see the module docstring)."""
        if original_limit is None:
            encoding, text = encode_original(self.original)
            truncated = False
        else:
            encoding, text, kept = fit_bytes(self.original, original_limit)
            truncated = kept < len(self.original)
        key_encoding, key_text = encode_original(self.key) if self.key is not None else ("utf-8", None)
        return {
            "dlq_id": self.dlq_id,
            "original_message": text,
            "original_encoding": encoding,
            "original_size": len(self.original),
            "original_truncated": truncated,
            "error": {
                "type": self.error_type,
                "reason": self.reason,
                "message": self.message,
                "traceback": self.traceback,
            },
            "retry_count": self.retry_count,
            "failed_at": self.failed_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "metadata": {
                "topic": self.topic,
                "partition": self.partition,
                "offset": self.offset,
                "key": key_text,
                "key_encoding": key_encoding,
                "headers": self.headers_document(),
            },
        }
