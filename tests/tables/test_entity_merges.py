"""Table values of pull requests, issues and sprints as the agents merge them: any order,
any duplicates, any batching, through the JSON the tables store, the same value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tables.git_activity import merge_pull_request_changes, merge_repository_changes
from tables.issue_state import Issue, Transition
from tables.jira import merge_issue_changes, merge_sprint_changes
from tables.pull_request_state import PullRequestChange, Review
from tables.repository_state import Repository
from tables.sprint_state import SprintChange

HOUR = 3_600_000_000
hours = st.integers(0, 48).map(lambda h: h * HOUR)

reviews = st.builds(
    Review,
    submitted_at=st.none() | hours,
    reviewer=st.sampled_from(["a", "b"]),
    state=st.sampled_from(["approved", "commented"]),
)
pull_request_events = st.builds(
    PullRequestChange,
    repository_id=st.just("r"),
    number=st.just(1),
    timestamp=hours,
    author=st.none() | st.sampled_from(["a", "b"]),
    created_at=st.none() | hours,
    merged_at=st.none() | hours,
    commit_shas=st.lists(st.sampled_from(["x", "y", "z"]), max_size=2).map(tuple),
    review=st.none() | reviews,
)
issue_changes = st.one_of(
    st.builds(
        Issue,
        key=st.just("P-1"),
        timestamp=hours,
        status=st.none() | st.sampled_from(["To Do", "Done"]),
        story_points=st.none() | st.sampled_from([1.0, 3.0]),
        resolved=st.none() | hours,
    ),
    st.builds(
        Transition,
        transitioned_at=hours,
        to_status=st.sampled_from(["A", "B"]),
        from_status=st.none() | st.sampled_from(["A", "B"]),
    ),
)
sprint_events = st.builds(
    SprintChange,
    project_key=st.just("P"),
    id=st.just("1"),  # one sprint: each is its own table value
    timestamp=hours,
    state=st.none() | st.sampled_from(["active", "closed"]),
    committed_points=st.none() | st.sampled_from([5.0, 8.0]),
    complete_date=st.none() | hours,
)
repository_events = st.builds(
    Repository,
    repository_id=st.just("r"),
    timestamp=hours,
    team=st.none() | st.sampled_from(["t1", "t2"]),
)


def through_table(value: Any) -> Any:
    """What the table gives back: its values travel as JSON."""
    return None if value is None else orjson.loads(orjson.dumps(value))


def fold(merge: Callable[[Any, list[Any]], tuple[Any, Any]], batches: list[list[Any]], start: Any) -> Any:
    value = start
    for batch in batches:
        value, _ = merge(through_table(value), batch)
    return through_table(value)


def replays(events: list[Any], rng: Any, batch_size: int) -> list[list[Any]]:
    """``events`` shuffled with a third redelivered, cut in batches."""
    shuffled = events + rng.sample(events, len(events) // 3)
    rng.shuffle(shuffled)
    return [shuffled[i : i + batch_size] for i in range(0, len(shuffled), batch_size)]


@settings(max_examples=150)
@given(
    st.lists(pull_request_events, min_size=1, max_size=10),
    st.randoms(use_true_random=False),
    st.integers(1, 4),
)
def test_pull_request_any_order_duplicates_batches_same_value(events, rng, batch_size) -> None:  # type: ignore[no-untyped-def]
    assert fold(merge_pull_request_changes, replays(events, rng, batch_size), None) == fold(
        merge_pull_request_changes, [events], None
    )


@settings(max_examples=150)
@given(st.lists(issue_changes, min_size=1, max_size=10), st.randoms(use_true_random=False), st.integers(1, 4))
def test_issue_any_order_duplicates_batches_same_value(events, rng, batch_size) -> None:  # type: ignore[no-untyped-def]
    def merge(current: Any, batch: list[Any]) -> tuple[Any, bool]:
        return merge_issue_changes("P-1", current, batch)

    assert fold(merge, replays(events, rng, batch_size), None) == fold(merge, [events], None)


@settings(max_examples=150)
@given(st.lists(sprint_events, min_size=1, max_size=10), st.randoms(use_true_random=False), st.integers(1, 4))
def test_sprints_any_order_duplicates_batches_same_value(events, rng, batch_size) -> None:  # type: ignore[no-untyped-def]
    def merge(current: Any, batch: list[Any]) -> tuple[Any, bool]:
        state, changed = merge_sprint_changes(current, batch)
        return state.to_record(), changed

    assert fold(merge, replays(events, rng, batch_size), None) == fold(merge, [events], None)


@given(
    st.lists(repository_events, min_size=1, max_size=8), st.randoms(use_true_random=False), st.integers(1, 3)
)
def test_repository_any_order_duplicates_batches_same_value(events, rng, batch_size) -> None:  # type: ignore[no-untyped-def]
    assert fold(merge_repository_changes, replays(events, rng, batch_size), None) == fold(
        merge_repository_changes, [events], None
    )


def test_redelivered_pull_request_event_reports_no_change() -> None:
    event = PullRequestChange("r", 1, HOUR, author="a", created_at=HOUR, commit_shas=("x",))
    value, changed = merge_pull_request_changes(None, [event])
    assert changed
    again, changed = merge_pull_request_changes(through_table(value), [event])
    assert not changed and through_table(again) == through_table(value)
