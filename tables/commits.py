"""``commit_days``: one bucket of commit versions per (repository_id, UTC day).

Keyed ``compose_key(repository_id, YYYY-MM-DD)``; see tables.commit_state for the value
and its merge rule. Written from git.commits events of the repository's partition only.
"""

from __future__ import annotations

from app.main import app, settings

__all__ = ["commit_days"]

commit_days = app.Table(
    "commit_days",
    partitions=settings.topic_partitions,
    key_type=str,
    help="commit versions per repository and UTC day",
)
