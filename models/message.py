"""The base of every wire message schema (``*Message``; its ``data`` body is ``*Data``).

Validation (pydantic v2) and normalization happen in one step: a validated message holds
UTC timestamps, trimmed/lower-cased emails and NUL-free text. Unknown fields are ignored.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["MessageModel"]


class MessageModel(BaseModel):
    """Base of every message schema: ignore unknown fields, never coerce to str."""

    model_config = ConfigDict(extra="ignore", frozen=True)
