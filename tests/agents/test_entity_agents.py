"""The SEI agents under Faust's test_context (no broker), their tables, their rows in a real
PostgreSQL, and the projection flush; a history delivered in two orders gives one state."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import orjson
import pytest

from devtools.org_history import generate_sei_history
from tests.org_truth import at, truth_of

END = datetime(2025, 10, 31, tzinfo=UTC)


def envelope(event_type: str, key_field: str, key: str, timestamp: str, data: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {"event_type": event_type, "timestamp": timestamp, "source": "test", key_field: key, "data": data}
    )


async def fetch(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[tuple[bytes, bytes]]]:
    """What the agents hand to the producer for ops.incidents and metrics.dora (leaves the process)."""
    from app.topics import metrics_dora, ops_incidents

    captured: dict[str, list[tuple[bytes, bytes]]] = {"ops.incidents": [], "metrics.dora": []}
    for topic in (ops_incidents, metrics_dora):
        name = topic.get_topic_name()

        def send_soon(*, key: bytes, value: bytes, _name: str = name, **_: object) -> None:
            captured[_name].append((key, value))

        monkeypatch.setattr(topic, "send_soon", send_soon)
    return captured


class Agents:
    """Every SEI agent's test context, and a way to wait until a topic's messages are done."""

    def __init__(self, contexts: dict[str, Any]) -> None:
        self.contexts = contexts

    async def put(self, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
        from app.resources import metrics

        before = metrics.topic(topic).consumed
        for key, value in messages:
            await self.contexts[topic].put(value, key=key)
        for _ in range(400):
            if metrics.topic(topic).consumed >= before + len(messages):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{topic}: {metrics.topic(topic).consumed - before} of {len(messages)} consumed")


@pytest.fixture
async def agents(app: Any, sent: dict[str, Any]) -> AsyncIterator[Agents]:
    from agents.cicd import process_deployments, process_incidents
    from agents.commits import process_commits
    from agents.git_activity import process_pull_requests, process_repositories
    from agents.jira import process_issues, process_sprints

    by_topic = {
        "git.commits": process_commits,
        "git.pull_requests": process_pull_requests,
        "git.repositories": process_repositories,
        "cicd.deployments": process_deployments,
        "ops.incidents": process_incidents,
        "jira.issues": process_issues,
        "jira.sprints": process_sprints,
    }
    async with AsyncExitStack() as stack:
        contexts = {
            topic: await stack.enter_async_context(agent.test_context()) for topic, agent in by_topic.items()
        }
        yield Agents(contexts)


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:6]


async def test_pull_request_events_any_order_build_the_row_with_stages(
    agents: Agents, agent_database: str, tag: str
) -> None:
    from agents.projection import Due, projection

    repo = f"pr-{tag}"
    key = repo.encode()
    commits = [
        (
            key,
            envelope(
                "commit_created",
                "repository_id",
                repo,
                "2025-10-01T08:00:00Z",
                {"sha": "c1", "pull_request_number": 7, "committed_at": "2025-10-01T08:00:00Z"},
            ),
        ),
        (
            key,
            envelope(
                "commit_created",
                "repository_id",
                repo,
                "2025-10-01T10:00:00Z",
                {"sha": "c2", "committed_at": "2025-10-01T10:00:00Z"},
            ),
        ),
    ]
    prs = [
        (
            key,
            envelope(
                "pull_request_merged",
                "repository_id",
                repo,
                "2025-10-02T12:00:00Z",
                {"number": 7, "merged_at": "2025-10-02T12:00:00Z", "merge_commit_sha": "m7"},
            ),
        ),
        (
            key,
            envelope(
                "pull_request_review_submitted",
                "repository_id",
                repo,
                "2025-10-01T14:00:00Z",
                {"number": 7, "reviewer": "alice", "state": "commented"},
            ),
        ),  # submitted_at: the timestamp
        (
            key,
            envelope(
                "pull_request_review_submitted",
                "repository_id",
                repo,
                "2025-10-01T13:00:00Z",
                {"number": 7, "reviewer": "bob", "state": "approved", "submitted_at": "2025-10-01T13:00:00Z"},
            ),
        ),
        (
            key,
            envelope(
                "pull_request_opened",
                "repository_id",
                repo,
                "2025-10-01T12:00:00Z",
                {
                    "number": 7,
                    "title": "fix",
                    "author": "bob",
                    "created_at": "2025-10-01T12:00:00Z",
                    "commit_shas": ["c2"],
                },
            ),
        ),
        (
            key,
            b'{"event_type": "pull_request_review_submitted", "timestamp": "2025-10-01T00:00:00Z",'
            b' "repository_id": "' + key + b'", "data": {"number": 7}}',
        ),  # no reviewer: dead letter
    ]
    deployments = [
        (
            key,
            envelope(
                "deployment_finished",
                "repository_id",
                repo,
                "2025-10-03T12:00:00Z",
                {
                    "id": "d1",
                    "environment": "production",
                    "status": "success",
                    "finished_at": "2025-10-03T12:00:00Z",
                },
            ),
        ),
    ]
    await agents.put("git.pull_requests", prs + prs[:2])
    await agents.put("cicd.deployments", deployments)
    await agents.put("git.commits", commits)  # commits last: still counted
    await projection.flush(Due(repositories={repo}), now=at("2025-10-31T00:00:00Z"))

    rows = await fetch(agent_database, "SELECT * FROM pull_requests WHERE repository_id = $1", repo)
    assert len(rows) == 1
    row = rows[0]
    assert (row["number"], row["state"], row["author"], row["title"]) == (7, "merged", "bob", "fix")
    assert row["first_commit_at"] == datetime(2025, 10, 1, 8, tzinfo=UTC)  # c1 (numbered) before c2 (listed)
    assert row["first_review_at"] == datetime(
        2025, 10, 1, 14, tzinfo=UTC
    )  # bob reviewing himself: not counted
    assert row["first_approval_at"] is None
    assert row["deployed_at"] == datetime(2025, 10, 3, 12, tzinfo=UTC)  # d1 ships everything before it
    assert (row["coding_hours"], row["pickup_hours"], row["review_hours"]) == (4.0, 2.0, 22.0)
    assert (row["deploy_hours"], row["cycle_time_hours"], row["review_time_hours"]) == (24.0, 52.0, None)
    assert sorted(row["commit_shas"]) == ["c2"]
    dead = await fetch(agent_database, "SELECT error_type FROM dead_letters WHERE message_key = $1", key)
    assert [r["error_type"] for r in dead] == ["ValidationError"]
    daily = await fetch(
        agent_database,
        "SELECT metric_date, metric, value FROM metrics_daily WHERE scope = 'repository' AND subject = $1",
        repo,
    )
    values = {(r["metric_date"], r["metric"]): r["value"] for r in daily}
    assert values[(date(2025, 10, 3), "deployments")] == 1
    assert values[(date(2025, 10, 3), "lead_time_count")] == 2  # c1 and c2
    assert values[(date(2025, 10, 2), "pull_requests_merged")] == 1
    assert values[(date(2025, 10, 2), "cycle_time_count")] == 1
    # Flushing again sends nothing new and changes nothing.
    before = await fetch(
        agent_database, "SELECT xmin::text FROM metrics_daily WHERE subject = $1 ORDER BY 1", repo
    )
    projection.mark_repositories([repo])
    await projection.flush(Due(repositories={repo}), now=at("2025-10-31T00:00:00Z"))
    assert (
        await fetch(
            agent_database, "SELECT xmin::text FROM metrics_daily WHERE subject = $1 ORDER BY 1", repo
        )
        == before
    )


async def test_an_unchanged_snapshot_is_written_again_once_a_day(
    agents: Agents, tag: str, sent: dict[str, list[tuple[bytes, bytes]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quiet repository's snapshot is renewed (its window moves, its Redis key expires after
    a week); within the day, an unchanged one is not sent again."""
    from agents.projection import SNAPSHOT_RENEW_S, Due, projection

    repo = f"renew-{tag}"
    deployment = {
        "id": "d1",
        "environment": "production",
        "status": "success",
        "finished_at": "2025-10-03T12:00:00Z",
    }
    await agents.put(
        "cicd.deployments",
        [
            (
                repo.encode(),
                envelope("deployment_finished", "repository_id", repo, "2025-10-03T12:00:00Z", deployment),
            )
        ],
    )
    end = at("2025-10-20T00:00:00Z")
    await projection.flush(Due(repositories={repo}), now=end)
    await projection.flush(Due(repositories={repo}), now=end + 3_600_000_000)  # an hour later
    published = [orjson.loads(value) for key, value in sent["metrics.dora"] if key == repo.encode()]
    assert [p["deployment_frequency"]["deployments"] for p in published] == [1]

    projection.marked.repositories.discard(repo)  # the agent's own mark
    projection.mark_renewals(time.monotonic())  # less than a day since: nothing marked
    assert repo not in projection.marked.repositories
    monkeypatch.setattr(projection, "renew_s", 0.0)  # as if a day had passed
    projection.mark_renewals(time.monotonic())
    assert repo in projection.marked.repositories
    await projection.flush(Due(repositories={repo}), now=end + 7_200_000_000)
    published = [orjson.loads(value) for key, value in sent["metrics.dora"] if key == repo.encode()]
    assert len(published) == 2 and published[1]["end"] > published[0]["end"]
    assert SNAPSHOT_RENEW_S == 86_400.0


async def test_a_flush_lets_the_event_loop_run_between_repositories(
    agents: Agents, tag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a backlog hundreds of repositories are due at once: the views and the consumer
    wait for one repository's projection at most, not for the whole flush."""
    import agents.projection as projection_agent
    from agents.projection import Due, projection
    from agents.repository_projection import project_repository

    repos = [f"turns{n}-{tag}" for n in range(3)]
    for repo in repos:
        data = {
            "id": "d1",
            "environment": "production",
            "status": "success",
            "finished_at": "2025-10-05T10:00:00Z",
        }
        event = envelope("deployment_finished", "repository_id", repo, "2025-10-05T10:00:00Z", data)
        await agents.put("cicd.deployments", [(repo.encode(), event)])
    turns = 0
    seen: list[int] = []
    real = project_repository

    def counting(repository_id: str, **kwargs: Any) -> Any:
        seen.append(turns)
        return real(repository_id, **kwargs)

    async def spin() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    monkeypatch.setattr(projection_agent, "project_repository", counting)
    spinner = asyncio.ensure_future(spin())
    try:
        await projection.flush(Due(repositories=set(repos)))
    finally:
        spinner.cancel()
    assert len(seen) == 3 and seen[0] < seen[1] < seen[2], seen


async def test_a_busy_projection_takes_at_most_its_share_of_the_loop(
    agents: Agents, tag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a backlog every repository is due every tick: a flush that computed for a while
    holds the next one back until it is at most SHARE of the time (the events get the rest);
    the marks wait, and the flush after takes them all."""
    import agents.projection as projection_agent
    from agents.projection import SHARE, Due, _refresh, projection
    from agents.repository_projection import project_repository

    monkeypatch.setattr(projection, "_ready_at", float("-inf"))
    repo = f"share-{tag}"
    data = {"id": "d1", "environment": "production", "status": "success", "finished_at": "2025-10-05T10:00:00Z"}
    event = envelope("deployment_finished", "repository_id", repo, "2025-10-05T10:00:00Z", data)
    await agents.put("cicd.deployments", [(repo.encode(), event)])
    real = project_repository

    def slow(repository_id: str, **kwargs: Any) -> Any:
        time.sleep(0.3)  # a large repository's recomputation, holding the loop
        return real(repository_id, **kwargs)

    monkeypatch.setattr(projection_agent, "project_repository", slow)
    started = time.monotonic()
    await projection.flush(Due(repositories={repo}))
    assert not projection.ready(time.monotonic())
    assert projection.ready(started + 0.3 / SHARE + 0.05)
    projection.mark_repositories([repo])
    await _refresh(everything=False)  # too soon: nothing taken
    assert repo in projection.marked.repositories
    monkeypatch.setattr(projection, "_ready_at", float("-inf"))
    # A quick flush (no slow repository) leaves the next one free at once.
    monkeypatch.setattr(projection_agent, "project_repository", real)
    await projection.flush(Due(repositories={repo}))
    assert projection.ready(time.monotonic() + 0.05)


async def test_repository_team_change_moves_team_rows_and_fills_the_cache(
    agents: Agents, agent_database: str, tag: str
) -> None:
    from agents.projection import Due, projection
    from app.resources import cache

    repo, old, new = f"team-{tag}", f"old-{tag}", f"new-{tag}"
    key = repo.encode()
    await agents.put(
        "cicd.deployments",
        [
            (
                key,
                envelope(
                    "deployment_finished",
                    "repository_id",
                    repo,
                    "2025-10-05T10:00:00Z",
                    {
                        "id": "d1",
                        "environment": "production",
                        "status": "success",
                        "finished_at": "2025-10-05T10:00:00Z",
                    },
                ),
            )
        ],
    )
    late = envelope(
        "repository_updated", "repository_id", repo, "2025-10-02T00:00:00Z", {"team": new, "name": "n"}
    )
    early = envelope("repository_updated", "repository_id", repo, "2025-10-01T00:00:00Z", {"team": old})
    await agents.put("git.repositories", [(key, early)])
    await projection.flush(Due(repositories={repo}, teams={old}))
    teams = "SELECT subject, metric, value FROM metrics_daily WHERE scope = 'team' AND subject = ANY($1) ORDER BY 1, 2"
    assert ("deployments", 1.0) in [
        (r[1], r[2]) for r in await fetch(agent_database, teams, [old, new]) if r[0] == old
    ]

    await agents.put("git.repositories", [(key, late), (key, early)])  # the later event wins in any order
    rows = await fetch(agent_database, "SELECT team, name FROM repositories WHERE repository_id = $1", repo)
    assert [tuple(r) for r in rows] == [(new, "n")]
    await projection.flush(Due(repositories={repo}, teams={old, new}))
    pooled = await fetch(agent_database, teams, [old, new])
    assert {r[0] for r in pooled} == {new}  # the whole history moved to the new team
    cached = await cache.mget([f"processor:cache:repo:{repo}"])
    if cached[0] is not None:  # Redis is optional for agent tests
        assert orjson.loads(cached[0])["team"] == new


async def test_issues_sprints_and_incident_issues(
    agents: Agents, agent_database: str, tag: str, sent: dict[str, list[tuple[bytes, bytes]]]
) -> None:
    from agents.projection import Due, projection
    from tables.snapshots import issue_answer, sprints_answer

    project = f"P{tag.upper()}"
    key = project.encode()
    issue = f"{project}-1"
    seed_issue = {
        "key": issue,
        "status": "Done",
        "assignee": "john@example.com",
        "story_points": 5,
        "sprint_id": 12,
        "created": "2025-09-25T10:00:00Z",
        "resolved": "2025-10-01T12:00:00Z",
    }
    transitions = [
        ("To Do", "In Progress", "2025-09-26T00:00:00Z"),
        ("In Progress", "In Review", "2025-09-27T00:00:00Z"),
        ("In Review", "In Progress", "2025-09-27T06:00:00Z"),  # reopened
        ("In Progress", "Done", "2025-09-28T00:00:00Z"),
    ]
    messages = [
        (key, envelope("issue_updated", "project_key", project, "2025-10-01T12:00:00Z", seed_issue))
    ] + [
        (
            key,
            envelope(
                "issue_transitioned",
                "project_key",
                project,
                when,
                {"key": issue, "from_status": a, "to_status": b, "transitioned_at": when},
            ),
        )
        for a, b, when in reversed(transitions)
    ]
    incident = {
        "key": f"{project}-2",
        "issue_type": "Incident",
        "summary": "down",
        "repository_id": f"r-{tag}",
        "created": "2025-10-02T00:00:00Z",
        "resolved": "2025-10-02T03:00:00Z",
    }
    messages.append(
        (key, envelope("issue_created", "project_key", project, "2025-10-02T03:00:00Z", incident))
    )
    messages.append(
        (key, envelope("issue_created", "project_key", project, "2025-10-02T03:00:00Z", {"key": "OTHER-3"}))
    )  # not this project's issue: dead letter
    await agents.put("jira.issues", messages + messages[:2])
    sprint = {
        "id": 12,
        "name": "S12",
        "start_date": "2025-09-22T00:00:00Z",
        "end_date": "2025-10-06T00:00:00Z",
        "committed_points": 8,
    }
    await agents.put(
        "jira.sprints",
        [
            (
                key,
                envelope(
                    "sprint_closed",
                    "project_key",
                    project,
                    "2025-10-05T00:00:00Z",
                    {**sprint, "complete_date": "2025-10-05T00:00:00Z"},
                ),
            ),
            (key, envelope("sprint_started", "project_key", project, "2025-09-22T00:00:00Z", sprint)),
        ],
    )

    answer = issue_answer(issue)
    assert answer is not None and answer["cycle_time_days"] == 6.08  # seed 000's PROJ-123
    assert answer["time_in_status"] == {"In Progress": 86_400 + 64_800.0, "In Review": 21_600.0}
    rows = await fetch(
        agent_database,
        "SELECT issue_key, cycle_time_days, story_points FROM issues WHERE project_key = $1 ORDER BY 1",
        project,
    )
    assert [tuple(r) for r in rows] == [(issue, 6.08, 5.0), (f"{project}-2", 0.12, None)]
    durations = await fetch(
        agent_database,
        "SELECT status, seconds FROM issue_status_durations WHERE issue_key = $1 ORDER BY 1",
        issue,
    )
    assert [tuple(r) for r in durations] == [("In Progress", 151_200.0), ("In Review", 21_600.0)]
    sprints = sprints_answer(project)
    assert sprints is not None
    assert [
        (s["id"], s["state"], s["completed_points"], s["completion_rate"]) for s in sprints["sprints"]
    ] == [
        ("12", "closed", 5.0, 0.625)  # no completed_points given: PROJ-1's 5 points, resolved before close
    ]
    assert sprints["velocity_trend"] == 5.0
    stored = await fetch(
        agent_database,
        "SELECT sprint_id, completed_points, velocity FROM sprints WHERE project_key = $1",
        project,
    )
    assert [tuple(r) for r in stored] == [("12", 5.0, 5.0)]

    # The Incident issue went to ops.incidents, keyed by its repository, once per delivery.
    forwarded = [orjson.loads(v) for k, v in sent["ops.incidents"] if k == f"r-{tag}".encode()]
    assert forwarded and {f["data"]["id"] for f in forwarded} == {f"{project}-2"}
    assert forwarded[0]["event_type"] == "incident_resolved"
    await agents.put("ops.incidents", [(k, v) for k, v in sent["ops.incidents"] if k == f"r-{tag}".encode()])
    incidents = await fetch(
        agent_database,
        "SELECT incident_id, opened_at, resolved_at FROM incidents WHERE repository_id = $1",
        f"r-{tag}",
    )
    assert [tuple(r) for r in incidents] == [
        (f"{project}-2", datetime(2025, 10, 2, tzinfo=UTC), datetime(2025, 10, 2, 3, tzinfo=UTC))
    ]
    await projection.flush(Due(projects={project}))  # nothing changed: nothing rewritten
    assert [
        tuple(r)
        for r in await fetch(
            agent_database, "SELECT sprint_id, completed_points FROM sprints WHERE project_key = $1", project
        )
    ] == [("12", 5.0)]


def _orders(
    messages: list[tuple[str, tuple[bytes, bytes]]], seed: int
) -> Iterator[list[tuple[str, tuple[bytes, bytes]]]]:
    rng = random.Random(seed)
    yield list(messages)
    shuffled = messages + rng.sample(messages, len(messages) // 3)
    rng.shuffle(shuffled)
    yield shuffled


async def test_history_in_two_orders_with_duplicates_gives_one_state(
    agents: Agents, agent_database: str, tag: str, sent: dict[str, list[tuple[bytes, bytes]]]
) -> None:
    """The same generated history, in order and shuffled with redeliveries, through every
    agent: tables, snapshots and rows agree with each other and with the truth."""
    from agents.projection import Due, projection
    from tables.snapshots import cycle_time_answer, dora_answer, issue_answer, load_repository, sprints_answer

    end = at("2025-10-31T00:00:00Z")
    assert end is not None
    answers = []
    for run, seed in (("a", 1), ("b", 2)):
        history = generate_sei_history(repositories=2, teams=1, days=20, seed=5, prefix=f"h{run}{tag}")
        truth = truth_of(history.events)
        flat = [(topic, message) for topic, messages in history.messages().items() for message in messages]
        order = list(_orders(flat, seed))[1 if run == "b" else 0]
        for topic in (
            "git.repositories",
            "git.commits",
            "git.pull_requests",
            "cicd.deployments",
            "jira.issues",
            "jira.sprints",
            "ops.incidents",
        ):
            await agents.put(topic, [m for t, m in order if t == topic])
        forwarded = [m for m in sent["ops.incidents"] if m[0].decode() in history.repositories]
        await agents.put("ops.incidents", forwarded)
        await projection.flush(
            Due(repositories=set(history.repositories), projects=set(history.projects)), now=end
        )
        sample = truth.dora(history.repositories, end=end, window_days=30)
        assert sample["lead_time"]["count"] > 10 and sample["change_failure_rate"]["deployments"] > 5
        assert truth.cycle_time(history.repositories, end=end, window_days=30)["cycle_time"]["count"] > 5
        answer: dict[str, Any] = {}
        for n, repo in enumerate(history.repositories):
            entities = load_repository(repo)
            dora = dora_answer(entities, end=end, window_days=30, production_environments={"production"})
            assert dora == truth.dora([repo], end=end, window_days=30)
            cycle = cycle_time_answer(
                entities, end=end, window_days=30, production_environments={"production"}
            )
            assert cycle == truth.cycle_time([repo], end=end, window_days=30)
            answer[f"repo{n}"] = (dora, _renamed(cycle, repo, f"repo{n}"))
        for n, project in enumerate(history.projects):
            assert sprints_answer(project) == truth.sprints(project)
            answer[f"project{n}"] = _renamed(sprints_answer(project), project, f"project{n}")
            for key in [k for k, p in truth.issue_projects.items() if p == project]:
                assert issue_answer(key) == truth.issue(key)
        daily = await fetch(
            agent_database,
            "SELECT subject, metric_date, metric, value FROM metrics_daily WHERE scope = 'repository' AND subject = ANY($1)",
            history.repositories,
        )
        for repo in history.repositories:
            stored = {(r["metric_date"], r["metric"]): r["value"] for r in daily if r["subject"] == repo}
            assert stored == pytest.approx(truth.daily(repo))
        answers.append(answer)
    assert answers[0] == answers[1]


async def test_a_flush_over_the_chunk_size_writes_in_several_transactions_and_the_same_rows(
    agents: Agents,
    agent_database: str,
    tag: str,
    sent: dict[str, list[tuple[bytes, bytes]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A flush of many repositories writes a chunk of them per transaction (its memory is a
    chunk's rows, not the organization's); a team whose repositories fall in different
    chunks is pooled from all of them."""
    import agents.projection as projection_agent
    from agents.projection import Due, projection
    from app.resources import database

    end = at("2025-10-31T00:00:00Z")
    history = generate_sei_history(repositories=3, teams=1, days=20, seed=7, prefix=f"ck{tag}")
    truth = truth_of(history.events)
    for topic, messages in history.messages().items():
        await agents.put(topic, messages)
    await agents.put("ops.incidents", [m for m in sent["ops.incidents"] if m[0].decode() in history.repositories])
    transactions = 0
    real = database.transaction

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal transactions
        transactions += 1
        return await real(*args, **kwargs)

    monkeypatch.setattr(projection_agent, "CHUNK_ROWS", 1)
    monkeypatch.setattr(database, "transaction", counted)
    await projection.flush(Due(repositories=set(history.repositories)), now=end)
    assert transactions == len(history.repositories)  # one per repository: each is over the size
    rows = await fetch(
        agent_database,
        "SELECT scope, subject, metric_date, metric, value FROM metrics_daily WHERE subject = ANY($1)",
        [*history.repositories, truth.team(history.repositories[0])],
    )
    pooled: dict[tuple[date, str], float] = {}
    for repo in history.repositories:
        stored = {(r["metric_date"], r["metric"]): r["value"] for r in rows if r["subject"] == repo}
        assert stored == pytest.approx(truth.daily(repo)) and stored
        for key, value in truth.daily(repo).items():
            pooled[key] = pooled.get(key, 0.0) + value
    team = {(r["metric_date"], r["metric"]): r["value"] for r in rows if r["scope"] == "team"}
    assert team == pytest.approx(pooled)
    written = await fetch(
        agent_database, "SELECT count(*) FROM pull_requests WHERE repository_id = ANY($1)", history.repositories
    )
    assert written[0][0] == sum(len(truth.pull_requests(repo)) for repo in history.repositories) > 0
    transactions = 0
    await projection.flush(Due(repositories=set(history.repositories)), now=end)
    assert transactions == 0  # nothing changed: nothing written again


def _renamed(value: Any, old: str, new: str) -> Any:
    return orjson.loads(orjson.dumps(value).replace(old.encode(), new.encode()))


@pytest.mark.parametrize(
    ("topic", "merge", "table", "event_type", "data"),
    [
        pytest.param(
            "cicd.deployments",
            "merge_deployments",
            "deployments",
            "deployment_finished",
            {"environment": "production", "status": "success", "finished_at": "2025-10-03T12:00:00Z"},
            id="deployments",
        ),
        pytest.param(
            "ops.incidents",
            "merge_incident_changes",
            "incidents",
            "incident_opened",
            {"opened_at": "2025-10-03T12:00:00Z", "title": "outage"},
            id="incidents",
        ),
    ],
)
async def test_a_failure_applying_one_repositorys_events_dead_letters_them_and_the_agent_goes_on(
    agents: Agents,
    agent_database: str,
    tag: str,
    monkeypatch: pytest.MonkeyPatch,
    topic: str,
    merge: str,
    table: str,
    event_type: str,
    data: dict[str, Any],
) -> None:
    import agents.cicd as cicd

    bad, good = f"bad-{tag}", f"good-{tag}"
    real = getattr(cicd, merge)

    def merge_with_a_bug(existing: Any, changes: list[Any]) -> Any:
        if changes[0].repository_id == bad:
            raise RuntimeError("a bug met by this repository's events")
        return real(existing, changes)

    monkeypatch.setattr(cicd, merge, merge_with_a_bug)

    def event(repo: str, entity_id: str) -> tuple[bytes, bytes]:
        return repo.encode(), envelope(
            event_type, "repository_id", repo, "2025-10-03T12:00:00Z", {"id": entity_id, **data}
        )

    await agents.put(topic, [event(bad, "e1"), event(good, "e1"), event(bad, "e2")])
    await agents.put(topic, [event(good, "e2")])  # the agent still runs after the failure

    id_column = "deployment_id" if table == "deployments" else "incident_id"
    rows = await fetch(
        agent_database,
        f"SELECT repository_id, {id_column} FROM {table} WHERE repository_id = ANY($1) ORDER BY 1, 2",
        [bad, good],
    )
    assert [tuple(r) for r in rows] == [(good, "e1"), (good, "e2")]
    dead = await fetch(
        agent_database,
        "SELECT error_type, error_reason, error_message FROM dead_letters WHERE message_key = $1",
        bad.encode(),
    )
    assert [tuple(r) for r in dead] == [
        ("RuntimeError", "processing_error", "a bug met by this repository's events")
    ] * 2


async def test_a_failure_deriving_an_issues_rows_leaves_its_table_entry_as_it_was(
    agents: Agents, agent_database: str, tag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agents.jira as jira

    project = f"F{tag.upper()}"
    bad, good = f"{project}-1", f"{project}-2"
    real = jira.issue_row

    def issue_row_with_a_bug(project_key: str, state: Any) -> Any:
        if state.key == bad:
            raise RuntimeError("a bug met deriving this issue's row")
        return real(project_key, state)

    monkeypatch.setattr(jira, "issue_row", issue_row_with_a_bug)

    def created(issue: str) -> tuple[bytes, bytes]:
        data = {"key": issue, "status": "To Do", "created": "2025-10-01T10:00:00Z"}
        return project.encode(), envelope(
            "issue_created", "project_key", project, "2025-10-01T10:00:00Z", data
        )

    await agents.put("jira.issues", [created(bad), created(good)])
    rows = await fetch(agent_database, "SELECT issue_key FROM issues WHERE project_key = $1", project)
    assert [r["issue_key"] for r in rows] == [good]
    dead = await fetch(
        agent_database, "SELECT error_reason FROM dead_letters WHERE original = $1", created(bad)[1]
    )
    assert [r["error_reason"] for r in dead] == ["processing_error"]
    # The issue's events were not applied: delivered again once the bug is gone, they count.
    assert jira.issues.get(bad) is None and jira.issues.get(good) is not None
    monkeypatch.setattr(jira, "issue_row", real)
    await agents.put("jira.issues", [created(bad)])
    rows = await fetch(
        agent_database, "SELECT issue_key FROM issues WHERE project_key = $1 ORDER BY 1", project
    )
    assert [r["issue_key"] for r in rows] == [bad, good]


async def test_a_failure_deriving_a_repositorys_row_leaves_its_table_entry_as_it_was(
    agents: Agents, agent_database: str, tag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agents.git_activity as git_activity

    bad, good = f"rbad-{tag}", f"rgood-{tag}"
    real = git_activity.repository_row

    def repository_row_with_a_bug(snapshot: Any) -> Any:
        if snapshot.repository_id == bad:
            raise RuntimeError("a bug met deriving this repository's row")
        return real(snapshot)

    monkeypatch.setattr(git_activity, "repository_row", repository_row_with_a_bug)

    def updated(repo: str) -> tuple[bytes, bytes]:
        data = {"team": "platform", "name": repo}
        return repo.encode(), envelope(
            "repository_updated", "repository_id", repo, "2025-10-01T00:00:00Z", data
        )

    await agents.put("git.repositories", [updated(bad), updated(good)])
    rows = await fetch(
        agent_database, "SELECT repository_id FROM repositories WHERE repository_id = ANY($1)", [bad, good]
    )
    assert [r["repository_id"] for r in rows] == [good]
    dead = await fetch(
        agent_database, "SELECT error_reason FROM dead_letters WHERE message_key = $1", bad.encode()
    )
    assert [r["error_reason"] for r in dead] == ["processing_error"]
    assert git_activity.repositories.get(bad) is None and git_activity.repositories.get(good) is not None


async def test_a_projection_failing_for_one_repository_leaves_the_others_written(
    agents: Agents, agent_database: str, tag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agents.repository_projection as projection_module
    from agents.projection import Due, projection

    bad, good = f"pbad-{tag}", f"pgood-{tag}"
    for repo in (bad, good):
        data = {
            "id": "d1",
            "environment": "production",
            "status": "success",
            "finished_at": "2025-10-05T10:00:00Z",
        }
        await agents.put(
            "cicd.deployments",
            [
                (
                    repo.encode(),
                    envelope("deployment_finished", "repository_id", repo, "2025-10-05T10:00:00Z", data),
                )
            ],
        )
    real = projection_module.load_repository

    def load_with_a_bug(repository_id: str) -> Any:
        if repository_id == bad:
            raise RuntimeError("a bug met computing this repository's projection")
        return real(repository_id)

    monkeypatch.setattr(projection_module, "load_repository", load_with_a_bug)
    from app.resources import metrics

    def failures() -> float:
        return metrics.registry.get_sample_value("projection_failures_total", {"scope": "repository"}) or 0.0

    before = failures()
    await projection.flush(Due(repositories={bad, good}))  # does not raise: the others are written
    written = await fetch(
        agent_database,
        "SELECT DISTINCT subject FROM metrics_daily WHERE scope = 'repository' AND subject = ANY($1)",
        [bad, good],
    )
    assert [r["subject"] for r in written] == [good]
    assert failures() == before + 1
