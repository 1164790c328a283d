"""SQLAlchemy declarations of the database tables (`*Table`): the schema alembic migrates to
and autogenerate compares with. Rows are written and read by `stores/`, one module per family."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedColumn, mapped_column

__all__ = [
    "Base",
    "CommitsTable",
    "CommitsDailyStatsTable",
    "DeadLettersTable",
    "DeploymentsTable",
    "IncidentsTable",
    "RepositoriesTable",
    "PullRequestsTable",
    "IssuesTable",
    "IssueStatusDurationsTable",
    "SprintsTable",
    "MetricsDailyTable",
    "IngestedEventsTable",
    "UserSessionsTable",
    "ActivityMinutesTable",
    "ActivityPageMinutesTable",
    "LogsTable",
    "LogAnomaliesTable",
    "ActivityErrorPagesTable",
    "TIMESCALE_MANAGED",
]

# Relations that TimescaleDB builds as continuous aggregates (views) and plain
# PostgreSQL as tables: the migrations create them, autogenerate leaves them alone.
TIMESCALE_MANAGED = frozenset({"commits_daily_stats"})


class Base(DeclarativeBase):
    pass


class CommitsTable(Base):
    """One commit; hypertable on committed_at (2 years retention, compressed after 90 days)."""

    __tablename__ = "commits"
    __table_args__ = (Index("ix_commits_repository_time", "repository_id", "committed_at"),)

    repository_id: Mapped[str] = mapped_column(Text, primary_key=True)
    sha: Mapped[str] = mapped_column(Text, primary_key=True)
    committed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    author_email: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    files_changed: Mapped[int | None] = mapped_column(Integer)
    additions: Mapped[int | None] = mapped_column(Integer)
    deletions: Mapped[int | None] = mapped_column(Integer)
    pull_request_number: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(Text)
    ingested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class CommitsDailyStatsTable(Base):
    """Commits per repository per UTC day (seed 000's continuous aggregate)."""

    __tablename__ = "commits_daily_stats"

    repository_id: Mapped[str] = mapped_column(Text, primary_key=True)
    day: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    commit_count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    total_additions: Mapped[int | None] = mapped_column(BigInteger)
    total_deletions: Mapped[int | None] = mapped_column(BigInteger)


class DeadLettersTable(Base):
    """A message no agent could process, kept exactly with its error and coordinates."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        Index("ix_dead_letters_topic_failed_at", "topic", "failed_at"),
        Index("ix_dead_letters_error_type", "error_type"),
    )

    dlq_id: Mapped[str] = mapped_column(Text, primary_key=True)
    topic: Mapped[str] = mapped_column(Text, nullable=False)
    partition: Mapped[int] = mapped_column(Integer, nullable=False)
    offset: Mapped[int] = mapped_column(BigInteger, nullable=False)
    message_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    original: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    headers: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    error_type: Mapped[str] = mapped_column(Text, nullable=False)
    error_reason: Mapped[str] = mapped_column(Text, nullable=False)
    error_message: Mapped[str] = mapped_column(Text, nullable=False)
    traceback: Mapped[str | None] = mapped_column(Text)
    retry_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replay_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")


class DeploymentsTable(Base):
    """One deployment (latest event by finished_at), all environments and statuses."""

    __tablename__ = "deployments"
    __table_args__ = (Index("ix_deployments_finished_at", "finished_at"),)

    repository_id: Mapped[str] = mapped_column(Text, primary_key=True)
    deployment_id: Mapped[str] = mapped_column(Text, primary_key=True)
    environment: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    commit_sha: Mapped[str | None] = mapped_column(Text)
    commit_shas: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    pull_request_numbers: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class IncidentsTable(Base):
    """One incident, its fields merged from its events (latest non-null value wins)."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_opened_at", "opened_at"),)

    repository_id: Mapped[str] = mapped_column(Text, primary_key=True)
    incident_id: Mapped[str] = mapped_column(Text, primary_key=True)
    title: Mapped[str | None] = mapped_column(Text)
    severity: Mapped[str | None] = mapped_column(Text)
    service: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deployment_id: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


def _updated_at() -> MappedColumn[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class RepositoriesTable(Base):
    """One repository: its latest ``repository_updated`` (team, default branch, ...)."""

    __tablename__ = "repositories"
    __table_args__ = (Index("ix_repositories_team", "team"),)

    repository_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    full_name: Mapped[str | None] = mapped_column(Text)
    default_branch: Mapped[str | None] = mapped_column(Text)
    team: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(Text)
    archived: Mapped[bool | None] = mapped_column(Boolean)
    last_event_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = _updated_at()


class PullRequestsTable(Base):
    """One pull request with its review timeline and stage durations in hours; hypertable on
    created_at (2 years retention, compressed after 90 days)."""

    __tablename__ = "pull_requests"
    __table_args__ = (
        PrimaryKeyConstraint("repository_id", "number", "created_at", name="pull_requests_pkey"),
        Index("ix_pull_requests_repository_merged", "repository_id", "merged_at"),
    )

    repository_id: Mapped[str] = mapped_column(Text)
    number: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    title: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    base_branch: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text, nullable=False)
    first_commit_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_review_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_approval_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    merged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deployed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    merge_commit_sha: Mapped[str | None] = mapped_column(Text)
    commit_shas: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    reviews: Mapped[list[dict[str, str]]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
    coding_hours: Mapped[float | None] = mapped_column(Float)
    pickup_hours: Mapped[float | None] = mapped_column(Float)
    review_hours: Mapped[float | None] = mapped_column(Float)
    deploy_hours: Mapped[float | None] = mapped_column(Float)
    cycle_time_hours: Mapped[float | None] = mapped_column(Float)
    review_time_hours: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = _updated_at()


class IssuesTable(Base):
    """One Jira issue's latest snapshot and cycle time; hypertable on created_at (5 years
    retention, compressed after 180 days)."""

    __tablename__ = "issues"
    __table_args__ = (
        PrimaryKeyConstraint("issue_key", "created_at", name="issues_pkey"),
        Index("ix_issues_project_created", "project_key", "created_at"),
    )

    issue_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    project_key: Mapped[str] = mapped_column(Text, nullable=False)
    summary: Mapped[str | None] = mapped_column(Text)
    issue_type: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(Text)
    status_category: Mapped[str | None] = mapped_column(Text)
    assignee: Mapped[str | None] = mapped_column(Text)
    story_points: Mapped[float | None] = mapped_column(Float)
    sprint_id: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cycle_time_days: Mapped[float | None] = mapped_column(Float)
    repository_id: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = _updated_at()


class IssueStatusDurationsTable(Base):
    """Seconds an issue spent in one status (a status re-entered adds up)."""

    __tablename__ = "issue_status_durations"
    __table_args__ = (Index("ix_issue_status_durations_project", "project_key"),)

    issue_key: Mapped[str] = mapped_column(Text, primary_key=True)
    status: Mapped[str] = mapped_column(Text, primary_key=True)
    project_key: Mapped[str] = mapped_column(Text, nullable=False)
    seconds: Mapped[float] = mapped_column(Float, nullable=False)
    updated_at: Mapped[datetime] = _updated_at()


class SprintsTable(Base):
    """One sprint with its committed and completed points, completion rate and velocity."""

    __tablename__ = "sprints"

    project_key: Mapped[str] = mapped_column(Text, primary_key=True)
    sprint_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(Text)
    start_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    complete_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    committed_points: Mapped[float | None] = mapped_column(Float)
    completed_points: Mapped[float | None] = mapped_column(Float)
    completion_rate: Mapped[float | None] = mapped_column(Float)
    velocity: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = _updated_at()


class MetricsDailyTable(Base):
    """One additive metric of one repository or team on one UTC day (tables.daily_metrics);
    hypertable on metric_date."""

    __tablename__ = "metrics_daily"
    __table_args__ = (
        PrimaryKeyConstraint("scope", "subject", "metric", "metric_date", name="metrics_daily_pkey"),
        CheckConstraint("scope IN ('repository', 'team')", name="metrics_daily_scope"),
    )

    scope: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    metric: Mapped[str] = mapped_column(Text)
    metric_date: Mapped[date] = mapped_column(Date)
    value: Mapped[float] = mapped_column(Float, nullable=False)
    updated_at: Mapped[datetime] = _updated_at()


class IngestedEventsTable(Base):
    """A validated generic event (seed 002 IngestEvent, agents/ingest.py); hypertable on
    timestamp. Immutable once stored: the first delivery of an (id, timestamp) wins."""

    __tablename__ = "ingested_events"
    __table_args__ = (
        PrimaryKeyConstraint("id", "timestamp", name="ingested_events_pkey"),
        CheckConstraint("validation_status IN ('valid', 'warned')", name="ingested_events_validation_status"),
        CheckConstraint("encoding IN ('json', 'avro')", name="ingested_events_encoding"),
        Index("ix_ingested_events_type_time", "event_type", "timestamp"),
        Index("ix_ingested_events_source_time", "source", "timestamp"),
    )

    id: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    event_type: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    validation_status: Mapped[str] = mapped_column(Text, nullable=False)
    quality_score: Mapped[float] = mapped_column(Float, nullable=False)
    quality_flagged: Mapped[bool] = mapped_column(Boolean, nullable=False)
    quality: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    schema_version: Mapped[int | None] = mapped_column(Integer)
    encoding: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class UserSessionsTable(Base):
    """One closed session of one user (tables.windowing.sessions); hypertable on
    session_start. Final once written: a session closes only when no event can change it."""

    __tablename__ = "user_sessions"
    __table_args__ = (PrimaryKeyConstraint("user_id", "session_start", name="user_sessions_pkey"),)

    user_id: Mapped[str] = mapped_column(Text)
    session_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    session_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    duration_s: Mapped[float] = mapped_column(Float, nullable=False)
    events: Mapped[int] = mapped_column(Integer, nullable=False)
    page_views: Mapped[int] = mapped_column(Integer, nullable=False)
    pages: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    entry_page: Mapped[str | None] = mapped_column(Text)
    exit_page: Mapped[str | None] = mapped_column(Text)
    bounce: Mapped[bool] = mapped_column(Boolean, nullable=False)
    client_session_ids: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    pages_truncated: Mapped[bool] = mapped_column(Boolean, nullable=False)
    client_sessions_truncated: Mapped[bool] = mapped_column(Boolean, nullable=False)
    updated_at: Mapped[datetime] = _updated_at()


class ActivityMinutesTable(Base):
    """Events and distinct users of one event type in one event-time minute, as counted by
    one partition of the activity operator (users are disjoint across partitions: the
    minute's totals are the sums over partitions, view ``activity_minutes_total``);
    hypertable on bucket."""

    __tablename__ = "activity_minutes"
    __table_args__ = (
        PrimaryKeyConstraint("bucket", "event_type", "partition", name="activity_minutes_pkey"),
    )

    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event_type: Mapped[str] = mapped_column(Text)
    partition: Mapped[int] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(Integer, nullable=False)
    users: Mapped[int] = mapped_column(Integer, nullable=False)


class ActivityPageMinutesTable(Base):
    """Page views of one URL in one event-time minute, as counted by one partition of the
    activity operator (sum over partitions: view ``activity_page_minutes_total``);
    hypertable on bucket."""

    __tablename__ = "activity_page_minutes"
    __table_args__ = (
        PrimaryKeyConstraint("bucket", "page_url", "partition", name="activity_page_minutes_pkey"),
    )

    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    page_url: Mapped[str] = mapped_column(Text)
    partition: Mapped[int] = mapped_column(Integer)
    views: Mapped[int] = mapped_column(Integer, nullable=False)


class LogsTable(Base):
    """One log line of a service (seed 004's columns, plus its template, score source and
    ids), scored for anomaly; hypertable on created_at, the log's own time. Keyed by
    (service, created_at, log_key): a duplicate line is stored once, the first write wins."""

    __tablename__ = "logs"
    __table_args__ = (
        PrimaryKeyConstraint("service", "created_at", "log_key", name="logs_pkey"),
        Index("logs_anomalies_idx", "service", "created_at", postgresql_where=text("is_anomaly")),
    )

    service: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    log_key: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text, nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    anomaly_score: Mapped[float] = mapped_column(Float, nullable=False)
    is_anomaly: Mapped[bool] = mapped_column(Boolean, nullable=False)
    template: Mapped[str] = mapped_column(Text, nullable=False)
    score_source: Mapped[str] = mapped_column(Text, nullable=False)
    trace_id: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, object] | None] = mapped_column(JSONB)


class LogAnomaliesTable(Base):
    """One anomaly: a log over ANOMALY_THRESHOLD (``kind`` log) or a service gone quiet
    (``kind`` quiet); incidents are runs of a service's anomalies less than five minutes
    apart (stores.logs.read_incidents). Hypertable on at."""

    __tablename__ = "log_anomalies"
    __table_args__ = (PrimaryKeyConstraint("service", "at", "anomaly_key", name="log_anomalies_pkey"),)

    service: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    anomaly_key: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    parts: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    score_source: Mapped[str] = mapped_column(Text, nullable=False)
class ActivityErrorPagesTable(Base):
    """One error of the ingest topic joined with its user's latest page view at most 60 s
    before it (stores.activity_errors; page null when there was none); hypertable on
    error_time. The errors-by-page counts are taken on read (view
    ``activity_error_pages_total`` per minute)."""

    __tablename__ = "activity_error_pages"
    __table_args__ = (
        PrimaryKeyConstraint("error_time", "error_id", "user_id", name="activity_error_pages_pkey"),
    )

    error_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    error_id: Mapped[str] = mapped_column(Text)
    user_id: Mapped[str] = mapped_column(Text)
    page_url: Mapped[str | None] = mapped_column(Text)
    page_view_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    page_view_id: Mapped[str | None] = mapped_column(Text)
    partition: Mapped[int] = mapped_column(Integer, nullable=False)
