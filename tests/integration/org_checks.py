"""Checks shared by the SEI integration tests: what every HTTP answer and every row of a
generated history must be, against the truth (tests.org_truth) computed from its events."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import asyncpg
import orjson

from devtools.kafka_io import create_topics, produce
from devtools.org_history import SEI_TOPICS, SeiHistory
from devtools.worker_process import WorkerProcess
from tables.cycle_time import stage_durations, timelines
from tables.instants import to_micros
from tests.integration.conftest import wait_for
from tests.org_truth import ENVIRONMENTS, Truth

__all__ = [
    "mismatches",
    "produce_history",
    "feed_history",
    "http_mismatches",
    "row_mismatches",
    "metrics_daily_mismatches",
]

WINDOWS = (7, 30, 90)


def jsonable(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def mismatches(actual: Any, expected: Any, path: str = "") -> list[str]:
    """Where ``actual`` differs from ``expected`` (floats within 1e-9 relative)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        if set(actual) != set(expected):
            return [f"{path}: keys {sorted(set(actual) ^ set(expected))} differ"]
        return [m for key in expected for m in mismatches(actual[key], expected[key], f"{path}.{key}")]
    if isinstance(expected, list) and isinstance(actual, list):
        if len(actual) != len(expected):
            return [f"{path}: {len(actual)} items, expected {len(expected)}"]
        return [
            m
            for i, (a, e) in enumerate(zip(actual, expected, strict=True))
            for m in mismatches(a, e, f"{path}[{i}]")
        ]
    if (
        isinstance(expected, float | int)
        and isinstance(actual, float | int)
        and not isinstance(expected, bool)
    ):
        if math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9):
            return []
    elif actual == expected:
        return []
    return [f"{path}: {actual!r} != {expected!r}"]


def produce_history(bootstrap: str, history: SeiHistory) -> None:
    asyncio.run(create_topics([bootstrap], SEI_TOPICS, partitions=8))
    for topic, messages in history.messages().items():
        asyncio.run(produce([bootstrap], topic, messages))


def feed_history(worker: WorkerProcess, bootstrap: str, history: SeiHistory, timeout_s: float = 120) -> None:
    """Produce the history and wait until the worker has processed every message of it,
    and every ops.incidents message its Jira agent derived from an Incident-type issue."""
    produce_history(bootstrap, history)
    sent = {topic: len(messages) for topic, messages in history.messages().items()}
    # Counted on ops.incidents too: without them its count is reached while incidents wait.
    sent["ops.incidents"] = sent.get("ops.incidents", 0) + sum(
        1 for topic, event in history.events if topic == "jira.issues" and _names_an_incident(event)
    )

    def processed() -> bool:
        _, stats = worker.get("/stats")
        return all(stats["topics"].get(t, {}).get("processed", 0) >= n for t, n in sent.items())

    wait_for(processed, timeout_s, "the worker to process the history")


def _names_an_incident(event: dict[str, Any]) -> bool:
    """The Jira agent sends one ops.incidents message per such issue snapshot (agents.jira)."""
    data = event.get("data") or {}
    return data.get("issue_type") == "Incident" and bool(data.get("repository_id"))


def http_mismatches(worker: WorkerProcess, history: SeiHistory, truth: Truth, end: datetime) -> list[str]:
    """Every answer of the history's repositories, teams, issues and projects, against the truth."""
    end_us, end_q = to_micros(end), quote(end.isoformat())
    found: list[str] = []

    def check(path: str, expected: Any) -> None:
        status, body = worker.get(path)
        if status != 200:
            found.append(f"{path}: HTTP {status} {body}")
        else:
            found.extend(f"{path}{m}" for m in mismatches(body, jsonable(expected)))

    for repo in history.repositories:
        for days in WINDOWS:
            expected = {"repository_id": repo, **truth.dora([repo], end=end_us, window_days=days)}
            check(f"/dora/{repo}?window={days}d&end={end_q}", expected)
        expected = {"repository_id": repo, **truth.cycle_time([repo], end=end_us, window_days=30)}
        check(f"/cycle-time/{repo}?window=30d&end={end_q}", expected)
    for team in sorted(set(history.teams.values())):
        members = truth.repositories_of(team, history.repositories)
        for days in (30, 90):
            expected = {
                "team": team,
                "repositories": members,
                **truth.dora(members, end=end_us, window_days=days),
            }
            check(f"/dora/teams/{team}?window={days}d&end={end_q}", expected)
        expected = {
            "team": team,
            "repositories": members,
            **truth.cycle_time(members, end=end_us, window_days=30),
        }
        check(f"/cycle-time/teams/{team}?window=30d&end={end_q}", expected)
    for project in history.projects:
        check(f"/sprints/{project}", truth.sprints(project))
        keys = sorted(k for k, p in truth.issue_projects.items() if p == project)
        for key in keys:
            check(f"/issues/{key}", truth.issue(key))
        status, listing = worker.get(f"/issues/{project}")
        if status != 200 or sorted(i["key"] for i in listing["issues"]) != keys:
            found.append(f"/issues/{project}: {status} does not list {keys}")
    return found


def _fetch(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600


def _moment(micros: int | None) -> datetime | None:
    from tables.instants import from_micros

    return None if micros is None else from_micros(micros)


def row_mismatches(url: str, history: SeiHistory, truth: Truth) -> list[str]:
    """The entity rows of the history against the truth."""
    repos, projects = history.repositories, history.projects
    found: list[str] = []
    deployments = _fetch(
        url,
        "SELECT repository_id, deployment_id, finished_at FROM deployments WHERE repository_id = ANY($1)",
        repos,
    )
    expected_deployments = {(r, d.id) for r in repos for d in truth.deployments[r]}
    if {(r[0], r[1]) for r in deployments} != expected_deployments:
        found.append(f"deployments: {len(deployments)} rows, expected {len(expected_deployments)}")
    incidents = _fetch(
        url,
        "SELECT repository_id, incident_id, opened_at, resolved_at FROM incidents WHERE repository_id = ANY($1)",
        repos,
    )
    expected_incidents = {
        (i.repository_id, i.id, _moment(i.opened_at), _moment(i.resolved_at))
        for r in repos
        for i in truth.incidents(r)
    }
    if {tuple(r) for r in incidents} != expected_incidents:
        found.append(f"incidents: {sorted(set(map(tuple, incidents)) ^ expected_incidents)[:5]}")
    teams = {
        r[0]: r[1]
        for r in _fetch(
            url, "SELECT repository_id, team FROM repositories WHERE repository_id = ANY($1)", repos
        )
    }
    if teams != {r: truth.team(r) for r in repos}:
        found.append(f"repositories: teams {teams}")

    pull_requests = {
        (r["repository_id"], r["number"]): r
        for r in _fetch(url, "SELECT * FROM pull_requests WHERE repository_id = ANY($1)", repos)
    }
    for repo in repos:
        known = timelines(
            truth.pull_requests(repo), truth.commits[repo], truth.deployments[repo], ENVIRONMENTS
        )
        for key, timeline in known.items():
            row = pull_requests.get(key)
            pr = timeline.pull_request
            if row is None:
                found.append(f"pull_requests {key}: no row")
                continue
            stages = stage_durations(timeline)
            expected_row = {
                "created_at": _moment(pr.created_at),
                "merged_at": _moment(pr.merged_at),
                "deployed_at": _moment(timeline.deployed_at),
                "state": "merged" if pr.merged_at else "closed" if pr.closed_at else "open",
                **{
                    f"{stage}_hours": _hours(getattr(stages, stage))
                    for stage in ("coding", "pickup", "review", "deploy", "cycle_time", "review_time")
                },
            }
            found.extend(
                f"pull_requests {key}{m}" for m in mismatches({k: row[k] for k in expected_row}, expected_row)
            )
    if len(pull_requests) != sum(len(truth.pull_requests(r)) for r in repos):
        found.append(f"pull_requests: {len(pull_requests)} rows")

    issues = {
        r["issue_key"]: r for r in _fetch(url, "SELECT * FROM issues WHERE project_key = ANY($1)", projects)
    }
    durations: dict[str, dict[str, float]] = {}
    for r in _fetch(
        url,
        "SELECT issue_key, status, seconds FROM issue_status_durations WHERE project_key = ANY($1)",
        projects,
    ):
        durations.setdefault(r[0], {})[r[1]] = r[2]
    for key in truth.issues:
        report = truth.issue(key)
        row = issues.get(key)
        if (
            row is None
            or row["cycle_time_days"] != report["cycle_time_days"]
            or row["status"] != report["status"]
        ):
            found.append(f"issues {key}: {dict(row) if row else None} vs {report}")
        if durations.get(key, {}) != report["time_in_status"]:
            found.append(f"issue_status_durations {key}: {durations.get(key)} vs {report['time_in_status']}")
    sprints = {
        (r["project_key"], r["sprint_id"]): r
        for r in _fetch(url, "SELECT * FROM sprints WHERE project_key = ANY($1)", projects)
    }
    for project in projects:
        for sprint in truth.sprints(project)["sprints"]:
            row = sprints.get((project, sprint["id"]))
            fields = ("committed_points", "completed_points", "completion_rate", "velocity", "state")
            if row is None:
                found.append(f"sprints {project}/{sprint['id']}: no row")
            else:
                found.extend(
                    f"sprints {project}/{sprint['id']}{m}"
                    for m in mismatches({f: row[f] for f in fields}, {f: sprint[f] for f in fields})
                )
    return found


def metrics_daily_mismatches(url: str, history: SeiHistory, truth: Truth) -> list[str]:
    """metrics_daily of the history's repositories and teams against the truth."""
    rows = _fetch(
        url,
        "SELECT scope, subject, metric_date, metric, value FROM metrics_daily WHERE subject = ANY($1)",
        [*history.repositories, *set(history.teams.values())],
    )
    stored: dict[tuple[str, str], dict[tuple[date, str], float]] = {}
    for scope, subject, day, metric, value in rows:
        stored.setdefault((scope, subject), {})[(day, metric)] = value
    found: list[str] = []
    pooled: dict[str, dict[tuple[date, str], float]] = {}
    for repo in history.repositories:
        expected = truth.daily(repo)
        found.extend(
            f"metrics_daily {repo}{m}"
            for m in mismatches(_listed(stored.get(("repository", repo), {})), _listed(expected))
        )
        team = pooled.setdefault(truth.team(repo), {})
        for key, value in expected.items():
            team[key] = team.get(key, 0.0) + value
    for team, expected in pooled.items():
        found.extend(
            f"metrics_daily team {team}{m}"
            for m in mismatches(_listed(stored.get(("team", team), {})), _listed(expected))
        )
    return found


def _listed(buckets: dict[tuple[date, str], float]) -> dict[str, float]:
    return {f"{day.isoformat()} {metric}": value for (day, metric), value in buckets.items()}


def window_sums(
    url: str, subject: str, metrics: tuple[str, ...], end: datetime, days: int
) -> dict[str, float]:
    """Sums of ``metrics`` of one subject over the UTC days of the window ending at midnight ``end``."""
    assert end == datetime(end.year, end.month, end.day, tzinfo=UTC)
    rows = _fetch(
        url,
        "SELECT metric, sum(value) FROM metrics_daily WHERE subject = $1 AND metric = ANY($2) "
        "AND metric_date >= $3::date - $4::int AND metric_date < $3::date GROUP BY metric",
        subject,
        list(metrics),
        end.date(),
        days,
    )
    return {r[0]: r[1] for r in rows}
