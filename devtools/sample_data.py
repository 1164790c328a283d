"""Realistic sample streams for the demo, the tests and the benchmarks.

Deterministic for a given seed: many repositories, authors and days; a share of exact
duplicates (what at-least-once producers deliver) and a number of malformed messages of
every kind the intake must survive.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

__all__ = ["CommitStream", "generate_commit_stream", "MALFORMED_COMMITS"]

# One of each way a git.commits message can be broken (value bytes).
MALFORMED_COMMITS: tuple[bytes, ...] = (
    b"",
    b"{not json",
    b"[1, 2, 3]",
    b'"a string"',
    b'{"event_type": "commit_created", "timestamp": "2025-10-01T12:00:00Z", "repository_id": "r", "data": {}}',
    b'{"event_type": "commit_created", "timestamp": "yesterday", "repository_id": "r", "data": {"sha": "a1"}}',
    b'{"event_type": "commit_created", "timestamp": "1970-01-01T00:00:00Z", "repository_id": "r", "data": {"sha": "a2"}}',
    b'{"event_type": "commit_created", "timestamp": "9999-12-31T00:00:00Z", "repository_id": "r", "data": {"sha": "a3"}}',
    b'{"event_type": "commit_created", "timestamp": "2025-10-01T12:00:00Z", "repository_id": "r", "data": {"sha": "a4", "additions": -5}}',
    b'{"event_type": "commit_created", "timestamp": "2025-10-01T12:00:00Z", "repository_id": "r", "data": {"sha": "a5", "additions": "many"}}',
    b'{"event_type": "commit_deleted", "timestamp": "2025-10-01T12:00:00Z", "repository_id": "r", "data": {"sha": "a6"}}',
    b'{"event_type": "commit_created", "timestamp": "2025-10-01T12:00:00Z", "data": {"sha": "a7"}}',
    b'{"event_type": "commit_created", "timestamp": "2025-10-01T12:00:00Z", "repository_id": "r", "data": {"sha": 7}}',
    b"\xff\xfe\x00garbage",
)


@dataclass(frozen=True, slots=True)
class CommitStream:
    """Messages to produce, as (key, value) bytes, in order."""

    messages: list[tuple[bytes, bytes]]
    unique_commits: int
    duplicates: int
    malformed: int


def _commit_event(
    rng: random.Random, repo: str, sha: str, when: datetime, authors: list[str]
) -> dict[str, object]:
    data: dict[str, object] = {
        "sha": sha,
        "author": rng.choice(authors),
        "message": rng.choice(
            ["Fix bug in authentication", "Add feature flag", "Refactor pipeline", "Bump deps"]
        ),
        "files_changed": rng.randint(1, 30),
        "additions": rng.randint(0, 800),
        "deletions": rng.randint(0, 400),
    }
    if rng.random() < 0.8:
        data["committed_at"] = when.isoformat().replace("+00:00", "Z")
    if rng.random() < 0.1:
        del data["deletions"]  # missing numbers are stored as null
    return {
        "event_type": "commit_created",
        "timestamp": when.isoformat().replace("+00:00", "Z"),
        "source": rng.choice(["github", "gitlab"]),
        "repository_id": repo,
        "data": data,
    }


def generate_commit_stream(
    *,
    commits: int,
    repositories: int = 20,
    days: int = 30,
    duplicate_rate: float = 0.1,
    malformed: int = 20,
    seed: int = 7,
    end: datetime = datetime(2025, 10, 31, tzinfo=UTC),
    repository_prefix: str = "repo",
) -> CommitStream:
    """``commits`` unique commits over ``repositories`` and ``days`` in push order, plus
    redelivered duplicates and malformed messages."""
    rng = random.Random(seed)
    repos = [f"{repository_prefix}-{i:03d}" for i in range(repositories)]
    authors = [f" Dev{i}@Example.com " for i in range(max(5, repositories * 3))]
    start = end - timedelta(days=days)
    timed: list[tuple[datetime, tuple[bytes, bytes]]] = []
    for i in range(commits):
        repo = repos[i % repositories]
        when = start + timedelta(seconds=rng.randrange(days * 86400), microseconds=rng.randrange(10**6))
        sha = f"{rng.getrandbits(160):040x}"
        # Collectors emit commits as they are pushed: roughly in time order, a few late.
        sent = when + timedelta(
            minutes=rng.expovariate(1 / 20) if rng.random() < 0.95 else rng.uniform(60, 2880)
        )
        timed.append((sent, (repo.encode(), orjson.dumps(_commit_event(rng, repo, sha, when, authors)))))
    timed.sort(key=lambda item: item[0])
    messages = [message for _, message in timed]
    # At-least-once producers redeliver shortly after the original.
    everything = list(messages)
    duplicates = int(commits * duplicate_rate)
    for _ in range(duplicates):
        original = rng.randrange(len(messages))
        everything.insert(min(len(everything), original + rng.randrange(1, 200)), messages[original])
    for i in range(malformed):
        # Each malformed message distinct (trailing blanks on repeats): identical bytes
        # under one key would be one message resent, which the dedupe rightly skips.
        kind, repeat = i % len(MALFORMED_COMMITS), i // len(MALFORMED_COMMITS)
        everything.insert(
            rng.randrange(len(everything) + 1),
            (b"repo-broken", MALFORMED_COMMITS[kind] + b" " * repeat),
        )
    return CommitStream(everything, commits, duplicates, malformed)


def chunks(items: list[tuple[bytes, bytes]], size: int) -> Iterator[list[tuple[bytes, bytes]]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
