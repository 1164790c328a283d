"""Dead letters: a message that could not be processed, kept exactly, with its context.

The record follows seed 002's DLQ format (``dlq_id``, ``original_message``, ``error``
{type, message, traceback}, ``retry_count``, ``failed_at``, ``metadata``) with the
original bytes kept exactly: as text when they are UTF-8, else base64
(``original_encoding`` says which). ``dlq_id`` is derived from the message's coordinates,
so a redelivered failure is the same dead letter, not a second one.

The `dead_letters` table keeps every original whole. On the topic, an original over
TOPIC_ORIGINAL_LIMIT is cut (``original_truncated``, ``original_size``): a record of a
message already at the broker's 1 MiB limit, grown by JSON escaping or base64, would be
refused by the broker and take the DLQ down with it; `dlq replay` sends the table's copy.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "DeadLetter",
    "REPLAY_HEADER",
    "TOPIC_ORIGINAL_LIMIT",
    "dead_letter_id",
    "encode_original",
    "decode_original",
]

TOPIC_ORIGINAL_LIMIT = 256 * 1024

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


def decode_original(encoding: str, text: str) -> bytes:
    """The exact original bytes back from ``encode_original``'s output."""
    return base64.b64decode(text) if encoding == "base64" else text.encode("utf-8")


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

    def to_record(self, original_limit: int | None = None) -> dict[str, Any]:
        """The JSON document of this dead letter; the original cut to ``original_limit``
        bytes when given (the topic's copy, see the module docstring)."""
        truncated = original_limit is not None and len(self.original) > original_limit
        encoding, text = encode_original(self.original[:original_limit] if truncated else self.original)
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
                "headers": {name: encode_original(value)[1] for name, value in self.headers},
            },
        }
