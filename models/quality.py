"""Data-quality scores of an ingested event (seed 002's DataQualityCheck), pure.

- ``completeness``: the share of the optional payload fields that carry a value
  (user_id, session_id, ip_address, data, tags, version; an empty ``data`` or ``tags``
  counts as absent): 0.0 with only the required fields, 1.0 with all of them.
- ``freshness``: 1.0 while the event's age at ingestion is within ``max_age_s``, falling
  linearly to 0.0 at twice that; 0.0 for an event stamped more than ``future_skew_s`` after
  it was ingested (a clock problem, not a fresh event).
- ``consistency``: business rules (CONSISTENCY_RULES); 1.0 minus 0.5 per broken rule.
- ``overall``: the weighted mean (QualityPolicy.weights); ``flagged`` when below
  ``min_score`` (DATA_QUALITY_MIN_SCORE).
Age is measured against the time the event was ingested (the Kafka message timestamp),
never the processing clock, so a redelivered message scores the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "OPTIONAL_FIELDS",
    "QualityPolicy",
    "QualityReport",
    "completeness",
    "freshness",
    "consistency_issues",
    "consistency",
    "assess",
]

OPTIONAL_FIELDS = ("user_id", "session_id", "ip_address", "data", "tags", "version")


@dataclass(frozen=True, slots=True)
class QualityPolicy:
    """Tunables of the score. Defaults: seed 002 (1 hour freshness, 0.5 minimum)."""

    min_score: float = 0.5
    max_age_s: float = 3600.0
    future_skew_s: float = 300.0
    # completeness, freshness, consistency; they sum to 1.
    weights: tuple[float, float, float] = (0.4, 0.3, 0.3)


# Not frozen: one per message (a frozen __init__ is several times slower); never mutated.
@dataclass(slots=True)
class QualityReport:
    completeness: float
    freshness: float
    consistency: float
    overall: float
    flagged: bool
    issues: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "completeness": self.completeness,
            "freshness": self.freshness,
            "consistency": self.consistency,
            "overall": self.overall,
            "flagged": self.flagged,
            "issues": list(self.issues),
        }


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, (dict, list, str)):
        return len(value) > 0
    return True


def completeness(payload: Mapping[str, Any]) -> float:
    """Share of OPTIONAL_FIELDS present in ``payload`` (0.0-1.0)."""
    present = 0
    for name in OPTIONAL_FIELDS:  # a plain loop: once per ingested event
        if _present(payload.get(name)):
            present += 1
    return present / len(OPTIONAL_FIELDS)


def freshness(timestamp: datetime, now: datetime, policy: QualityPolicy = QualityPolicy()) -> float:
    """1.0 within ``max_age_s`` of ``now``, linearly down to 0.0 at twice that (0.0-1.0)."""
    age = (now - timestamp).total_seconds()
    if age < -policy.future_skew_s:
        return 0.0
    if age <= policy.max_age_s:
        return 1.0
    return max(0.0, 1.0 - (age - policy.max_age_s) / policy.max_age_s)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _nonempty_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _status_ok(data: Mapping[str, Any]) -> bool:
    code = data.get("status_code")
    return code is None or (isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599)


# (applies to event_type or None for all, rule holds, message when broken)
CONSISTENCY_RULES: tuple[
    tuple[str | None, Callable[[Mapping[str, Any], Mapping[str, Any]], bool], str], ...
] = (
    ("user_action", lambda p, d: _present(p.get("user_id")), "User action events should include user_id"),
    ("error", lambda p, d: _nonempty_text(d.get("message")), "Error events should include data.message"),
    ("metric", lambda p, d: _is_number(d.get("value")), "Metric events should include a numeric data.value"),
    (
        "api_call",
        lambda p, d: _nonempty_text(d.get("endpoint")),
        "API call events should include data.endpoint",
    ),
    (None, lambda p, d: _status_ok(d), "data.status_code should be an HTTP status code (100-599)"),
    (
        None,
        lambda p, d: d.get("duration_ms") is None or (_is_number(d["duration_ms"]) and d["duration_ms"] >= 0),
        "data.duration_ms should be a number >= 0",
    ),
)


def consistency_issues(payload: Mapping[str, Any]) -> list[str]:
    """The business rules ``payload`` breaks (seed 002's check_consistency), in rule order."""
    data = payload.get("data")
    data = data if isinstance(data, Mapping) else {}
    event_type = payload.get("event_type")
    return [
        message
        for applies_to, holds, message in CONSISTENCY_RULES
        if (applies_to is None or applies_to == event_type) and not holds(payload, data)
    ]


def consistency(issues: int) -> float:
    """1.0 minus 0.5 per broken rule, not below 0."""
    return max(0.0, 1.0 - 0.5 * issues)


def assess(
    payload: Mapping[str, Any],
    timestamp: datetime,
    ingested_at: datetime,
    policy: QualityPolicy = QualityPolicy(),
    broken_rules: Sequence[str] | None = None,
) -> QualityReport:
    """Every score of one event; ``ingested_at`` is when it entered the pipeline.
    ``broken_rules``: ``consistency_issues(payload)`` when the caller has it already."""
    issues = consistency_issues(payload) if broken_rules is None else list(broken_rules)
    complete = completeness(payload)
    fresh = freshness(timestamp, ingested_at, policy)
    consistent = consistency(len(issues))
    weights = policy.weights
    overall = round(weights[0] * complete + weights[1] * fresh + weights[2] * consistent, 6)
    if fresh == 0.0 and timestamp > ingested_at:
        issues.append("timestamp is in the future")
    return QualityReport(
        completeness=round(complete, 6),
        freshness=round(fresh, 6),
        consistency=consistent,
        overall=overall,
        flagged=overall < policy.min_score,
        issues=tuple(issues),
    )
