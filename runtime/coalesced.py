"""A table whose writes reach RocksDB and the changelog once per offset commit, not once
per write.

A Faust table write costs a RocksDB put, a changelog record and its delivery callback, and
a read costs a RocksDB get and a decode. The commit day buckets are rewritten by every batch
that touches them: in bench.commits (100-message batches, commits arriving in time order)
a bucket is rewritten some thirty times within one commit interval, and those writes and
reads were 40 % of the worker's event loop.

``CoalescedTable`` keeps written values in memory (``pending``) until the consumer commits
offsets, and a bounded cache of values read. The rule that keeps the numbers right is
Faust's own at-least-once rule, unchanged: every offset commit is preceded by the flush
(``runtime.transport.SafeConsumer`` calls :func:`flush_pending` first), so the changelog holds
the effects of every committed message. A crash loses pending values together with the
offsets they belong to, and the messages are delivered again. RocksDB and the changelog
are written together, at the flush, as Faust writes them together per write: the local
store is never ahead of the changelog by more than Faust's own send window.

On a rebalance, pending values of partitions this worker gives up are dropped (their
messages are uncommitted and go to the partition's next owner, which reads the changelog)
and the read cache is emptied (recovery rewrites the store beneath it). Only reads made
for an event (an agent's, of its own partitions) fill the cache.

Values handed out are shared with the table: callers must not mutate a value they read or
set (copy, change, set), as every caller here does. A value may be kept decoded (an object
with ``to_record()``, e.g. a frozen dataclass): it is encoded from ``to_record()`` only
at the flush, and a read gets the object back until it is evicted from the read cache
(then the record from RocksDB: such a table's readers accept both).

``flush_batched`` (what the offset commit calls, ``flush_pending_batched``) encodes each
value once for RocksDB and the changelog and sends each changelog partition's records as
one record batch: Faust's ``send_soon`` per record went through its producer buffer, which
filled up on a flush of thousands of values and stalled the loop. RocksDB then remembers
the offset of the partition's last batch as the one it holds (its first record's: a
recovery reads the batch's records again, which set the values they hold). ``discard`` is the delete that waits
for the flush too (``del`` writes its tombstone at once, as Faust does): state that other
values of the same commit refer to (a closed window's tallies) goes with them.

**Keys born and discarded between two flushes.** A key that a read for an event found
nowhere (``_unstored``: not pending, not cached, not in the RocksDB of the event's
partition) and that is discarded for an event of the same partition before the next flush
never reached RocksDB or the changelog: the discard drops its pending value and writes no
tombstone. A worker catching up on a backlog opens and closes windows,
join candidates and index buckets within one commit interval; each cost a write and then a
tombstone in RocksDB and the changelog, kept until compaction.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, ItemsView, Iterator, KeysView, ValuesView
from functools import partial
from typing import Any

import faust
from faust.stores.base import SerializedStore
from faust.streams import current_event
from faust.types import TP, AppT, EventT

from runtime.event_context import acting_for
from runtime.log import get_logger

__all__ = ["CoalescedTable", "flush_pending", "flush_pending_batched", "READ_CACHE_KEYS"]

log = get_logger("sei.tables")

# Decoded values kept per table for reads, unless a table says otherwise: the buckets
# written within a few commit intervals fit; a day bucket of a busy repository decodes to
# tens of KB.
READ_CACHE_KEYS = 2_048
_DELETED = object()  # a pending delete (``discard``)
_ABSENT = object()  # no value (a read's answer)
_flushing = asyncio.Lock()


class CoalescedTable(faust.Table[Any, Any]):
    """A ``faust.Table`` with writes held until the next offset commit (module doc)."""

    def __init__(self, *args: Any, read_cache_keys: int = READ_CACHE_KEYS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_cache_keys = read_cache_keys
        # key -> (the event it was written for, value): the event routes the flush to the
        # RocksDB and changelog partition of that event, as a direct write would.
        self.pending: dict[Any, tuple[EventT[Any], Any]] = {}
        self.read_cache: OrderedDict[Any, Any] = OrderedDict()
        # Called with each value's encoded size at the flush (a metric), if set.
        self.value_sizes: Callable[[int], Any] | None = None
        # (partition, key) an agent's read found in no layer since the last flush (module doc).
        self._unstored: set[tuple[int, Any]] = set()

    # Reads: pending, then cache, then RocksDB.

    def __getitem__(self, key: Any) -> Any:
        value = self._lookup(key)
        return self.__missing__(key) if value is _ABSENT else value

    def get(self, key: Any, default: Any = None) -> Any:
        """``Mapping.get`` without a KeyError raised and caught (two, or three, before) for
        a key the table lacks: the activity operator reads one per new user, minute and
        index bucket."""
        value = self._lookup(key)
        if value is _ABSENT:
            return default if self.default is None else self.__missing__(key)
        return value

    def _lookup(self, key: Any) -> Any:
        """The value of ``key``, or ``_ABSENT``."""
        held = self.pending.get(key)
        if held is not None:
            return _ABSENT if held[1] is _DELETED else held[1]
        value = self.read_cache.get(key, _ABSENT)
        if value is not _ABSENT:
            return value
        self.on_key_get(key)
        try:
            value = self.data[key]  # one RocksDB read (Faust's own path makes two)
        except KeyError:
            event = current_event()
            if event is not None:  # an agent's read: of that event's partition's database
                self._unstored.add((event.message.partition, key))
            return _ABSENT
        if current_event() is not None:
            # Cached only for an agent, which reads its own partitions: a view may read a
            # standby copy, which the changelog keeps changing beneath a cache.
            self._remember(key, value)
        return value

    def __contains__(self, key: object) -> bool:
        held = self.pending.get(key)
        if held is not None:
            return held[1] is not _DELETED
        return key in self.read_cache or super().__contains__(key)

    def _remember(self, key: Any, value: Any) -> None:
        cache = self.read_cache
        if len(cache) >= self.read_cache_keys:
            cache.popitem(last=False)  # the oldest: O(1), unlike deleting a dict's first key
        cache[key] = value

    # Writes.

    def __setitem__(self, key: Any, value: Any) -> None:
        event = current_event()
        if event is None:
            raise TypeError(f"table {self.name!r}: set {key!r} from outside of stream iteration")
        partition = self.partition_for_key(key)
        assert partition is not None  # tables here are partitioned like their sources
        self.pending[key] = (event, value)
        self.read_cache.pop(key, None)
        self._maybe_set_key_ttl(key, partition)
        self._sensor_on_set(self, key, value)

    def __delitem__(self, key: Any) -> None:
        self.pending.pop(key, None)
        self.read_cache.pop(key, None)
        super().__delitem__(key)

    def discard(self, key: Any) -> None:
        """Delete ``key`` at the next flush, with the writes of the same commit."""
        event = current_event()
        if event is None:
            raise TypeError(f"table {self.name!r}: discard {key!r} from outside of stream iteration")
        self.read_cache.pop(key, None)
        if (event.message.partition, key) in self._unstored:  # never flushed: nothing to delete (module doc)
            self.pending.pop(key, None)
            return
        self.pending[key] = (event, _DELETED)

    def flush(self) -> int:
        """Write every pending value to RocksDB and its changelog; returns how many."""
        pending, self.pending = self.pending, {}
        self._unstored.clear()
        for key, (event, value) in pending.items():
            with acting_for(event):
                if value is _DELETED:
                    self._delete(key, event.message.partition)
                    continue
                plain = _plain(value)
                self.data[key] = plain
                self.send_changelog(event.message.partition, key, plain)
            self._remember(key, value)
        return len(pending)

    async def flush_batched(self) -> int:
        """``flush``, with the changelog records of each partition sent as one record batch
        (``send_batch``) instead of one Faust ``send_soon`` each (module doc); returns how
        many. Each value is encoded once, for RocksDB and the changelog alike."""
        if not isinstance(self.data, SerializedStore) or self.app.in_transaction:
            return self.flush()
        pending, self.pending = self.pending, {}
        self._unstored.clear()  # RocksDB holds every pending key before the first await below
        store = self.data
        records: dict[int, list[tuple[bytes, bytes | None]]] = {}
        events: dict[int, EventT[Any]] = {}  # one per partition: where a store without batches writes
        for key, (event, value) in pending.items():
            partition = event.message.partition
            key_bytes = store._encode_key(key)
            encoded = None if value is _DELETED else store._encode_value(_plain(value))
            if encoded is not None and self.value_sizes is not None:
                self.value_sizes(len(encoded))
            records.setdefault(partition, []).append((key_bytes, encoded))
            events.setdefault(partition, event)
            if value is not _DELETED:
                self._remember(key, value)
        write_batch = getattr(store, "write_batch", None)
        for partition, items in records.items():
            if write_batch is None or not write_batch(partition, items):
                _write_each(store, events[partition], items)
        producer = self.app.producer._ensure_producer()  # type: ignore[attr-defined]
        topic = self.changelog_topic.get_topic_name()
        for partition, items in records.items():
            future = None
            batch = producer.create_batch()
            for key_bytes, encoded in items:
                if batch.append(key=key_bytes, value=encoded, timestamp=None) is None:
                    await producer.send_batch(batch, topic, partition=partition)
                    batch = producer.create_batch()
                    batch.append(key=key_bytes, value=encoded, timestamp=None)
            future = await producer.send_batch(batch, topic, partition=partition)
            # RocksDB holds everything up to the last batch: recovery reads on from there
            # (its first offset; a record read again sets the value it already has).
            future.add_done_callback(partial(_persisted, store, TP(topic, partition)))
        return len(pending)

    def _delete(self, key: Any, partition: int) -> None:
        try:
            del self.data[key]
        except KeyError:
            return  # never flushed: nothing in RocksDB or the changelog to remove
        self.send_changelog(partition, key, None, value_serializer="raw")

    # Whole-table reads see what is pending.

    def __iter__(self) -> Iterator[Any]:
        self.flush()
        return super().__iter__()

    def __len__(self) -> int:
        self.flush()
        return int(super().__len__())

    def keys(self) -> KeysView[Any]:
        self.flush()
        return super().keys()

    def items(self) -> ItemsView[Any, Any]:
        self.flush()
        return super().items()

    def values(self) -> ValuesView[Any]:
        self.flush()
        return super().values()

    # Rebalances.

    async def on_rebalance(
        self, assigned: set[TP], revoked: set[TP], newly_assigned: set[TP], generation_id: int = 0
    ) -> None:
        # Source partitions only: a changelog partition may stay assigned as a standby.
        changelogs = self.app.tables.changelog_topics
        active_now = {tp.partition for tp in assigned if tp.topic not in changelogs}
        given_up = {tp.partition for tp in revoked if tp.topic not in changelogs} - active_now
        dropped = [key for key, (event, _) in self.pending.items() if event.message.partition in given_up]
        for key in dropped:
            del self.pending[key]
        if dropped:
            log.info("table.pending_dropped", table=self.name, keys=len(dropped), partitions=sorted(given_up))
        self.read_cache.clear()
        self._unstored.clear()  # recovery may write any key
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        self.read_cache.clear()
        self._unstored.clear()
        await super().on_recovery_completed(active_tps, standby_tps)


def flush_pending(app: AppT) -> int:
    """Flush every coalesced table of ``app`` (before its offsets are committed)."""
    return sum(table.flush() for table in app.tables.values() if isinstance(table, CoalescedTable))


async def flush_pending_batched(app: AppT) -> int:
    """``flush_pending`` with each table's changelog records sent in batches
    (``CoalescedTable.flush_batched``); the producer's flush after it waits for them."""
    flushed = 0
    # One flush at a time: the batches of an overlapping one could reach a changelog
    # partition before older values, which recovery would then apply last.
    async with _flushing:
        for table in list(app.tables.values()):
            if isinstance(table, CoalescedTable):
                flushed += await table.flush_batched()
    return flushed


def _plain(value: Any) -> Any:
    """What the table's serializer encodes: a value kept decoded gives its ``to_record()``."""
    to_record = getattr(value, "to_record", None)
    return value if to_record is None else to_record()


def _write_each(
    store: SerializedStore[Any, Any], event: EventT[Any], items: list[tuple[bytes, bytes | None]]
) -> None:
    """Write encoded ``items`` to ``store`` one key at a time, for ``event``'s partition (a
    store without write batches: memory, python-rocksdb)."""
    partition = event.message.partition
    with acting_for(event):
        for key_bytes, encoded in items:
            if encoded is None:
                _delete_in(store, key_bytes, partition)
            else:
                store._set(key_bytes, encoded)


def _delete_in(store: SerializedStore[Any, Any], key: bytes, partition: int) -> None:
    """Delete ``key`` from the database of ``partition``: every value of a coalesced table
    is written there, for an event of that partition (Faust's own delete looks in every
    partition's database for a key it has not read or written in this process)."""
    for_partition = getattr(store, "_db_for_partition", None)
    if for_partition is None:
        store._del(key)
        return
    for_partition(partition).delete(key)
    store._key_index.pop(key, None)  # type: ignore[attr-defined]


def _persisted(store: SerializedStore[Any, Any], tp: TP, future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is None:
        store.set_persisted_offset(tp, future.result().offset)
