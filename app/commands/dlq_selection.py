"""Which dead letters an operator means, and how they are shown (no I/O here).

A Selection turns the options of ``dlq list`` and ``dlq replay`` into one SQL condition
with bound parameters; ``plan_replay`` splits the selected records into those to send and
those already replayed. StoredLetter is a ``dead_letters`` row, shown in seed 002's format.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.commands.exceptions import OptionError
from app.commands.params import format_instant
from models.dead_letter import DeadLetter, encode_original

__all__ = ["Selection", "StoredLetter", "ReplayPlan", "plan_replay"]


@dataclass(frozen=True, slots=True)
class StoredLetter:
    """One row of ``dead_letters`` (read by stores.dead_letters), as the commands show it."""

    dlq_id: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    original: bytes
    error_type: str
    reason: str
    message: str
    failed_at: datetime
    traceback: str | None = None
    retry_count: int = 0
    replayed_at: datetime | None = None
    replay_count: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StoredLetter:
        headers = row["headers"]
        if isinstance(headers, str):  # jsonb arrives as text unless a codec is set
            headers = json.loads(headers)
        return cls(
            dlq_id=row["dlq_id"],
            topic=row["topic"],
            partition=row["partition"],
            offset=row["offset"],
            key=bytes(row["message_key"]) if row["message_key"] is not None else None,
            original=bytes(row["original"]),
            error_type=row["error_type"],
            reason=row["error_reason"],
            message=row["error_message"],
            failed_at=row["failed_at"],
            traceback=row["traceback"],
            retry_count=row["retry_count"],
            replayed_at=row["replayed_at"],
            replay_count=row["replay_count"],
            headers=dict(headers) if isinstance(headers, Mapping) else {},
        )

    @property
    def replayed(self) -> bool:
        return self.replay_count > 0

    @property
    def key_text(self) -> str | None:
        return None if self.key is None else encode_original(self.key)[1]

    def record(self) -> dict[str, Any]:
        """Seed 002's DLQ record, plus whether and when it was replayed."""
        record = DeadLetter(
            topic=self.topic,
            partition=self.partition,
            offset=self.offset,
            key=self.key,
            original=self.original,
            error_type=self.error_type,
            reason=self.reason,
            message=self.message,
            failed_at=self.failed_at,
            traceback=self.traceback,
            retry_count=self.retry_count,
        ).to_record()
        record["dlq_id"] = self.dlq_id
        record["metadata"]["headers"] = dict(self.headers)
        record["replay"] = {
            "replayed": self.replayed,
            "replay_count": self.replay_count,
            "replayed_at": format_instant(self.replayed_at) if self.replayed_at else None,
        }
        return record

    def summary(self) -> dict[str, Any]:
        """One ``dlq list --json`` entry: everything but the payload and traceback."""
        return {
            "dlq_id": self.dlq_id,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key_text,
            "error_type": self.error_type,
            "reason": self.reason,
            "message": self.message,
            "failed_at": format_instant(self.failed_at),
            "retry_count": self.retry_count,
            "replay_count": self.replay_count,
            "replayed_at": format_instant(self.replayed_at) if self.replayed_at else None,
            "size": len(self.original),
        }

    def line(self) -> str:
        """One ``dlq list`` line."""
        replayed = (
            f"replayed {self.replay_count}x, last {format_instant(self.replayed_at)}"
            if self.replayed
            else "not replayed"
        )
        return (
            f"{self.dlq_id}  {self.topic}/{self.partition}/{self.offset}  {self.error_type}  "
            f"{self.reason}  {format_instant(self.failed_at)}  {replayed}"
        )


@dataclass(frozen=True, slots=True)
class Selection:
    """Dead letters by id, or by topic/partition/offset range, error type and time."""

    dlq_ids: tuple[str, ...] = ()
    topic: str | None = None
    partition: int | None = None
    start_offset: int | None = None
    end_offset: int | None = None
    error_type: str | None = None
    since: datetime | None = None

    @property
    def _filters(self) -> dict[str, object]:
        named = {
            "--topic": self.topic,
            "--partition": self.partition,
            "--start-offset": self.start_offset,
            "--end-offset": self.end_offset,
            "--error-type": self.error_type,
            "--since": self.since,
        }
        return {name: value for name, value in named.items() if value is not None}

    def check(self) -> None:
        """Raise OptionError when the options do not describe a selection."""
        if self.dlq_ids and self._filters:
            raise OptionError(
                f"--dlq-id names records exactly; do not combine it with {', '.join(self._filters)}"
            )
        if self.partition is not None and self.topic is None:
            raise OptionError(f"--partition {self.partition} needs --topic (partitions are per topic)")
        if (self.start_offset is not None or self.end_offset is not None) and self.partition is None:
            raise OptionError(
                "--start-offset/--end-offset need --topic and --partition (offsets are per partition)"
            )
        if (
            self.start_offset is not None
            and self.end_offset is not None
            and self.start_offset > self.end_offset
        ):
            raise OptionError(f"--start-offset {self.start_offset} is after --end-offset {self.end_offset}")

    def check_for_replay(self, *, value_file: bool) -> None:
        """As ``check``, and a replay must select something explicitly."""
        self.check()
        if not self.dlq_ids and self.topic is None and self.error_type is None:
            raise OptionError(
                "choose what to replay: --dlq-id ID (repeatable), "
                "--topic T [--partition P --start-offset A --end-offset B], or --error-type E"
            )
        if value_file and len(self.dlq_ids) != 1:
            raise OptionError(
                "--value-file replaces the payload of one record: give exactly one --dlq-id "
                f"(got {len(self.dlq_ids)})"
            )

    def where(self) -> tuple[str, list[object]]:
        """`` WHERE ...`` (or empty) and its bound parameters."""
        clauses: list[str] = []
        args: list[object] = []

        def add(sql: str, value: object) -> None:
            args.append(value)
            clauses.append(sql.format(f"${len(args)}"))

        if self.dlq_ids:
            add("dlq_id = ANY({}::text[])", list(self.dlq_ids))
        if self.topic is not None:
            add("topic = {}", self.topic)
        if self.partition is not None:
            add("partition = {}", self.partition)
        if self.start_offset is not None:
            add('"offset" >= {}', self.start_offset)
        if self.end_offset is not None:
            add('"offset" <= {}', self.end_offset)
        if self.error_type is not None:
            add("error_type = {}", self.error_type)
        if self.since is not None:
            add("failed_at >= {}", self.since)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args

    def describe(self) -> str:
        """The selection as the options that made it."""
        if self.dlq_ids:
            return " ".join(f"--dlq-id {i}" for i in self.dlq_ids)
        return " ".join(f"{name} {format_value(value)}" for name, value in self._filters.items()) or "(all)"

    def missing(self, letters: Sequence[StoredLetter]) -> list[str]:
        """The ``--dlq-id`` values that matched no record."""
        found = {letter.dlq_id for letter in letters}
        return [i for i in self.dlq_ids if i not in found]


def format_value(value: object) -> str:
    return format_instant(value) if isinstance(value, datetime) else str(value)


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    send: list[StoredLetter]
    skipped: list[StoredLetter]


def plan_replay(letters: Sequence[StoredLetter], *, force: bool) -> ReplayPlan:
    """Send what was never replayed (everything with ``force``); skip the rest."""
    if force:
        return ReplayPlan(list(letters), [])
    return ReplayPlan(
        [letter for letter in letters if not letter.replayed],
        [letter for letter in letters if letter.replayed],
    )
