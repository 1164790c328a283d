"""``cicd.deployments`` and ``ops.incidents`` event schemas (EVENTS.md), keyed by repository_id."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from models.fields import Count, EventTime, Identifier, Text
from models.message import MessageModel

__all__ = ["DeploymentData", "DeploymentMessage", "IncidentData", "IncidentMessage"]


class DeploymentData(MessageModel):
    id: Identifier
    environment: Identifier
    status: Literal["success", "failure"]
    finished_at: EventTime
    started_at: EventTime | None = None
    commit_sha: Identifier | None = None
    commit_shas: tuple[Identifier, ...] | None = Field(None, max_length=10_000)
    pull_request_numbers: tuple[Count, ...] | None = Field(None, max_length=10_000)


class DeploymentMessage(MessageModel):
    """``deployment_finished``: identity (repository_id, data.id)."""

    event_type: Literal["deployment_finished"]
    timestamp: EventTime
    repository_id: Identifier
    data: DeploymentData
    source: Text | None = Field(None, max_length=100)
    id: Identifier | None = None
    schema_version: Count | None = None


class IncidentData(MessageModel):
    id: Identifier
    title: Text | None = None
    severity: Text | None = Field(None, max_length=50)
    service: Text | None = Field(None, max_length=200)
    opened_at: EventTime | None = None
    resolved_at: EventTime | None = None
    deployment_id: Identifier | None = None


class IncidentMessage(MessageModel):
    """``incident_opened`` / ``incident_resolved``: identity (repository_id, data.id)."""

    event_type: Literal["incident_opened", "incident_resolved"]
    timestamp: EventTime
    repository_id: Identifier
    data: IncidentData
    source: Text | None = Field(None, max_length=100)
    id: Identifier | None = None
    schema_version: Count | None = None
