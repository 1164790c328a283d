"""User activity: the operator's tables (tables.activity_state has their values).

All are written only by agents.activity for events of the internal topic (keyed by
user_id), so each key lives in the partition of its events; every table is coalesced:
values reach RocksDB and the changelog together, at the offset commit, so after a crash
the tables and the committed offsets agree (a user's admitted ids never get ahead of the
tallies that counted them).

- ``activity_users``: user_id -> UserActivityState record;
- ``activity_partitions``: ``partition_key(p)`` -> PartitionActivityState record;
- ``activity_tallies``: ``tally_key(p, kind, minute, shard)`` -> WindowTallies record
  (``TYPES``: events and users per event type; ``PAGES``: views per page URL);
- ``activity_due``: ``due_key(p, bucket, shard)`` -> sorted user ids (the session index).
Keys other than users name their partition: a view reads them with ``reading_partition``,
and the in-memory store of the tests keeps all partitions in one map.
"""

from __future__ import annotations

from typing import Literal

from app.main import settings
from tables.table import keyed_table

__all__ = [
    "USER_READ_CACHE_KEYS",
    "activity_users",
    "activity_partitions",
    "activity_tallies",
    "activity_due",
    "TYPES",
    "PAGES",
    "partition_key",
    "tally_key",
    "due_key",
]

TallyKind = Literal["types", "pages"]
TYPES: TallyKind = "types"
PAGES: TallyKind = "pages"

# Users' values kept decoded for reads (ACTIVITY_USER_CACHE): a user read back from
# RocksDB costs a get and a decode (about 24 µs), a cached one nothing; but a cache smaller
# than the users active at once saves little, and each user held costs about 4 KB
# (docs/activity.md, "Performance").
USER_READ_CACHE_KEYS = settings.activity_user_cache

activity_users = keyed_table(
    "activity_users",
    help="per user: admitted ids, sessions, counted windows",
    coalesced=True,
    read_cache_keys=USER_READ_CACHE_KEYS,
)
activity_partitions = keyed_table(
    "activity_partitions",
    help="per internal partition: watermark, open minutes, session index",
    coalesced=True,
)
activity_tallies = keyed_table(
    "activity_tallies", help="per partition, minute and shard: event type and page tallies", coalesced=True
)
activity_due = keyed_table(
    "activity_due", help="per partition, close bucket and shard: users due", coalesced=True
)


def partition_key(partition: int) -> str:
    return f"p{partition}"


def tally_key(partition: int, kind: TallyKind, start: int, shard: int) -> str:
    return f"p{partition}:{kind}:{start}:{shard}"


def due_key(partition: int, bucket: int, shard: int) -> str:
    return f"p{partition}:{bucket}:{shard}"
