"""activity_error_pages and its per-minute totals view

The errors-by-page join's results (issue 24, docs/activity.md): one row per error of the
ingest topic that names a user, with the user's latest page view at most 60 s before it
(null page when there was none), keyed by the error (error_time, error_id, user_id), so a
result written again after a replay is the same row. Hypertable on error_time (1 year
retention, compressed after 7 days, segmented by partition like activity_page_minutes).
`activity_error_pages_total` is a plain view of errors and distinct users per minute and
page, for dashboards; GET /activity/errors-by-page counts over its range from the rows.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from models.timescale import drop_hypertable_policies, drop_relation, hypertable, when_timescale

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ERROR_PAGES_TOTAL_VIEW = """
CREATE VIEW activity_error_pages_total AS
SELECT date_trunc('minute', error_time) AS bucket, page_url,
       COUNT(*)::bigint AS errors, COUNT(DISTINCT user_id)::bigint AS users
FROM activity_error_pages
GROUP BY 1, 2
"""


def upgrade() -> None:
    op.create_table(
        "activity_error_pages",
        sa.Column("error_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("page_url", sa.Text()),
        sa.Column("page_view_time", sa.DateTime(timezone=True)),
        sa.Column("page_view_id", sa.Text()),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("error_time", "error_id", "user_id", name="activity_error_pages_pkey"),
    )
    op.execute(
        when_timescale(
            hypertable(
                "activity_error_pages",
                "error_time",
                retention="1 year",
                compress_after="7 days",
                segment_by="partition",
            )
        )
    )
    op.execute(ERROR_PAGES_TOTAL_VIEW)


def downgrade() -> None:
    op.execute(drop_relation("activity_error_pages_total"))
    op.execute(drop_hypertable_policies("activity_error_pages"))
    op.drop_table("activity_error_pages")  # with its chunks
