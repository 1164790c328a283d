"""Good events of every topic the worker reads, hostile messages, and the check that a run
of them lost nothing: used by test_hostile_input.

A run sends good and hostile messages interleaved, waits until every partition's commit
passed every message sent, then checks that each good event is stored exactly once, each
message the pure intake refuses is a dead letter at its offset, no good event is one, and
nothing else was dead-lettered. Whether a hostile message is refused is asked of the
models (the pure functions the agents call), so the check holds for a hostile value that
turns out to be valid data (a huge message text, say): it is then stored, not lost.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from devtools.worker_process import WorkerProcess
from tests.integration.conftest import wait_for
from tests.reliability.conftest import query

T1 = "2025-10-01T12:00:00Z"
T2 = "2025-10-02T12:00:00Z"
DEEP = "\x00deep\x00"  # placeholders spliced as raw JSON after dumping (see encode)
SURROGATE = "\x00surrogate\x00"
DEEP_JSON = b"[" * 1000 + b"]" * 1000


@dataclass(frozen=True)
class Topic:
    name: str
    key_field: str | None  # the envelope field the message key must equal
    good: Callable[[str, str], dict[str, Any]]  # (scope, unique id) -> event
    stored: Callable[[str, str], tuple[str, tuple[Any, ...]]]  # (scope, id) -> SQL counting its row


def _envelope(event_type: str, source: str, key_field: str, key: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"event_type": event_type, "timestamp": T1, "source": source, key_field: key, "data": data}


TOPICS = [
    Topic(
        "git.commits",
        "repository_id",
        lambda s, u: _envelope(
            "commit_created", "github", "repository_id", s, {"sha": u, "author": "a@b.c", "additions": 1, "deletions": 0}
        ),
        lambda s, u: ("SELECT count(*) FROM commits WHERE repository_id = $1 AND sha = $2", (s, u)),
    ),
    Topic(
        "git.pull_requests",
        "repository_id",
        lambda s, u: _envelope(
            "pull_request_opened", "github", "repository_id", s,
            {"number": int(u, 16) % 1_000_000, "title": "t", "author": "dev", "created_at": T1},
        ),
        lambda s, u: (
            "SELECT count(*) FROM pull_requests WHERE repository_id = $1 AND number = $2",
            (s, int(u, 16) % 1_000_000),
        ),
    ),
    Topic(
        "git.repositories",
        "repository_id",
        lambda s, u: _envelope("repository_updated", "github", "repository_id", f"{s}-{u}", {"name": "n", "team": s}),
        lambda s, u: ("SELECT count(*) FROM repositories WHERE repository_id = $1", (f"{s}-{u}",)),
    ),
    Topic(
        "jira.issues",
        "project_key",
        lambda s, u: _envelope(
            "issue_created", "jira", "project_key", s,
            {"key": f"{s}-{u}", "summary": "s", "issue_type": "Story", "status": "To Do",
             "status_category": "todo", "created": T1},
        ),
        lambda s, u: ("SELECT count(*) FROM issues WHERE issue_key = $1", (f"{s}-{u}",)),
    ),
    Topic(
        "jira.sprints",
        "project_key",
        lambda s, u: _envelope(
            "sprint_started", "jira", "project_key", s,
            {"id": u, "name": "Sprint", "state": "active", "start_date": T1, "end_date": T2},
        ),
        lambda s, u: ("SELECT count(*) FROM sprints WHERE project_key = $1 AND sprint_id = $2", (s, u)),
    ),
    Topic(
        "cicd.deployments",
        "repository_id",
        lambda s, u: _envelope(
            "deployment_finished", "ci", "repository_id", s,
            {"id": u, "environment": "production", "status": "success", "finished_at": T1, "commit_sha": "abc"},
        ),
        lambda s, u: ("SELECT count(*) FROM deployments WHERE repository_id = $1 AND deployment_id = $2", (s, u)),
    ),
    Topic(
        "ops.incidents",
        "repository_id",
        lambda s, u: _envelope(
            "incident_opened", "pagerduty", "repository_id", s, {"id": u, "title": "down", "severity": "high", "opened_at": T1}
        ),
        lambda s, u: ("SELECT count(*) FROM incidents WHERE repository_id = $1 AND incident_id = $2", (s, u)),
    ),
    Topic(
        "events.ingest",
        None,
        lambda s, u: {"id": f"{s}-{u}", "timestamp": T1, "payload": {"event_type": "system_event", "source": s, "data": {}}},
        lambda s, u: ("SELECT count(*) FROM ingested_events WHERE id = $1", (f"{s}-{u}",)),
    ),
]
BY_NAME = {topic.name: topic for topic in TOPICS}


def encode(value: Any) -> bytes:
    """JSON with the placeholders spliced in: nesting deeper than any recursive encoder
    goes, and a lone surrogate (which a conforming encoder will not write)."""
    raw = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return raw.replace(json.dumps(DEEP).encode(), DEEP_JSON).replace(json.dumps(SURROGATE).encode(), b'"\\ud800"')


def good_key(topic: Topic, event: dict[str, Any]) -> bytes:
    return (event[topic.key_field] if topic.key_field else event["id"]).encode()


@dataclass
class Message:
    topic: str
    key: bytes | None
    value: bytes
    good: tuple[str, str] | None = None  # (scope, id) of a good event
    partition: int = -1
    offset: int = -1


def accepted(message: Message) -> bool:
    """Whether the worker's pure intake takes the message (never raises: an exception is a
    refusal, as the agents' guard makes it)."""
    from agents.ingest_intake import row_from_message
    from agents.intake import Parsed, key_mismatch, parse_message
    from models.cicd import DeploymentMessage, IncidentMessage
    from models.commits import CommitMessage
    from models.git_activity import PullRequestMessage, RepositoryMessage
    from models.ingest_wire import ingest_codec
    from models.jira import IssueMessage, SprintMessage
    from models.quality import QualityPolicy

    models: dict[str, Any] = {
        "git.commits": CommitMessage,
        "git.pull_requests": PullRequestMessage,
        "git.repositories": RepositoryMessage,
        "jira.issues": IssueMessage,
        "jira.sprints": SprintMessage,
        "cicd.deployments": DeploymentMessage,
        "ops.incidents": IncidentMessage,
    }
    try:
        if message.topic == "events.ingest":
            outcome = row_from_message(
                message.value, message.key, datetime.now(UTC), ingest_codec(), lenient=False, policy=QualityPolicy(0.5)
            )
            return hasattr(outcome, "row")
        topic = BY_NAME[message.topic]
        parsed = parse_message(message.value, models[message.topic], "strict")
        if not isinstance(parsed, Parsed):
            return False
        assert topic.key_field is not None
        return key_mismatch(message.key, str(getattr(parsed.event, topic.key_field)), topic.key_field) is None
    except Exception:
        return False


async def send(bootstrap: str, messages: list[Message]) -> None:
    """Send in order (one producer), recording each message's partition and offset."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=8 * 1024 * 1024, acks="all")
    await producer.start()
    try:
        futures = [await producer.send(m.topic, value=m.value, key=m.key) for m in messages]
        for message, meta in zip(messages, await asyncio.gather(*futures), strict=True):
            message.partition, message.offset = meta.partition, meta.offset
    finally:
        await producer.stop()


def new_scope() -> str:
    return f"h{uuid.uuid4().hex[:10]}"


def goods(scope: str, per_topic: int) -> list[Message]:
    out = []
    for topic in TOPICS:
        for _ in range(per_topic):
            ident = uuid.uuid4().hex[:12]
            event = topic.good(scope, ident)
            out.append(Message(topic.name, good_key(topic, event), encode(event), (scope, ident)))
    return out


def committed_past(worker: WorkerProcess, messages: list[Message]) -> Callable[[], bool]:
    def check() -> bool:
        status, stats = worker.get("/stats")
        if status != 200:
            return False
        partitions = stats.get("partitions", {})
        for m in messages:
            committed = partitions.get(m.topic, {}).get(str(m.partition), {}).get("committed")
            if committed is None or committed <= m.offset:
                return False
        return True

    return check


def check_run(worker: WorkerProcess, database: str, bootstrap: str, messages: list[Message], timeout_s: float = 120) -> None:
    """Send ``messages``, wait until every one is committed past, and check that nothing
    was lost or counted twice (module doc)."""
    asyncio.run(send(bootstrap, messages))
    wait_for(
        committed_past(worker, messages),
        timeout_s,
        lambda: f"every partition committed past every message sent; stats {worker.get('/stats')[1]}; "
        f"health {worker.get('/health')[1]}; log {worker.log_path}",
    )
    assert worker.process is not None and worker.process.poll() is None, "the worker is up"
    status, health = worker.get("/health")
    assert health["stuck_batches"] == [], health

    # A message sent again with the same key and value is an exact redelivery: the worker
    # may skip it (agents.batches.skip_done), so it is expected once, at either offset.
    first_sent: set[tuple[str, bytes | None, bytes]] = set()
    refused, resent = set(), set()
    for m in messages:
        at = (m.topic, m.partition, m.offset)
        if (m.topic, m.key, m.value) in first_sent:
            resent.add(at)
        elif m.good is None and not accepted(m):
            refused.add(at)
        first_sent.add((m.topic, m.key, m.value))
    sent_at = {(m.topic, m.partition, m.offset) for m in messages}
    lettered = {
        (r["topic"], r["partition"], r["offset"])
        for r in query(database, "SELECT topic, partition, \"offset\" FROM dead_letters")
    } & sent_at
    good_at = {(m.topic, m.partition, m.offset) for m in messages if m.good is not None}
    assert not lettered & good_at, "a good event was dead-lettered"
    assert refused <= lettered, f"refused but not dead-lettered: {sorted(refused - lettered)[:5]}"
    unexpected = lettered - refused - resent
    assert not unexpected, f"dead-lettered though the intake accepts them: {sorted(unexpected)[:5]}"

    def missing() -> list[tuple[str, str]]:
        lost = []
        for m in messages:
            if m.good is not None:
                sql, args = BY_NAME[m.topic].stored(*m.good)
                if query(database, sql, *args)[0][0] != 1:
                    lost.append((m.topic, m.good[1]))
        return lost

    # Pull-request rows come from the projection, within its refresh period.
    wait_for(lambda: not missing(), 60, lambda: f"every good event stored once; missing {missing()[:5]}")
