"""A table's columns written once: the fields of its `*Row` dataclass, by name.

Each store module declares one `*Row` per table it writes, its field names the column names,
and a ``Columns`` over it. The SQL a store sends (column lists, ``unnest`` of typed arrays,
``json_to_recordset`` definitions, the upsert's updates and change test, the reads' select
lists) and the parameter arrays of a batch are built from those fields, so no column is
listed by hand nor matched by position; ``tests/unit/test_store_rows.py`` holds every Row to
its ``*Table`` in models/orm.py.

A field's SQL type follows from its Python type (``str`` text, ``int`` int, ``float``
float8, ``bool`` bool, ``datetime`` timestamptz, ``date`` date, ``bytes`` bytea); a column
whose type says more is annotated, e.g. ``offset: Annotated[int, "bigint"]``. An array
column (``Annotated[Sequence[str] | None, "text[]"]``) travels as one text per row joined by
chr(31), PostgreSQL's arrays of arrays being rectangular, and is split back in SQL.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from operator import attrgetter
from typing import Annotated, Any, Generic, TypeVar, Union, get_args, get_origin, get_type_hints

import orjson

__all__ = ["Columns", "ARRAY_SEPARATOR", "json_rows"]

R = TypeVar("R")

ARRAY_SEPARATOR = chr(31)  # the unit separator: in no sha, number or name we store

_PYTHON_TYPES: dict[type, str] = {
    str: "text",
    int: "int",
    float: "float8",
    bool: "bool",
    datetime: "timestamptz",
    date: "date",
    bytes: "bytea",
}


def _sql_type(row: type, name: str, hint: Any) -> str:
    if get_origin(hint) is Annotated:
        declared = [extra for extra in get_args(hint)[1:] if isinstance(extra, str)]
        if declared:
            return declared[0]
        hint = get_args(hint)[0]
    if get_origin(hint) in (Union, types.UnionType):
        present = [arg for arg in get_args(hint) if arg is not type(None)]
        hint = present[0] if len(present) == 1 else hint
    if isinstance(hint, type) and hint in _PYTHON_TYPES:
        return _PYTHON_TYPES[hint]
    raise TypeError(
        f"{row.__name__}.{name}: no SQL type for {hint!r}; declare it, e.g. Annotated[..., 'bigint']"
    )


def _quoted(name: str) -> str:
    # Every name quoted: `offset` and `timestamp` are columns too.
    return f'"{name}"'


def _is_array(sql_type: str) -> bool:
    return sql_type.endswith("[]")


def json_rows(rows: Sequence[object]) -> str | None:
    """Dataclass rows as a JSON array of objects named like their fields (for
    ``json_to_recordset`` with ``Columns.recordset()``); None when JSON cannot carry them as
    they are: a lone surrogate (not UTF-8) or a NUL (PostgreSQL's JSON refuses ``\\u0000``
    as text), both refused by the array path's codec too."""
    try:
        document = orjson.dumps(rows)
    except TypeError:  # orjson's refusal (JSONEncodeError is one)
        return None
    if b"\\u0000" in document:
        return None
    return document.decode()


def _joined(values: Sequence[object] | None) -> str | None:
    return None if values is None else ARRAY_SEPARATOR.join(map(str, values))


class Columns(Generic[R]):
    """The columns of ``table``, read from the fields of ``row``; ``key`` the conflict
    target of its upserts, ``touched`` a column set to now() when an upsert changes a row."""

    def __init__(self, table: str, row: type[R], *, key: Sequence[str], touched: str | None = None) -> None:
        if not dataclasses.is_dataclass(row):
            raise TypeError(f"{row.__name__} is not a dataclass: a Row's fields are its columns")
        positional = [f.name for f in dataclasses.fields(row) if not f.kw_only]
        if positional:
            # Built by keyword only: a field moved or renamed can never shift values into another column.
            raise TypeError(f"{row.__name__}: declare it @dataclass(kw_only=True) (positional: {positional})")
        hints = get_type_hints(row, include_extras=True)
        self.table = table
        self.row = row
        self.names: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(row))
        self.types: dict[str, str] = {name: _sql_type(row, name, hints[name]) for name in self.names}
        unknown = [name for name in key if name not in self.types]
        if unknown:
            raise ValueError(f"{table}: key column(s) {unknown} are not fields of {row.__name__}")
        self.key = tuple(key)
        self.values = tuple(name for name in self.names if name not in self.key)
        self.touched = touched
        self._getters = [attrgetter(name) for name in self.names]
        self._arrays = [_is_array(self.types[name]) for name in self.names]

    def listed(self, names: Sequence[str] | None = None, prefix: str = "") -> str:
        """``"a", "b"``: the columns (or ``names``), each after ``prefix`` (e.g. ``x.``)."""
        return ", ".join(prefix + _quoted(name) for name in (self.names if names is None else names))

    def unnest(self, first: int = 1, alias: str = "x") -> str:
        """``unnest($1::text[], ...) AS x("a", ...)``: the batch's rows, from ``arrays``."""
        params = ", ".join(
            f"${first + i}::{'text' if _is_array(self.types[name]) else self.types[name]}[]"
            for i, name in enumerate(self.names)
        )
        return f"unnest({params}) AS {alias}({self.listed()})"

    def recordset(self) -> str:
        """``"a" text, ...``: the definition of ``json_to_recordset(...) AS r(...)``."""
        return ", ".join(f"{_quoted(name)} {self.types[name]}" for name in self.names)

    def selected(self, source: str = "x") -> str:
        """Each column's value from ``source`` (an ``unnest``), arrays split back."""
        return ", ".join(
            f"string_to_array({source}.{_quoted(name)}, chr(31))::{self.types[name]}"
            if _is_array(self.types[name])
            else f"{source}.{_quoted(name)}"
            for name in self.names
        )

    def insert(self, alias: str = "t") -> str:
        return f"INSERT INTO {self.table} AS {alias} ({self.listed()})"

    def on_conflict(self, alias: str = "t", *, update: bool = True) -> str:
        """Update a row whose values changed, and only then (an unchanged row is not
        rewritten); ``DO NOTHING`` without ``update`` (the first write wins) or values."""
        target = f"ON CONFLICT ({self.listed(self.key)})"
        if not update or not self.values:
            return f"{target} DO NOTHING"
        updates = [f"{_quoted(name)} = EXCLUDED.{_quoted(name)}" for name in self.values]
        if self.touched is not None:
            updates.append(f"{_quoted(self.touched)} = now()")
        return (
            f"{target} DO UPDATE SET {', '.join(updates)}\n"
            f"WHERE ({self.listed(self.values, alias + '.')}) IS DISTINCT FROM ({self.listed(self.values, 'EXCLUDED.')})"
        )

    def upsert(self, *, update: bool = True) -> str:
        """The batch's rows (``arrays``) upserted on ``key`` (``on_conflict``)."""
        return f"{self.insert()}\nSELECT {self.selected()} FROM {self.unnest()}\n{self.on_conflict(update=update)}"

    def select(self, names: Sequence[str] | None = None) -> str:
        """``SELECT "a", ... FROM table`` (all columns, or ``names``)."""
        unknown = [name for name in names or () if name not in self.types]
        if unknown:
            raise ValueError(f"{self.table}: {unknown} are not columns of {self.row.__name__}")
        return f"SELECT {self.listed(names)} FROM {self.table}"

    def arrays(self, rows: Sequence[R]) -> list[list[Any]]:
        """The parameters of ``unnest``: one array per column, arrays joined."""
        return [
            [_joined(v) for v in map(getter, rows)] if joined else list(map(getter, rows))
            for getter, joined in zip(self._getters, self._arrays, strict=True)
        ]

    def arrays_of(self, columns: Mapping[str, Sequence[Any]]) -> list[Sequence[Any]]:
        """The parameters of ``unnest`` from arrays built column by column, named by column
        (for a batch too large to build a Row per value); arrays not joined."""
        if set(columns) != set(self.names):
            raise ValueError(f"{self.table}: arrays of {sorted(columns)}, columns are {sorted(self.names)}")
        return [columns[name] for name in self.names]

    def row_of(self, record: Mapping[str, Any]) -> R:
        """The Row of a record read with ``select()`` (by column name)."""
        return self.row(**record)
