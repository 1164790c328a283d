"""logs and log_anomalies

The log stream's outputs (issue 25, docs/anomalies.md), hypertables on event time:

- `logs` on `created_at` (the log's own timestamp, as seed 004 stores it; 30 days retention,
  compressed after 2 days, segmented by service), keyed by (service, created_at, log_key):
  a duplicate line (same service, timestamp, message and request id) is stored once. A
  partial index finds a service's anomalous lines.
- `log_anomalies` on `at` (1 year retention, compressed after 30 days, segmented by
  service): every flag, a log over the threshold or a service gone quiet; incidents are
  read from it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from models.timescale import drop_hypertable_policies, hypertable, when_timescale

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "logs",
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log_key", sa.Text(), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("latency_ms", sa.Float()),
        sa.Column("anomaly_score", sa.Float(), nullable=False),
        sa.Column("is_anomaly", sa.Boolean(), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("score_source", sa.Text(), nullable=False),
        sa.Column("trace_id", sa.Text()),
        sa.Column("request_id", sa.Text()),
        sa.Column("host", sa.Text()),
        sa.Column("attributes", postgresql.JSONB()),
        sa.PrimaryKeyConstraint("service", "created_at", "log_key", name="logs_pkey"),
    )
    op.create_index(
        "logs_anomalies_idx", "logs", ["service", "created_at"], postgresql_where=sa.text("is_anomaly")
    )
    op.create_table(
        "log_anomalies",
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("anomaly_key", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("parts", postgresql.JSONB(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("score_source", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("service", "at", "anomaly_key", name="log_anomalies_pkey"),
    )
    op.execute(
        when_timescale(
            hypertable(
                "logs", "created_at", retention="30 days", compress_after="2 days", segment_by="service"
            )
            + hypertable(
                "log_anomalies", "at", retention="1 year", compress_after="30 days", segment_by="service"
            )
        )
    )


def downgrade() -> None:
    for table in ("log_anomalies", "logs"):
        op.execute(drop_hypertable_policies(table))
    op.drop_table("log_anomalies")  # with its chunks
    op.drop_index("logs_anomalies_idx", table_name="logs")
    op.drop_table("logs")
