"""Every table's columns are written once, by its store's `*Row`: these tests hold each Row
to its `*Table` in models/orm.py (names, SQL types, nullability, key), give each table one
owning store module, and pin how ``stores.columns`` turns a Row into SQL and parameters."""

from __future__ import annotations

import importlib
import pkgutil
import types
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Union, get_args, get_origin, get_type_hints

import pytest
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql

import stores
from models import orm
from stores.columns import ARRAY_SEPARATOR, Columns

# Columns the stores never write: the database fills them (server defaults, now() on an
# upsert's change), or an operator command does (`dlq replay`).
NOT_WRITTEN: dict[str, frozenset[str]] = {
    "commits": frozenset({"ingested_at"}),
    "commits_daily_stats": frozenset(),
    "dead_letters": frozenset({"replayed_at", "replay_count"}),
    "deployments": frozenset({"updated_at"}),
    "incidents": frozenset({"updated_at"}),
    "repositories": frozenset({"updated_at"}),
    "pull_requests": frozenset({"updated_at"}),
    "issues": frozenset({"updated_at"}),
    "issue_status_durations": frozenset({"updated_at"}),
    "sprints": frozenset({"updated_at"}),
    "metrics_daily": frozenset({"updated_at"}),
    "ingested_events": frozenset({"created_at"}),
    "user_sessions": frozenset({"updated_at"}),
    "activity_minutes": frozenset(),
    "activity_page_minutes": frozenset(),
    "logs": frozenset(),
    "log_anomalies": frozenset(),
    "activity_error_pages": frozenset(),
}

# Our SQL type names, as SQLAlchemy's PostgreSQL dialect writes the declared types.
DECLARED = {
    "text": "TEXT",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "float8": "FLOAT",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamptz": "TIMESTAMP WITH TIME ZONE",
    "bytea": "BYTEA",
    "jsonb": "JSONB",
    "text[]": "TEXT[]",
    "int[]": "INTEGER[]",
}


def owned_columns() -> dict[str, list[tuple[str, Columns[object]]]]:
    """Each table's Columns with the store module that declares its Row."""
    owners: dict[str, list[tuple[str, Columns[object]]]] = {}
    for info in pkgutil.iter_modules(stores.__path__):
        module = importlib.import_module(f"stores.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Columns) and value.row.__module__ == module.__name__:
                owners.setdefault(value.table, []).append((module.__name__, value))
    return owners


OWNERS = owned_columns()
TABLES: dict[str, Table] = {
    getattr(orm, name).__tablename__: getattr(orm, name).__table__ for name in orm.__all__ if name.endswith("Table")
}


def is_optional(hint: object) -> bool:
    if get_origin(hint) is Annotated:
        hint = get_args(hint)[0]
    return get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint)


def test_every_table_has_one_owning_store_module_and_nothing_else_is_owned() -> None:
    assert set(TABLES) == set(NOT_WRITTEN), "list the new table's unwritten columns in NOT_WRITTEN"
    assert {table: [module for module, _ in owners] for table, owners in OWNERS.items() if len(owners) != 1} == {}
    assert set(OWNERS) == set(TABLES)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_row_fields_are_the_table_columns(table: str) -> None:
    [(_, columns)] = OWNERS[table]
    declared = TABLES[table].columns
    assert set(columns.names) == {c.name for c in declared} - NOT_WRITTEN[table]
    assert set(columns.key) == {c.name for c in TABLES[table].primary_key.columns}
    assert columns.touched is None or columns.touched in NOT_WRITTEN[table]


@pytest.mark.parametrize("table", sorted(TABLES))
def test_row_types_and_nullability_are_the_table_columns(table: str) -> None:
    [(_, columns)] = OWNERS[table]
    hints = get_type_hints(columns.row, include_extras=True)
    for column in TABLES[table].columns:
        if column.name not in columns.types:
            continue
        assert DECLARED[columns.types[column.name]] == column.type.compile(dialect=postgresql.dialect()), column.name
        if is_optional(hints[column.name]):
            assert column.nullable, f"{table}.{column.name} is NOT NULL, its Row field allows None"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExampleRow:
    key: str
    at: datetime | None
    count: Annotated[int, "bigint"]
    tags: Annotated[Sequence[str] | None, "text[]"]


def test_columns_follow_the_row_fields_by_name() -> None:
    columns = Columns("examples", ExampleRow, key=("key",), touched="updated_at")
    assert columns.types == {"key": "text", "at": "timestamptz", "count": "bigint", "tags": "text[]"}
    assert columns.unnest() == (
        'unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::text[]) AS x("key", "at", "count", "tags")'
    )
    assert columns.selected() == 'x."key", x."at", x."count", string_to_array(x."tags", chr(31))::text[]'
    assert columns.recordset() == '"key" text, "at" timestamptz, "count" bigint, "tags" text[]'
    assert columns.on_conflict(update=False) == 'ON CONFLICT ("key") DO NOTHING'
    assert columns.on_conflict().endswith(
        '"updated_at" = now()\nWHERE (t."at", t."count", t."tags") IS DISTINCT FROM '
        '(EXCLUDED."at", EXCLUDED."count", EXCLUDED."tags")'
    )
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    rows = [
        ExampleRow(key="a", at=moment, count=1, tags=("x", "y")),
        ExampleRow(key="b", at=None, count=2, tags=None),
        ExampleRow(key="c", at=None, count=3, tags=()),
    ]
    assert columns.arrays(rows) == [
        ["a", "b", "c"],
        [moment, None, None],
        [1, 2, 3],
        [f"x{ARRAY_SEPARATOR}y", None, ""],
    ]
    assert columns.row_of({"tags": None, "count": 2, "at": None, "key": "b"}) == rows[1]


def test_columns_refuse_what_they_cannot_map() -> None:
    @dataclass(kw_only=True)
    class Untyped:
        names: list[str]

    @dataclass
    class Positional:
        name: str

    with pytest.raises(TypeError, match=r"Untyped\.names: no SQL type"):
        Columns("untyped", Untyped, key=())
    with pytest.raises(TypeError, match=r"Positional: declare it @dataclass\(kw_only=True\)"):
        Columns("positional", Positional, key=())
    with pytest.raises(ValueError, match=r"key column\(s\) \['id'\]"):
        Columns("examples", ExampleRow, key=("id",))
    columns = Columns("examples", ExampleRow, key=("key",))
    with pytest.raises(ValueError, match="not columns of ExampleRow"):
        columns.select(("key", "missing"))
    with pytest.raises(ValueError, match="arrays of"):
        columns.arrays_of({"key": [], "at": [], "count": []})
