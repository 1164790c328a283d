"""agents.entity_batch.handle_entity_batch, the one batch routine of the entity agents, on
a toy family: plain dicts for its table and its day index, a real table in PostgreSQL for
its rows.
Every failure path, the dead letters in the batch's transaction, nothing acked (raised to
the loop) that is not durable, and redelivery changing nothing."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg
import orjson
import pytest
from faust.types import EventT
from faust.types.tuples import Message
from pydantic import BaseModel

from agents.entity_batch import Applied, EntityFamily, handle_entity_batch
from tables.day_index import DayIndex

DAY = "2026-01-05"  # the day every toy is listed under


class Toy(BaseModel):
    owner: str
    item: str
    value: int


async def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


class ToyFamily:
    """A family whose table maps item -> value, listed by owner in a day index, and whose
    rows go to ``toy_rows``; its hooks can be told to fail."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.topic = f"toy-{uuid.uuid4().hex[:8]}"
        self.table: dict[str, int] = {}
        self.index = DayIndex({}, {}, "toy")
        self.finished: list[dict[str, Any]] = []
        self.bad_apply: set[str] = set()
        self.bad_change: set[str] = set()
        self.write_raises: Exception | None = None
        self.offset = 0

    def apply(self, item: str, changes: list[tuple[str, int]]) -> Applied:
        owner = changes[0][0]
        value = max(v for _, v in changes)
        if item in self.bad_apply:
            raise RuntimeError(f"a bug met by {item}")
        changed = self.table.get(item) != value
        if changed:
            self.table[item] = value
        return Applied([(item, value)], changed, owner=owner, days=(DAY,))

    def change_of(self, toy: Toy) -> tuple[str, tuple[str, int]]:
        if toy.item in self.bad_change:
            raise OverflowError("date value out of range")
        return toy.item, (toy.owner, toy.value)

    async def write(self, conn: asyncpg.Connection, applied: Mapping[str, Applied]) -> None:
        await conn.executemany(
            "INSERT INTO toy_rows (topic, item, value) VALUES ($1, $2, $3) "
            "ON CONFLICT (topic, item) DO UPDATE SET value = excluded.value",
            [(self.topic, item, value) for outcome in applied.values() for item, value in outcome.rows],
        )
        if self.write_raises is not None:
            raise self.write_raises

    async def finish(self, applied: Mapping[str, Applied]) -> None:
        # Runs only once the batch's rows are durable: they are readable from another connection.
        stored = await fetch(self.url, "SELECT item FROM toy_rows WHERE topic = $1", self.topic)
        self.finished.append({"changed": sorted(k for k, o in applied.items() if o.changed), "stored": len(stored)})

    def listed(self) -> dict[str, list[str]]:
        """Each owner's entries, as the index lists them."""
        return {owner: sorted(self.index.entries(owner)) for owner in sorted(self.index.owners())}

    def family(self) -> EntityFamily[Toy, tuple[str, int]]:
        return EntityFamily(
            name="toys",
            model=Toy,
            key_field="owner",
            key_of=lambda toy: toy.owner,
            change_of=self.change_of,
            apply=self.apply,
            write=self.write,
            rows_written=lambda applied: {"toy_rows": len(applied)},
            index=self.index,
            finish=self.finish,
        )

    def events(self, app: Any, *toys: tuple[str, str, int] | bytes) -> list[EventT]:
        out = []
        for toy in toys:
            if isinstance(toy, bytes):
                key, value = b"o1", toy
            else:
                key, value = toy[0].encode(), orjson.dumps({"owner": toy[0], "item": toy[1], "value": toy[2]})
            message = Message(self.topic, 0, self.offset, 0.0, 0, [], key, value, None)
            self.offset += 1
            out.append(app.create_event(key, value, [], message))
        return out

    async def letters(self) -> list[tuple[int, str]]:
        rows = await fetch(
            self.url, 'SELECT "offset", error_reason FROM dead_letters WHERE topic = $1 ORDER BY 1', self.topic
        )
        return [(r["offset"], r["error_reason"]) for r in rows]

    async def rows(self) -> dict[str, int]:
        rows = await fetch(self.url, "SELECT item, value FROM toy_rows WHERE topic = $1", self.topic)
        return {r["item"]: r["value"] for r in rows}


@pytest.fixture
async def toys(app: Any, agent_database: str) -> ToyFamily:
    await ensure_table(agent_database)
    return ToyFamily(agent_database)


async def ensure_table(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS toy_rows (topic text, item text, value int, PRIMARY KEY (topic, item))"
        )
    finally:
        await conn.close()


async def test_a_batch_applies_writes_indexes_and_finishes_after_the_write(app: Any, toys: ToyFamily) -> None:
    batch = toys.events(app, ("o1", "a", 1), ("o1", "b", 2), ("o2", "c", 3), ("o1", "a", 5))
    await handle_entity_batch(batch, toys.family())
    assert toys.table == {"a": 5, "b": 2, "c": 3}
    assert await toys.rows() == {"a": 5, "b": 2, "c": 3}
    assert toys.listed() == {"o1": ["a", "b"], "o2": ["c"]}
    assert toys.finished == [{"changed": ["a", "b", "c"], "stored": 3}]
    assert await toys.letters() == []


async def test_each_failure_costs_its_own_events_and_the_rest_is_written_with_the_dead_letters(
    app: Any, toys: ToyFamily
) -> None:
    toys.bad_change.add("overflow")
    toys.bad_apply.add("buggy")
    toys.table["buggy"] = 7  # a failed apply leaves the entry as it was
    batch = toys.events(
        app,
        ("o1", "a", 1),  # 0
        b"{not json",  # 1: decode
        ("o1", "overflow", 2),  # 2: the change's derivation raises
        ("o1", "buggy", 3),  # 3: apply raises for the entity
        ("o1", "buggy", 4),  # 4: ... costing all its events of the batch
        ("o1", "b", 5),  # 5
        orjson.dumps({"owner": "o2", "item": "x", "value": 1}),  # 6: keyed o1, says o2: wrong key
    )
    await handle_entity_batch(batch, toys.family())
    assert await toys.rows() == {"a": 1, "b": 5}
    assert toys.table == {"a": 1, "b": 5, "buggy": 7}
    assert toys.listed() == {"o1": ["a", "b"]}
    assert await toys.letters() == [
        (1, "invalid_json"),
        (2, "processing_error"),
        (3, "processing_error"),
        (4, "processing_error"),
        (6, "wrong_key"),
    ]


async def test_a_write_that_fails_raises_and_keeps_neither_rows_nor_dead_letters(app: Any, toys: ToyFamily) -> None:
    """The loop acks only what returned: a failed write raises (not acked, retried), and its
    dead letters are rolled back with its rows: the retry stores both once."""
    batch = toys.events(app, ("o1", "a", 1), b"[]")
    toys.write_raises = asyncpg.exceptions.CheckViolationError("refused")
    with pytest.raises(asyncpg.exceptions.CheckViolationError):
        await handle_entity_batch(batch, toys.family())
    assert await toys.rows() == {} and await toys.letters() == [] and toys.finished == []
    toys.write_raises = None
    await handle_entity_batch(batch, toys.family())  # the retry, as the agent loop does it
    assert await toys.rows() == {"a": 1}
    assert await toys.letters() == [(1, "not_an_object")]
    assert len(toys.finished) == 1


async def test_redelivery_changes_nothing_and_completes_a_lost_index_entry(app: Any, toys: ToyFamily) -> None:
    batch = toys.events(app, ("o1", "a", 1), ("o1", "b", 2), b"broken")
    await handle_entity_batch(batch, toys.family())
    before = (dict(toys.table), await toys.rows(), await toys.letters())
    toys.index.days[toys.index.day_key("o1", DAY)] = ["a"]  # a crash between the entity's write and the index's
    await handle_entity_batch(batch, toys.family())
    assert (toys.table, await toys.rows(), await toys.letters()) == before
    assert toys.listed() == {"o1": ["a", "b"]}
    assert toys.finished[-1]["changed"] == []  # nothing changed: no projection marks
