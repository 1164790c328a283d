"""Reading a dead letter's bytes back, as a consumer of the dead-letter topic would: the
tests' own inverse of models.dead_letter.encode_original (the worker never decodes them)."""

from __future__ import annotations

import base64

__all__ = ["decode_original"]


def decode_original(encoding: str, text: str) -> bytes:
    """The exact original bytes back from ``encode_original``'s output."""
    return base64.b64decode(text) if encoding == "base64" else text.encode("utf-8")
