"""GET /dora's and GET /cycle-time's live answers keep what shipping a repository gave
between queries (tables.shipping_memo) and never answer from it once an agent changed the
repository."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from tests.agents.test_bounded_state import START, busy_repository
from tests.agents.test_entity_agents import Agents, agents, envelope, sent  # noqa: F401 (fixtures)

PROD = frozenset({"production"})


def _iso(days: float) -> str:
    return (START + timedelta(days=days)).isoformat().replace("+00:00", "Z")


async def test_the_live_dora_answer_is_the_fresh_one_after_every_change(agents: Agents, app: Any) -> None:  # noqa: F811
    from agents.projection import _forget_deliveries
    from tables.instants import to_micros
    from tables.shipping_memo import shipping_memo
    from tables.snapshots import dora_answer, live_dora_answer, load_repository

    repo = f"memo-{time.time_ns() % 1_000_000}"
    history = busy_repository(repo, deployments=200, commits=2_000, pull_requests=100)
    for topic in ("git.commits", "cicd.deployments"):
        await agents.put(topic, history[topic])
    end = to_micros(START + timedelta(days=365))
    since = (START + timedelta(days=365 - 30 - 120)).date().isoformat()

    def live() -> dict[str, Any]:
        return live_dora_answer(repo, since=since, end=end, window_days=30, production_environments=PROD)

    def fresh() -> dict[str, Any]:
        entities = load_repository(repo, with_pull_requests=False, since=since)
        return dora_answer(entities, end=end, window_days=30, production_environments=PROD)

    first = live()
    hits = shipping_memo.hits
    assert live() == first == fresh()
    assert shipping_memo.hits == hits + 1  # the second query shipped nothing

    # A late commit, older than the window's last deployments: their lead times grow.
    key = repo.encode()
    late = envelope("commit_created", "repository_id", repo, _iso(350), {"sha": "late-1", "committed_at": _iso(350)})
    await agents.put("git.commits", [(key, late)])
    after_commit = live()
    assert after_commit == fresh()
    assert after_commit["lead_time"] != first["lead_time"]

    deployment = {"id": "d-new", "environment": "production", "status": "success", "finished_at": _iso(364.9)}
    await agents.put(
        "cicd.deployments", [(key, envelope("deployment_finished", "repository_id", repo, _iso(364.9), deployment))]
    )
    after_deployment = live()
    assert after_deployment == fresh()
    assert after_deployment["deployment_frequency"]["deployments"] == first["deployment_frequency"]["deployments"] + 1

    live()
    assert len(shipping_memo) > 0
    await _forget_deliveries(app, revoked=set())  # a rebalance: another worker may change it
    assert len(shipping_memo) == 0


async def test_the_live_cycle_time_answer_is_the_fresh_one_after_every_change(
    agents: Agents,  # noqa: F811
) -> None:
    from tables.instants import to_micros
    from tables.shipping_memo import shipping_memo
    from tables.snapshots import cycle_time_answer, live_cycle_time_answer, load_repository

    repo = f"memo-ct-{time.time_ns() % 1_000_000}"
    history = busy_repository(repo, deployments=200, commits=2_000, pull_requests=100)
    for topic in ("git.commits", "git.pull_requests", "cicd.deployments"):
        await agents.put(topic, history[topic])
    end = to_micros(START + timedelta(days=365))
    since = (START + timedelta(days=365 - 90 - 120)).date().isoformat()

    def live() -> dict[str, Any]:
        return live_cycle_time_answer(repo, since=since, end=end, window_days=90, production_environments=PROD)

    def fresh() -> dict[str, Any]:
        entities = load_repository(repo, with_pull_requests=True, since=since)
        return cycle_time_answer(entities, end=end, window_days=90, production_environments=PROD)

    first = live()
    hits = shipping_memo.hits
    assert live() == first == fresh()
    assert shipping_memo.hits == hits + 1
    assert first["cycle_time"]["count"] > 0

    # A new pull request merged inside the window: one more sample.
    key = repo.encode()
    number = 10_000
    events = [
        ("pull_request_opened", _iso(355), {"number": number}),
        ("pull_request_merged", _iso(356), {"number": number, "merged_at": _iso(356), "merge_commit_sha": "mx"}),
    ]
    await agents.put(
        "git.pull_requests",
        [(key, envelope(kind, "repository_id", repo, moment, data)) for kind, moment, data in events],
    )
    after = live()
    assert after == fresh()
    assert after["cycle_time"]["count"] == first["cycle_time"]["count"] + 1
