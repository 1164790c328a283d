from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tables.pull_request_state import (
    PullRequest,
    PullRequestChange,
    PullRequestState,
    Review,
    merge_pull_request,
)


def replay(events: list[PullRequestChange]) -> PullRequestState:
    state: PullRequestState | None = None
    for event in events:
        state = merge_pull_request(state, event)
    assert state is not None
    return state


SELF = Review(150, "alice", "approved")
COMMENT = Review(200, "bob", "commented")
APPROVED = Review(300, "carol", "approved")
OPENED = PullRequestChange("r1", 1, 100, author="alice", title="Add x", created_at=100, commit_shas=("a", "b"))
SELF_REVIEW = PullRequestChange("r1", 1, 150, author="alice", review=SELF)
REVIEW = PullRequestChange("r1", 1, 200, author="alice", review=COMMENT)
APPROVAL = PullRequestChange("r1", 1, 300, author="alice", review=APPROVED)
MERGED = PullRequestChange(
    "r1", 1, 400, author="alice", merged_at=400, merge_commit_sha="m", commit_shas=("b", "c")
)


def test_merge_pull_request_all_event_types_one_state() -> None:
    view = replay([OPENED, SELF_REVIEW, REVIEW, APPROVAL, MERGED]).view()
    assert view == PullRequest(
        "r1",
        1,
        author="alice",
        title="Add x",
        created_at=100,
        merged_at=400,
        merge_commit_sha="m",
        commit_shas=("a", "b", "c"),
        reviews=(SELF, COMMENT, APPROVED),
    )


def test_first_review_at_author_review_ignored_even_when_author_arrives_later() -> None:
    anonymous_self_review = PullRequestChange("r1", 1, 150, review=Review(150, "alice", "approved"))
    state = replay([anonymous_self_review])
    assert state.view().first_review_at() == 150  # author unknown yet: counts provisionally
    state = replay([anonymous_self_review, OPENED])
    assert state.view().first_review_at() is None
    assert state.view().first_approval_at() is None


def test_first_review_at_exact_string_compare() -> None:
    review = PullRequestChange("r1", 1, 150, review=Review(150, "Alice", "commented"))
    assert replay([OPENED, review]).view().first_review_at() == 150


@pytest.mark.parametrize(
    ("events", "first_review", "first_approval"),
    [
        pytest.param([OPENED, REVIEW, APPROVAL], 200, 300, id="comment-then-approval"),
        pytest.param([OPENED, APPROVAL], 300, 300, id="approval-is-first-review"),
        pytest.param([OPENED, SELF_REVIEW], None, None, id="only-self-review"),
        pytest.param([OPENED], None, None, id="no-review"),
    ],
)
def test_first_review_and_approval_times(
    events: list[PullRequestChange], first_review: int | None, first_approval: int | None
) -> None:
    view = replay(events).view()
    assert (view.first_review_at(), view.first_approval_at()) == (first_review, first_approval)


def test_merge_pull_request_other_identity_raises() -> None:
    with pytest.raises(ValueError, match="cannot merge pull request"):
        merge_pull_request(replay([OPENED]), PullRequestChange("r1", 2, 1))


def test_pull_request_state_record_json_round_trip_equal() -> None:
    state = replay([OPENED, REVIEW, MERGED, PullRequestChange("r1", 1, 9, review=Review(None, None, None))])
    assert PullRequestState.from_record(json.loads(json.dumps(state.to_record()))) == state


pr_events = st.builds(
    PullRequestChange,
    repository_id=st.just("r1"),
    number=st.integers(1, 3),
    timestamp=st.integers(0, 10),
    author=st.none() | st.sampled_from(["alice", "bob"]),
    created_at=st.none() | st.integers(0, 100),
    first_commit_at=st.none() | st.integers(0, 100),
    merged_at=st.none() | st.integers(0, 100),
    merge_commit_sha=st.none() | st.sampled_from(["m1", "m2"]),
    closed_at=st.none() | st.integers(0, 100),
    commit_shas=st.lists(st.sampled_from(["a", "b", "c"]), max_size=3).map(tuple),
    review=st.none()
    | st.builds(
        Review,
        submitted_at=st.none() | st.integers(0, 100),
        reviewer=st.none() | st.sampled_from(["alice", "bob", "carol", ""]),
        state=st.none() | st.sampled_from(["approved", "commented"]),
    ),
)


@given(st.lists(pr_events, max_size=20), st.randoms(use_true_random=False))
def test_merge_pull_request_any_order_and_duplicates_same_state(
    events: list[PullRequestChange], rng: object
) -> None:
    def states(history: list[PullRequestChange]) -> dict[tuple[str, int], PullRequestState]:
        merged: dict[tuple[str, int], PullRequestState] = {}
        for event in history:
            key = (event.repository_id, event.number)
            merged[key] = merge_pull_request(merged.get(key), event)
        return merged

    replayed = events + events[1::2]
    rng.shuffle(replayed)  # type: ignore[attr-defined]
    assert states(replayed) == states(events)
