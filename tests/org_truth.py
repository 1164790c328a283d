"""The expected state of a generated SEI history, computed in the test from the raw events.

The events are read with plain dict access (no app models, no agents, no tables) and the
entities folded with the pure merge functions, then handed to the pure metric functions:
what the processor must answer after it consumed the history through Kafka, its agents, its
tables and its database, in whatever order and multiplicity the messages came.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tables.commit_state import Commit
from tables.cycle_time import cycle_time_snapshot
from tables.daily_metrics import DailyMetrics, daily_metrics
from tables.deployment_state import Deployment
from tables.dora import dora_snapshot
from tables.incident_state import Incident, IncidentChange, IncidentState, incident_from_issue, merge_incident
from tables.instants import to_micros
from tables.issue_state import (
    Issue,
    IssueState,
    Transition,
    issue_report,
    merge_snapshot,
    merge_transition,
)
from tables.pull_request_state import (
    PullRequest,
    PullRequestChange,
    PullRequestState,
    Review,
    merge_pull_request,
)
from tables.sprint_state import Sprint, SprintChange, SprintState, merge_sprint, sprints_report

__all__ = ["Truth", "truth_of", "at"]

ENVIRONMENTS = frozenset({"production"})


def at(text: str | None) -> int | None:
    return None if text is None else to_micros(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _pull_request_event(event: dict[str, Any]) -> PullRequestChange:
    data, kind = event["data"], event["event_type"]
    own = {
        "pull_request_opened": "created_at",
        "pull_request_review_submitted": "submitted_at",
        "pull_request_merged": "merged_at",
        "pull_request_closed": "closed_at",
    }[kind]
    moment = at(data.get(own) or event["timestamp"])
    times = {name: at(data.get(name)) for name in ("created_at", "merged_at", "closed_at")}
    if own in times:
        times[own] = moment
    return PullRequestChange(
        repository_id=event["repository_id"],
        number=data["number"],
        timestamp=at(event["timestamp"]),  # type: ignore[arg-type]
        author=data.get("author"),
        title=data.get("title"),
        base_branch=data.get("base_branch"),
        first_commit_at=at(data.get("first_commit_at")),
        merge_commit_sha=data.get("merge_commit_sha"),
        commit_shas=tuple(data.get("commit_shas") or ()),
        review=Review(moment, data["reviewer"], data["state"])
        if kind == "pull_request_review_submitted"
        else None,
        **times,
    )


@dataclass
class Truth:
    deployments: dict[str, list[Deployment]] = field(default_factory=lambda: defaultdict(list))
    commits: dict[str, list[Commit]] = field(default_factory=lambda: defaultdict(list))
    incident_states: dict[tuple[str, str], IncidentState] = field(default_factory=dict)
    pull_request_states: dict[tuple[str, int], PullRequestState] = field(default_factory=dict)
    teams: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    issues: dict[str, IssueState] = field(default_factory=dict)
    issue_projects: dict[str, str] = field(default_factory=dict)
    sprint_states: dict[tuple[str, str], SprintState] = field(default_factory=dict)

    def incidents(self, repository_id: str) -> list[Incident]:
        found = [s.view() for (repo, _), s in self.incident_states.items() if repo == repository_id]
        jira = (incident_from_issue(s.snapshot) for s in self.issues.values() if s.snapshot is not None)
        return found + [i for i in jira if i is not None and i.repository_id == repository_id]

    def pull_requests(self, repository_id: str) -> list[PullRequest]:
        return [s.view() for (repo, _), s in self.pull_request_states.items() if repo == repository_id]

    def team(self, repository_id: str) -> str:
        return (self.teams.get(repository_id) or (0, None))[1] or "unassigned"

    def repositories_of(self, team: str, among: Iterable[str]) -> list[str]:
        return sorted(r for r in among if self.team(r) == team)

    def dora(self, repositories: list[str], *, end: int, window_days: int) -> dict[str, Any]:
        return dora_snapshot(
            [d for r in repositories for d in self.deployments[r]],
            [i for r in repositories for i in self.incidents(r)],
            [c for r in repositories for c in self.commits[r]],
            end=end,
            window_days=window_days,
            production_environments=ENVIRONMENTS,
        )

    def cycle_time(self, repositories: list[str], *, end: int, window_days: int) -> dict[str, Any]:
        return cycle_time_snapshot(
            [p for r in repositories for p in self.pull_requests(r)],
            [c for r in repositories for c in self.commits[r]],
            [d for r in repositories for d in self.deployments[r]],
            end=end,
            window_days=window_days,
            production_environments=ENVIRONMENTS,
        )

    def daily(self, repository_id: str) -> DailyMetrics:
        return daily_metrics(
            self.deployments[repository_id],
            self.incidents(repository_id),
            self.commits[repository_id],
            self.pull_requests(repository_id),
            ENVIRONMENTS,
        )

    def issue(self, key: str) -> dict[str, Any]:
        return issue_report(self.issues[key])

    def sprints(self, project_key: str) -> dict[str, Any]:
        sprints: list[Sprint] = [s.view() for (p, _), s in self.sprint_states.items() if p == project_key]
        snapshots = [
            s.snapshot
            for key, s in self.issues.items()
            if s.snapshot is not None and self.issue_projects[key] == project_key
        ]
        return {"project_key": project_key, **sprints_report(sprints, snapshots)}


def truth_of(events: Iterable[tuple[str, dict[str, Any]]]) -> Truth:
    """Fold every event of the history into the expected entities."""
    truth = Truth()
    for topic, event in events:
        data = event["data"]
        stamp = at(event["timestamp"])
        assert stamp is not None
        if topic == "git.commits":
            when = at(data.get("committed_at") or event["timestamp"])
            truth.commits[event["repository_id"]].append(
                Commit(event["repository_id"], data["sha"], when, data.get("pull_request_number"))  # type: ignore[arg-type]
            )
        elif topic == "cicd.deployments":
            truth.deployments[event["repository_id"]].append(
                Deployment(
                    event["repository_id"],
                    data["id"],
                    data["environment"],
                    data["status"],
                    at(data["finished_at"]),  # type: ignore[arg-type]
                    at(data.get("started_at")),
                    data.get("commit_sha"),
                    tuple(data["commit_shas"]) if "commit_shas" in data else None,
                    tuple(data["pull_request_numbers"]) if "pull_request_numbers" in data else None,
                )
            )
        elif topic == "ops.incidents":
            key = (event["repository_id"], data["id"])
            incident = IncidentChange(
                event["repository_id"],
                data["id"],
                stamp,
                at(data.get("opened_at")),
                at(data.get("resolved_at")),
                data.get("deployment_id"),
                data.get("title"),
                data.get("severity"),
                data.get("service"),
            )
            truth.incident_states[key] = merge_incident(truth.incident_states.get(key), incident)
        elif topic == "git.pull_requests":
            change = _pull_request_event(event)
            key2 = (change.repository_id, change.number)
            truth.pull_request_states[key2] = merge_pull_request(truth.pull_request_states.get(key2), change)
        elif topic == "git.repositories":
            current = truth.teams.get(event["repository_id"])
            if current is None or stamp > current[0]:
                truth.teams[event["repository_id"]] = (stamp, data.get("team"))
        elif topic == "jira.issues":
            key3 = data["key"]
            truth.issue_projects[key3] = event["project_key"]
            state = truth.issues.get(key3) or IssueState(key3)
            if event["event_type"] == "issue_transitioned":
                state = merge_transition(
                    state,
                    key3,
                    Transition(at(data["transitioned_at"]), data["to_status"], data.get("from_status")),  # type: ignore[arg-type]
                )
            else:
                sprint_id = data.get("sprint_id")
                state = merge_snapshot(
                    state,
                    Issue(
                        key3,
                        stamp,
                        data.get("summary"),
                        data.get("issue_type"),
                        data.get("status"),
                        data.get("status_category"),
                        data.get("assignee"),
                        data.get("story_points"),
                        None if sprint_id is None else str(sprint_id),
                        at(data.get("created")),
                        at(data.get("resolved")),
                        data.get("repository_id"),
                    ),
                )
            truth.issues[key3] = state
        elif topic == "jira.sprints":
            key4 = (event["project_key"], str(data["id"]))
            sprint = SprintChange(
                event["project_key"],
                str(data["id"]),
                stamp,
                data.get("name"),
                data.get("state") or ("closed" if event["event_type"] == "sprint_closed" else "active"),
                at(data.get("start_date")),
                at(data.get("end_date")),
                at(data.get("complete_date")),
                data.get("committed_points"),
                data.get("completed_points"),
            )
            truth.sprint_states[key4] = merge_sprint(truth.sprint_states.get(key4), sprint)
    return truth
