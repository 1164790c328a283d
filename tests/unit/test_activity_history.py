"""The activity history generator and its independent truth: the history has what the agents
must survive, in the proportions asked, and the truth leaves out exactly the messages that
must not count."""

from __future__ import annotations

from collections import defaultdict

import orjson
import pytest

from devtools.activity_history import ActivityPlan, generate_activity_history, iso_ms
from devtools.activity_truth import MINUTE_MS, activity_truth
from models.activity import ActivityMessage
from runtime.partitioner import partition_of

START_MS = 1_772_431_200_000  # 2026-03-02T06:00:00Z


def event(event_id: str, user: str, at_s: float, kind: str = "click") -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "user_id": user,
            "event_type": kind,
            "timestamp": iso_ms(START_MS + int(at_s * 1000)),
        }
    )


def test_truth_leaves_out_late_duplicate_and_malformed_messages() -> None:
    messages = [
        event("a", "u1", 0),
        event("b", "u2", 30, "page_view"),
        b"{not json",
        event("a", "u1", 0),  # a redelivery counts once
        event("c", "u1", 700),
        event("d", "u2", 100),  # 600 s behind the newest: beyond the 300 s grace
        event("e", "u1", 500),  # 200 s behind: within grace
        event("z", "u3", 5_000),  # the watermark at 4,700 s closes all before
    ]

    truth = activity_truth(messages, grace_s=300)

    assert (truth.malformed, truth.late, truth.duplicates) == (1, 1, 1)
    assert truth.user_minutes == {
        ("u1", START_MS, "click"): 1,
        ("u2", START_MS, "page_view"): 1,
        ("u1", START_MS + 11 * MINUTE_MS, "click"): 1,
        ("u1", START_MS + 8 * MINUTE_MS, "click"): 1,
    }
    assert truth.type_minutes[(START_MS, "click")] == (1, 1)
    assert truth.open_events == 1  # u3's minute is still open
    assert truth.closed_sessions == {
        ("u1", START_MS): (START_MS + 700_000, 3),
        ("u2", START_MS + 30_000): (START_MS + 30_000, 1),
    }
    assert truth.open_sessions == {("u3", START_MS + 5_000_000): (START_MS + 5_000_000, 1)}


def test_truth_splits_sessions_at_exactly_the_gap() -> None:
    messages = [
        event("a", "u", 0),
        event("b", "u", 1_800),
        event("c", "u", 3_599.999),
        event("z", "v", 9_000),
    ]

    truth = activity_truth(messages, grace_s=300, session_gap_s=1_800)

    assert sorted(truth.closed_sessions.values()) == [(START_MS, 1), (START_MS + 3_599_999, 2)]


@pytest.fixture(scope="module")
def history_and_truth() -> tuple[object, object]:
    plan = ActivityPlan(events=6_000, users=400, span_s=4 * 3600, malformed=0.01, late=0.01, seed=7)
    history = generate_activity_history(plan)
    return history, activity_truth((s.value for s in history.sent), plan.grace_s, plan.session_gap_s)


def test_history_is_deterministic_for_a_seed() -> None:
    plan = ActivityPlan(events=500, users=50, seed=5)

    assert generate_activity_history(plan).sent == generate_activity_history(plan).sent
    assert (
        generate_activity_history(plan).sent
        != generate_activity_history(ActivityPlan(events=500, users=50)).sent
    )


def test_history_counts_every_event_once_and_only_the_generated_ones_are_left_out(history_and_truth) -> None:  # type: ignore[no-untyped-def]
    history, truth = history_and_truth
    kinds = history.kinds()

    assert truth.counted == history.plan.events + kinds["closing"]
    assert truth.malformed == kinds["malformed"] == 60
    assert truth.late + truth.duplicates == kinds["late"] + kinds["duplicate"]
    assert truth.late >= kinds["late"] == 60  # a redelivery beyond grace is late too
    assert truth.open_events == kinds["closing"]  # every minute of the span closes


def test_history_messages_validate_as_the_app_reads_them(history_and_truth) -> None:  # type: ignore[no-untyped-def]
    history, _ = history_and_truth

    invalid = 0
    for sent in history.sent:
        try:
            ActivityMessage.model_validate_json(sent.value)
        except ValueError:
            invalid += 1

    assert invalid == history.kinds()["malformed"]


def test_history_sessions_are_bursts_separated_by_more_than_the_gap(history_and_truth) -> None:  # type: ignore[no-untyped-def]
    history, truth = history_and_truth
    starts: dict[str, list[int]] = defaultdict(list)
    for user, start in [*truth.closed_sessions, *truth.open_sessions]:
        starts[user].append(start)

    assert len(truth.closed_sessions) + len(truth.open_sessions) > history.plan.users  # users come back
    assert max(len(s) for s in starts.values()) > 1
    kinds_at = {}
    for sent in history.sent:
        if sent.kind in ("event", "out_of_order"):
            body = orjson.loads(sent.value)
            kinds_at[(body["user_id"], body["timestamp"])] = body["event_type"]
    # A session (as the truth cuts them, by the gap) starts where the generator started one.
    for user, start in truth.closed_sessions:
        assert kinds_at[(user, iso_ms(start))] == "page_view"


@pytest.mark.parametrize("key_by", ["user_id", "event_id"])
def test_history_closes_every_partition(key_by: str) -> None:
    plan = ActivityPlan(events=300, users=30, key_by=key_by, partitions=4)  # type: ignore[arg-type]

    closing = [s for s in generate_activity_history(plan).sent if s.kind == "closing"]

    assert {s.partition for s in closing} == set(range(4))
    users = {orjson.loads(s.value)["user_id"] for s in closing}
    assert {partition_of(u.encode(), 4) for u in users} == set(range(4))  # every re-keyed partition too
    if key_by == "user_id":
        assert all(partition_of(s.key, 4) == s.partition for s in closing if s.key is not None)
