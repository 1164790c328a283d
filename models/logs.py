"""``logs`` messages (seed 004's log lines): one log line of a service, keyed by ``service``.

``level`` arrives in any spelling and is folded into ``debug|info|warning|error|critical``
(tables.anomaly.levels); an unknown level is invalid (dead-lettered), as a level we cannot
rank would skew the service's error rates. Identity for duplicates: (``service``,
``timestamp``, ``message``, ``request_id``): a re-sent line is stored and learned once.

``LogLine`` is what the agent keeps of a valid message. ``plain_log_line`` builds it from
the common shape of a message (ASCII-clean ids, a float latency, a UTC timestamp in the
usual ISO form, no attributes) with a few checks that accept nothing ``LogMessage`` refuses
and give the values it gives; anything else is left to ``LogMessage`` (and its errors).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import Field, field_validator

from models.fields import EventTime, Identifier, Text, _text, plain_event_time, plain_identifier
from models.message import MessageModel

__all__ = ["LEVELS", "Level", "LogLine", "LogMessage", "log_key", "normalize_level", "plain_log_line"]

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
        return log_key(self.service, self.timestamp, self.message, self.request_id)


# Not frozen: one per log (a frozen __init__ is several times slower); never mutated.
@dataclass(slots=True)
class LogLine:
    """A valid ``logs`` message, as LogMessage validated it."""

    service: str
    level: Level
    message: str
    latency_ms: float | None
    timestamp: datetime  # aware, UTC
    trace_id: str | None
    request_id: str | None
    host: str | None
    attributes: dict[str, Any] | None

    @classmethod
    def of(cls, m: LogMessage) -> LogLine:
        return cls(
            m.service,
            m.level,
            m.message,
            m.latency_ms,
            m.timestamp,
            m.trace_id,
            m.request_id,
            m.host,
            m.attributes,
        )

    @property
    def log_key(self) -> str:
        """The duplicate identity as 16 hex digits (part of the row's key)."""
        return log_key(self.service, self.timestamp, self.message, self.request_id)


def log_key(service: str, timestamp: datetime, message: str, request_id: str | None) -> str:
    """A line's duplicate identity (service, timestamp, message, request id) as 16 hex digits."""
    ident = "\x1f".join((service, timestamp.isoformat(), message, request_id or ""))
    return hashlib.blake2b(ident.encode("utf-8"), digest_size=8).hexdigest()


def plain_log_line(value: dict[str, Any]) -> LogLine | None:
    """``value`` (a decoded message) as LogMessage would validate it, when it has the common
    shape (module doc); None for anything else, which LogMessage then decides on."""
    service, level, text = value.get("service"), value.get("level"), value.get("message")
    latency, timestamp = value.get("latency_ms"), value.get("timestamp")
    trace_id, request_id, host = value.get("trace_id"), value.get("request_id"), value.get("host")
    if not plain_identifier(service) or type(level) is not str or type(text) is not str or len(text) > 10_000:
        return None
    folded = _SPELLINGS.get(level.strip().lower())
    if folded is None or value.get("attributes") is not None:
        return None
    if latency is not None and not (type(latency) is float and 0.0 <= latency <= 86_400_000.0):
        return None  # NaN and infinities fail the comparison too
    if (trace_id is not None and not plain_identifier(trace_id)) or (
        request_id is not None and not plain_identifier(request_id)
    ):
        return None
    if host is not None and not (type(host) is str and len(host) <= 255):
        return None
    at = plain_event_time(timestamp)
    if at is None:
        return None
    host = None if host is None else _text(host)
    return LogLine(service, folded, _text(text), latency, at, trace_id, request_id, host, None)
