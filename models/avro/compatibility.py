"""Can data written with one Avro schema be read with another? Avro's resolution rules.

Following the specification's "Schema Resolution" section, ``read_problems(reader,
writer)`` lists every place where a reader could not decode a writer's data:
- same primitive types match; promotions int -> long -> float -> double (int and long to
  float or double too), and string <-> bytes;
- records match by unqualified name (or a reader alias); a reader field missing from the
  writer needs a default; writer fields the reader lacks are skipped;
- enums match by name; a writer symbol the reader lacks needs the reader's ``default``;
- fixed match by name and size; arrays by items; maps by values;
- a writer union: every branch must be readable; a reader union: some branch must match
  the writer (an exact type first, then a promotion).
Backward compatible (a new schema reads data written with the old) is
``read_problems(new, old) == []``; forward compatible the reverse. Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "read_problems",
    "backward_problems",
    "forward_problems",
]

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "error", "enum", "fixed"})
# (writer type, reader type) pairs the reader can promote.
PROMOTIONS = frozenset(
    {
        ("int", "long"),
        ("int", "float"),
        ("int", "double"),
        ("long", "float"),
        ("long", "double"),
        ("float", "double"),
        ("string", "bytes"),
        ("bytes", "string"),
    }
)

Schema = Any  # parsed JSON: a type name, a dict or a list (union)


@dataclass(slots=True)
class _Names:
    """The named types of one schema, by full name, with the namespace each sits in."""

    types: dict[str, tuple[Mapping[str, Any], str]] = field(default_factory=dict)

    @classmethod
    def of(cls, schema: Schema) -> _Names:
        names = cls()
        names._collect(schema, "")
        return names

    def _collect(self, schema: Schema, namespace: str) -> None:
        if isinstance(schema, list):
            for branch in schema:
                self._collect(branch, namespace)
            return
        if not isinstance(schema, Mapping):
            return
        kind = schema.get("type")
        if isinstance(kind, (Mapping, list)):
            self._collect(kind, namespace)
        elif kind in NAMED:
            full, inner = _full_name(schema["name"], schema.get("namespace", namespace))
            self.types[full] = (schema, inner)
            for member in schema.get("fields", ()):
                self._collect(member["type"], inner)
        elif kind == "array":
            self._collect(schema["items"], namespace)
        elif kind == "map":
            self._collect(schema["values"], namespace)

    def resolve(self, schema: Schema, namespace: str) -> tuple[Schema, str]:
        """The definition behind ``schema`` (a name is looked up), and its namespace."""
        if isinstance(schema, str):
            if schema in PRIMITIVES:
                return schema, namespace
            full, _ = _full_name(schema, namespace)
            found = self.types.get(full) or self.types.get(schema)
            if found is None:
                raise ValueError(f"unknown type {schema!r}")
            return found[0], found[1]
        if isinstance(schema, Mapping):
            kind = schema.get("type")
            if isinstance(kind, (Mapping, list)) or (
                isinstance(kind, str) and kind not in NAMED | {"array", "map"}
            ):
                # {"type": "long", "logicalType": ...} or {"type": {...}}: the type itself
                return self.resolve(kind, namespace)
            if kind in NAMED:
                return schema, _full_name(schema["name"], schema.get("namespace", namespace))[1]
        return schema, namespace


def _full_name(name: str, namespace: str | None) -> tuple[str, str]:
    """(full name, the namespace of the type's own contents)."""
    if "." in name:
        return name, name.rsplit(".", 1)[0]
    return (f"{namespace}.{name}" if namespace else name), namespace or ""


def _kind(schema: Schema) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return "union"
    kind = str(schema["type"])
    return "record" if kind == "error" else kind


def _short(schema: Mapping[str, Any]) -> str:
    return str(schema["name"]).rsplit(".", 1)[-1]


def _describe(schema: Schema) -> str:
    kind = _kind(schema)
    if kind in ("record", "enum", "fixed"):
        return f"{kind} {_short(schema)}"
    if kind == "union":
        return "[" + ", ".join(_describe(b) for b in schema) + "]"
    return kind


class _Resolver:
    def __init__(self, reader: Schema, writer: Schema) -> None:
        self.reader_names = _Names.of(reader)
        self.writer_names = _Names.of(writer)
        self.seen: set[tuple[str, str]] = set()

    def check(self, reader: Schema, rns: str, writer: Schema, wns: str, path: str) -> list[str]:
        """Problems reading ``writer`` data at ``path`` with ``reader``."""
        found: list[str] = []
        reader, rns = self.reader_names.resolve(reader, rns)
        writer, wns = self.writer_names.resolve(writer, wns)
        rkind, wkind = _kind(reader), _kind(writer)
        if wkind == "union":
            for branch in writer:
                branch_problems = self.check(reader, rns, branch, wns, path)
                if branch_problems:
                    found.append(
                        f"{path}: the writer's union branch {_describe(self.writer_names.resolve(branch, wns)[0])} "
                        f"cannot be read ({branch_problems[0]})"
                    )
        elif rkind == "union":
            branch = self._matching_branch(reader, rns, writer, wns)
            if branch is None:
                found.append(
                    f"{path}: the reader's union {_describe(reader)} has no branch for {_describe(writer)}"
                )
            else:
                found += self.check(branch, rns, writer, wns, path)
        elif rkind != wkind:
            if (wkind, rkind) not in PROMOTIONS:
                found.append(f"{path}: {_describe(writer)} cannot be read as {_describe(reader)}")
        elif rkind == "record":
            found += self._record(reader, rns, writer, wns, path)
        elif rkind == "enum":
            found += self._enum(reader, writer, path)
        elif rkind == "fixed":
            if not self._same_name(reader, writer) or reader["size"] != writer["size"]:
                found.append(
                    f"{path}: {_describe(writer)} size {writer['size']} cannot be read as "
                    f"{_describe(reader)} size {reader['size']}"
                )
        elif rkind == "array":
            found += self.check(reader["items"], rns, writer["items"], wns, f"{path}[]")
        elif rkind == "map":
            found += self.check(reader["values"], rns, writer["values"], wns, f"{path}{{}}")
        return found

    def _same_name(self, reader: Mapping[str, Any], writer: Mapping[str, Any]) -> bool:
        aliases = {str(a).rsplit(".", 1)[-1] for a in reader.get("aliases", ())}
        return _short(writer) == _short(reader) or _short(writer) in aliases

    def _matching_branch(self, union: list[Schema], rns: str, writer: Schema, wns: str) -> Schema | None:
        wkind = _kind(writer)
        branches = [self.reader_names.resolve(b, rns)[0] for b in union]
        for branch in branches:  # the same type first
            if _kind(branch) == wkind and (
                wkind not in ("record", "enum", "fixed") or self._same_name(branch, writer)
            ):
                return branch
        for branch in branches:  # then a promotion
            if (wkind, _kind(branch)) in PROMOTIONS:
                return branch
        return None

    def _record(
        self, reader: Mapping[str, Any], rns: str, writer: Mapping[str, Any], wns: str, path: str
    ) -> list[str]:
        if not self._same_name(reader, writer):
            return [
                f"{path}: record {_short(writer)} cannot be read as record {_short(reader)} (names differ)"
            ]
        key = (_short(reader), _short(writer))
        if key in self.seen:  # a recursive type: already being checked further up
            return []
        self.seen.add(key)
        found: list[str] = []
        written = {f["name"]: f for f in writer["fields"]}
        for member in reader["fields"]:
            source = written.get(member["name"])
            if source is None:
                source = next((written[a] for a in member.get("aliases", ()) if a in written), None)
            where = f"{path}.{member['name']}"
            if source is None:
                if "default" not in member:
                    found.append(
                        f"{where}: the reader needs this field, the writer does not have it, "
                        "and the reader gives no default"
                    )
            else:
                found += self.check(member["type"], rns, source["type"], wns, where)
        return found

    def _enum(self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str) -> list[str]:
        if not self._same_name(reader, writer):
            return [f"{path}: enum {_short(writer)} cannot be read as enum {_short(reader)} (names differ)"]
        unknown = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if unknown and "default" not in reader:
            return [
                f"{path}: the writer's symbols {unknown} are unknown to the reader, which has no default symbol"
            ]
        return []


def read_problems(reader: Schema, writer: Schema) -> list[str]:
    """Every reason data written with ``writer`` cannot be read with ``reader`` ([] = it can)."""
    resolver = _Resolver(reader, writer)
    start = _short(reader) if isinstance(reader, Mapping) and "name" in reader else _kind(reader)
    return resolver.check(reader, "", writer, "", start)


def backward_problems(old: Schema, new: Schema) -> list[str]:
    """Why ``new`` cannot read data written with ``old`` ([] = backward compatible)."""
    return read_problems(reader=new, writer=old)


def forward_problems(old: Schema, new: Schema) -> list[str]:
    """Why ``old`` cannot read data written with ``new`` ([] = forward compatible)."""
    return read_problems(reader=old, writer=new)
