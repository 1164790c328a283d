"""The RocksDB store's encoded keys: Faust's key index keeps the last 1,000 of every table."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import faust

from runtime.rocksdb_memory import SharedMemoryStore, _SharedMemory, use_shared_memory


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
