"""``logs`` messages (seed 004's log lines): one log line of a service, keyed by ``service``.

``level`` arrives in any spelling and is folded into ``debug|info|warning|error|critical``
(tables.anomaly.levels); an unknown level is invalid (dead-lettered), as a level we cannot
rank would skew the service's error rates. Identity for duplicates: (``service``,
``timestamp``, ``message``, ``request_id``): a re-sent line is stored and learned once.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import orjson
from pydantic import Field, field_validator

from models.fields import EventTime, Identifier, Text
from models.message import MessageModel

__all__ = ["LEVELS", "Level", "LogMessage", "normalize_level"]

Level = Literal["debug", "info", "warning", "error", "critical"]
LEVELS: tuple[Level, ...] = ("debug", "info", "warning", "error", "critical")

_SPELLINGS: dict[str, Level] = {
    "trace": "debug",
    "debug": "debug",
    "dbg": "debug",
    "info": "info",
    "information": "info",
    "notice": "info",
    "warn": "warning",
    "warning": "warning",
    "err": "error",
    "error": "error",
    "crit": "critical",
    "critical": "critical",
    "fatal": "critical",
    "alert": "critical",
    "emerg": "critical",
    "emergency": "critical",
}


def normalize_level(raw: str) -> Level:
    """``WARN``/``warning`` -> ``warning``, ``ERR`` -> ``error``, ``FATAL`` -> ``critical``, ...

    Case and surrounding blanks are ignored; anything else raises ValueError naming it (the
    message is dead-lettered: a level we cannot rank would silently skew the error rates).
    """
    level = _SPELLINGS.get(raw.strip().lower())
    if level is None:
        raise ValueError(f"unknown log level {raw!r}")
    return level


class LogMessage(MessageModel):
    service: Identifier
    level: Level
    message: Text = Field(max_length=10_000)
    latency_ms: float | None = Field(None, ge=0, le=86_400_000, allow_inf_nan=False)
    timestamp: EventTime
    trace_id: Identifier | None = None
    request_id: Identifier | None = None
    host: Text | None = Field(None, max_length=255)
    attributes: dict[str, Any] | None = Field(None, max_length=100)

    @field_validator("level", mode="before")
    @classmethod
    def _fold_level(cls, value: object) -> object:
        return normalize_level(value) if isinstance(value, str) else value

    @field_validator("attributes")
    @classmethod
    def _storable(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        # Stored as jsonb: PostgreSQL refuses \u0000 in JSON text, and a lone surrogate is
        # not UTF-8; refused here, the line is dead-lettered instead of failing its batch.
        if value is not None:
            try:
                document = orjson.dumps(value)
            except TypeError as exc:
                raise ValueError(f"attributes cannot be stored as JSON: {exc}") from None
            if b"\\u0000" in document:
                raise ValueError("attributes hold a NUL character")
        return value

    @property
    def log_key(self) -> str:
        """The duplicate identity as 16 hex digits (part of the row's key)."""
        ident = "\x1f".join((self.service, self.timestamp.isoformat(), self.message, self.request_id or ""))
        return hashlib.blake2b(ident.encode("utf-8"), digest_size=8).hexdigest()
