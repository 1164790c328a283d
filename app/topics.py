"""Every topic the app reads or writes, declared once.

Source topics carry raw bytes: each agent decodes them itself so that a malformed message
is reported with its topic, partition and offset instead of crashing the stream. They are
marked ``internal`` so that Faust creates them (with TOPIC_PARTITIONS partitions) when they
do not exist yet; existing topics are left as they are.
"""

from __future__ import annotations

from faust import TopicT

from app.main import app, settings

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
]


def raw_topic(name: str) -> TopicT:
    """A topic of raw (key, value) bytes, with TOPIC_PARTITIONS partitions when created."""
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
        internal=True,
    )


git_commits = raw_topic("git.commits")  # key: repository_id
git_pull_requests = raw_topic("git.pull_requests")  # key: repository_id
git_repositories = raw_topic("git.repositories")  # key: repository_id
jira_issues = raw_topic("jira.issues")  # key: project_key
jira_sprints = raw_topic("jira.sprints")  # key: project_key
cicd_deployments = raw_topic("cicd.deployments")  # key: repository_id
ops_incidents = raw_topic("ops.incidents")  # key: repository_id
events_ingest = raw_topic("events.ingest")  # key: event id (JSON or Avro per message)

# Projection output for downstream consumers: the latest DORA snapshot of a repository.
metrics_dora = raw_topic("metrics.dora")  # key: repository_id

# Dead letters (seed 002 format, JSON), keyed by the original message's key.
dead_letters = raw_topic(settings.kafka_dlq_topic)
