"""Log levels: the spellings producers use, folded into five."""

from __future__ import annotations

from typing import Literal

__all__ = ["LEVELS", "Level", "level_rank", "normalize_level"]

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


def level_rank(level: Level) -> int:
    """0 (debug) .. 4 (critical)."""
    return LEVELS.index(level)
