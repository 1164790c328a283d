"""The RocksDB store: its encoded keys (Faust's key index keeps the last 1,000 of every
table), and the memory of the shared budget in use."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import faust

from runtime.rocksdb_memory import SharedMemoryStore, _SharedMemory, memory_in_use, use_shared_memory


def test_encoded_keys_take_their_length_not_a_4_kib_buffer(tmp_path: Path) -> None:
    use_shared_memory(_SharedMemory.memory_bytes // 2**20)  # as the app registers it
    app = faust.App("keys-test", store="rocksdb://", datadir=str(tmp_path), autodiscover=False)
    store = app.Table("entities", default=dict).data
    assert isinstance(store, SharedMemoryStore)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        keys = [store._encode_key(f"repository-{n}:deployment-{n}") for n in range(1_000)]
        per_key = (tracemalloc.get_traced_memory()[0] - before) / len(keys)
    finally:
        tracemalloc.stop()
    assert keys[7] == b'"repository-7:deployment-7"'
    assert per_key < 200, per_key  # orjson's own result: 4,098 bytes each


def test_the_memory_in_use_is_what_the_tables_wrote_and_read(tmp_path: Path) -> None:
    # processor_rocksdb_memory_bytes: what of ROCKSDB_MEMORY_MB the tables use (docs/state.md
    # splits a worker's RSS with it).
    from prometheus_client import CollectorRegistry

    from app.operating_metrics import OperatingMetrics

    use_shared_memory(_SharedMemory.memory_bytes // 2**20)
    app = faust.App("memory-test", store="rocksdb://", datadir=str(tmp_path), autodiscover=False)
    store = app.Table("values", default=dict).data
    registry = CollectorRegistry()
    OperatingMetrics(registry)
    before = memory_in_use()["memtables"]
    db = store._db_for_partition(0)
    for n in range(2_000):
        db[f"key-{n}".encode()] = b"v" * 1_000
    used = memory_in_use()
    assert used["memtables"] - before > 1_000_000
    assert used["block_cache"] >= used["memtables"]  # the memtables are charged to the cache
    assert registry.get_sample_value("processor_rocksdb_memory_bytes", {"part": "memtables"}) == used["memtables"]
    db.flush()  # a file now, whose index and filter blocks the open database holds
    assert memory_in_use()["table_readers"] > 0


def test_a_str_key_encodes_to_the_bytes_fausts_json_codec_gives(tmp_path: Path) -> None:
    # The quick path must find every key written before it (and by Faust's own reads).
    from faust.stores.base import SerializedStore

    use_shared_memory(_SharedMemory.memory_bytes // 2**20)
    app = faust.App("codec-test", store="rocksdb://", datadir=str(tmp_path), autodiscover=False)
    store = app.Table("entities", default=dict, key_type=str).data
    assert isinstance(store, SharedMemoryStore)
    keys = ["", "user-000123", 'a"b\\c', "é✓ 日本", "line\nbreak\ttab\x01", "emoji 🚀", "x" * 5_000]
    for key in keys:
        assert store._encode_key(key) == SerializedStore._encode_key(store, key), key
    assert store._encode_key(7) == SerializedStore._encode_key(store, 7)  # not a str: Faust's path


def test_a_write_batch_puts_and_deletes_in_its_partitions_database_only(tmp_path: Path) -> None:
    use_shared_memory(_SharedMemory.memory_bytes // 2**20)
    app = faust.App("batch-test", store="rocksdb://", datadir=str(tmp_path), autodiscover=False)
    store = app.Table("values", default=dict).data
    assert isinstance(store, SharedMemoryStore)
    assert store.write_batch(3, [(b'"a"', b"1"), (b'"b"', b"2"), (b'"c"', b"3")])
    assert store.write_batch(3, [(b'"a"', None), (b'"b"', b"22")])
    db = store._db_for_partition(3)
    assert db.get(b'"a"') is None and db[b'"b"'] == b"22" and db[b'"c"'] == b"3"
    assert store._db_for_partition(1).get(b'"b"') is None
