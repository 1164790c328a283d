"""Data-quality checks over what was stored for a topic (seed 001's `quality check`): pure
functions of the figures a store read (stores.data_quality), so the command and the worker's
periodic job judge alike.

Checks per topic: volume of the window against the usual rate (the same length of time,
averaged over the BASELINE_WINDOWS windows before it), freshness of the newest event, null
rate per field, invalid rate (dead letters among everything received), duplicates (rows
sharing a natural key, which upserts should make impossible).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

__all__ = [
    "TopicFigures",
    "Thresholds",
    "Finding",
    "evaluate",
    "exit_status",
    "render_table",
    "BASELINE_WINDOWS",
]

BASELINE_WINDOWS = 7
Status = Literal["ok", "fail", "skip"]


@dataclass(frozen=True, slots=True)
class TopicFigures:
    topic: str
    stored: int  # rows written in the window
    baseline: float | None  # rows per window, usually (None: no history before the window)
    newest_event_at: datetime | None
    null_rates: Mapping[str, float] = field(default_factory=dict)
    dead_letters: int = 0
    duplicates: int = 0


@dataclass(frozen=True, slots=True)
class Thresholds:
    volume_low: float = 0.5  # below half the usual rate
    volume_high: float = 3.0  # above three times it
    max_age: timedelta = timedelta(hours=24)
    max_null_rate: float = 0.2
    max_invalid_rate: float = 0.05


@dataclass(frozen=True, slots=True)
class Finding:
    topic: str
    check: str
    status: Status
    value: str
    detail: str = ""


def evaluate(figures: TopicFigures, now: datetime, limits: Thresholds = Thresholds()) -> list[Finding]:
    topic = figures.topic
    if figures.stored == 0 and figures.newest_event_at is None and figures.dead_letters == 0:
        return [Finding(topic, "volume", "skip", "0", "nothing stored for this topic")]
    findings: list[Finding] = []
    if not figures.baseline:
        findings.append(Finding(topic, "volume", "skip", str(figures.stored), "no history before the window"))
    else:
        ratio = figures.stored / figures.baseline
        bad = ratio < limits.volume_low or ratio > limits.volume_high
        findings.append(
            Finding(
                topic,
                "volume",
                "fail" if bad else "ok",
                str(figures.stored),
                f"{ratio:.2f}x the usual {figures.baseline:.1f} per window",
            )
        )
    if figures.newest_event_at is None:
        findings.append(Finding(topic, "freshness", "fail", "-", "no event time stored"))
    else:
        age = now - figures.newest_event_at
        findings.append(
            Finding(
                topic,
                "freshness",
                "fail" if age > limits.max_age else "ok",
                _duration(age),
                f"newest event at {figures.newest_event_at.isoformat()}",
            )
        )
    for name, rate in sorted(figures.null_rates.items()):
        findings.append(
            Finding(topic, f"nulls.{name}", "fail" if rate > limits.max_null_rate else "ok", f"{rate:.1%}")
        )
    received = figures.stored + figures.dead_letters
    invalid = figures.dead_letters / received if received else 0.0
    findings.append(
        Finding(
            topic,
            "invalid",
            "fail" if invalid > limits.max_invalid_rate else "ok",
            f"{invalid:.1%}",
            f"{figures.dead_letters} dead letters",
        )
    )
    findings.append(
        Finding(topic, "duplicates", "fail" if figures.duplicates else "ok", str(figures.duplicates))
    )
    return findings


def exit_status(findings: Iterable[Finding]) -> int:
    """1 when any check failed, else 0."""
    return 1 if any(f.status == "fail" for f in findings) else 0


def render_table(findings: Sequence[Finding]) -> str:
    rows = [("TOPIC", "CHECK", "STATUS", "VALUE", "DETAIL")] + [
        (f.topic, f.check, f.status.upper(), f.value, f.detail) for f in findings
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4] for row in rows
    ).rstrip()


def _duration(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 0:
        return "in the future"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86_400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86_400}d"
