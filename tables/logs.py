"""Log anomaly detection: the tables (tables.anomaly has the logic and the values).

Both are written only by agents.logs for events of the ``logs`` topic (keyed by service),
so a service's state lives in the partition of its logs; both are coalesced: values reach
RocksDB and the changelog at the offset commit, so after a crash the detector's state and
the committed offsets agree, and the redelivered logs are scored again from the same state
to the same scores (the score is deterministic for a state and a log).

- ``log_detectors``: service -> ``LogServiceState`` (tables.log_state), kept decoded between
  offset commits and stored as its ``to_record()`` (a few KiB, bounded): a read gets the
  object or, from RocksDB, the record (``LogServiceState.of`` takes either);
- ``log_partitions``: ``partition_key(p)`` -> ``{"watermark": seconds, "services":
  {service: last log time}}``: the partition's event time, and the services whose silence
  the quiet check measures against it.
"""

from __future__ import annotations

from tables.table import keyed_table

__all__ = ["log_detectors", "log_partitions", "partition_key"]

log_detectors = keyed_table(
    "log_detectors", help="per service: anomaly baselines and forest masses", coalesced=True
)
log_partitions = keyed_table(
    "log_partitions", help="per logs partition: watermark and its services' last log times", coalesced=True
)


def partition_key(partition: int) -> str:
    return f"p{partition}"
