"""The structlog logger every module logs with; ``app.logging`` configures where it goes.

Here, not in ``app.logging``, so that the Faust extensions log without importing the app.
"""

from __future__ import annotations

import structlog

__all__ = ["get_logger"]


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger; log with a stable event name and keyword fields."""
    return structlog.stdlib.get_logger(name)
