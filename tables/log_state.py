"""The values of the log tables and the pure steps the logs agent takes on them.

- ``LogServiceState``: a service's detector state (tables.anomaly.detector) and the keys of
  its last ``RECENT_KEYS`` logs, so a re-sent line (same service, timestamp, message and
  request id) arriving soon after is neither learned nor stored twice (one further back is
  stored once by the row's key, but learned again: the state stays bounded).
- ``PartitionLogState``: a partition's watermark (its latest log time) and, per service, its
  last log time and when its silence becomes a quiet flag (``quiet_due``): only services
  due are read and checked as the watermark passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tables.anomaly.detector import (
    DetectorConfig,
    LogPoint,
    QuietFlag,
    ScoreParts,
    ServiceState,
    check_quiet,
    quiet_due,
    score_log,
)
from tables.anomaly.forest import ForestShape

__all__ = ["LogServiceState", "PartitionLogState", "RECENT_KEYS", "SERVICE_RETIRED_S"]

RECENT_KEYS = 256
SERVICE_RETIRED_S = 7 * 86_400.0  # a service silent this long leaves its partition's list


@dataclass(slots=True)
class LogServiceState:
    detector: ServiceState = field(default_factory=ServiceState)
    recent_keys: list[str] = field(default_factory=list)
    # recent_keys counted by key, built on first use: a lookup instead of a scan of the list.
    _counts: dict[str, int] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_value(cls, value: dict[str, Any] | None, shape: ForestShape) -> LogServiceState:
        if value is None:
            return cls()
        return cls(ServiceState.from_value(value["detector"], shape), list(value["keys"]))

    @classmethod
    def of(cls, value: LogServiceState | dict[str, Any] | None, shape: ForestShape) -> LogServiceState:
        """The state in a table value, to be changed: a copy of one the table keeps decoded
        (runtime.coalesced shares it with the table until the flush), else decoded."""
        if isinstance(value, LogServiceState):
            counts = None if value._counts is None else dict(value._counts)
            return LogServiceState(value.detector.copy(), list(value.recent_keys), counts)
        return cls.from_value(value, shape)

    def to_value(self) -> dict[str, Any]:
        return {"detector": self.detector.to_value(), "keys": list(self.recent_keys)}

    def to_record(self) -> dict[str, Any]:
        """The stored value (runtime.coalesced encodes it at the flush, not per batch)."""
        return self.to_value()

    def score(
        self, key: str, point: LogPoint, config: DetectorConfig, shape: ForestShape
    ) -> ScoreParts | None:
        """The score of a log, learned; None for a duplicate of a recent one."""
        counts = self._counts
        if counts is None:
            counts = self._counts = {}
            for seen in self.recent_keys:
                counts[seen] = counts.get(seen, 0) + 1
        if key in counts:
            return None
        keys = self.recent_keys
        keys.append(key)
        counts[key] = 1
        if len(keys) > RECENT_KEYS:
            for old in keys[:-RECENT_KEYS]:
                left = counts[old] - 1
                if left:
                    counts[old] = left
                else:
                    del counts[old]
            del keys[:-RECENT_KEYS]
        return score_log(self.detector, point, config, shape)

    def check_quiet(self, now: float, config: DetectorConfig) -> QuietFlag | None:
        return check_quiet(self.detector, now, config)

    def quiet_due(self, config: DetectorConfig) -> float | None:
        return quiet_due(self.detector, config)


@dataclass(slots=True)
class PartitionLogState:
    watermark: float = 0.0
    services: dict[str, tuple[float, float | None]] = field(default_factory=dict)  # last log, quiet due

    @classmethod
    def from_value(cls, value: dict[str, Any] | None) -> PartitionLogState:
        if value is None:
            return cls()
        services = {
            str(k): (float(last), None if due is None else float(due))
            for k, (last, due) in value["services"].items()
        }
        return cls(float(value["watermark"]), services)

    def to_value(self) -> dict[str, Any]:
        return {
            "watermark": self.watermark,
            "services": {k: [last, due] for k, (last, due) in self.services.items()},
        }

    def saw(self, service: str, last: float, due: float | None) -> None:
        """``service`` logged up to ``last``; silent, it is flagged from ``due``."""
        self.watermark = max(self.watermark, last)
        self.services[service] = (last, due)

    def flagged(self, service: str) -> None:
        last, _ = self.services[service]
        self.services[service] = (last, None)

    def due_for_quiet_check(self) -> list[str]:
        """Services whose quiet time the watermark has reached (sorted); those silent past
        SERVICE_RETIRED_S are forgotten, so the value holds the partition's live services."""
        for service, (last, _) in list(self.services.items()):
            if self.watermark - last > SERVICE_RETIRED_S:
                del self.services[service]
        return sorted(s for s, (_, due) in self.services.items() if due is not None and due <= self.watermark)
