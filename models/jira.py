"""``jira.issues`` and ``jira.sprints`` event schemas (EVENTS.md), keyed by project_key."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, Strict, model_validator

from models.fields import Count, EventTime, Identifier, Text
from models.message import MessageModel

__all__ = ["IssueData", "IssueMessage", "Points", "SprintData", "SprintMessage", "SprintId"]

# Story points: a non-negative finite number (an int is a number too; a bool or a string is not).
Points = Annotated[float, Strict(), Field(ge=0, le=1_000_000, allow_inf_nan=False)]
# Jira sprint ids are numbers; other trackers use strings. Both are compared as strings.
SprintId = Annotated[Annotated[int, Strict(), Field(ge=0)] | Identifier, AfterValidator(str)]


class IssueData(MessageModel):
    key: Identifier
    summary: Text | None = None
    issue_type: Text | None = Field(None, max_length=100)
    status: Text | None = Field(None, max_length=200)
    status_category: Literal["todo", "in_progress", "done"] | None = None
    assignee: Text | None = Field(None, max_length=320)
    story_points: Points | None = None
    sprint_id: SprintId | None = None
    created: EventTime | None = None
    resolved: EventTime | None = None
    repository_id: Identifier | None = None  # makes an Incident-type issue a DORA incident
    from_status: Text | None = Field(None, max_length=200)
    to_status: Text | None = Field(None, max_length=200)
    transitioned_at: EventTime | None = None


class IssueMessage(MessageModel):
    """``issue_created`` / ``issue_updated`` (a snapshot) or ``issue_transitioned``: identity
    data.key; a transition's identity is (key, transitioned_at, to_status)."""

    event_type: Literal["issue_created", "issue_updated", "issue_transitioned"]
    timestamp: EventTime
    project_key: Identifier
    data: IssueData
    source: Text | None = Field(None, max_length=100)
    id: Identifier | None = None
    schema_version: Count | None = None

    @model_validator(mode="after")
    def _consistent(self) -> IssueMessage:
        # The key routes GET /issues/{key} to the project's partition: it must be the project's.
        if not self.data.key.startswith(f"{self.project_key}-"):
            raise ValueError(f"data.key {self.data.key!r} is not an issue of project {self.project_key!r}")
        if self.event_type == "issue_transitioned" and (
            self.data.to_status is None or self.data.transitioned_at is None
        ):
            raise ValueError("issue_transitioned needs data.to_status and data.transitioned_at")
        return self


class SprintData(MessageModel):
    id: SprintId
    name: Text | None = Field(None, max_length=500)
    state: Literal["active", "closed"] | None = None
    start_date: EventTime | None = None
    end_date: EventTime | None = None
    complete_date: EventTime | None = None
    committed_points: Points | None = None
    completed_points: Points | None = None


class SprintMessage(MessageModel):
    """``sprint_started`` / ``sprint_closed``: identity (project_key, data.id)."""

    event_type: Literal["sprint_started", "sprint_closed"]
    timestamp: EventTime
    project_key: Identifier
    data: SprintData
    source: Text | None = Field(None, max_length=100)
    id: Identifier | None = None
    schema_version: Count | None = None

    @property
    def state(self) -> str:
        """``data.state``, else what the event type says."""
        return self.data.state or ("closed" if self.event_type == "sprint_closed" else "active")
