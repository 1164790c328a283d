"""Every topic the app reads or writes, declared once.

Source topics carry raw bytes: each agent decodes them itself so that a malformed message
is reported with its topic, partition and offset instead of crashing the stream.

Faust does not create them: app.topic_declaration creates or verifies every topic here
(and the tables' changelogs) with TOPIC_PARTITIONS partitions before the worker consumes
or accepts anything; ``faust -A app topics`` does the same from the command line.
"""

from __future__ import annotations

from faust import TopicT

from app.main import app, settings
from runtime.raw_schema import raw_schema

__all__ = [
    "git_commits",
    "git_pull_requests",
    "git_repositories",
    "jira_issues",
    "jira_sprints",
    "cicd_deployments",
    "ops_incidents",
    "events_ingest",
    "metrics_dora",
    "dead_letters",
    "user_activity",
    "user_activity_by_user",
    "logs",
    "logs_anomalies",
    "SOURCES",
    "OUTPUTS",
]


def raw_topic(name: str) -> TopicT:
    """A topic of raw (key, value) bytes, with TOPIC_PARTITIONS partitions."""
    return app.topic(name, schema=raw_schema(), partitions=settings.topic_partitions)


git_commits = raw_topic("git.commits")  # key: repository_id
git_pull_requests = raw_topic("git.pull_requests")  # key: repository_id
git_repositories = raw_topic("git.repositories")  # key: repository_id
jira_issues = raw_topic("jira.issues")  # key: project_key
jira_sprints = raw_topic("jira.sprints")  # key: project_key
cicd_deployments = raw_topic("cicd.deployments")  # key: repository_id
ops_incidents = raw_topic("ops.incidents")  # key: repository_id
events_ingest = raw_topic(settings.ingest_topic)  # key: event id (JSON or Avro per message)

# User activity (seed 003's EnrichedEvent), keyed by anything; agents.activity_rekey produces
# every valid event keyed by user_id to the internal topic, with watermark markers
# (docs/activity.md). agents.activity_errors sends the error events of the ingest topic that
# name a user there too, for the errors-by-page join.
user_activity = raw_topic(settings.activity_topic)  # key: any (user id, event id, none)
user_activity_by_user = raw_topic(f"{settings.activity_topic}-by-user")  # key: user_id; markers: none

# Log lines (seed 004), keyed by service; every flagged one also goes to logs.anomalies, keyed
# by service (agents.logs, docs/anomalies.md).
logs = raw_topic("logs")  # key: service
logs_anomalies = raw_topic("logs.anomalies")  # key: service

# Projection output for downstream consumers: the latest DORA snapshot of a repository.
metrics_dora = raw_topic("metrics.dora")  # key: repository_id

# Dead letters (seed 002 format, JSON), keyed by the original message's key.
dead_letters = raw_topic(settings.kafka_dlq_topic)

# What app.topic_declaration declares: topics read by agents, and topics only written.
SOURCES: tuple[TopicT, ...] = (
    git_commits,
    git_pull_requests,
    git_repositories,
    jira_issues,
    jira_sprints,
    cicd_deployments,
    ops_incidents,
    events_ingest,
    user_activity,
    user_activity_by_user,
    logs,
)
OUTPUTS: tuple[TopicT, ...] = (metrics_dora, logs_anomalies, dead_letters)
