"""user_sessions, activity_minutes, activity_page_minutes and their totals views

The user-activity outputs (issue 24, docs/windowing.md), all hypertables on event time:

- `user_sessions` on `session_start` (1 year retention, compressed after 30 days, segmented
  by user_id), keyed by (user_id, session_start): a session is written once it closes, and
  a closed session never changes.
- `activity_minutes` and `activity_page_minutes` on `bucket` (1 year retention, compressed
  after 7 days): per-minute partials, one row per operator partition that counted them,
  keyed by (bucket, group, partition). The operator is keyed by user, so a user is counted
  on one partition only and the partials add up exactly; a replay rewrites a partial, never
  adds to it. `activity_minutes_total` and `activity_page_minutes_total` are plain views
  summing the partitions, for dashboards.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from models.timescale import drop_hypertable_policies, drop_relation, hypertable, when_timescale

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MINUTES_TOTAL_VIEW = """
CREATE VIEW activity_minutes_total AS
SELECT bucket, event_type, SUM(events)::bigint AS events, SUM(users)::bigint AS users
FROM activity_minutes
GROUP BY bucket, event_type
"""

PAGE_MINUTES_TOTAL_VIEW = """
CREATE VIEW activity_page_minutes_total AS
SELECT bucket, page_url, SUM(views)::bigint AS views
FROM activity_page_minutes
GROUP BY bucket, page_url
"""


def _bucket() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("bucket", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("session_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("session_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("page_views", sa.Integer(), nullable=False),
        sa.Column("pages", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("entry_page", sa.Text()),
        sa.Column("exit_page", sa.Text()),
        sa.Column("bounce", sa.Boolean(), nullable=False),
        sa.Column("client_session_ids", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("pages_truncated", sa.Boolean(), nullable=False),
        sa.Column("client_sessions_truncated", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("user_id", "session_start", name="user_sessions_pkey"),
    )
    op.create_table(
        "activity_minutes",
        _bucket(),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "event_type", "partition", name="activity_minutes_pkey"),
    )
    op.create_table(
        "activity_page_minutes",
        _bucket(),
        sa.Column("page_url", sa.Text(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "page_url", "partition", name="activity_page_minutes_pkey"),
    )
    op.execute(
        when_timescale(
            hypertable(
                "user_sessions",
                "session_start",
                retention="1 year",
                compress_after="30 days",
                segment_by="user_id",
            )
            + hypertable(
                "activity_minutes",
                "bucket",
                retention="1 year",
                compress_after="7 days",
                segment_by="event_type",
            )
            # URLs are too many to segment by; a minute's pages stay together by partition.
            + hypertable(
                "activity_page_minutes",
                "bucket",
                retention="1 year",
                compress_after="7 days",
                segment_by="partition",
            )
        )
    )
    op.execute(MINUTES_TOTAL_VIEW)
    op.execute(PAGE_MINUTES_TOTAL_VIEW)


def downgrade() -> None:
    op.execute(drop_relation("activity_page_minutes_total"))
    op.execute(drop_relation("activity_minutes_total"))
    for table in ("activity_page_minutes", "activity_minutes", "user_sessions"):
        op.execute(drop_hypertable_policies(table))
    op.drop_table("activity_page_minutes")  # with its chunks
    op.drop_table("activity_minutes")
    op.drop_table("user_sessions")
