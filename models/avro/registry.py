"""A schema registry: versions per subject, global schema ids, compatibility modes.

The shipped schemas (SHIPPED, ``.avsc`` files beside this module) are registered in order
at load, so every worker and tool numbers them the same and the chain itself is checked:
version n must satisfy the subject's mode against version n-1 or the load fails. A new
version is a new file added to SHIPPED; ``faust -A app schemas check FILE`` says first
whether it would be accepted. Modes follow Confluent's names: BACKWARD (the default: the
new schema reads the latest version's data), FORWARD, FULL (both), their ``_TRANSITIVE``
forms (against every version), NONE.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import fastavro

from models.avro.compatibility import backward_problems, forward_problems
from models.avro.exceptions import IncompatibleSchemaError, SchemaError, SchemaNotFound

__all__ = [
    "CompatibilityMode",
    "CompatibilityReport",
    "RegisteredSchema",
    "SchemaRegistry",
    "SHIPPED",
    "SCHEMA_DIR",
    "default_registry",
    "load_schema_file",
]

CompatibilityMode = Literal[
    "NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"
]
SCHEMA_DIR = Path(__file__).with_name("schemas")
# (subject, version, schema id, file): ids are part of the wire format, never reuse one.
SHIPPED: tuple[tuple[str, int, int, str], ...] = (
    ("IngestEvent", 1, 1, "ingest_event_v1.avsc"),
    ("IngestEvent", 2, 2, "ingest_event_v2.avsc"),
    ("IngestEvent", 3, 3, "ingest_event_v3.avsc"),
)


def _canonical(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class RegisteredSchema:
    subject: str
    version: int
    schema_id: int
    schema: dict[str, Any]  # as written in the .avsc file
    parsed: Any  # fastavro's parsed form, what its reader and writer take

    @property
    def canonical(self) -> str:
        return _canonical(self.schema)


@dataclass(frozen=True, slots=True)
class CompatibilityReport:
    """A candidate schema against the versions it is checked with."""

    subject: str
    mode: CompatibilityMode
    against: tuple[int, ...]
    backward: tuple[str, ...]  # why the candidate cannot read older data
    forward: tuple[str, ...]  # why older readers cannot read the candidate's data

    @property
    def accepted(self) -> bool:
        """Whether ``register`` would take the candidate under ``mode``."""
        needs_backward = self.mode.startswith(("BACKWARD", "FULL"))
        needs_forward = self.mode.startswith(("FORWARD", "FULL"))
        return not (needs_backward and self.backward) and not (needs_forward and self.forward)


def parse(schema: Any) -> Any:
    """fastavro's parsed schema; SchemaError naming the problem for an invalid one."""
    try:
        return fastavro.parse_schema(schema)
    except Exception as exc:
        raise SchemaError(f"not a valid Avro schema: {type(exc).__name__}: {exc}") from None


def load_schema_file(path: Path) -> dict[str, Any]:
    """A schema from a ``.avsc`` file; SchemaError when it is not JSON or not a record."""
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaError(f"{path}: cannot read a JSON schema: {exc}") from None
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise SchemaError(f"{path}: a subject's schema must be a JSON object of type record")
    return schema


class SchemaRegistry:
    """In-process registry of subjects and their versions."""

    def __init__(self, mode: CompatibilityMode = "BACKWARD") -> None:
        self.default_mode: CompatibilityMode = mode
        self._modes: dict[str, CompatibilityMode] = {}
        self._subjects: dict[str, list[RegisteredSchema]] = {}
        self._ids: dict[int, RegisteredSchema] = {}

    def mode(self, subject: str) -> CompatibilityMode:
        return self._modes.get(subject, self.default_mode)

    def set_mode(self, subject: str, mode: CompatibilityMode) -> None:
        self._modes[subject] = mode

    def subjects(self) -> list[str]:
        return sorted(self._subjects)

    def versions(self, subject: str) -> list[RegisteredSchema]:
        """Every version of ``subject``, oldest first; SchemaNotFound for an unknown one."""
        versions = self._subjects.get(subject)
        if not versions:
            raise SchemaNotFound(f"no subject {subject!r} (known: {', '.join(self.subjects()) or 'none'})")
        return list(versions)

    def get(self, subject: str, version: int) -> RegisteredSchema:
        for registered in self.versions(subject):
            if registered.version == version:
                return registered
        known = ", ".join(str(r.version) for r in self.versions(subject))
        raise SchemaNotFound(f"subject {subject!r} has no version {version} (versions: {known})")

    def latest(self, subject: str) -> RegisteredSchema:
        return self.versions(subject)[-1]

    def by_id(self, schema_id: int) -> RegisteredSchema:
        found = self._ids.get(schema_id)
        if found is None:
            raise SchemaNotFound(f"no schema with id {schema_id}")
        return found

    def check(self, subject: str, schema: dict[str, Any]) -> CompatibilityReport:
        """``schema`` against the versions the subject's mode compares it with."""
        parse(schema)
        mode = self.mode(subject)
        existing = self._subjects.get(subject, [])
        against = existing if mode.endswith("_TRANSITIVE") else existing[-1:]
        backward: list[str] = []
        forward: list[str] = []
        for old in against:
            prefix = f"against version {old.version}: " if len(against) > 1 else ""
            backward += [prefix + p for p in backward_problems(old.schema, schema)]
            forward += [prefix + p for p in forward_problems(old.schema, schema)]
        return CompatibilityReport(
            subject, mode, tuple(r.version for r in against), tuple(backward), tuple(forward)
        )

    def register(
        self,
        subject: str,
        schema: dict[str, Any],
        *,
        version: int | None = None,
        schema_id: int | None = None,
    ) -> RegisteredSchema:
        """Add ``schema`` as the subject's next version (an identical one is returned as is).

        Raises IncompatibleSchemaError with every reason when the subject's mode refuses it.
        """
        parsed = parse(schema)
        existing = self._subjects.get(subject, [])
        for registered in existing:
            if registered.canonical == _canonical(schema):
                return registered
        report = self.check(subject, schema)
        if not report.accepted:
            problems = list(report.backward if report.mode.startswith(("BACKWARD", "FULL")) else ())
            problems += list(report.forward if report.mode.startswith(("FORWARD", "FULL")) else ())
            raise IncompatibleSchemaError(
                f"{subject}: refused under {report.mode} compatibility: " + "; ".join(problems), problems
            )
        next_version = existing[-1].version + 1 if existing else 1
        if version is not None and version != next_version:
            raise SchemaError(f"{subject}: the next version is {next_version}, not {version}")
        if schema_id is None:
            schema_id = max(self._ids, default=0) + 1
        elif schema_id in self._ids:
            raise SchemaError(
                f"schema id {schema_id} is already {self._ids[schema_id].subject} v"
                f"{self._ids[schema_id].version}"
            )
        registered = RegisteredSchema(subject, next_version, schema_id, schema, parsed)
        self._subjects.setdefault(subject, []).append(registered)
        self._ids[schema_id] = registered
        return registered


def load_shipped(directory: Path = SCHEMA_DIR, mode: CompatibilityMode = "BACKWARD") -> SchemaRegistry:
    """A registry holding every shipped schema (SHIPPED), checked under ``mode``."""
    registry = SchemaRegistry(mode)
    for subject, version, schema_id, file_name in SHIPPED:
        registry.register(
            subject, load_schema_file(directory / file_name), version=version, schema_id=schema_id
        )
    return registry


@functools.cache
def default_registry() -> SchemaRegistry:
    """The process's registry of shipped schemas (loaded once)."""
    return load_shipped()
