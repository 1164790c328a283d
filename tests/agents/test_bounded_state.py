"""No table value grows with a key's history (issue 23): a repository with 20,000
deployments, 50,000 commits and 5,000 pull requests goes through the agents, every value
and key of every table serializes far below the broker's message limit, the answers come,
and the rows are written."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from faust.serializers import codecs

from tests.agents.test_entity_agents import Agents, agents, envelope, fetch, sent  # noqa: F401 (fixtures)

# The largest changelog record any table may write, whatever the history.
RECORD_LIMIT = 64 * 1024
START = datetime(2024, 11, 1, tzinfo=UTC)
DAYS = 365


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def busy_repository(
    repo: str, *, deployments: int, commits: int, pull_requests: int
) -> dict[str, list[tuple[bytes, bytes]]]:
    """A year of one busy repository: events spread evenly over DAYS days."""
    key = repo.encode()
    step = timedelta(days=DAYS)
    topics: dict[str, list[tuple[bytes, bytes]]] = {
        "git.commits": [],
        "git.pull_requests": [],
        "cicd.deployments": [],
    }
    for n in range(commits):
        moment = _iso(START + step * n / commits)
        data = {"sha": f"c{n:07d}", "committed_at": moment, "additions": 3, "deletions": 1}
        if n % 10 == 0:
            data["pull_request_number"] = 1 + (n // 10) % pull_requests
        topics["git.commits"].append((key, envelope("commit_created", "repository_id", repo, moment, data)))
    for n in range(pull_requests):
        opened = START + step * n / pull_requests
        merged = opened + timedelta(hours=5)
        number = n + 1
        topics["git.pull_requests"].append(
            (key, envelope("pull_request_opened", "repository_id", repo, _iso(opened), {"number": number}))
        )
        topics["git.pull_requests"].append(
            (
                key,
                envelope(
                    "pull_request_merged",
                    "repository_id",
                    repo,
                    _iso(merged),
                    {"number": number, "merged_at": _iso(merged), "merge_commit_sha": f"m{number}"},
                ),
            )
        )
    for n in range(deployments):
        moment = _iso(START + step * (n + 0.5) / deployments)
        data = {"id": f"d{n:06d}", "environment": "production", "status": "success", "finished_at": moment}
        topics["cicd.deployments"].append(
            (key, envelope("deployment_finished", "repository_id", repo, moment, data))
        )
    return topics


def largest_records(app: Any) -> dict[str, int]:
    """Per table: the largest serialized key or value it holds (what its changelog carries)."""
    largest: dict[str, int] = {}
    for table in app.tables.values():
        serializer = table.value_serializer or app.conf.value_serializer
        sizes = [len(codecs.dumps(serializer, value)) + len(str(key)) for key, value in table.items()]
        largest[table.name] = max(sizes, default=0)
    return largest


async def test_a_year_of_a_busy_repository_keeps_every_table_value_small(
    agents: Agents,  # noqa: F811 (the fixture)
    agent_database: str,
    app: Any,
) -> None:
    from agents.projection import Due, projection
    from tables.instants import to_micros
    from tables.snapshots import cycle_time_answer, dora_answer, load_repository

    repo = f"busy-{time.time_ns() % 1_000_000}"
    history = busy_repository(repo, deployments=20_000, commits=50_000, pull_requests=5_000)
    for topic in ("git.commits", "git.pull_requests", "cicd.deployments"):
        await agents.put(topic, history[topic])

    largest = largest_records(app)
    assert largest["commit_days"] > 0  # the tables were written
    too_big = {name: size for name, size in largest.items() if size >= RECORD_LIMIT}
    assert too_big == {}, f"table values over {RECORD_LIMIT} bytes: {too_big}"

    end = to_micros(START + timedelta(days=DAYS))
    entities = load_repository(repo)
    dora = dora_answer(entities, end=end, window_days=30, production_environments={"production"})
    # 20,000 deployments over 365 days: 1,643 or 1,644 fall into any 30 days.
    assert dora["deployment_frequency"]["deployments"] in (1643, 1644)
    assert dora["lead_time"]["count"] > 4000
    cycle = cycle_time_answer(entities, end=end, window_days=30, production_environments={"production"})
    assert cycle["cycle_time"]["count"] in (410, 411)

    await projection.flush(Due(repositories={repo}), now=end)
    counts = {
        table: (await fetch(agent_database, f"SELECT count(*) FROM {table} WHERE repository_id = $1", repo))[
            0
        ][0]
        for table in ("deployments", "commits", "pull_requests")
    }
    assert counts == {"deployments": 20_000, "commits": 50_000, "pull_requests": 5_000}
