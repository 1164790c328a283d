"""Avro schema evolution: a matrix of schema changes with their expected verdicts, checked
by our resolution rules and, for each, by actually reading data with fastavro."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest

from models.avro.compatibility import (
    backward_problems,
    forward_problems,
    read_problems,
)
from models.avro.exceptions import IncompatibleSchemaError, SchemaError
from models.avro.registry import SchemaRegistry, default_registry


def record(*fields: dict[str, Any], name: str = "Event") -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "com.example", "fields": list(fields)}


def f(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


ID = f("id", "string")
COLOUR = {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN"]}

# (old schema, new schema, backward compatible, forward compatible)
MATRIX = [
    pytest.param(record(ID), record(ID, f("n", "int", default=0)), True, True, id="add-field-with-default"),
    pytest.param(record(ID), record(ID, f("n", "int")), False, True, id="add-field-without-default"),
    pytest.param(
        record(ID), record(ID, f("n", ["null", "string"], default=None)), True, True, id="add-nullable-field"
    ),
    pytest.param(
        record(ID, f("n", "int", default=0)), record(ID), True, True, id="remove-field-with-default"
    ),
    pytest.param(record(ID, f("n", "int")), record(ID), True, False, id="remove-field-without-default"),
    pytest.param(record(ID, f("n", "int")), record(ID, f("n", "long")), True, False, id="promote-int-long"),
    pytest.param(
        record(ID, f("n", "long")), record(ID, f("n", "float")), True, False, id="promote-long-float"
    ),
    pytest.param(
        record(ID, f("n", "float")), record(ID, f("n", "double")), True, False, id="promote-float-double"
    ),
    pytest.param(
        record(ID, f("n", "int")), record(ID, f("n", "double")), True, False, id="promote-int-double"
    ),
    pytest.param(record(ID, f("n", "long")), record(ID, f("n", "int")), False, True, id="narrow-long-int"),
    pytest.param(
        record(ID, f("n", "double")), record(ID, f("n", "float")), False, True, id="narrow-double-float"
    ),
    pytest.param(record(ID, f("n", "string")), record(ID, f("n", "bytes")), True, True, id="string-bytes"),
    pytest.param(record(ID, f("n", "string")), record(ID, f("n", "int")), False, False, id="string-to-int"),
    pytest.param(record(ID, f("n", "boolean")), record(ID, f("n", "int")), False, False, id="boolean-to-int"),
    pytest.param(
        record(ID, f("n", ["null", "string"], default=None)),
        record(ID, f("n", ["null", "string", "long"], default=None)),
        True,
        False,
        id="widen-union",
    ),
    pytest.param(
        record(ID, f("n", ["null", "string", "long"], default=None)),
        record(ID, f("n", ["null", "string"], default=None)),
        False,
        True,
        id="narrow-union",
    ),
    pytest.param(
        record(ID, f("n", "string")),
        record(ID, f("n", ["null", "string"])),
        True,
        False,
        id="type-to-union",
    ),
    pytest.param(
        record(ID, f("n", ["null", "int"])),
        record(ID, f("n", ["null", "long"])),
        True,
        False,
        id="union-branch-promoted",
    ),
    pytest.param(
        record(ID, f("c", COLOUR)),
        record(ID, f("c", {**COLOUR, "symbols": ["RED", "GREEN", "BLUE"]})),
        True,
        False,
        id="enum-add-symbol",
    ),
    pytest.param(
        record(ID, f("c", COLOUR)),
        record(ID, f("c", {**COLOUR, "symbols": ["RED"]})),
        False,
        True,
        id="enum-remove-symbol",
    ),
    pytest.param(
        record(ID, f("c", {**COLOUR, "default": "RED"})),
        record(ID, f("c", {**COLOUR, "symbols": ["RED", "GREEN", "BLUE"], "default": "RED"})),
        True,
        True,
        id="enum-add-symbol-reader-default",
    ),
    pytest.param(
        record(ID, f("c", COLOUR)),
        record(ID, f("c", {**COLOUR, "name": "Color"})),
        False,
        False,
        id="enum-renamed",
    ),
    pytest.param(record(ID), record(ID, name="Other"), False, False, id="record-renamed"),
    pytest.param(
        record(ID),
        {**record(ID, name="Other"), "aliases": ["Event"]},
        True,
        False,
        id="record-renamed-with-alias",
    ),
    pytest.param(
        record(ID, f("n", "int")),
        record(ID, f("m", "int", aliases=["n"])),
        True,
        False,
        id="field-renamed-with-alias",
    ),
    pytest.param(
        record(ID, f("xs", {"type": "array", "items": "int"})),
        record(ID, f("xs", {"type": "array", "items": "long"})),
        True,
        False,
        id="array-items-promoted",
    ),
    pytest.param(
        record(ID, f("m", {"type": "map", "values": "string"})),
        record(ID, f("m", {"type": "map", "values": "int"})),
        False,
        False,
        id="map-values-changed",
    ),
    pytest.param(
        record(ID, f("h", {"type": "fixed", "name": "Hash", "size": 16})),
        record(ID, f("h", {"type": "fixed", "name": "Hash", "size": 32})),
        False,
        False,
        id="fixed-resized",
    ),
    pytest.param(
        record(ID, f("inner", record(f("a", "int"), name="Inner"))),
        record(ID, f("inner", record(f("a", "int"), f("b", "string", default=""), name="Inner"))),
        True,
        True,
        id="nested-record-field-added",
    ),
    pytest.param(
        record(ID, f("inner", record(f("a", "int"), name="Inner"))),
        record(ID, f("inner", record(f("a", "string"), name="Inner"))),
        False,
        False,
        id="nested-record-field-retyped",
    ),
]

SAMPLES: dict[str, Any] = {
    "null": None,
    "boolean": True,
    "int": 7,
    "long": 7,
    "float": 1.5,
    "double": 2.5,
    "bytes": b"b",
    "string": "s",
}


def sample(schema: Any) -> Any:
    """A value of ``schema`` that uses every field (the first non-null union branch, last symbol)."""
    if isinstance(schema, str):
        return SAMPLES[schema]
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        return sample(branches[-1])
    kind = schema["type"]
    if kind == "record":
        return {field["name"]: sample(field["type"]) for field in schema["fields"]}
    if kind == "enum":
        return schema["symbols"][-1]
    if kind == "array":
        return [sample(schema["items"])]
    if kind == "map":
        return {"k": sample(schema["values"])}
    if kind == "fixed":
        return b"x" * schema["size"]
    raise AssertionError(kind)


def fastavro_reads(reader: dict[str, Any], writer: dict[str, Any]) -> bool:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(writer), sample(writer))
    try:
        fastavro.schemaless_reader(
            io.BytesIO(out.getvalue()), fastavro.parse_schema(writer), fastavro.parse_schema(reader)
        )
    except Exception:
        return False
    return True


@pytest.mark.parametrize(("old", "new", "backward", "forward"), MATRIX)
def test_compatibility_matrix_verdicts(
    old: dict[str, Any], new: dict[str, Any], backward: bool, forward: bool
) -> None:
    assert (backward_problems(old, new) == []) is backward, backward_problems(old, new)
    assert (forward_problems(old, new) == []) is forward, forward_problems(old, new)


@pytest.mark.parametrize(("old", "new", "backward", "forward"), MATRIX)
def test_compatibility_verdict_agrees_with_fastavro_when_compatible(
    old: dict[str, Any], new: dict[str, Any], backward: bool, forward: bool
) -> None:
    # A compatible verdict is a promise that every value reads; the sample uses every
    # field and the newest branch/symbol, so it must read.
    if backward:
        assert fastavro_reads(reader=new, writer=old)
    if forward:
        assert fastavro_reads(reader=old, writer=new)


def test_compatibility_matrix_has_at_least_twelve_changes() -> None:
    assert len(MATRIX) >= 12


def test_compatibility_problem_names_the_field_and_reason() -> None:
    problems = backward_problems(record(ID), record(ID, f("n", "int")))
    assert problems == [
        "Event.n: the reader needs this field, the writer does not have it, and the reader gives no default"
    ]
    assert read_problems(reader=record(ID, f("n", "int")), writer=record(ID, f("n", "string"))) == [
        "Event.n: string cannot be read as int"
    ]
    enum_problem = forward_problems(
        record(ID, f("c", COLOUR)), record(ID, f("c", {**COLOUR, "symbols": ["RED", "BLUE"]}))
    )
    assert enum_problem == [
        "Event.c: the writer's symbols ['BLUE'] are unknown to the reader, which has no default symbol"
    ]


def test_compatibility_recursive_type_terminates() -> None:
    node = record(ID, f("next", ["null", "Event"], default=None))
    assert backward_problems(node, node) == forward_problems(node, node) == []


def test_shipped_ingest_event_versions_are_backward_and_forward_compatible() -> None:
    registry = default_registry()
    versions = registry.versions("IngestEvent")
    assert [v.version for v in versions] == [1, 2, 3]
    assert [v.schema_id for v in versions] == [1, 2, 3]
    for old, new in zip(versions, versions[1:], strict=False):
        assert backward_problems(old.schema, new.schema) == []
        assert forward_problems(old.schema, new.schema) == []
    v2_fields = [
        field["name"] for field in registry.get("IngestEvent", 2).schema["fields"][2]["type"]["fields"]
    ]
    assert v2_fields == ["event_type", "source", "data", "user_id", "session_id", "tags"]


def test_registry_backward_mode_refuses_incompatible_with_reason() -> None:
    registry = SchemaRegistry("BACKWARD")
    first = registry.register("Event", record(ID))
    with pytest.raises(IncompatibleSchemaError) as refused:
        registry.register("Event", record(ID, f("n", "int")))
    assert "refused under BACKWARD" in str(refused.value)
    assert refused.value.problems == [
        "Event.n: the reader needs this field, the writer does not have it, and the reader gives no default"
    ]
    assert registry.latest("Event") == first
    second = registry.register("Event", record(ID, f("n", "int", default=0)))
    assert (second.version, second.schema_id) == (2, 2)
    assert registry.get("Event", 1) == first and registry.by_id(2) == second


def test_registry_register_same_schema_returns_existing_version() -> None:
    registry = SchemaRegistry()
    first = registry.register("Event", record(ID))
    assert registry.register("Event", record(ID)) is first
    assert len(registry.versions("Event")) == 1


def test_registry_forward_and_full_modes() -> None:
    forward = SchemaRegistry("FORWARD")
    forward.register("Event", record(ID))
    forward.register("Event", record(ID, f("n", "int")))  # old readers skip the new field
    full = SchemaRegistry("FULL")
    full.register("Event", record(ID, f("n", "int")))
    with pytest.raises(IncompatibleSchemaError, match="FULL"):
        full.register("Event", record(ID))  # removes a field old readers need


def test_registry_transitive_mode_checks_every_version() -> None:
    registry = SchemaRegistry("BACKWARD_TRANSITIVE")
    registry.register("Event", record(ID, f("n", "int")))
    registry.register("Event", record(ID))
    with pytest.raises(IncompatibleSchemaError, match="against version 1"):
        registry.register("Event", record(ID, f("n", "string", default="")))
    plain = SchemaRegistry("BACKWARD")
    plain.register("Event", record(ID, f("n", "int")))
    plain.register("Event", record(ID))
    assert plain.register("Event", record(ID, f("n", "string", default=""))).version == 3


def test_registry_none_mode_accepts_anything_valid() -> None:
    registry = SchemaRegistry("NONE")
    registry.register("Event", record(ID))
    assert registry.register("Event", record(f("other", "int"))).version == 2


def test_registry_refuses_invalid_schema_and_unknown_lookups() -> None:
    registry = SchemaRegistry()
    with pytest.raises(SchemaError, match="not a valid Avro schema"):
        registry.register("Event", record(f("n", "strng")))
    with pytest.raises(SchemaError, match="no subject 'Nope'"):
        registry.latest("Nope")
    registry.register("Event", record(ID))
    with pytest.raises(SchemaError, match="has no version 5"):
        registry.get("Event", 5)
    with pytest.raises(SchemaError, match="no schema with id 9"):
        registry.by_id(9)
    with pytest.raises(SchemaError, match="already Event v1"):
        registry.register("Other", record(ID, name="Other"), schema_id=1)
