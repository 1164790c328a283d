"""SQLAlchemy models of the database tables (the schema alembic migrates to)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, LargeBinary, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "Commit", "CommitDailyStats", "DeadLetter", "TIMESCALE_MANAGED"]

# Relations that TimescaleDB builds as continuous aggregates (views) and plain
# PostgreSQL as tables: the migrations create them, autogenerate leaves them alone.
TIMESCALE_MANAGED = frozenset({"commits_daily_stats"})


class Base(DeclarativeBase):
    pass


class Commit(Base):
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


class CommitDailyStats(Base):
    """Commits per repository per UTC day (seed 000's continuous aggregate)."""

    __tablename__ = "commits_daily_stats"

    repository_id: Mapped[str] = mapped_column(Text, primary_key=True)
    day: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    commit_count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    total_additions: Mapped[int | None] = mapped_column(BigInteger)
    total_deletions: Mapped[int | None] = mapped_column(BigInteger)


class DeadLetter(Base):
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
