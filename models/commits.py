"""``git.commits`` messages: the envelope (``CommitMessage``) and its ``data`` (``CommitData``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from models.fields import Count, Email, EventTime, Identifier, Text
from models.message import MessageModel

__all__ = ["CommitData", "CommitMessage"]


class CommitData(MessageModel):
    sha: Identifier
    author: Email | None = None
    message: Text | None = None
    files_changed: Count | None = None
    additions: Count | None = None
    deletions: Count | None = None
    committed_at: EventTime | None = None
    pull_request_number: Count | None = Field(None, ge=1)


class CommitMessage(MessageModel):
    """``git.commits`` / ``commit_created``: one commit, identity (repository_id, sha)."""

    event_type: Literal["commit_created"]
    timestamp: EventTime
    repository_id: Identifier
    data: CommitData
    source: Text | None = Field(None, max_length=100)
    id: Identifier | None = None
    schema_version: Count | None = None

    @property
    def committed_at(self) -> datetime:
        """The commit's time: ``data.committed_at``, else the envelope timestamp."""
        return self.data.committed_at or self.timestamp
