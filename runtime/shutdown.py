"""Leaving the worker: the exit codes, the exit that skips Faust's shutdown, and the one
grace period a shutdown has.

Every agent finishes the batch in hand when the worker is asked to stop (its body, then its
write in flight), but a supervisor waits only so long between SIGTERM and SIGKILL. The
grace is one deadline for the whole process, started by the first wait that needs it:
an agent finishing its body and then its write, or several agents at once, share it
instead of taking a full grace each.
"""

from __future__ import annotations

import os
import sys
import time

__all__ = ["EXIT_CONFIG", "EXIT_UNFLUSHED", "SHUTDOWN_GRACE_S", "exit_now", "remaining_grace_s"]

# Leaves room within the 30 s a supervisor usually waits between SIGTERM and SIGKILL.
SHUTDOWN_GRACE_S = 20.0
EXIT_UNFLUSHED = 75  # EX_TEMPFAIL
EXIT_CONFIG = 78  # EX_CONFIG

_deadline: float | None = None


def exit_now(code: int) -> None:
    """Leave without Faust's shutdown (which would commit the batch in hand as done)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def remaining_grace_s() -> float:
    """Seconds left of the shutdown's grace period; the first call starts it."""
    global _deadline
    now = time.monotonic()
    if _deadline is None:
        _deadline = now + SHUTDOWN_GRACE_S
    return max(0.0, _deadline - now)
