"""Entities written by their family's store come back from its read unchanged, on a real
PostgreSQL: every field reaches its own column and returns from it (the team views pool
what these reads return)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from models.commits import CommitMessage
from stores.cicd import upsert_deployments, upsert_incidents
from stores.commits import CommitStore, commit_row, read_commits
from stores.git_activity import pull_request_rows, upsert_pull_requests
from stores.teams import team_entities
from tables.commit_state import Commit
from tables.deployment_state import Deployment
from tables.incident_state import Incident
from tables.pull_request_state import PullRequest, Review

REPO = "round-trip-repo"
T = 1_759_320_000_123_456  # 2025-10-01T12:00:00.123456Z in microseconds
TABLES = ("deployments", "incidents", "pull_requests", "commits")


@pytest.fixture
async def conn(agent_database: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(agent_database)

    async def clean() -> None:
        for table in TABLES:
            await connection.execute(f"DELETE FROM {table} WHERE repository_id = $1", REPO)

    await clean()
    try:
        yield connection
    finally:
        await clean()
        await connection.close()


DEPLOYMENTS = [
    Deployment(REPO, "d-all", "production", "success", T + 60, T, "sha-1", ("sha-1", "sha-2"), (7, 8)),
    Deployment(REPO, "d-none", "staging", "failure", T + 120),  # nothing optional given
    Deployment(REPO, "d-empty", "production", "success", T + 180, commit_shas=(), pull_request_numbers=()),
]
INCIDENTS = [
    Incident(REPO, "i-all", T, T + 3_600_000_000, "d-all", "outage", "sev1", "api"),
    Incident(REPO, "i-none", None),
]
PULL_REQUESTS = [
    PullRequest(
        REPO,
        7,
        author="ann",
        title="Add a thing",
        base_branch="main",
        created_at=T - 7_200_000_000,
        first_commit_at=T - 9_000_000_000,
        merged_at=T - 60_000_000,
        merge_commit_sha="sha-1",
        commit_shas=("sha-1", "sha-2"),
        reviews=(Review(T - 3_600_000_000, "bob", "approved"), Review(None, None, "commented")),
    ),
    PullRequest(REPO, 8, created_at=T - 1_000_000),  # open, nothing else known
]


async def test_cicd_and_pull_request_entities_come_back_as_written(conn: asyncpg.Connection) -> None:
    await upsert_deployments(conn, DEPLOYMENTS)
    await upsert_incidents(conn, INCIDENTS)
    await upsert_pull_requests(conn, pull_request_rows(PULL_REQUESTS, [], DEPLOYMENTS, {"production"}))
    read = await team_entities(conn, [REPO], with_pull_requests=True)
    assert sorted(read.deployments, key=lambda d: d.id) == sorted(DEPLOYMENTS, key=lambda d: d.id)
    assert sorted(read.incidents, key=lambda i: i.id) == INCIDENTS
    assert sorted(read.pull_requests, key=lambda p: p.number) == PULL_REQUESTS
    assert (await team_entities(conn, [REPO], with_pull_requests=False)).pull_requests == []


def commit_message(sha: str, when: str, **data: object) -> CommitMessage:
    return CommitMessage.model_validate(
        {
            "event_type": "commit_created",
            "timestamp": when,
            "repository_id": REPO,
            "data": {"sha": sha, **data},
        }
    )


async def test_commits_come_back_as_the_metrics_read_them(conn: asyncpg.Connection) -> None:
    messages = [
        commit_message("sha-1", "2025-10-01T12:00:00.123456Z", pull_request_number=7, message="one"),
        commit_message("sha-2", "2025-10-01T13:00:00Z"),
    ]
    await CommitStore().upsert_commits(conn, [commit_row(m) for m in messages])
    assert sorted(await read_commits(conn, [REPO]), key=lambda c: c.sha) == [
        Commit(REPO, "sha-1", T, 7),
        Commit(REPO, "sha-2", T + 3_600_000_000 - 123_456, None),
    ]


async def test_a_read_from_a_lookback_keeps_what_moved_since_and_the_open_items(
    conn: asyncpg.Connection,
) -> None:
    """The views read from their window's lookback (app.views.windowed): entities with an
    event from then on, and open incidents and pull requests whatever their age."""
    day = 86_400_000_000
    old, recent = T - 400 * day, T - day
    await upsert_deployments(
        conn,
        [
            Deployment(REPO, "d-old", "production", "success", old),
            Deployment(REPO, "d-new", "production", "success", recent),
        ],
    )
    await upsert_incidents(
        conn,
        [
            Incident(REPO, "i-old-closed", old, old + day),
            Incident(REPO, "i-old-open", old),
            Incident(REPO, "i-old-resolved-lately", old, recent),
            Incident(REPO, "i-new", recent),
        ],
    )
    prs = [
        PullRequest(REPO, 1, created_at=old, merged_at=old + day, merge_commit_sha="m1"),
        PullRequest(REPO, 2, created_at=old),  # still open
        PullRequest(REPO, 3, created_at=old, merged_at=recent, merge_commit_sha="m3"),
        PullRequest(REPO, 4, created_at=old, closed_at=old + day),
    ]
    await upsert_pull_requests(conn, pull_request_rows(prs, [], [], {"production"}))
    messages = [
        commit_message("sha-old", "2024-08-27T12:00:00Z"),
        commit_message("sha-new", "2025-09-30T12:00:00Z"),
    ]
    await CommitStore().upsert_commits(conn, [commit_row(m) for m in messages])
    since = datetime.fromtimestamp((T - 30 * day) / 1e6, UTC)
    read = await team_entities(conn, [REPO], with_pull_requests=True, since=since)
    assert [d.id for d in read.deployments] == ["d-new"]
    assert sorted(i.id for i in read.incidents) == ["i-new", "i-old-open", "i-old-resolved-lately"]
    assert sorted(p.number for p in read.pull_requests) == [2, 3]
    assert [c.sha for c in read.commits] == ["sha-new"]
    whole = await team_entities(conn, [REPO], with_pull_requests=True)
    assert (len(whole.deployments), len(whole.incidents), len(whole.pull_requests), len(whole.commits)) == (
        2,
        4,
        4,
        2,
    )


async def test_log_rows_come_back_as_written_by_json_or_by_arrays(conn: asyncpg.Connection) -> None:
    """A batch goes in as one JSON document (typed arrays when JSON cannot carry it, forced
    here): every value comes back as written either way, attributes as the same JSON."""
    import json
    from datetime import UTC, datetime

    from stores import logs as store

    def row(service: str, i: int, **changes: object) -> store.LogRow:
        fields: dict[str, object] = {
            "service": service,
            "created_at": datetime(2025, 10, 1, 12, 0, i, 123456 if i % 2 else 0, tzinfo=UTC),
            "log_key": f"k{i}",
            "level": "error",
            "message": f"héllo {i} \\ \" '",
            "latency_ms": 12.345678901234567 if i % 2 else None,
            "anomaly_score": 0.612345,
            "is_anomaly": bool(i % 2),
            "template": "héllo <num>",
            "score_source": "local",
            "trace_id": None if i % 2 else "t-1",
            "request_id": f"r{i}",
            "host": None,
            "attributes": None if i % 2 else json.dumps({"k": [1, "x", None], "n": {"deep": 1.5}}),
        }
        return store.LogRow(**{**fields, **changes})  # type: ignore[arg-type]

    by_json = [row("rt-json", i) for i in range(4)]
    by_arrays = [row("rt-arrays", i) for i in range(4)]
    await conn.execute("DELETE FROM logs WHERE service LIKE 'rt-%'")
    try:
        await store.upsert_logs(conn, by_json)
        await store.upsert_logs(conn, by_json[:1])  # a duplicate: the first write stands
        await conn.execute(store._UPSERT_LOGS, *store.LOG_COLUMNS.arrays(by_arrays))
        stored = await conn.fetch(
            f"{store.LOG_COLUMNS.select()} WHERE service LIKE 'rt-%' ORDER BY service, log_key"
        )
    finally:
        await conn.execute("DELETE FROM logs WHERE service LIKE 'rt-%'")

    def written(r: store.LogRow) -> dict[str, object]:
        fields = {name: getattr(r, name) for name in store.LOG_COLUMNS.names}
        return {**fields, "attributes": None if r.attributes is None else json.loads(r.attributes)}

    def read(r: asyncpg.Record) -> dict[str, object]:
        return {**dict(r), "attributes": None if r["attributes"] is None else json.loads(r["attributes"])}

    assert [read(r) for r in stored if r["service"] == "rt-json"] == [written(r) for r in by_json]
    assert [read(r) for r in stored if r["service"] == "rt-arrays"] == [written(r) for r in by_arrays]


async def test_team_days_are_pooled_from_the_first_changed_day(agent_database: str) -> None:
    """The projection re-pools a team's rows from the first repository day that changed, not
    its whole history; a repository's move re-pools every day (stores.metrics)."""
    from datetime import date

    from stores.metrics import pool_team_days, replace_repository_days

    repo, team = "pool-round-trip-repo", "pool-round-trip-team"
    d1, d2 = date(2025, 9, 1), date(2025, 9, 2)
    connection = await asyncpg.connect(agent_database)

    async def team_rows() -> dict[date, float]:
        rows = await connection.fetch(
            "SELECT metric_date, value FROM metrics_daily WHERE scope = 'team' AND subject = $1", team
        )
        return {r["metric_date"]: r["value"] for r in rows}

    async def clean() -> None:
        await connection.execute("DELETE FROM metrics_daily WHERE subject = ANY($1)", [repo, team])
        await connection.execute("DELETE FROM repositories WHERE repository_id = $1", repo)

    await clean()
    try:
        await connection.execute(
            "INSERT INTO repositories (repository_id, team, last_event_at) VALUES ($1, $2, now())", repo, team
        )
        buckets = {(d1, "deployments"): 1.0, (d2, "deployments"): 2.0}
        assert await replace_repository_days(connection, {repo: buckets}) == (2, d1)
        await pool_team_days(connection, [repo], [team])
        assert await team_rows() == {d1: 1.0, d2: 2.0}
        assert await replace_repository_days(connection, {repo: buckets}) == (2, None)  # nothing changed
        await connection.execute(
            "UPDATE metrics_daily SET value = 9 WHERE scope = 'team' AND subject = $1 AND metric_date = $2",
            team,
            d1,
        )
        changed = {(d1, "deployments"): 1.0, (d2, "deployments"): 5.0}
        assert await replace_repository_days(connection, {repo: changed}) == (2, d2)
        await pool_team_days(connection, [repo], [], since=d2)
        assert await team_rows() == {d1: 9.0, d2: 5.0}  # the day before the change is not read again
        await pool_team_days(connection, [repo], [team])  # every day
        assert await team_rows() == {d1: 1.0, d2: 5.0}
        gone = {(d2, "deployments"): 5.0}  # d1's row is stale: deleted, and that is a change too
        assert await replace_repository_days(connection, {repo: gone}) == (1, d1)
    finally:
        await clean()
        await connection.close()


async def test_a_projection_chunk_is_planned_with_its_rows_hashed(agent_database: str) -> None:
    """replace_repository_days finds stale rows with NOT IN over the rows sent: a hashed
    subplan while they fit work_mem, else one linear search per stored row (a year's
    one-transaction flush of 300,000 rows timed out at every retry). A flush's chunk
    (agents.projection.CHUNK_ROWS, plus one more repository of 150 days of 30 metrics) stays
    hashed under PostgreSQL's default work_mem; the year's whole flush would not."""
    from datetime import date, timedelta

    from agents.projection import CHUNK_ROWS
    from stores.metrics import _EVER, _REPLACE_REPOSITORY_DAYS, _arrays
    from tables.daily_metrics import DailyMetrics

    per_repository = 150 * 30
    repository: DailyMetrics = {
        (date(2026, 1, 1) + timedelta(days=d), f"lead_time_seconds_sum_{m:02d}"): 1.0
        for d in range(150)
        for m in range(30)
    }
    connection = await asyncpg.connect(agent_database)
    try:
        await connection.execute("SET work_mem = '4MB'")  # PostgreSQL's default

        async def plan_of(rows: int) -> str:
            days = {f"a-long-repository-name-{n:04d}": repository for n in range(-(-rows // per_repository))}
            arguments = [*_arrays(days), list(days), [_EVER] * len(days)]
            plan = await connection.fetch("EXPLAIN " + _REPLACE_REPOSITORY_DAYS, *arguments)
            return "\n".join(r[0] for r in plan)

        assert "hashed SubPlan" in await plan_of(CHUNK_ROWS + per_repository)
        assert "hashed SubPlan" not in await plan_of(300_000)
    finally:
        await connection.close()


async def test_a_year_of_many_teams_is_pooled_again_within_a_statement_timeout(agent_database: str) -> None:
    """A repository's move re-pools its teams' every day (agents.projection). With the stale
    team rows found by NOT IN over the pooled rows, 60 teams' year took over two minutes under
    PostgreSQL's default work_mem (a linear search per stored row once the pooled rows pass
    it), past the 60 s a statement of the projection may take: its flush failed at every
    retry. Re-pooled over their own rows, they finish well within 20 s, and are the sums."""
    from datetime import date, timedelta

    from stores.metrics import _EVER, _UPSERT_REPOSITORY_DAYS, _arrays, pool_team_days, sum_team_days

    repositories = [f"repool-repo-{n:02d}" for n in range(60)]
    teams = [f"repool-team-{n:02d}" for n in range(60)]
    days = {
        repo: {
            (date(2025, 1, 1) + timedelta(days=d), f"metric_{m:02d}"): float(n + d + m)
            for d in range(365)
            for m in range(15)
        }
        for n, repo in enumerate(repositories)
    }
    connection = await asyncpg.connect(agent_database)

    async def clean() -> None:
        await connection.execute("DELETE FROM metrics_daily WHERE subject = ANY($1)", repositories + teams)
        await connection.execute("DELETE FROM repositories WHERE repository_id = ANY($1)", repositories)

    await clean()
    try:
        await connection.executemany(
            "INSERT INTO repositories (repository_id, team, last_event_at) VALUES ($1, $2, now())",
            list(zip(repositories, teams, strict=True)),
        )
        await connection.execute(_UPSERT_REPOSITORY_DAYS, *_arrays(days))
        await connection.execute("ANALYZE metrics_daily")
        for _ in range(2):  # the second over the team rows the first wrote
            async with connection.transaction():
                await connection.execute("SET LOCAL work_mem = '4MB'")  # PostgreSQL's default
                await connection.execute("SET LOCAL statement_timeout = '20s'")
                await pool_team_days(connection, repositories, [], since=_EVER)
        rows = await connection.fetch(
            "SELECT subject, metric_date, metric, value FROM metrics_daily WHERE scope = 'team' AND subject = ANY($1)",
            teams,
        )
        stored = {(r["subject"], r["metric_date"], r["metric"]): r["value"] for r in rows}
        expected = {(r.subject, r.metric_date, r.metric): r.value for r in await sum_team_days(connection, teams)}
        assert len(stored) == 60 * 365 * 15 and stored == expected
    finally:
        await clean()
        await connection.close()
