"""SEI entities, metrics_daily, pull_requests_weekly_metrics

Tables: deployments, incidents, repositories, pull_requests, issues, issue_status_durations,
sprints, metrics_daily. Entity tables are upserted by natural key as their events arrive (a late or repeated event
updates the row). `deployments`, `incidents`, `repositories`, `issue_status_durations` and
`sprints` stay plain tables on TimescaleDB too: an entity's time can change with a later
event, and a hypertable's unique key would have to contain it. `pull_requests` and `issues`
are seed 000's hypertables on `created_at` (2 years / compressed after 90 days, and 5 years /
180 days), `metrics_daily` one on `metric_date`; their natural keys include that time, and
the processor deletes a row left under an old time when a later event corrects it.
`pull_requests_weekly_metrics` is seed 000's continuous aggregate on TimescaleDB, a plain
view with the same columns on PostgreSQL.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from models.timescale import (
    HAS_TIMESCALE,
    continuous_aggregate,
    drop_hypertable_policies,
    drop_relation,
    hypertable,
    when_timescale,
)

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PULL_REQUESTS_WEEKLY_QUERY = """
SELECT time_bucket('1 week', created_at) AS week,
       repository_id,
       COUNT(*) AS pr_count,
       AVG(review_time_hours) AS avg_review_time,
       PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY review_time_hours) AS median_review_time
FROM pull_requests
GROUP BY week, repository_id
"""

# PostgreSQL: the same weeks (Monday 00:00 UTC, time_bucket's default origin) as a view.
PULL_REQUESTS_WEEKLY_VIEW = """
CREATE VIEW pull_requests_weekly_metrics AS
SELECT date_trunc('week', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS week,
       repository_id,
       COUNT(*) AS pr_count,
       AVG(review_time_hours) AS avg_review_time,
       PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY review_time_hours) AS median_review_time
FROM pull_requests
GROUP BY 1, repository_id
"""

METRICS_DAILY_HYPERTABLE = (
    "SELECT create_hypertable('metrics_daily', 'metric_date', chunk_time_interval => INTERVAL '30 days', "
    "migrate_data => true, if_not_exists => true)"
)


def _timestamp(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _updated_at() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("repository_id", sa.Text(), nullable=False),
        sa.Column("deployment_id", sa.Text(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        _timestamp("started_at"),
        _timestamp("finished_at", nullable=False),
        sa.Column("commit_sha", sa.Text()),
        sa.Column("commit_shas", postgresql.ARRAY(sa.Text())),
        sa.Column("pull_request_numbers", postgresql.ARRAY(sa.Integer())),
        _updated_at(),
        sa.PrimaryKeyConstraint("repository_id", "deployment_id"),
    )
    op.create_index("ix_deployments_finished_at", "deployments", ["finished_at"])
    op.create_table(
        "incidents",
        sa.Column("repository_id", sa.Text(), nullable=False),
        sa.Column("incident_id", sa.Text(), nullable=False),
        sa.Column("title", sa.Text()),
        sa.Column("severity", sa.Text()),
        sa.Column("service", sa.Text()),
        _timestamp("opened_at"),
        _timestamp("resolved_at"),
        sa.Column("deployment_id", sa.Text()),
        _updated_at(),
        sa.PrimaryKeyConstraint("repository_id", "incident_id"),
    )
    op.create_index("ix_incidents_opened_at", "incidents", ["opened_at"])
    op.create_table(
        "repositories",
        sa.Column("repository_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text()),
        sa.Column("full_name", sa.Text()),
        sa.Column("default_branch", sa.Text()),
        sa.Column("team", sa.Text()),
        sa.Column("language", sa.Text()),
        sa.Column("archived", sa.Boolean()),
        _timestamp("last_event_at", nullable=False),
        _updated_at(),
        sa.PrimaryKeyConstraint("repository_id"),
    )
    op.create_index("ix_repositories_team", "repositories", ["team"])
    op.create_table(
        "pull_requests",
        sa.Column("repository_id", sa.Text(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        _timestamp("created_at", nullable=False),
        sa.Column("title", sa.Text()),
        sa.Column("author", sa.Text()),
        sa.Column("base_branch", sa.Text()),
        sa.Column("state", sa.Text(), nullable=False),
        _timestamp("first_commit_at"),
        _timestamp("first_review_at"),
        _timestamp("first_approval_at"),
        _timestamp("merged_at"),
        _timestamp("closed_at"),
        _timestamp("deployed_at"),
        sa.Column("merge_commit_sha", sa.Text()),
        sa.Column("commit_shas", postgresql.ARRAY(sa.Text())),
        sa.Column("reviews", postgresql.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")),
        *(
            sa.Column(f"{stage}_hours", sa.Float())
            for stage in ("coding", "pickup", "review", "deploy", "cycle_time", "review_time")
        ),
        _updated_at(),
        sa.PrimaryKeyConstraint("repository_id", "number", "created_at", name="pull_requests_pkey"),
    )
    op.create_index("ix_pull_requests_repository_merged", "pull_requests", ["repository_id", "merged_at"])
    op.create_table(
        "issues",
        sa.Column("issue_key", sa.Text(), nullable=False),
        _timestamp("created_at", nullable=False),
        sa.Column("project_key", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text()),
        sa.Column("issue_type", sa.Text()),
        sa.Column("status", sa.Text()),
        sa.Column("status_category", sa.Text()),
        sa.Column("assignee", sa.Text()),
        sa.Column("story_points", sa.Float()),
        sa.Column("sprint_id", sa.Text()),
        _timestamp("resolved_at"),
        sa.Column("cycle_time_days", sa.Float()),
        sa.Column("repository_id", sa.Text()),
        _updated_at(),
        sa.PrimaryKeyConstraint("issue_key", "created_at", name="issues_pkey"),
    )
    op.create_index("ix_issues_project_created", "issues", ["project_key", "created_at"])
    op.create_table(
        "issue_status_durations",
        sa.Column("issue_key", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("project_key", sa.Text(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        _updated_at(),
        sa.PrimaryKeyConstraint("issue_key", "status"),
    )
    op.create_index("ix_issue_status_durations_project", "issue_status_durations", ["project_key"])
    op.create_table(
        "sprints",
        sa.Column("project_key", sa.Text(), nullable=False),
        sa.Column("sprint_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text()),
        sa.Column("state", sa.Text()),
        _timestamp("start_date"),
        _timestamp("end_date"),
        _timestamp("complete_date"),
        sa.Column("committed_points", sa.Float()),
        sa.Column("completed_points", sa.Float()),
        sa.Column("completion_rate", sa.Float()),
        sa.Column("velocity", sa.Float()),
        _updated_at(),
        sa.PrimaryKeyConstraint("project_key", "sprint_id"),
    )
    op.create_table(
        "metrics_daily",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("metric_date", sa.Date(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        _updated_at(),
        sa.PrimaryKeyConstraint("scope", "subject", "metric", "metric_date", name="metrics_daily_pkey"),
        sa.CheckConstraint("scope IN ('repository', 'team')", name="metrics_daily_scope"),
    )
    op.execute(
        when_timescale(
            hypertable(
                "pull_requests",
                "created_at",
                retention="2 years",
                compress_after="90 days",
                segment_by="repository_id",
            )
            + hypertable(
                "issues",
                "created_at",
                retention="5 years",
                compress_after="180 days",
                segment_by="project_key",
            )
            + [METRICS_DAILY_HYPERTABLE],
        )
    )
    op.execute(weekly_metrics())


def weekly_metrics() -> str:
    """The continuous aggregate on TimescaleDB, the view elsewhere.

    Ordered-set aggregates (PERCENTILE_CONT) need a TimescaleDB whose continuous aggregates
    are finalized (2.7+); an older one refuses with feature_not_supported and gets the view.
    """
    statements = continuous_aggregate(
        "pull_requests_weekly_metrics", PULL_REQUESTS_WEEKLY_QUERY, refresh_window="90 days"
    )
    aggregate = "\n".join(f"            EXECUTE $sql${s}$sql$;" for s in statements)
    return f"""
DO $do$
BEGIN
    IF {HAS_TIMESCALE} THEN
        BEGIN
{aggregate}
        EXCEPTION WHEN feature_not_supported THEN
            RAISE NOTICE 'pull_requests_weekly_metrics: continuous aggregate refused (%), created as a view', SQLERRM;
            EXECUTE $sql${PULL_REQUESTS_WEEKLY_VIEW}$sql$;
        END;
    ELSE
        EXECUTE $sql${PULL_REQUESTS_WEEKLY_VIEW}$sql$;
    END IF;
END
$do$
"""


def downgrade() -> None:
    op.execute(drop_relation("pull_requests_weekly_metrics"))
    for table in ("metrics_daily", "issues", "pull_requests"):
        op.execute(drop_hypertable_policies(table))
    op.drop_table("metrics_daily")
    op.drop_table("sprints")
    op.drop_index("ix_issue_status_durations_project", table_name="issue_status_durations")
    op.drop_table("issue_status_durations")
    op.drop_table("issues")  # with its indexes (and chunks)
    op.drop_table("pull_requests")
    op.drop_index("ix_repositories_team", table_name="repositories")
    op.drop_table("repositories")
    op.drop_index("ix_incidents_opened_at", table_name="incidents")
    op.drop_table("incidents")
    op.drop_index("ix_deployments_finished_at", table_name="deployments")
    op.drop_table("deployments")
