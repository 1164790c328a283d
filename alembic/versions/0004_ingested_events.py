"""ingested_events and ingested_events_per_minute

`ingested_events` is seed 002's ClickHouse table as a hypertable on `timestamp` (1 year
retention, compressed after 30 days, segmented by event_type), keyed by (id, timestamp).
`ingested_events_per_minute` counts events, flagged events and the mean quality score per
minute, event_type and source: a real-time continuous aggregate on TimescaleDB, a plain
view with the same columns on PostgreSQL.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from models.timescale import (
    continuous_aggregate,
    drop_hypertable_policies,
    drop_relation,
    hypertable,
    when_timescale,
)

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AGGREGATE_COLUMNS = """
       event_type,
       source,
       COUNT(*) AS events,
       COUNT(*) FILTER (WHERE quality_flagged) AS flagged,
       AVG(quality_score) AS mean_quality_score
FROM ingested_events
GROUP BY minute, event_type, source
"""
PER_MINUTE_QUERY = "SELECT time_bucket('1 minute', \"timestamp\") AS minute," + _AGGREGATE_COLUMNS
PER_MINUTE_VIEW = (
    "CREATE VIEW ingested_events_per_minute AS "
    "SELECT date_trunc('minute', \"timestamp\") AS minute," + _AGGREGATE_COLUMNS
)


def upgrade() -> None:
    op.create_table(
        "ingested_events",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("validation_status", sa.Text(), nullable=False),
        sa.Column("quality_score", sa.Float(), nullable=False),
        sa.Column("quality_flagged", sa.Boolean(), nullable=False),
        sa.Column("quality", postgresql.JSONB(), nullable=False),
        sa.Column("schema_version", sa.Integer()),
        sa.Column("encoding", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", "timestamp", name="ingested_events_pkey"),
        sa.CheckConstraint(
            "validation_status IN ('valid', 'warned')", name="ingested_events_validation_status"
        ),
        sa.CheckConstraint("encoding IN ('json', 'avro')", name="ingested_events_encoding"),
    )
    op.create_index("ix_ingested_events_type_time", "ingested_events", ["event_type", "timestamp"])
    op.create_index("ix_ingested_events_source_time", "ingested_events", ["source", "timestamp"])
    op.execute(
        when_timescale(
            hypertable(
                "ingested_events",
                "timestamp",
                retention="1 year",
                compress_after="30 days",
                segment_by="event_type",
            )
            + continuous_aggregate("ingested_events_per_minute", PER_MINUTE_QUERY, refresh_window="7 days"),
            otherwise=[PER_MINUTE_VIEW],
        )
    )


def downgrade() -> None:
    op.execute(drop_relation("ingested_events_per_minute"))
    op.execute(drop_hypertable_policies("ingested_events"))
    op.drop_table("ingested_events")  # with its indexes (and chunks)
