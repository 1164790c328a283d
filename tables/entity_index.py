"""The two tables every day index shares (tables.day_index): entries per (kind, owner, day)
and spans per (kind, owner). Written only under ``acting_for`` an event of the owner's
partition, so each owner's entries live in the partition of its events."""

from __future__ import annotations

from tables.table import keyed_table

__all__ = ["entity_days", "entity_spans"]

# Coalesced: most batches rewrite the same days and spans; their writes reach RocksDB and
# the changelog once per offset commit (runtime.coalesced).
entity_days = keyed_table("entity_days", help="entity ids per (kind, owner, UTC day)", coalesced=True)
entity_spans = keyed_table(
    "entity_spans", help="first and last day with entries, per (kind, owner)", coalesced=True
)
