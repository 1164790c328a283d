"""Ageing out (issue 23): a 200-day history through the agents with the default
STATE_RETENTION_DAYS (120): the tables forget what is older and not open, every answer
inside retention equals the truth, the database holds every row once and `metrics_daily`
every day (aged days included), the changelogs rebuild exactly the aged tables (tombstones
for what was forgotten), and a window beyond retention is answered from the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools.org_history import generate_sei_history
from tests.agents.test_entity_agents import Agents, agents, fetch, sent  # noqa: F401 (fixtures)
from tests.org_truth import truth_of

END = datetime(2025, 10, 31, tzinfo=UTC)
TOPICS = (
    "git.repositories",
    "git.commits",
    "git.pull_requests",
    "cicd.deployments",
    "jira.issues",
    "jira.sprints",
    "ops.incidents",
)


class Changelogs:
    """Every changelog record the tables send, per table: what a restarted worker replays."""

    def __init__(self) -> None:
        self.records: dict[str, list[tuple[Any, Any]]] = {}

    def follow(self, table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        original = table.send_changelog
        records = self.records.setdefault(table.name, [])

        def send_changelog(partition: Any, key: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
            records.append((key, value))
            return original(partition, key, value, *args, **kwargs)

        monkeypatch.setattr(table, "send_changelog", send_changelog)

    def replayed(self, name: str) -> dict[Any, Any]:
        """The table a worker recovers from the records: the last value per key, none after a tombstone."""
        state: dict[Any, Any] = {}
        for key, value in self.records.get(name, []):
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
        return state


class FakeView:
    def json(self, value: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Any:
        return status, value, headers or {}


class FakeRequest:
    def __init__(self, query: dict[str, str]) -> None:
        self.query = query


async def test_ageing_keeps_answers_inside_retention_and_the_database_whole(
    agents: Agents,  # noqa: F811 (the fixture)
    agent_database: str,
    app: Any,
    monkeypatch: pytest.MonkeyPatch,
    sent: dict[str, list[tuple[bytes, bytes]]],  # noqa: F811 (the fixture)
) -> None:
    from agents.projection import Due, projection
    from app.views.windowed import repository_answer
    from tables.cicd import deployment_index, deployments
    from tables.instants import to_micros
    from tables.retention import AGEING_STEP_DAYS, cutoff_day
    from tables.snapshots import (
        cycle_time_answer,
        dora_answer,
        latest_day,
        live_dora_answer,
        load_repository,
        retained_since,
        whole_since,
    )

    changelogs = Changelogs()
    for table in app.tables.values():
        changelogs.follow(table, monkeypatch)
    tag = f"{datetime.now(UTC).microsecond:06d}"
    history = generate_sei_history(repositories=2, teams=1, days=200, seed=9, end=END, prefix=f"age{tag}")
    truth = truth_of(history.events)
    messages = history.messages()
    # A month at a time, every topic, as a live history arrives: ageing runs as days pass.
    for month in range(7):
        low, high = END - timedelta(days=200 - 30 * month), END - timedelta(days=170 - 30 * month)
        for topic in TOPICS:
            first, last = month == 0, month == 6
            batch = [
                m for m in messages[topic] if (first or low <= _moment(m)) and (last or _moment(m) < high)
            ]
            await agents.put(topic, batch)
        # Jira incidents forwarded by this month's issues, as the worker's producer would.
        forwarded = [m for m in sent["ops.incidents"] if m[0].decode() in history.repositories]
        sent["ops.incidents"].clear()
        await agents.put("ops.incidents", forwarded)
    end = to_micros(END)
    await projection.flush(
        Due(repositories=set(history.repositories), projects=set(history.projects)), now=end
    )

    for repo in history.repositories:
        kept_from = retained_since(repo, 120)
        assert (
            kept_from is not None and "2025-07-01" <= kept_from <= "2025-07-05"
        )  # 120 days before its last event
        # The tables forgot, a step of days at a time: no day of the index before the last
        # ageing's cutoff, at most a step older than the cutoff, and no deployment before it
        # (not even those that shipped commits of pull requests still open) but the first
        # shipper of a commit committed after it (tables.retention: kept with that commit).
        # Which cutoff the last ageing had depends on where batches ended, hence the rule,
        # not a list.
        whole_from = whole_since(repo, 120)
        last = latest_day(repo)
        assert whole_from is not None and last is not None
        assert cutoff_day(last, 120 + AGEING_STEP_DAYS) <= whole_from <= kept_from
        left = [r for r in (deployments.get(f"{repo}\x1f{d}") for d in deployment_index.entries(repo)) if r]
        old = {d.id for d in truth.deployments[repo] if d.finished_at < _micros_of(whole_from)}
        assert deployment_index.span(repo)[0] >= whole_from
        kept_old = {r["id"] for r in left if r["id"] in old}
        assert len(old) > 20 and kept_old == _first_shippers_of_later_commits(truth, repo, _micros_of(whole_from))
        entities = load_repository(repo)
        # What the projection remembers having written is what the tables hold, not every
        # pull request it ever wrote (memory bounded by live state).
        assert set(projection._pull_requests[repo]) == {pr.key for pr in entities.pull_requests if pr.created_at}
        for days in (7, 30, 90):
            for ends in (END, END - timedelta(days=10)):
                at = to_micros(ends)
                assert dora_answer(
                    entities, end=at, window_days=days, production_environments={"production"}
                ) == (truth.dora([repo], end=at, window_days=days)), (repo, days, ends)
            assert cycle_time_answer(
                entities, end=end, window_days=days, production_environments={"production"}
            ) == (truth.cycle_time([repo], end=end, window_days=days))
        # The view inside retention: the owner's tables, shipped once and kept (tables.shipping_memo).
        end_iso = END.isoformat().replace("+00:00", "Z")
        for days in (7, 30, 90):
            for _ in range(2):
                status, body, headers = await repository_answer(
                    FakeView(),  # type: ignore[arg-type]
                    FakeRequest({"window": f"{days}d", "end": end_iso}),  # type: ignore[arg-type]
                    repo,
                    dora_answer,
                    live_dora_answer,
                    known=True,
                    unknown_error="",
                    with_pull_requests=False,
                )
                assert status == 200 and headers == {"X-SEI-Source": "tables"}
                assert body == {"repository_id": repo, **truth.dora([repo], end=end, window_days=days)}
        # A window beyond retention: from the database, which kept everything.
        old_end = (END - timedelta(days=150)).isoformat().replace("+00:00", "Z")
        status, body, headers = await repository_answer(
            FakeView(),  # type: ignore[arg-type]
            FakeRequest({"window": "30d", "end": old_end}),  # type: ignore[arg-type]
            repo,
            dora_answer,
            live_dora_answer,
            known=True,
            unknown_error="",
            with_pull_requests=False,
        )
        expected = truth.dora([repo], end=to_micros(END - timedelta(days=150)), window_days=30)
        assert status == 200 and headers == {"X-SEI-Source": "database"}
        assert body == {"repository_id": repo, **expected} and expected["deployment_frequency"]["deployments"]

    # The database holds every entity once and every day's metrics, aged days included.
    for table, column, count in (
        ("deployments", "deployment_id", lambda r: len({d.id for d in truth.deployments[r]})),
        ("pull_requests", "number", lambda r: len([p for p in truth.pull_requests(r) if p.created_at])),
    ):
        for repo in history.repositories:
            rows = await fetch(
                agent_database,
                f"SELECT count(*) AS n, count(DISTINCT {column}) AS d FROM {table} WHERE repository_id = $1",
                repo,
            )
            assert rows[0]["n"] == rows[0]["d"] == count(repo), (table, repo)
    daily = await fetch(
        agent_database,
        "SELECT subject, metric_date, metric, value FROM metrics_daily WHERE scope = 'repository' AND subject = ANY($1)",
        history.repositories,
    )
    for repo in history.repositories:
        stored = {(r["metric_date"], r["metric"]): r["value"] for r in daily if r["subject"] == repo}
        expected = truth.daily(repo)
        # The one documented exception (docs/state.md): an incident naming a deployment
        # finished more than retention before it opened cannot mark that deployment's day,
        # written when the day was aged out. Ageing goes a step of days at a time, so the
        # deployment may still be held when the incident comes: then the day is marked.
        for day in _named_beyond_retention(truth, repo):
            failed = expected[(day, "failed_deployments")]
            assert stored[(day, "failed_deployments")] in (failed - 1, failed)
            stored[(day, "failed_deployments")] = failed
        assert stored == pytest.approx(expected)

    # A restarted worker replays the changelogs: it recovers exactly the aged tables.
    def ours(state: Any) -> dict[Any, Any]:
        return {k: v for k, v in state.items() if f"age{tag}" in str(k)}

    for table in app.tables.values():
        held = ours(dict(table.items()))  # first: a coalesced table sends what is pending now
        assert ours(changelogs.replayed(table.name)) == held, table.name
    assert any(v is None for k, v in changelogs.records["deployments"] if f"age{tag}" in k)


def _moment(message: tuple[bytes, bytes]) -> datetime:
    import orjson

    return datetime.fromisoformat(orjson.loads(message[1])["timestamp"].replace("Z", "+00:00"))


def _micros_of(day: str) -> int:
    from tables.retention import cutoff_micros

    return cutoff_micros(day)


def _first_shippers_of_later_commits(truth: Any, repo: str, cutoff: int) -> set[str]:
    """The deployments finished before ``cutoff`` that first shipped a commit committed at
    or after it (a commit's time may follow its deployment's: rebased, or amended)."""
    from tables.deployment_state import ship_history
    from tests.org_truth import ENVIRONMENTS

    committed = {c.sha: c.committed_at for c in truth.commits[repo]}
    return {
        shipment.deployment.id
        for shipment in ship_history(truth.deployments[repo], truth.commits[repo], ENVIRONMENTS).shipments
        if shipment.deployment.finished_at < cutoff
        and any(committed.get(sha, -1) >= cutoff for sha in shipment.shas)
    }


def _named_beyond_retention(truth: Any, repo: str) -> list[Any]:
    from tables.instants import utc_day

    finished = {d.id: d.finished_at for d in truth.deployments[repo]}
    return [
        utc_day(finished[i.deployment_id])
        for i in truth.incidents(repo)
        if i.deployment_id in finished
        and i.opened_at is not None
        and i.opened_at - finished[i.deployment_id] > 120 * 86_400_000_000
    ]
