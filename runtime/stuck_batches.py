"""Batches an agent could not finish: what /health reports and what the retries wait.

Per-message failures never get here (the message is dead-lettered, agents.acceptance). A
batch whose handling raises outside that guard is a bug or a fault of the batch as a
whole: it is not acked (its partitions' commits stand still, so nothing behind it is
committed unprocessed), it is retried with a growing pause, and the worker says so in
/health (``unhealthy``, naming the agent, the error and since when) until a retry gets
through. Redelivery would meet the same batch, so the worker does not exit for it.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["StuckBatch", "StuckBatches", "retry_pause_s"]

FIRST_PAUSE_S = 1.0
MAX_PAUSE_S = 30.0


def retry_pause_s(attempts: int) -> float:
    """Seconds before retrying a batch that failed ``attempts`` times (1, 2, 4 ... 30)."""
    return min(MAX_PAUSE_S, FIRST_PAUSE_S * 2.0 ** max(0, attempts - 1))


@dataclass(slots=True)
class StuckBatch:
    agent: str
    error_type: str
    error: str
    attempts: int
    since: float  # time.time() of the first failure
    offsets: dict[str, list[int]]  # "topic/partition" -> [first, last] offsets of the batch

    def as_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "error_type": self.error_type,
            "error": self.error,
            "attempts": self.attempts,
            "since": datetime.fromtimestamp(self.since, UTC).isoformat().replace("+00:00", "Z"),
            "offsets": self.offsets,
        }


class StuckBatches:
    """One entry per agent whose current batch keeps failing."""

    def __init__(self) -> None:
        self._stuck: dict[str, StuckBatch] = {}

    def __bool__(self) -> bool:
        return bool(self._stuck)

    def failed(self, agent: str, exc: BaseException, offsets: dict[str, list[int]]) -> StuckBatch:
        """Record one more failed attempt of ``agent``'s batch (at ``offsets``)."""
        error = "".join(traceback.format_exception_only(exc)).strip()[:2000]
        current = self._stuck.get(agent)
        if current is None or current.offsets != offsets:
            current = self._stuck[agent] = StuckBatch(
                agent, type(exc).__name__, error, 0, time.time(), offsets
            )
        current.attempts += 1
        current.error_type, current.error = type(exc).__name__, error
        return current

    def cleared(self, agent: str) -> StuckBatch | None:
        """The batch of ``agent`` got through (or was handed to another worker)."""
        return self._stuck.pop(agent, None)

    def as_list(self) -> list[dict[str, Any]]:
        return [stuck.as_dict() for stuck in self._stuck.values()]
