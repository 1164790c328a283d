"""Every store's `*Row` against the schema `alembic upgrade head` builds on a real PostgreSQL:
the columns a store writes exist with the Row's SQL types (PostgreSQL names both), and
every other column is one the database or an operator command fills."""

from __future__ import annotations

import asyncpg

from tests.unit.test_store_rows import NOT_WRITTEN, OWNERS

_SCHEMA = """
SELECT c.relname AS table_name, a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS sql_type,
       NOT a.attnotnull OR c.relkind NOT IN ('r', 'p') AS nullable
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY($1::text[])
  AND a.attnum > 0 AND NOT a.attisdropped
"""


async def test_store_rows_match_the_migrated_schema(agent_database: str) -> None:
    conn = await asyncpg.connect(agent_database)
    try:
        migrated: dict[str, dict[str, tuple[str, bool]]] = {}
        for r in await conn.fetch(_SCHEMA, list(OWNERS)):
            migrated.setdefault(r["table_name"], {})[r["column_name"]] = (r["sql_type"], r["nullable"])
        assert set(migrated) == set(OWNERS)
        for table, [(_, columns)] in OWNERS.items():
            assert set(migrated[table]) - NOT_WRITTEN[table] == set(columns.names), table
            for name, sql_type in columns.types.items():
                # PostgreSQL's own name for the type a store casts its parameters to.
                expected = await conn.fetchval("SELECT $1::regtype::text", sql_type)
                assert migrated[table][name][0] == expected, f"{table}.{name}"
            for name in columns.key:
                assert not migrated[table][name][1], f"{table}.{name} is a key column, NOT NULL"
    finally:
        await conn.close()
