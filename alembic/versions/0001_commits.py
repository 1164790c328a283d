"""commits and commits_daily_stats

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from models.timescale import (
    ENABLE_EXTENSION,
    continuous_aggregate,
    drop_hypertable_policies,
    drop_relation,
    hypertable,
    when_timescale,
)

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMMITS_DAILY_QUERY = """
SELECT time_bucket('1 day', committed_at) AS day,
       repository_id,
       COUNT(*) AS commit_count,
       SUM(additions) AS total_additions,
       SUM(deletions) AS total_deletions
FROM commits
GROUP BY day, repository_id
"""

# Without TimescaleDB the processor maintains the same numbers in a table (upserts).
COMMITS_DAILY_TABLE = """
CREATE TABLE commits_daily_stats (
    repository_id text NOT NULL,
    day timestamptz NOT NULL,
    commit_count bigint NOT NULL,
    total_additions bigint,
    total_deletions bigint,
    PRIMARY KEY (repository_id, day)
)
"""


def upgrade() -> None:
    op.execute(ENABLE_EXTENSION)
    op.create_table(
        "commits",
        sa.Column("repository_id", sa.Text(), nullable=False),
        sa.Column("sha", sa.Text(), nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author_email", sa.Text()),
        sa.Column("message", sa.Text()),
        sa.Column("files_changed", sa.Integer()),
        sa.Column("additions", sa.Integer()),
        sa.Column("deletions", sa.Integer()),
        sa.Column("pull_request_number", sa.Integer()),
        sa.Column("source", sa.Text()),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("repository_id", "sha", "committed_at", name="commits_pkey"),
    )
    op.create_index("ix_commits_repository_time", "commits", ["repository_id", "committed_at"])
    op.execute(
        when_timescale(
            hypertable(
                "commits",
                "committed_at",
                retention="2 years",
                compress_after="90 days",
                segment_by="repository_id",
            )
            + continuous_aggregate("commits_daily_stats", COMMITS_DAILY_QUERY, refresh_window="90 days"),
            otherwise=[COMMITS_DAILY_TABLE],
        )
    )


def downgrade() -> None:
    # The aggregate first (it depends on commits), then the policies, then the table;
    # DROP TABLE takes the indexes and, on TimescaleDB, the chunks with it.
    op.execute(drop_relation("commits_daily_stats"))
    op.execute(drop_hypertable_policies("commits"))
    op.drop_table("commits")
