"""One way to declare a table: keyed by str, partitioned like the source topics, with
RocksDB sized for a worker that holds many partitions.

Faust opens one RocksDB database per table partition with RocksDB-server defaults
(64 MiB write buffers, three of them, and a 2 GiB block cache each): on 10 tables x 8
partitions a worker's memory grows with the data it has written, 490 MB after 200,000
commits in bench.commits. Small memtables (``ROCKSDB_WRITE_BUFFER_MB`` each) and one
budget for all databases of the worker (``ROCKSDB_MEMORY_MB``: a shared block cache that
the memtables are charged to, runtime.rocksdb_memory) keep it flat.
"""

from __future__ import annotations

from typing import Any, cast

from faust.types import TableT

from app.main import app, settings
from runtime.coalesced import READ_CACHE_KEYS, CoalescedTable

__all__ = ["keyed_table"]

_MIB = 1024 * 1024


def rocksdb_options() -> dict[str, Any]:
    return {
        "write_buffer_size": settings.rocksdb_write_buffer_mb * _MIB,
        "max_write_buffer_number": 2,
    }


def keyed_table(
    name: str, help: str, *, coalesced: bool = False, read_cache_keys: int = READ_CACHE_KEYS
) -> TableT[str, Any]:
    """A table keyed by str over ``TOPIC_PARTITIONS`` partitions (co-partitioned with its
    source topics, so a key's state lives on the worker that reads its events).

    ``coalesced``: writes reach RocksDB and the changelog once per offset commit
    (runtime.coalesced), for tables rewritten by most batches; ``read_cache_keys``: how many
    values read it keeps decoded.
    """
    options = rocksdb_options() if settings.store.startswith("rocksdb") else None
    if not coalesced:
        return app.Table(name, partitions=settings.topic_partitions, key_type=str, help=help, options=options)
    table = CoalescedTable(
        app,
        name=name,
        beacon=app.tables.beacon,
        partitions=settings.topic_partitions,
        key_type=str,
        help=help,
        options=options,
        read_cache_keys=read_cache_keys,
    )
    return cast(TableT[str, Any], app.tables.add(table))
