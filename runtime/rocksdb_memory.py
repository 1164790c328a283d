"""RocksDB memory of the whole worker under one limit, however many table partitions it opens.

Faust opens one RocksDB database per table partition, each with its own block cache and
memtables: a worker with a dozen tables over 8 partitions holds about a hundred, and
their memtables fill with what is written (a rewritten value is a new entry until the
memtable is flushed), so the worker's memory grew with its write volume: 126 -> 368 MB in
bench.activity at 20,000 events, with 8 MiB buffers and caches per database.

``SharedMemoryStore`` is Faust's RocksDB store whose databases share one block cache of
``memory_mb`` and one ``WriteBufferManager`` that charges every memtable to that cache
(RocksDB flushes the largest memtables when together they pass half of it): a fixed
budget for the worker, whatever its tables, partitions and write rate. Registered under
Faust's ``rocksdb`` store name by :func:`use_shared_memory` (Faust picks stores by URL
scheme), so every table of the app uses it. Only the rocksdict driver (Faust's default)
can share them; python-rocksdb keeps Faust's per-database options.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

import orjson
import rocksdict
from faust import stores
from faust.stores.rocksdb import RocksDBOptions, Store

__all__ = ["SharedMemoryStore", "compact", "memory_in_use", "use_shared_memory"]

_MIB = 1024 * 1024


class _SharedMemory:
    """The worker's one cache and write buffer manager (made on first use)."""

    memory_bytes = 64 * _MIB
    _cache: rocksdict.Cache | None = None
    _manager: rocksdict.WriteBufferManager | None = None

    @classmethod
    def parts(cls) -> tuple[rocksdict.Cache, rocksdict.WriteBufferManager]:
        if cls._cache is None or cls._manager is None:
            cls._cache = rocksdict.Cache(cls.memory_bytes)
            cls._manager = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
                cls.memory_bytes // 2, False, cls._cache
            )
        return cls._cache, cls._manager


class SharedMemoryOptions(RocksDBOptions):
    """Faust's options (rocksdict driver) with the shared cache and write buffer manager."""

    def as_options(self) -> Any:
        if not self.use_rocksdict:
            return super().as_options()
        cache, manager = _SharedMemory.parts()
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_max_open_files(-1 if self.max_open_files is None else self.max_open_files)
        options.set_write_buffer_size(self.write_buffer_size)
        options.set_target_file_size_base(self.target_file_size_base)
        options.set_max_write_buffer_number(self.max_write_buffer_number)
        options.set_write_buffer_manager(manager)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, block_based=True)
        table.set_block_cache(cache)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        return options


class SharedMemoryStore(Store):
    """Faust's RocksDB store, its databases opened with :class:`SharedMemoryOptions`, and
    its encoded keys compact (``_encode_key``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rocksdb_options = SharedMemoryOptions(**(self.options or {}), use_rocksdict=self.use_rocksdict)
        # A str key under Faust's JSON codec encodes to orjson's bytes for it (a unit test
        # holds them equal): 0.1 µs instead of Faust's 2.5 µs through its codec registry,
        # paid for every read and write of a table.
        self._json_str_keys = self.key_serializer == "json"
        _stores.add(self)

    def _encode_key(self, key: Any) -> bytes:
        # Faust's JSON codec (orjson) hands back each key in a 4 KiB buffer whatever its
        # length, and the store's key index keeps the last TABLE_KEY_INDEX_SIZE (1,000) keys
        # of every table: 26-34 MB of a year's worker. A copy holds only the key's bytes.
        if self._json_str_keys and type(key) is str:
            return compact(orjson.dumps(key))
        return compact(super()._encode_key(key))

    def write_batch(self, partition: int, items: Iterable[tuple[bytes, bytes | None]]) -> bool:
        """Write encoded ``items`` (a value of None deletes) to the database of ``partition``
        in one RocksDB write batch: one call instead of a put per key, each with Faust's
        event lookup and key-index update. False (nothing written) without rocksdict."""
        if not self.use_rocksdict:
            return False
        batch = rocksdict.WriteBatch(raw_mode=True)
        key_index = self._key_index
        for key, value in items:
            if value is None:
                batch.delete(key)
                key_index.pop(key, None)
            else:
                batch.put(key, value)
        self._db_for_partition(partition).write(batch)
        return True


def compact(encoded: bytes) -> bytes:
    """``encoded`` in an object of its own length (``bytes(b)`` would return ``b`` itself)."""
    return bytes(memoryview(encoded))


_stores: weakref.WeakSet[SharedMemoryStore] = weakref.WeakSet()


def _table_readers() -> int:
    # Index and filter blocks of the open files, held outside the cache (RocksDB's estimate).
    total = 0
    for store in list(_stores):
        for db in list(getattr(store, "_dbs", {}).values()):
            try:
                total += db.property_int_value("rocksdb.estimate-table-readers-mem") or 0
            except Exception:  # a database closed meanwhile (a rebalance): not in use
                continue
    return total


def memory_in_use() -> dict[str, int]:
    """Bytes of RocksDB memory in use: ``block_cache`` (the whole shared cache, memtables
    included, as they are charged to it), ``memtables``, and ``table_readers`` (the open
    files' index and filter blocks, outside the budget); zeros before a table opened."""
    cache, manager = _SharedMemory._cache, _SharedMemory._manager
    if cache is None or manager is None:
        return {"block_cache": 0, "memtables": 0, "table_readers": 0}
    return {"block_cache": cache.get_usage(), "memtables": manager.get_usage(), "table_readers": _table_readers()}


def use_shared_memory(memory_mb: int) -> None:
    """Every ``rocksdb://`` table of the app shares ``memory_mb`` of RocksDB memory (module doc)."""
    _SharedMemory.memory_bytes = memory_mb * _MIB
    stores.STORES.aliases["rocksdb"] = f"{__name__}:SharedMemoryStore"
