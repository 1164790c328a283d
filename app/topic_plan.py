"""The topics the app needs, compared with what the broker has (pure: no I/O).

Every topic is declared before the worker consumes or accepts anything
(app.topic_declaration, ``faust -A app topics``). What a wrong partition count means
depends on the topic's role:

- ``source``: its events must land in the partition of the tables they update
  (co-partitioning by repository_id / project_key), so a source with another count cannot
  be consumed at all. It is left out of the subscription: nothing is read or acked, its
  events wait in Kafka, the other sources keep flowing (their events meet a lagging
  topic, as at-least-once delivery allows any time).
- ``changelog``: a table's partition N lives in changelog partition N; with another count
  a table can neither be recovered nor written, and every agent writes tables. The worker
  consumes nothing until it is fixed.
- ``output`` (dead letters, metrics.dora): produced to with the message's key; a count
  other than the others' only changes which partition a key lands in downstream.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Role",
    "TopicSpec",
    "TopicCheck",
    "TopicVerdict",
    "check_topics",
    "verdict",
    "mismatch_fix",
    "topic_config",
]

Role = Literal["source", "changelog", "output"]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic the app uses, with the partition count and configuration it needs."""

    name: str
    partitions: int
    role: Role
    config: Mapping[str, str] = field(default_factory=dict)
    table: str | None = None  # the table of a changelog


@dataclass(frozen=True, slots=True)
class TopicCheck:
    """One topic: what the app needs and what the broker has (``found`` None: missing)."""

    spec: TopicSpec
    found: int | None

    @property
    def state(self) -> Literal["ok", "missing", "mismatch"]:
        if self.found is None:
            return "missing"
        return "ok" if self.found == self.spec.partitions else "mismatch"

    def problem(self) -> dict[str, object]:
        """The mismatch as /health and the log report it."""
        return {
            "topic": self.spec.name,
            "role": self.spec.role,
            "partitions_found": self.found,
            "partitions_needed": self.spec.partitions,
            "effect": _EFFECT[self.spec.role],
            "fix": mismatch_fix(self.spec, self.found),
        }


_EFFECT: dict[Role, str] = {
    "source": "not consumed by this worker: its events wait in Kafka, the other topics flow",
    "changelog": "no topic is consumed: tables cannot be recovered or written",
    "output": "produced to as is: keys land in other partitions than downstream may expect",
}


def mismatch_fix(spec: TopicSpec, found: int | None) -> str:
    """What the operator does about a topic with ``found`` partitions instead of ``spec``'s."""
    needed = spec.partitions
    if spec.role == "changelog":
        return (
            f"the changelog of table {spec.table!r} has {found} partitions, not TOPIC_PARTITIONS={needed}: "
            f"start the workers with a new CONSUMER_GROUP_ID (new changelogs, tables rebuilt from the "
            f"sources), or delete {spec.name!r} (the worker then creates it and goes on)"
        )
    return (
        f"recreate {spec.name!r} with {needed} partitions (delete it, then `faust -A app topics create`; "
        f"Kafka cannot shrink a topic, and adding partitions moves keys), or run every worker with "
        f"TOPIC_PARTITIONS={found} and a new CONSUMER_GROUP_ID (its changelogs are created with that "
        f"count) if every source topic has {found}; then restart the workers"
    )


def topic_config(
    *, compacting: bool | None, deleting: bool | None, retention_s: float | None, extra: Mapping[str, object]
) -> dict[str, str]:
    """A topic's configuration as Faust would create it: cleanup policy, retention, extras."""
    policy = (["compact"] if compacting else []) + (["delete"] if deleting else [])
    config = {"cleanup.policy": ",".join(policy)} if policy else {}
    if retention_s:
        config["retention.ms"] = str(int(retention_s * 1000))
    config.update({key: str(value) for key, value in extra.items()})
    return config


def check_topics(specs: Iterable[TopicSpec], found: Mapping[str, int]) -> list[TopicCheck]:
    """Each spec with the broker's partition count for it (``found``: name -> count)."""
    return [TopicCheck(spec, found.get(spec.name)) for spec in specs]


@dataclass(frozen=True, slots=True)
class TopicVerdict:
    """What the worker may do, given the checks: consume (all but ``excluded``) or not."""

    missing: tuple[str, ...]
    mismatched: tuple[TopicCheck, ...]
    excluded: frozenset[str]  # sources not to subscribe to
    blocking: tuple[TopicCheck, ...]  # mismatches that stop all consumption

    @property
    def may_consume(self) -> bool:
        return not self.missing and not self.blocking

    @property
    def all_verified(self) -> bool:
        return not self.missing and not self.mismatched


def verdict(checks: Iterable[TopicCheck]) -> TopicVerdict:
    """Missing topics (to create), mismatches, and their consequence for consumption."""
    checks = list(checks)
    mismatched = tuple(c for c in checks if c.state == "mismatch")
    return TopicVerdict(
        missing=tuple(c.spec.name for c in checks if c.state == "missing"),
        mismatched=mismatched,
        excluded=frozenset(c.spec.name for c in mismatched if c.spec.role == "source"),
        blocking=tuple(c for c in mismatched if c.spec.role == "changelog"),
    )
