"""Every topic the app reads or writes, declared once.

Source topics carry raw bytes: each agent decodes them itself so that a malformed message
is reported with its topic, partition and offset instead of crashing the stream. They are
marked ``internal`` so that Faust creates them (with TOPIC_PARTITIONS partitions) when they
do not exist yet; existing topics are left as they are.
"""

from __future__ import annotations

from faust import TopicT

from app.main import app, settings

__all__ = ["git_commits", "dead_letters"]


def source_topic(name: str) -> TopicT:
    """A topic of raw (key, value) bytes produced by the platform's collectors."""
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
        internal=True,
    )


git_commits = source_topic("git.commits")

# Dead letters (seed 002 format, JSON), keyed by the original message's key.
dead_letters = app.topic(
    settings.kafka_dlq_topic,
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
    partitions=settings.topic_partitions,
    internal=True,
)
