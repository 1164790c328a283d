"""Jira issues: the latest snapshot, the status history, cycle time and time in status.

Times are integer microseconds since the epoch, UTC (tables.instants).

- An issue's fields come from its latest ``issue_created``/``issue_updated`` snapshot by
  envelope timestamp (METRICS edge rule 11); a tie keeps the larger canonical form.
- Transitions are a set keyed by (transitioned_at, to_status), the event's identity once
  the issue key is fixed; a conflicting ``from_status`` keeps the larger known value.
Both merges are commutative and idempotent: any order and duplicates give the same state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from tables.instants import from_micros

__all__ = [
    "Issue",
    "IssueState",
    "Transition",
    "cycle_time_days",
    "issue_report",
    "merge_snapshot",
    "merge_transition",
    "time_in_status",
]

MICROS_PER_SECOND = 1_000_000
MICROS_PER_DAY = 86_400 * MICROS_PER_SECOND
_REPORTED = (
    "summary",
    "issue_type",
    "status",
    "status_category",
    "assignee",
    "story_points",
    "sprint_id",
    "created",
    "resolved",
    "repository_id",
)


@dataclass(frozen=True, slots=True)
class Issue:
    """One ``issue_created``/``issue_updated`` event's fields; None where absent."""

    key: str
    timestamp: int  # the envelope's: the latest snapshot wins
    summary: str | None = None
    issue_type: str | None = None
    status: str | None = None
    status_category: str | None = None
    assignee: str | None = None
    story_points: float | None = None
    sprint_id: str | None = None  # compared as a string with the sprint's id
    created: int | None = None
    resolved: int | None = None
    repository_id: str | None = None  # makes an Incident-type issue a DORA incident


@dataclass(frozen=True, slots=True)
class Transition:
    transitioned_at: int
    to_status: str
    from_status: str | None = None


@dataclass(frozen=True, slots=True)
class IssueState:
    """The table value: the winning snapshot (None until one arrives) and the transitions."""

    key: str
    snapshot: Issue | None = None
    transitions: tuple[Transition, ...] = ()  # sorted by (transitioned_at, to_status)

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready table value."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> IssueState:
        """The state stored as ``record`` by to_record."""
        snapshot = record.get("snapshot")
        return cls(
            record["key"],
            Issue(**snapshot) if snapshot is not None else None,
            tuple(Transition(**t) for t in record.get("transitions", ())),
        )


def merge_snapshot(state: IssueState | None, snapshot: Issue) -> IssueState:
    """``state`` with ``snapshot`` merged in: the latest by envelope timestamp wins."""
    state = _checked(state, snapshot.key)
    current = state.snapshot
    if current is not None and (current.timestamp, repr(current)) >= (snapshot.timestamp, repr(snapshot)):
        return state
    return IssueState(state.key, snapshot, state.transitions)


def merge_transition(state: IssueState | None, key: str, transition: Transition) -> IssueState:
    """``state`` with one ``issue_transitioned`` event of issue ``key`` merged in."""
    state = _checked(state, key)
    identity = (transition.transitioned_at, transition.to_status)
    kept = [t for t in state.transitions if (t.transitioned_at, t.to_status) != identity]
    same = [t for t in state.transitions if (t.transitioned_at, t.to_status) == identity]
    winner = max([*same, transition], key=lambda t: (t.from_status is not None, t.from_status or ""))
    return IssueState(state.key, state.snapshot, tuple(sorted([*kept, winner], key=_order)))


def _order(transition: Transition) -> tuple[int, str]:
    return transition.transitioned_at, transition.to_status


def _checked(state: IssueState | None, key: str) -> IssueState:
    if state is None:
        return IssueState(key)
    if state.key != key:
        raise ValueError(f"cannot merge issue {key} into {state.key}")
    return state


def cycle_time_days(snapshot: Issue | None) -> float | None:
    """``resolved - created`` in days, rounded to 2 decimals; None while unresolved."""
    if snapshot is None or snapshot.created is None or snapshot.resolved is None:
        return None
    return round((snapshot.resolved - snapshot.created) / MICROS_PER_DAY, 2)


def time_in_status(transitions: Iterable[Transition]) -> dict[str, float]:
    """Seconds per status: the status entered at transition i gets t[i+1] - t[i] (edge rule 10)."""
    ordered = sorted(transitions, key=_order)
    spent: dict[str, int] = {}
    for entered, left in zip(ordered, ordered[1:], strict=False):
        spent[entered.to_status] = (
            spent.get(entered.to_status, 0) + left.transitioned_at - entered.transitioned_at
        )
    return {status: micros / MICROS_PER_SECOND for status, micros in spent.items()}


def issue_report(state: IssueState) -> dict[str, Any]:
    """The JSON answer of ``GET /issues/{key}``: fields, ``cycle_time_days``, ``time_in_status``."""
    snapshot = state.snapshot
    fields = asdict(snapshot) if snapshot is not None else {}
    for name in ("created", "resolved"):
        moment = fields.get(name)
        fields[name] = from_micros(moment).isoformat() if moment is not None else None
    return {
        "key": state.key,
        **{name: fields.get(name) for name in _REPORTED},
        "cycle_time_days": cycle_time_days(snapshot),
        "time_in_status": time_in_status(state.transitions),
    }
