"""Retry timing for transient failures (seed 002: immediate, 2 s, 4 s, 8 s, then give up)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: attempt 1 at once, then base, 2*base, 4*base ... (max_retries)."""

    max_retries: int = 3
    base_s: float = 2.0
    # While the circuit is open (retries exhausted), probe this often until it answers.
    probe_interval_s: float = 5.0

    def delays(self) -> list[float]:
        """Seconds to wait before each attempt; the first attempt is immediate."""
        return [0.0] + [self.base_s * 2**i for i in range(self.max_retries)]
