"""``git.pull_requests`` and ``git.repositories`` event schemas (EVENTS.md), keyed by repository_id."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictBool, model_validator

from models.fields import Count, EventTime, Identifier, Text
from models.message import MessageModel

__all__ = [
    "PullRequestData",
    "PullRequestMessage",
    "PullRequestEventType",
    "RepositoryData",
    "RepositoryMessage",
]

PullRequestEventType = Literal[
    "pull_request_opened", "pull_request_review_submitted", "pull_request_merged", "pull_request_closed"
]
# Authors and reviewers are compared as exact strings (METRICS edge rule 9): kept verbatim.
Person = Annotated[Text, Field(max_length=320)]
# After Count's own bounds, so that this lower bound is the one checked.
PullRequestNumber = Annotated[Count, Field(ge=1)]


class PullRequestData(MessageModel):
    number: PullRequestNumber
    title: Text | None = None
    author: Person | None = None
    base_branch: Text | None = Field(None, max_length=500)
    created_at: EventTime | None = None
    first_commit_at: EventTime | None = None
    commit_shas: tuple[Identifier, ...] | None = Field(None, max_length=10_000)
    reviewer: Person | None = None
    state: Literal["approved", "changes_requested", "commented"] | None = None
    submitted_at: EventTime | None = None
    merged_at: EventTime | None = None
    merge_commit_sha: Identifier | None = None
    closed_at: EventTime | None = None


class PullRequestMessage(MessageModel):
    """``pull_request_*``: identity (repository_id, data.number)."""

    event_type: PullRequestEventType
    timestamp: EventTime
    repository_id: Identifier
    data: PullRequestData
    source: Text | None = Field(None, max_length=100)
    id: Identifier | None = None
    schema_version: Count | None = None

    @model_validator(mode="after")
    def _review_names_reviewer_and_state(self) -> PullRequestMessage:
        if self.event_type == "pull_request_review_submitted" and (
            self.data.reviewer is None or self.data.state is None
        ):
            raise ValueError("pull_request_review_submitted needs data.reviewer and data.state")
        return self

    @property
    def moment(self) -> datetime:
        """The time of what the event reports: its type's own field, else the envelope timestamp."""
        data = self.data
        own = {
            "pull_request_opened": data.created_at,
            "pull_request_review_submitted": data.submitted_at,
            "pull_request_merged": data.merged_at,
            "pull_request_closed": data.closed_at,
        }[self.event_type]
        return own or self.timestamp


class RepositoryData(MessageModel):
    name: Text | None = Field(None, max_length=500)
    full_name: Text | None = Field(None, max_length=1000)
    default_branch: Text | None = Field(None, max_length=500)
    team: Identifier | None = None  # a key of team metrics and of /dora/teams/{team}
    language: Text | None = Field(None, max_length=100)
    archived: StrictBool | None = None


class RepositoryMessage(MessageModel):
    """``repository_updated``: identity repository_id, the latest event by timestamp wins."""

    event_type: Literal["repository_updated"]
    timestamp: EventTime
    repository_id: Identifier
    data: RepositoryData
    source: Text | None = Field(None, max_length=100)
    id: Identifier | None = None
    schema_version: Count | None = None
