"""Commit state: day buckets of commit versions, and each repository's list of days.

- ``commit_days``: ``compose_key(repository_id, YYYY-MM-DD)`` -> the day's commit versions
  (see tables.commit_state for the value and its merge rule).
- ``commit_repository_days``: ``repository_id`` -> sorted ISO days that have a bucket, so a
  repository's buckets can be found without scanning the table.
Both are written only from git.commits events of the repository's own partition.
"""

from __future__ import annotations

from tables.deployment_state import Commit
from tables.keys import compose_key
from tables.table import keyed_table

__all__ = ["commit_days", "commit_repository_days", "repository_commits"]

commit_days = keyed_table("commit_days", help="commit versions per repository and UTC day", coalesced=True)
commit_repository_days = keyed_table(
    "commit_repository_days", help="days with commits, per repository", coalesced=True
)


def repository_commits(repository_id: str) -> list[Commit]:
    """Every commit version of a repository held by this worker (lead-time input)."""
    commits = []
    for day in commit_repository_days.get(repository_id) or []:
        for version_key, numbers in (commit_days.get(compose_key(repository_id, day)) or {}).items():
            sha, committed_at = version_key.rsplit(" ", 1)
            commits.append(Commit(repository_id, sha, int(committed_at), numbers[3]))
    return commits
