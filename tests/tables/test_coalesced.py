"""CoalescedTable: writes are held until the flush, reads see them, one changelog record
per key per flush, and a rebalance drops what belongs to partitions given up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import faust
import pytest
from faust.types import TP

from runtime.coalesced import CoalescedTable, flush_pending
from runtime.event_context import acting_for


@dataclass
class Message:
    partition: int
    topic: str = "git.commits"


@dataclass(eq=False)
class Event:
    message: Message


def event(partition: int) -> Any:
    return Event(Message(partition))


@pytest.fixture
def table() -> Any:
    app = faust.App("coalesced-test", store="memory://", topic_partitions=4)
    table = app.tables.add(
        CoalescedTable(app, name="days", partitions=4, key_type=str, beacon=app.tables.beacon)
    )
    sent: list[tuple[int, str, Any]] = []
    table.send_changelog = lambda partition, key, value, **_: sent.append((partition, key, value))  # the producer
    table._verify_source_topic_partitions = lambda topic: None  # no broker metadata here
    table.sent = sent
    return table


def test_writes_are_read_back_before_any_flush(table: Any) -> None:
    e = event(1)
    with acting_for(e):
        table["a"] = {"x": 1}
        table["a"] = {"x": 2}
    assert table["a"] == {"x": 2}
    assert table.get("a") == {"x": 2}
    assert "a" in table
    assert table.get("missing") is None
    assert table.sent == []
    assert "a" not in table.data  # the store is written at the flush, with the changelog


def test_flush_writes_each_key_once_to_store_and_its_event_partition(table: Any) -> None:
    with acting_for(event(1)):
        for n in range(30):
            table["a"] = {"n": n}
    with acting_for(event(3)):
        table["b"] = [1]
    assert flush_pending(table.app) == 2
    assert sorted(table.sent) == [(1, "a", {"n": 29}), (3, "b", [1])]
    assert table.data["a"] == {"n": 29}
    assert table.pending == {}
    assert flush_pending(table.app) == 0  # nothing twice


def test_whole_table_reads_include_pending_writes(table: Any) -> None:
    with acting_for(event(0)):
        table["a"] = 1
        table["b"] = 2
    assert sorted(table.keys()) == ["a", "b"]
    assert dict(table.items()) == {"a": 1, "b": 2}
    assert len(table) == 2


def test_setting_outside_an_event_is_refused(table: Any) -> None:
    with pytest.raises(TypeError, match="outside of stream iteration"):
        table["a"] = 1


async def test_rebalance_drops_pending_writes_of_partitions_given_up_only(table: Any) -> None:
    for partition, key in ((0, "kept"), (1, "given-up"), (2, "now-standby")):
        with acting_for(event(partition)):
            table[key] = partition
    changelog = table.changelog_topic.get_topic_name()
    revoked = {TP("git.commits", 1), TP("git.commits", 2), TP(changelog, 1)}
    # Partition 2's changelog stays assigned as a standby: its source partition is gone.
    assigned = {TP("git.commits", 0), TP(changelog, 0), TP(changelog, 2)}
    await table.on_rebalance(assigned, revoked, set())
    assert set(table.pending) == {"kept"}
    assert table.get("given-up") is None
    flush_pending(table.app)
    assert table.sent == [(0, "kept", 0)]


def test_a_key_found_nowhere_and_discarded_before_the_flush_writes_nothing(table: Any) -> None:
    """A window opened and closed within one commit interval: no write, no tombstone."""
    with acting_for(event(1)):
        assert table.get("window") is None  # the read that finds it in no layer
        table["window"] = {"n": 1}
        table["window"] = {"n": 2}
        table.discard("window")
        assert table.get("window") is None
    assert flush_pending(table.app) == 0
    assert table.sent == [] and "window" not in table.data


def test_a_key_flushed_or_never_read_is_discarded_with_a_tombstone(table: Any) -> None:
    with acting_for(event(1)):
        assert table.get("flushed") is None
        table["flushed"] = 1
        table["blind"] = 2  # written without a read: whether RocksDB holds it is unknown
    assert table.get("viewed") is None  # a view's read (no event) proves nothing either
    flush_pending(table.app)
    with acting_for(event(1)):
        table["viewed"] = 3
        table.discard("flushed")  # found nowhere before the last flush: stored since
        table.discard("blind")
        table.discard("viewed")
    assert set(table.pending) == {"flushed", "blind", "viewed"}  # each a delete to check at the flush
    table.sent.clear()
    flush_pending(table.app)
    assert sorted(table.sent) == [(1, "blind", None), (1, "flushed", None)]
    assert "flushed" not in table.data and "blind" not in table.data


def test_a_key_found_nowhere_in_one_partition_is_still_deleted_in_another(table: Any) -> None:
    """A read for an event looks in that event's partition's database only."""
    table.data["k"] = 7  # flushed earlier, for partition 2
    # What a RocksDB read for an event of partition 1 records (the memory store has one
    # database for all partitions, so a read here would find the key).
    table._unstored.add((1, "k"))
    with acting_for(event(2)):
        table.discard("k")
    flush_pending(table.app)
    assert table.sent == [(2, "k", None)] and "k" not in table.data


async def test_a_key_found_nowhere_before_a_rebalance_is_deleted_after_it(table: Any) -> None:
    """Recovery may write any key into RocksDB: what a read found nowhere before is not
    known to be absent after."""
    with acting_for(event(0)):
        assert table.get("k") is None
    await table.on_rebalance({TP("git.commits", 0)}, set(), set())
    table.data["k"] = 5  # recovered from the changelog
    with acting_for(event(0)):
        table.discard("k")
    flush_pending(table.app)
    assert table.sent == [(0, "k", None)] and "k" not in table.data


def test_only_reads_for_an_event_are_cached(table: Any) -> None:
    with acting_for(event(2)):
        table["a"] = 1
    flush_pending(table.app)
    table.read_cache.clear()
    table.data["a"] = 5  # a standby copy updated from the changelog, beneath the table
    assert table["a"] == 5
    assert table.read_cache == {}
    with acting_for(event(2)):
        assert table["a"] == 5
    assert dict(table.read_cache) == {"a": 5}


def test_a_table_keeps_as_many_values_read_as_it_was_given_the_oldest_out_first() -> None:
    app = faust.App("coalesced-cache-test", store="memory://", topic_partitions=4)
    table = app.tables.add(
        CoalescedTable(app, name="users", partitions=4, key_type=str, beacon=app.tables.beacon, read_cache_keys=3)
    )
    for n in range(5):
        table.data[f"u{n}"] = n
    with acting_for(event(1)):
        assert [table[f"u{n}"] for n in range(5)] == [0, 1, 2, 3, 4]
    assert list(table.read_cache) == ["u2", "u3", "u4"]


def test_the_activity_operators_user_tables_keep_activity_user_cache_users() -> None:
    from app.main import settings
    from tables.activity import USER_READ_CACHE_KEYS, activity_users
    from tables.activity_join import activity_joins

    assert USER_READ_CACHE_KEYS == settings.activity_user_cache
    assert cast(CoalescedTable, activity_users).read_cache_keys == USER_READ_CACHE_KEYS
    assert cast(CoalescedTable, activity_joins).read_cache_keys == USER_READ_CACHE_KEYS


def test_get_answers_as_getitem_does_from_every_layer(table: Any) -> None:
    """Pending, discarded, read cache, store and absent keys: ``get`` (which raises
    nothing for an absent key) and ``[]`` agree."""
    with acting_for(event(1)):
        table["stored"] = 1
        table["gone"] = 2
    flush_pending(table.app)
    with acting_for(event(1)):
        table["pending"] = 3
        table.discard("gone")
    table.read_cache.clear()
    with acting_for(event(1)):  # an agent's read: remembered
        assert table.get("stored") == 1 and "stored" in table.read_cache
        assert table.get("stored") == table["stored"] == 1
        assert table.get("pending") == table["pending"] == 3
        for key in ("gone", "absent"):
            assert table.get(key) is None and table.get(key, "d") == "d"
            with pytest.raises(KeyError):
                table[key]


class _Batch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes | None]] = []

    def append(self, *, key: bytes, value: bytes | None, timestamp: None) -> object:
        self.records.append((key, value))
        return self


class _Producer:
    """Stands for aiokafka's producer: the record batches the flush sends, per partition."""

    def __init__(self) -> None:
        self.sent: dict[int, list[tuple[bytes, bytes | None]]] = {}

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> Any:
        import asyncio

        self.sent.setdefault(partition, []).extend(batch.records)
        return asyncio.get_running_loop().create_future()


async def test_a_batched_flush_writes_rocksdb_and_the_changelog_alike(tmp_path: Any) -> None:
    from runtime.rocksdb_memory import _SharedMemory, use_shared_memory

    use_shared_memory(_SharedMemory.memory_bytes // 2**20)
    app = faust.App("coalesced-rocksdb", store="rocksdb://", datadir=str(tmp_path), topic_partitions=4)
    table = app.tables.add(
        CoalescedTable(app, name="users", partitions=4, key_type=str, beacon=app.tables.beacon)
    )
    table._verify_source_topic_partitions = lambda topic: None
    producer = _Producer()
    app.producer._ensure_producer = lambda: producer
    with acting_for(event(0)):
        table["kept"] = {"n": 1}
        table["gone"] = {"n": 2}
    with acting_for(event(2)):
        table["other"] = ["x", 3]
    assert await table.flush_batched() == 3
    with acting_for(event(0)):
        table["kept"] = {"n": 10}
        table.discard("gone")
        assert table.get("brief") is None
        table["brief"] = {"n": 3}  # born and discarded between two flushes: never sent
        table.discard("brief")
    assert await table.flush_batched() == 2
    db0, db2 = table.data._db_for_partition(0), table.data._db_for_partition(2)
    assert db0[b'"kept"'] == b'{"n":10}' and db0.get(b'"gone"') is None and db0.get(b'"brief"') is None
    assert db2[b'"other"'] == b'["x",3]' and db2.get(b'"kept"') is None
    assert producer.sent == {
        0: [(b'"kept"', b'{"n":1}'), (b'"gone"', b'{"n":2}'), (b'"kept"', b'{"n":10}'), (b'"gone"', None)],
        2: [(b'"other"', b'["x",3]')],
    }
    table.read_cache.clear()
    with acting_for(event(0)):
        assert table["kept"] == {"n": 10} and table.get("gone") is None
