"""Log levels ranked for the detector (the folding itself is the message schema's:
models.logs.normalize_level)."""

from __future__ import annotations

from models.logs import LEVELS, Level, normalize_level

__all__ = ["LEVELS", "Level", "level_rank", "normalize_level"]


def level_rank(level: Level) -> int:
    """0 (debug) .. 4 (critical)."""
    return LEVELS.index(level)
