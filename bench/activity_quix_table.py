"""The table the Quix Streams side of ``bench.activity`` writes (its own module, so the
sei-processor side runs without Quix Streams installed)."""

from __future__ import annotations

__all__ = ["TABLE", "CREATE_TABLE"]

TABLE = "bench_quix_user_minutes"
CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    user_id text NOT NULL,
    bucket timestamptz NOT NULL,
    event_type text NOT NULL,
    events integer NOT NULL,
    PRIMARY KEY (user_id, bucket, event_type)
)
"""
