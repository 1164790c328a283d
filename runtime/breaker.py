"""A circuit breaker for a remote dependency the worker can do without (the ML engine).

Closed: every call goes out. ``failures`` consecutive failures open it: no call goes out
for ``open_s`` seconds, the caller uses its fallback. Then it is half-open: the next call
is a trial; its success closes the breaker, its failure opens it again for another
``open_s``. Time is passed in (monotonic seconds), so the states are tested without
sleeping.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["BreakerState", "CircuitBreaker"]

BreakerState = Literal["closed", "open", "half_open"]
_CODES: dict[BreakerState, int] = {"closed": 0, "open": 1, "half_open": 2}


class CircuitBreaker:
    def __init__(self, failures: int, open_s: float) -> None:
        if failures < 1 or open_s < 0:
            raise ValueError(f"failures={failures} must be >= 1 and open_s={open_s} >= 0")
        self.failures = failures
        self.open_s = open_s
        self.state: BreakerState = "closed"
        self.consecutive = 0
        self.opened_at = 0.0

    @property
    def code(self) -> int:
        """0 closed, 1 open, 2 half-open (the Prometheus gauge's value)."""
        return _CODES[self.state]

    def allow(self, now: float) -> bool:
        """Whether a call may go out at ``now``; an open breaker past its time turns half-open."""
        if self.state == "open":
            if now - self.opened_at < self.open_s:
                return False
            self.state = "half_open"
        return True

    def succeeded(self) -> None:
        self.state = "closed"
        self.consecutive = 0

    def failed(self, now: float) -> None:
        self.consecutive += 1
        if self.state == "half_open" or self.consecutive >= self.failures:
            self.state = "open"
            self.opened_at = now
