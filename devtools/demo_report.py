"""What `make demo` prints: the worker's answers and the database's rows as short text.

Pure functions of the JSON answers and rows (no I/O), so the demo's test can format the
truth the same way and compare the lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "dora_lines",
    "cycle_time_lines",
    "open_pr_lines",
    "sprint_lines",
    "closed_sprint",
    "count_lines",
    "dead_letter_lines",
    "deployment_lines",
    "pull_request_lines",
    "daily_line",
    "verdict",
    "STAGES",
]

STAGES = ("coding", "pickup", "review", "deploy", "cycle_time")
_DORA_HEADER = (
    f"  {'':<22} {'deployment frequency':<24} {'lead time (p50)':<20} "
    f"{'change failure rate':<25} {'time to restore (p50)':<20}"
)


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} h"


def _band(metric: Mapping[str, Any]) -> str:
    return str(metric.get("band") or "no data")


def dora_row(label: str, answer: Mapping[str, Any]) -> str:
    """One key's four DORA metrics, each with its band."""
    frequency, lead = answer["deployment_frequency"], answer["lead_time"]
    failure, restore = answer["change_failure_rate"], answer["time_to_restore"]
    per_week = frequency["deploy_days_per_week"]
    cells = (
        f"{'-' if per_week is None else f'{per_week:.1f}'} days/wk {_band(frequency)}",
        f"{_hours(lead['p50_hours'])} {_band(lead)}",
        (
            "-"
            if failure["rate"] is None
            else f"{failure['rate']:.0%} ({failure['failed_deployments']}/{failure['deployments']})"
        )
        + f" {_band(failure)}",
        f"{_hours(restore['p50_hours'])} {_band(restore)}",
    )
    return f"  {label:<22} {cells[0]:<24} {cells[1]:<20} {cells[2]:<25} {cells[3]:<20}".rstrip()


def dora_lines(answers: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """A table of (label, /dora answer): one row per repository or team."""
    return [_DORA_HEADER.rstrip(), *(dora_row(label, answer) for label, answer in answers)]


def cycle_time_lines(answer: Mapping[str, Any]) -> list[str]:
    """The stages of a /cycle-time answer: percentiles in hours and how many PRs each."""
    lines = [f"  {'stage':<12} {'p50':>8} {'p90':>8} {'mean':>8} {'PRs':>6}"]
    for stage in STAGES:
        s = answer[stage]
        lines.append(
            f"  {stage:<12} {_hours(s['p50_hours']):>8} {_hours(s['p90_hours']):>8} "
            f"{_hours(s['mean_hours']):>8} {s['count'] or 0:>6}"
        )
    return lines


def open_pr_lines(answer: Mapping[str, Any], limit: int = 5) -> list[str]:
    """The open PRs still waiting for a first review, longest wait first."""
    waiting = sorted(
        (p for p in answer["open_prs"] if p["state"] == "waiting_for_review"),
        key=lambda p: (-(p["waiting_for_review_hours"] or 0), p["repository_id"], p["number"]),
    )
    states: dict[str, int] = {}
    for pr in answer["open_prs"]:
        states[pr["state"]] = states.get(pr["state"], 0) + 1
    summary = ", ".join(f"{n} {state.replace('_', ' ')}" for state, n in sorted(states.items()))
    lines = [f"  {len(answer['open_prs'])} open: {summary or 'none'}"]
    for pr in waiting[:limit]:
        lines.append(
            f"  {pr['repository_id']}#{pr['number']:<4} {pr['title'] or '':<14} by {pr['author'] or '?':<18} "
            f"waiting {_hours(pr['waiting_for_review_hours'])}"
        )
    return lines


def closed_sprint(answer: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The latest closed sprint of a /sprints answer that reports its completed points."""
    closed = [s for s in answer["sprints"] if s["state"] == "closed" and s["completed_points"] is not None]
    return closed[-1] if closed else None


def sprint_lines(answer: Mapping[str, Any]) -> list[str]:
    """One sprint's commitment and velocity, and the project's velocity trend."""
    sprint = closed_sprint(answer)
    trend = answer["velocity_trend"]
    lines = []
    if sprint is not None:
        rate = sprint["completion_rate"]
        lines.append(
            f"  {sprint['name']} ({(sprint['start_date'] or '')[:10]} to {(sprint['end_date'] or '')[:10]}): "
            f"committed {sprint['committed_points']:g}, completed {sprint['completed_points']:g} "
            f"({'-' if rate is None else f'{rate:.0%}'}), velocity {sprint['velocity']:g}"
        )
    lines.append(
        f"  {len(answer['sprints'])} sprints; velocity trend (last 3 closed): "
        + ("-" if trend is None else f"{trend:.1f}")
    )
    return lines


def count_lines(counts: Mapping[str, int], expected: Mapping[str, int]) -> list[str]:
    """Rows per table, with the number expected from the events sent where it is known."""
    lines = [f"  {'table':<24} {'rows':>7} {'expected':>9}"]
    for table, rows in counts.items():
        want = expected.get(table)
        mark = "" if want is None else ("  ok" if rows == want else "  MISMATCH")
        lines.append(f"  {table:<24} {rows:>7,} {'-' if want is None else f'{want:,}':>9}{mark}")
    return lines


def dead_letter_lines(letters: Iterable[Mapping[str, Any]], width: int = 70) -> list[str]:
    """topic/partition@offset, error type and reason, the error message cut to ``width``."""
    lines = []
    for d in letters:
        message = " ".join(str(d["error_message"]).split())
        where = f"{d['topic']}/{d['partition']}@{d['offset']}"
        lines.append(
            f"  {where:<24} {d['error_type']:<17} {d['error_reason']:<13} "
            f"{message[:width] + ('...' if len(message) > width else '')}"
        )
    return lines


def deployment_lines(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """deployments rows: id, status, when, how many commits it lists."""
    return [
        f"    {r['deployment_id']:<11} {r['status']:<8} {r['finished_at']:%Y-%m-%d %H:%M}Z "
        f"commits {'-' if r['shas'] is None else r['shas']}"
        for r in rows
    ]


def pull_request_lines(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """pull_requests rows: the number and each stage's hours."""
    return [
        f"    #{r['number']:<4} "
        + " ".join(
            f"{s} {'-' if r[f'{s}_hours'] is None else format(r[f'{s}_hours'], '.1f')}" for s in STAGES
        )
        for r in rows
    ]


def daily_line(rows: Sequence[Mapping[str, Any]]) -> str:
    """metrics_daily rows of one day on one line."""
    if not rows:
        return "    (none)"
    return f"    {rows[0]['metric_date']}: " + ", ".join(f"{r['metric']} {r['value']:g}" for r in rows)


def verdict(
    sent: int,
    unique: int,
    malformed: set[tuple[str, bytes]],
    counts: Mapping[str, int],
    expected: Mapping[str, int],
    letters: Iterable[Mapping[str, Any]],
) -> tuple[bool, str]:
    """OK when each table has its expected rows and the dead letters are exactly the malformed
    messages; the line says what was sent and what differs."""
    what = (
        f"{sent:,} messages sent ({unique:,} unique events, {sent - unique - len(malformed):,} redeliveries, "
        f"{len(malformed)} malformed)"
    )
    problems = [f"{t} {counts.get(t)} rows, expected {n}" for t, n in expected.items() if counts.get(t) != n]
    dead = [(d["topic"], bytes(d["original"])) for d in letters]
    if sorted(dead) != sorted(malformed):
        problems.append(
            f"dead letters {len(dead)}: {sorted(set(dead) ^ malformed)[:3]} differ from the malformed"
        )
    if problems:
        return False, f"FAIL: {what}; " + "; ".join(problems)
    return True, f"OK: {what}; each entity stored once, exactly the malformed messages dead-lettered"
