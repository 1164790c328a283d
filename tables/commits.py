"""Commit state: day buckets of commit versions, and each repository's span of days.

- ``commit_days``: ``compose_key(repository_id, YYYY-MM-DD)`` -> the day's commit versions
  (see tables.commit_state for the value and its merge rule).
- ``commit_spans``: ``repository_id`` -> ``[first day, last day]`` with a bucket, so a
  repository's buckets are found by walking its days (tables.day_index) without scanning
  the table, and no value grows with its history.
Both are written only from git.commits events of the repository's own partition.
"""

from __future__ import annotations

from tables.commit_state import Commit
from tables.day_index import CARRIED, days_in
from tables.keys import compose_key
from tables.table import keyed_table

__all__ = ["commit_days", "commit_spans", "repository_commits"]

commit_days = keyed_table("commit_days", help="commit versions per repository and UTC day", coalesced=True)
commit_spans = keyed_table(
    "commit_spans", help="first and last day with commits, per repository", coalesced=True
)


def repository_commits(
    repository_id: str, since: str | None = None, until: str | None = None
) -> list[Commit]:
    """The commit versions of a repository committed on days within ``[since, until]``
    (ISO days; lead-time input), and its commits carried past ageing (tables.day_index)."""
    commits = []
    for day in [CARRIED, *days_in(commit_spans.get(repository_id), since, until)]:
        for version_key, numbers in (commit_days.get(compose_key(repository_id, day)) or {}).items():
            sha, committed_at = version_key.rsplit(" ", 1)
            commits.append(Commit(repository_id, sha, int(committed_at), numbers[3]))
    return commits
