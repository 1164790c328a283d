"""The errors-by-page join's tables (tables.activity_join_state has their values).

Written only by the activity operator (agents.activity_join, for events of the internal
topic keyed by user_id), coalesced like the activity tables and stored at the same moment,
after the batch's rows are committed (docs/activity.md):

- ``activity_joins``: user_id -> JoinState record (pending errors, recent page views);
- ``activity_join_partitions``: ``partition_key(p)`` -> PartitionJoinState record;
- ``activity_join_due``: ``join_due_key(p, bucket, shard)`` -> sorted user ids (the index
  of users whose state next changes in that bucket).
"""

from __future__ import annotations

from tables.activity import USER_READ_CACHE_KEYS
from tables.table import keyed_table

__all__ = ["activity_joins", "activity_join_partitions", "activity_join_due", "join_due_key"]

activity_joins = keyed_table(
    "activity_joins",
    help="per user: pending errors and the page views they may match",
    coalesced=True,
    read_cache_keys=USER_READ_CACHE_KEYS,
)
activity_join_partitions = keyed_table(
    "activity_join_partitions",
    help="per internal partition: the ingest inputs' markers, the join's watermark, its due index",
    coalesced=True,
)
activity_join_due = keyed_table(
    "activity_join_due",
    help="per partition, due bucket and shard: users whose join state is due",
    coalesced=True,
)


def join_due_key(partition: int, bucket: int, shard: int) -> str:
    return f"p{partition}:{bucket}:{shard}"
