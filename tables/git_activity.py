"""Pull requests and repositories: the state behind ``GET /cycle-time`` and team metrics.

- ``pull_requests``: ``compose_key(repository_id, number)`` -> PullRequestState record (one
  value per pull request: its reviews and commit shas grow, a repository's PRs do too);
- ``pull_request_index`` (tables.day_index): per repository and UTC day, the numbers of the
  pull requests with an event on that day, and each repository's span of days: a
  repository's pull requests are found without scanning the table, and no value grows with
  its history;
- ``repositories``: repository_id -> the winning Repository record (team, branch).
All are written only from events of the repository's own partition (git.pull_requests and
git.repositories are co-partitioned with git.commits and cicd.deployments).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tables.day_index import DayIndex
from tables.entity_index import entity_days, entity_spans
from tables.keys import compose_key
from tables.pull_request_state import PullRequest, PullRequestChange, PullRequestState, merge_pull_request
from tables.repository_state import Repository, merge_repository
from tables.table import keyed_table

__all__ = [
    "pull_requests",
    "pull_request_index",
    "repositories",
    "pull_request_key",
    "merge_pull_request_changes",
    "merge_repository_changes",
    "pull_requests_of",
]

pull_requests = keyed_table("pull_requests", help="pull request state per (repository, number)")
pull_request_index = DayIndex(entity_days, entity_spans, "pull_request")
repositories = keyed_table("repositories", help="latest repository_updated per repository")


def pull_request_key(repository_id: str, number: int) -> str:
    return compose_key(repository_id, str(number))


def merge_pull_request_changes(
    current: Mapping[str, Any] | None, incoming: Iterable[PullRequestChange]
) -> tuple[dict[str, Any], bool]:
    """``current`` (a table value or None) with ``incoming`` merged; and whether it changed."""
    before = PullRequestState.from_record(current) if current is not None else None
    after = before
    for event in incoming:
        after = merge_pull_request(after, event)
    if after is None:
        raise ValueError("no pull request events to merge")
    return after.to_record(), after != before


def merge_repository_changes(
    current: Mapping[str, Any] | None, incoming: Iterable[Repository]
) -> tuple[dict[str, Any], bool]:
    """``current`` (a table value or None) with ``incoming`` merged; and whether it changed."""
    before = Repository.from_record(current) if current is not None else None
    after = before
    for snapshot in incoming:
        after = merge_repository(after, snapshot)
    if after is None:
        raise ValueError("no repository events to merge")
    return after.to_record(), after != before


def pull_requests_of(
    repository_id: str, since: str | None = None, until: str | None = None
) -> list[PullRequest]:
    """The repository's pull requests with an event on a day within ``[since, until]``."""
    found = []
    for number in pull_request_index.entries(repository_id, since, until):
        record = pull_requests.get(pull_request_key(repository_id, number))
        if record is not None:
            found.append(PullRequestState.from_record(record).view())
    return found
