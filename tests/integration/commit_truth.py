"""The expected outcome of a generated commit stream, computed straightforwardly and
independently of the processor's code."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

CommitKey = tuple[str, str, datetime]
DailyTruth = dict[tuple[str, date], tuple[int, int | None, int | None]]


def commit_truth(messages: list[tuple[bytes, bytes]]) -> tuple[set[CommitKey], DailyTruth]:
    """Unique commit rows and per-(repository, day) totals of the well-formed messages."""
    commits: dict[CommitKey, dict[str, Any]] = {}
    for key, value in messages:
        if key == b"repo-broken":  # the generator's malformed messages
            continue
        event = json.loads(value)
        data = event["data"]
        when = datetime.fromisoformat(data.get("committed_at") or event["timestamp"])
        commits[(event["repository_id"], data["sha"], when)] = data
    daily: dict[tuple[str, date], list[Any]] = defaultdict(lambda: [0, None, None])
    for (repo, _, when), data in commits.items():
        bucket = daily[(repo, when.date())]
        bucket[0] += 1
        for i, field in ((1, "additions"), (2, "deletions")):
            if data.get(field) is not None:
                bucket[i] = (bucket[i] or 0) + data[field]
    return set(commits), {k: (v[0], v[1], v[2]) for k, v in daily.items()}


def daily_from_view(answer: dict[str, Any]) -> DailyTruth:
    """GET /commits/{repository_id}/daily as the same mapping."""
    repo = answer["repository_id"]
    return {
        (repo, date.fromisoformat(d["day"])): (d["commit_count"], d["total_additions"], d["total_deletions"])
        for d in answer["days"]
    }


def is_settling(status: int, answer: Any) -> bool:
    """The routed views' answer while a rebalance or a table recovery is under way."""
    return status == 503 and isinstance(answer, dict) and "try again in a few seconds" in str(answer.get("error"))


def live_daily(get: Callable[[str], tuple[int, Any]], repositories: Iterable[str]) -> DailyTruth | None:
    """Every repository's GET /commits/{repository_id}/daily as one mapping; None while a
    rebalance or a table recovery is under way (ask again); any other error fails."""
    live: DailyTruth = {}
    for repo in repositories:
        status, answer = get(f"/commits/{repo}/daily")
        if is_settling(status, answer):
            return None
        assert status == 200, (repo, status, answer)
        live.update(daily_from_view(answer))
    return live
