"""What `quality check` reads per topic (models.data_quality judges it): the table a topic's
events land in, when rows were written, their event time, a natural key and the fields
whose nulls count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from models.data_quality import BASELINE_WINDOWS, TopicFigures

__all__ = ["QualitySpec", "SPECS", "read_figures"]


@dataclass(frozen=True, slots=True)
class QualitySpec:
    topic: str
    table: str
    written_at: str  # when the row was written (volume)
    event_at: str  # the event's own time (freshness)
    key: tuple[str, ...]  # natural key without the time column (duplicates)
    fields: tuple[str, ...]  # optional fields whose null rate is checked


SPECS: tuple[QualitySpec, ...] = (
    QualitySpec(
        "git.commits",
        "commits",
        "ingested_at",
        "committed_at",
        ("repository_id", "sha"),
        ("author_email", "message"),
    ),
    QualitySpec(
        "git.pull_requests",
        "pull_requests",
        "updated_at",
        "created_at",
        ("repository_id", "number"),
        ("title", "author", "base_branch"),
    ),
    QualitySpec(
        "git.repositories", "repositories", "updated_at", "last_event_at", ("repository_id",), ("team",)
    ),
    QualitySpec(
        "cicd.deployments",
        "deployments",
        "updated_at",
        "finished_at",
        ("repository_id", "deployment_id"),
        ("started_at", "commit_sha"),
    ),
    QualitySpec(
        "ops.incidents",
        "incidents",
        "updated_at",
        "opened_at",
        ("repository_id", "incident_id"),
        ("severity", "resolved_at"),
    ),
    QualitySpec(
        "jira.issues", "issues", "updated_at", "created_at", ("issue_key",), ("assignee", "story_points")
    ),
    QualitySpec(
        "jira.sprints", "sprints", "updated_at", "start_date", ("project_key", "sprint_id"), ("start_date",)
    ),
    QualitySpec("events.ingest", "ingested_events", "created_at", "timestamp", ("id",), ("schema_version",)),
)


def _figures_sql(spec: QualitySpec) -> str:
    nulls = ", ".join(
        f'avg(("{f}" IS NULL)::int) FILTER (WHERE "{spec.written_at}" >= $1)' for f in spec.fields
    )
    key = ", ".join(f'"{c}"' for c in spec.key)
    return (
        f'SELECT count(*) FILTER (WHERE "{spec.written_at}" >= $1), '
        f'count(*) FILTER (WHERE "{spec.written_at}" >= $1 - ($2::timestamptz - $1) * {BASELINE_WINDOWS} '
        f'AND "{spec.written_at}" < $1), '
        f'min("{spec.written_at}"), max("{spec.event_at}"), '
        f'(SELECT count(*) - count(DISTINCT ({key}, true)) FROM "{spec.table}" WHERE "{spec.written_at}" >= $1), '
        f"{nulls} "
        f'FROM "{spec.table}"'
    )


async def read_figures(
    conn: asyncpg.Connection, spec: QualitySpec, since: datetime, now: datetime
) -> TopicFigures:
    """The figures of ``spec``'s topic for the window ``since``..``now``."""
    row = await conn.fetchrow(_figures_sql(spec), since, now)
    assert row is not None
    stored, before, first_written, newest, duplicates = (row[i] for i in range(5))
    window_s = (now - since).total_seconds()
    # A baseline only where the table's history covers the windows before this one.
    covered = first_written is not None and (since - first_written).total_seconds() >= window_s
    dead = await conn.fetchval(
        "SELECT count(*) FROM dead_letters WHERE topic = $1 AND failed_at >= $2 AND failed_at < $3",
        spec.topic,
        since,
        now,
    )
    return TopicFigures(
        topic=spec.topic,
        stored=int(stored),
        baseline=before / BASELINE_WINDOWS if covered else None,
        newest_event_at=newest,
        null_rates={f: float(row[5 + i]) for i, f in enumerate(spec.fields) if row[5 + i] is not None},
        dead_letters=int(dead),
        duplicates=int(duplicates),
    )
