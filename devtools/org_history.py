"""A realistic engineering history for the tests and the benchmark: commits, pull requests,
repositories, deployments, incidents, Jira issues and sprints of several teams.

Deterministic for a seed. Proportions follow a busy organisation: commits > pull-request
events > issue events > deployments > incidents. The history has what the metrics must
survive: PRs with and without ``commit_shas`` and ``first_commit_at``, reviews by the
author, closed and open PRs, deployments with and without ``commit_shas``, re-run
deployments (one id, a later ``finished_at``), failed and staging deployments, incidents
with and without ``deployment_id``, before any deployment and still open, reopened issues,
Incident-type issues naming a repository, sprints closed with and without
``completed_points``. Messages come in collector order (roughly by time, some late), with
a share of exact redeliveries.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

__all__ = [
    "SeiHistory",
    "generate_sei_history",
    "malformed_messages",
    "expected_rows",
    "SEI_TOPICS",
    "iso",
]

SEI_TOPICS = (
    "git.repositories",
    "git.commits",
    "git.pull_requests",
    "cicd.deployments",
    "ops.incidents",
    "jira.issues",
    "jira.sprints",
)
STATUSES = ("To Do", "In Progress", "In Review", "Done")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class SeiHistory:
    """The events (topic, JSON object) in the order produced, and their messages per topic."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    repositories: list[str] = field(default_factory=list)
    teams: dict[str, str] = field(default_factory=dict)  # repository -> team (latest)
    projects: list[str] = field(default_factory=list)

    def messages(self) -> dict[str, list[tuple[bytes, bytes]]]:
        by_topic: dict[str, list[tuple[bytes, bytes]]] = defaultdict(list)
        for topic, event in self.events:
            key = event.get("repository_id") or event["project_key"]
            by_topic[topic].append((str(key).encode(), orjson.dumps(event)))
        return dict(by_topic)

    def __len__(self) -> int:
        return len(self.events)


class _Builder:
    def __init__(self, rng: random.Random, start: datetime, end: datetime) -> None:
        self.rng = rng
        self.start = start
        self.end = end
        self.timed: list[tuple[datetime, str, dict[str, Any]]] = []

    def moment(self, low: datetime, high: datetime) -> datetime:
        span = max(1, int((high - low).total_seconds()))
        return low + timedelta(seconds=self.rng.randrange(span), microseconds=self.rng.randrange(1, 10**6))

    def emit(
        self, topic: str, key_field: str, key: str, event_type: str, when: datetime, data: dict[str, Any]
    ) -> None:
        event = {
            "event_type": event_type,
            "timestamp": iso(when),
            "source": "sample",
            key_field: key,
            "data": data,
        }
        # Collectors report soon after the fact; a few events arrive hours late.
        lag = timedelta(
            minutes=self.rng.expovariate(1 / 10) if self.rng.random() < 0.95 else self.rng.uniform(60, 2000)
        )
        self.timed.append((when + lag, topic, event))


def _repository_history(
    b: _Builder, repo: str, team: str, former_team: str, authors: list[str], ship_merged_only: bool = False
) -> None:
    rng = b.rng
    b.emit(
        "git.repositories",
        "repository_id",
        repo,
        "repository_updated",
        b.start,
        {
            "name": repo,
            "full_name": f"org/{repo}",
            "default_branch": "master",
            "team": former_team,
            "language": "python",
            "archived": False,
        },
    )
    b.emit(
        "git.repositories",
        "repository_id",
        repo,
        "repository_updated",
        b.start + timedelta(hours=1),
        {
            "name": repo,
            "full_name": f"org/{repo}",
            "default_branch": "main",
            "team": team,
            "language": "python",
            "archived": False,
        },
    )
    unshipped: list[str] = []
    landed: list[tuple[datetime, str]] = []  # (on the default branch at, sha)
    day = b.start
    number = 0
    sha_counter = 0
    deployment_counter = 0
    deployments: list[tuple[str, datetime]] = []

    def sha() -> str:
        nonlocal sha_counter
        sha_counter += 1
        return f"{repo}-{sha_counter:05d}"

    while day < b.end:
        for _ in range(rng.choice((0, 1, 2, 2, 3))):
            number += 1
            author = rng.choice(authors)
            created = b.moment(day, day + timedelta(hours=20))
            shas = []
            first = None
            for _ in range(rng.randint(2, 6)):
                commit_at = b.moment(created - timedelta(hours=30), created)
                first = commit_at if first is None or commit_at < first else first
                s = sha()
                shas.append(s)
                b.emit(
                    "git.commits",
                    "repository_id",
                    repo,
                    "commit_created",
                    commit_at,
                    {
                        "sha": s,
                        "author": author,
                        "additions": rng.randint(0, 400),
                        "deletions": rng.randint(0, 90),
                        "files_changed": rng.randint(1, 12),
                        "committed_at": iso(commit_at),
                        "pull_request_number": number,
                    },
                )
            opened = {
                "number": number,
                "title": f"change {number}",
                "author": author,
                "base_branch": "main",
                "created_at": iso(created),
            }
            if rng.random() < 0.5:
                opened["commit_shas"] = shas
            if rng.random() < 0.3:
                opened["first_commit_at"] = iso(first - timedelta(hours=1))  # type: ignore[operator]
            b.emit("git.pull_requests", "repository_id", repo, "pull_request_opened", created, opened)
            fate = rng.random()
            review_at = created
            for _ in range(rng.randint(0 if fate > 0.9 else 1, 3)):
                review_at = b.moment(review_at, review_at + timedelta(hours=20))
                reviewer = author if rng.random() < 0.15 else rng.choice([a for a in authors if a != author])
                b.emit(
                    "git.pull_requests",
                    "repository_id",
                    repo,
                    "pull_request_review_submitted",
                    review_at,
                    {
                        "number": number,
                        "author": author,
                        "reviewer": reviewer,
                        "state": rng.choice(("approved", "approved", "changes_requested", "commented")),
                        "submitted_at": iso(review_at),
                    },
                )
            if fate < 0.8:
                merged = b.moment(review_at, review_at + timedelta(hours=24))
                merge_sha = sha()
                b.emit(
                    "git.pull_requests",
                    "repository_id",
                    repo,
                    "pull_request_merged",
                    merged,
                    {
                        "number": number,
                        "author": author,
                        "merged_at": iso(merged),
                        "merge_commit_sha": merge_sha,
                    },
                )
                b.emit(
                    "git.commits",
                    "repository_id",
                    repo,
                    "commit_created",
                    merged,
                    {"sha": merge_sha, "author": author, "additions": 0, "deletions": 0},
                )
                unshipped.extend([*shas, merge_sha])
                landed.extend((merged, s) for s in [*shas, merge_sha])
            elif fate < 0.9:
                b.emit(
                    "git.pull_requests",
                    "repository_id",
                    repo,
                    "pull_request_closed",
                    created + timedelta(days=1),
                    {"number": number, "closed_at": iso(created + timedelta(days=1))},
                )
        for _ in range(rng.choice((0, 0, 1, 2))):  # straight to the default branch, no PR
            commit_at = b.moment(day, day + timedelta(hours=23))
            direct = sha()
            b.emit(
                "git.commits",
                "repository_id",
                repo,
                "commit_created",
                commit_at,
                {"sha": direct, "author": rng.choice(authors), "additions": rng.randint(0, 50)},
            )
            unshipped.append(direct)
            landed.append((commit_at, direct))
        for _ in range(rng.choice((0, 1, 1, 1, 2))):
            deployment_counter += 1
            ident = f"deploy-{deployment_counter}"
            finished = b.moment(day, day + timedelta(hours=23))
            data: dict[str, Any] = {
                "id": ident,
                "environment": "production",
                "status": "success",
                "started_at": iso(finished - timedelta(minutes=12)),
                "finished_at": iso(finished),
            }
            roll = rng.random()
            if roll < 0.08:
                data["status"] = "failure"
            elif roll < 0.15:
                data["environment"] = "staging"
            elif rng.random() < 0.5:
                data["commit_shas"] = list(unshipped)
                unshipped.clear()
            if data["status"] == "success" and data["environment"] == "production":
                deployments.append((ident, finished))
                if ship_merged_only:
                    data["commit_shas"] = [s for at, s in landed if at <= finished]
                    landed = [(at, s) for at, s in landed if at > finished]
            b.emit("cicd.deployments", "repository_id", repo, "deployment_finished", finished, data)
            if rng.random() < 0.05:  # a re-run: the same id, finished later
                later = finished + timedelta(minutes=30)
                b.emit(
                    "cicd.deployments",
                    "repository_id",
                    repo,
                    "deployment_finished",
                    later,
                    {**data, "finished_at": iso(later)},
                )
        if rng.random() < 0.2:
            ident = f"inc-{repo}-{day:%m%d}"
            opened_at = b.moment(day, day + timedelta(hours=23))
            data = {
                "id": ident,
                "title": "errors up",
                "severity": rng.choice(("sev1", "sev2")),
                "service": repo,
                "opened_at": iso(opened_at),
            }
            if deployments and rng.random() < 0.4:
                data["deployment_id"] = rng.choice(deployments)[0]
            b.emit("ops.incidents", "repository_id", repo, "incident_opened", opened_at, data)
            if rng.random() < 0.85:
                resolved = opened_at + timedelta(hours=rng.uniform(0.2, 40))
                b.emit(
                    "ops.incidents",
                    "repository_id",
                    repo,
                    "incident_resolved",
                    resolved,
                    {"id": ident, "resolved_at": iso(resolved)},
                )
        day += timedelta(days=1)


def _project_history(b: _Builder, project: str, repositories: list[str], people: list[str]) -> None:
    rng = b.rng
    sprint_days = 14
    sprints: list[tuple[str, datetime, datetime]] = []
    start = b.start
    index = 0
    while start + timedelta(days=sprint_days) <= b.end + timedelta(days=sprint_days):
        index += 1
        sprints.append((str(100 + index), start, start + timedelta(days=sprint_days)))
        start += timedelta(days=sprint_days)
    committed: dict[str, float] = defaultdict(float)
    for number in range(1, rng.randint(25, 40)):
        key = f"{project}-{number}"
        sprint_id, sprint_start, sprint_end = rng.choice(sprints)
        created = b.moment(sprint_start - timedelta(days=3), sprint_start + timedelta(days=2))
        points = rng.choice((1, 2, 3, 5, 8, None))
        committed[sprint_id] += points or 0
        incident = rng.random() < 0.1
        snapshot: dict[str, Any] = {
            "key": key,
            "summary": f"work {number}",
            "issue_type": rng.choice(("Story", "Bug", "Task")),
            "status": "To Do",
            "status_category": "todo",
            "assignee": rng.choice(people),
            "created": iso(created),
        }
        if incident:
            snapshot.update(issue_type="Incident", repository_id=rng.choice(repositories))
        else:
            snapshot.update(story_points=points, sprint_id=int(sprint_id))
        b.emit("jira.issues", "project_key", project, "issue_created", created, snapshot)
        moment = created
        path = ["In Progress", "In Review", "Done"]
        if rng.random() < 0.2:
            path = ["In Progress", "In Review", "In Progress", "In Review", "Done"]  # reopened
        previous = "To Do"
        done_at = None
        for status in path[: rng.randint(1, len(path)) if rng.random() < 0.3 else len(path)]:
            moment = b.moment(moment, moment + timedelta(days=2))
            b.emit(
                "jira.issues",
                "project_key",
                project,
                "issue_transitioned",
                moment,
                {"key": key, "from_status": previous, "to_status": status, "transitioned_at": iso(moment)},
            )
            previous = status
            done_at = moment if status == "Done" else None
        if done_at is not None and done_at < b.end:
            b.emit(
                "jira.issues",
                "project_key",
                project,
                "issue_updated",
                done_at + timedelta(seconds=1),
                {**snapshot, "status": "Done", "status_category": "done", "resolved": iso(done_at)},
            )
    for sprint_id, sprint_start, sprint_end in sprints:
        base = {
            "id": int(sprint_id),
            "name": f"Sprint {sprint_id}",
            "start_date": iso(sprint_start),
            "end_date": iso(sprint_end),
            "committed_points": committed[sprint_id],
        }
        b.emit(
            "jira.sprints",
            "project_key",
            project,
            "sprint_started",
            sprint_start,
            {**base, "state": "active"},
        )
        if sprint_end <= b.end:
            closed = {**base, "state": "closed", "complete_date": iso(sprint_end - timedelta(hours=2))}
            if rng.random() < 0.5:
                closed["completed_points"] = round(committed[sprint_id] * rng.uniform(0.5, 1.0))
            b.emit(
                "jira.sprints",
                "project_key",
                project,
                "sprint_closed",
                sprint_end - timedelta(hours=2),
                closed,
            )


def generate_sei_history(
    *,
    repositories: int = 20,
    teams: int = 4,
    days: int = 60,
    seed: int = 3,
    end: datetime = datetime(2025, 10, 31, tzinfo=UTC),
    prefix: str = "sei",
    duplicate_rate: float = 0.05,
    ship_merged_only: bool = False,
) -> SeiHistory:
    """A history of ``repositories`` repositories in ``teams`` teams (one Jira project per
    team) over the ``days`` days before ``end``.

    ``ship_merged_only``: every successful production deployment lists the commits that
    reached the default branch before it finished (a PR's at its merge), as a CI system
    reports them. By default half list whatever was pending, merged or not, and half list
    nothing (METRICS' fallback): branch commits then ship before their merge.
    """
    rng = random.Random(seed)
    b = _Builder(rng, end - timedelta(days=days), end)
    history = SeiHistory()
    team_names = [f"{prefix}-team-{t}" for t in range(teams)]
    people = [f"dev{i}@example.com" for i in range(12)]
    for i in range(repositories):
        repo = f"{prefix}-repo-{i:02d}"
        team = team_names[i % teams]
        history.repositories.append(repo)
        history.teams[repo] = team
        # Each repository moves to its team an hour in: its whole history counts for the new team.
        _repository_history(b, repo, team, f"{prefix}-former-team", rng.sample(people, 5), ship_merged_only)
    for t, team in enumerate(team_names):
        project = f"{prefix.upper().replace('-', '')}{t}"
        history.projects.append(project)
        team_repos = [r for r, owner in history.teams.items() if owner == team]
        _project_history(b, project, team_repos, people)
    b.timed.sort(key=lambda item: item[0])
    ordered = [(topic, event) for _, topic, event in b.timed]
    for _ in range(int(len(ordered) * duplicate_rate)):
        original = rng.randrange(len(ordered))
        ordered.insert(min(len(ordered), original + rng.randrange(1, 300)), ordered[original])
    history.events = ordered
    return history


def malformed_messages(history: SeiHistory) -> dict[str, list[tuple[bytes, bytes]]]:
    """One broken message per topic, each broken a different way a collector gets it wrong,
    under the history's own keys: what the intake must dead-letter while the rest flows."""
    repo, other, project = history.repositories[0], history.repositories[-1], history.projects[0]
    when = iso(datetime(2025, 10, 1, 12, tzinfo=UTC))

    def event(event_type: str, key_field: str, key: str, data: dict[str, Any], **extra: Any) -> bytes:
        return orjson.dumps(
            {"event_type": event_type, "timestamp": when, "source": "sample", key_field: key, "data": data}
            | extra
        )

    return {
        "git.commits": [
            (repo.encode(), b'{"event_type": "commit_created", "repository_id": "' + repo.encode())
        ],
        "git.pull_requests": [
            (repo.encode(), event("pull_request_opened", "repository_id", repo, {"title": "no number"}))
        ],
        "git.repositories": [  # keyed by one repository, about another: its state would split
            (repo.encode(), event("repository_updated", "repository_id", other, {"team": "x"}))
        ],
        "cicd.deployments": [
            (
                repo.encode(),
                event(
                    "deployment_finished",
                    "repository_id",
                    repo,
                    {"id": "deploy-x", "environment": "production", "status": "maybe", "finished_at": when},
                ),
            )
        ],
        "ops.incidents": [
            (repo.encode(), event("incident_exploded", "repository_id", repo, {"id": "inc-x"}))
        ],
        "jira.issues": [  # an issue of another project under this project's key
            (project.encode(), event("issue_created", "project_key", project, {"key": "ELSEWHERE-1"}))
        ],
        "jira.sprints": [
            (
                project.encode(),
                event("sprint_started", "project_key", project, {"id": 1}, timestamp="yesterday"),
            )
        ],
    }


def expected_rows(history: SeiHistory) -> dict[str, int]:
    """Rows per entity table once every event is stored: one per identity, however often
    an event came (pull_requests per number, incidents also from Incident-type issues that
    name a repository)."""
    seen: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    for topic, event in history.events:
        data = event["data"]
        if topic == "git.commits":
            seen["commits"].add((event["repository_id"], data["sha"]))
        elif topic == "git.pull_requests":
            seen["pull_requests"].add((event["repository_id"], data["number"]))
        elif topic == "git.repositories":
            seen["repositories"].add((event["repository_id"],))
        elif topic == "cicd.deployments":
            seen["deployments"].add((event["repository_id"], data["id"]))
        elif topic == "ops.incidents":
            seen["incidents"].add((event["repository_id"], data["id"]))
        elif topic == "jira.issues":
            seen["issues"].add((data["key"],))
            if data.get("issue_type") == "Incident" and data.get("repository_id"):
                seen["incidents"].add((data["repository_id"], data["key"]))
        elif topic == "jira.sprints":
            seen["sprints"].add((event["project_key"], data["id"]))
    return {table: len(keys) for table, keys in sorted(seen.items())}
