from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tables.commit_state import Commit
from tables.cycle_time import (
    OpenPullRequest,
    StageDurations,
    cycle_time_snapshot,
    open_state,
    stage_durations,
    timelines,
)
from tables.deployment_state import Deployment
from tables.instants import to_micros
from tables.pull_request_state import (
    PullRequest,
    PullRequestChange,
    PullRequestState,
    Review,
    merge_pull_request,
)

HOUR = 3600.0


def at(text: str) -> int:
    return to_micros(datetime.fromisoformat(text))


def maybe_at(text: str | None) -> int | None:
    return at(text) if text else None


def pr(
    number: int,
    *,
    created_at: str | None = None,
    first_commit_at: str | None = None,
    merged_at: str | None = None,
    closed_at: str | None = None,
) -> PullRequest:
    """A pull request by alice, without commits or reviews."""
    return PullRequest(
        "r1",
        number,
        author="alice",
        title=f"PR {number}",
        created_at=maybe_at(created_at),
        first_commit_at=maybe_at(first_commit_at),
        merged_at=maybe_at(merged_at),
        closed_at=maybe_at(closed_at),
    )


def review(moment: str, reviewer: str, state: str = "commented") -> Review:
    return Review(at(moment), reviewer, state)


def commit(sha: str, committed: str, number: int | None = None) -> Commit:
    return Commit("r1", sha, at(committed), number)


def deploy(ident: str, finished: str, shas: tuple[str, ...] | None = None) -> Deployment:
    return Deployment("r1", ident, "production", "success", at(finished), commit_shas=shas)


END = "2025-10-04T00:00Z"  # a 7-day window is (Sep 27 00:00, Oct 4 00:00]

PULL_REQUESTS = [
    # PR 1: commits c1, c2 (m1 is its merge commit); a self-review, a comment, an approval.
    PullRequest(
        "r1",
        1,
        author="alice",
        title="PR 1",
        created_at=at("2025-10-01T10:00Z"),
        merged_at=at("2025-10-01T14:00Z"),
        merge_commit_sha="m1",
        reviews=(
            review("2025-10-01T10:30Z", "alice", "approved"),
            review("2025-10-01T11:00Z", "bob"),
            review("2025-10-01T12:00Z", "carol", "approved"),
        ),
    ),
    # PR 2: first_commit_at wins over c3's time; c3 comes from commit_shas.
    PullRequest(
        "r1",
        2,
        author="bob",
        title="PR 2",
        created_at=at("2025-10-01T11:00Z"),
        first_commit_at=at("2025-10-01T08:00Z"),
        merged_at=at("2025-10-01T13:00Z"),
        commit_shas=("c3",),
        reviews=(review("2025-10-01T11:30Z", "alice", "approved"),),
    ),
    pr(3, created_at="2025-10-02T09:00Z", merged_at="2025-10-02T10:00Z"),
    PullRequest(
        "r1",
        4,
        author="dave",
        title="PR 4",
        created_at=at("2025-10-02T12:00Z"),
        merged_at=at("2025-10-02T13:00Z"),
        merge_commit_sha="m4",  # shipped by d2's list, with no commit event
    ),
    pr(5, created_at="2025-10-03T09:00Z"),
    PullRequest(
        "r1",
        6,
        author="erin",
        title="PR 6",
        created_at=at("2025-10-03T10:00Z"),
        reviews=(review("2025-10-03T11:00Z", "bob"),),
    ),
    pr(7, created_at="2025-10-03T10:00Z", closed_at="2025-10-03T12:00Z"),
    pr(8, created_at="2025-09-19T00:00Z", merged_at="2025-09-20T00:00Z"),  # merged before the window
    pr(9, created_at="2025-10-02T20:00Z", first_commit_at="2025-10-02T21:00Z", merged_at="2025-10-02T22:00Z"),
]
COMMITS = [
    commit("c1", "2025-10-01T09:00Z", number=1),
    commit("c2", "2025-10-01T09:30Z", number=1),
    commit("m1", "2025-10-01T14:00Z", number=1),
    commit("c3", "2025-10-01T10:00Z"),
]
DEPLOYMENTS = [deploy("d1", "2025-10-01T16:00Z"), deploy("d2", "2025-10-02T15:00Z", ("m4",))]


def durations(number: int) -> StageDurations:
    return stage_durations(timelines(PULL_REQUESTS, COMMITS, DEPLOYMENTS)[("r1", number)])


def hours(*values: float | None) -> StageDurations:
    return StageDurations(*(None if v is None else v * HOUR for v in values))


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        pytest.param(1, hours(1, 1, 3, 2, 7, 2), id="pr1-commits-reviews-deployed"),
        pytest.param(2, hours(3, 0.5, 1.5, 3, 8, 0.5), id="pr2-first-commit-at-wins"),
        pytest.param(3, hours(None, None, None, None, 1, None), id="pr3-no-commits-no-review-undeployed"),
        pytest.param(4, hours(None, None, None, 2, 3, None), id="pr4-deployed-by-merge-commit"),
        pytest.param(9, hours(-1, None, None, None, 1, None), id="pr9-negative-coding-kept"),
    ],
)
def test_stage_durations_hand_computed(number: int, expected: StageDurations) -> None:
    assert durations(number) == expected


def test_timelines_several_prs_in_one_deployment_share_its_time() -> None:
    known = timelines(PULL_REQUESTS, COMMITS, DEPLOYMENTS)
    assert known[("r1", 1)].deployed_at == known[("r1", 2)].deployed_at == at("2025-10-01T16:00Z")


def test_timelines_first_shipping_deployment_counts() -> None:
    subject = pr(1, created_at="2025-10-01T10:00Z", merged_at="2025-10-01T12:00Z")
    commits = [commit("a", "2025-10-01T09:00Z", 1), commit("b", "2025-10-01T11:00Z", 1)]
    deployments = [deploy("d2", "2025-10-01T13:00Z", ("b",)), deploy("d1", "2025-10-01T10:30Z", ("a",))]
    assert timelines([subject], commits, deployments)[subject.key].deployed_at == at("2025-10-01T10:30Z")


def test_timelines_merge_commit_is_not_first_commit() -> None:
    merge_first = PullRequest("r1", 1, created_at=at("2025-10-01T10:00Z"), merge_commit_sha="m")
    commits = [commit("m", "2025-10-01T08:00Z", 1), commit("a", "2025-10-01T09:00Z", 1)]
    assert timelines([merge_first], commits, [])[merge_first.key].first_commit_at == at("2025-10-01T09:00Z")


def test_open_state_hand_computed_at_end() -> None:
    known = timelines(PULL_REQUESTS, COMMITS, DEPLOYMENTS)
    live = [state for key in sorted(known) if (state := open_state(known[key], at(END))) is not None]
    assert live == [
        OpenPullRequest("r1", 3, "PR 3", "alice", "merged_undeployed", 39.0, None, 38.0),
        OpenPullRequest("r1", 5, "PR 5", "alice", "waiting_for_review", 15.0, 15.0, None),
        OpenPullRequest("r1", 6, "PR 6", "erin", "in_review", 14.0, None, None),
        OpenPullRequest("r1", 8, "PR 8", "alice", "merged_undeployed", 360.0, None, 336.0),
        OpenPullRequest("r1", 9, "PR 9", "alice", "merged_undeployed", 28.0, None, 26.0),
    ]


@pytest.mark.parametrize(
    ("now", "state"),
    [
        pytest.param("2025-10-01T09:59Z", None, id="before-created"),
        pytest.param("2025-10-01T10:45Z", "waiting_for_review", id="only-self-review-so-far"),
        pytest.param("2025-10-01T11:00Z", "in_review", id="at-first-review"),
        pytest.param("2025-10-01T14:00Z", "merged_undeployed", id="at-merge"),
        pytest.param("2025-10-01T16:00Z", None, id="at-deployment"),
    ],
)
def test_open_state_follows_now(now: str, state: str | None) -> None:
    timeline = timelines(PULL_REQUESTS, COMMITS, DEPLOYMENTS)[("r1", 1)]
    entry = open_state(timeline, at(now))
    assert (entry.state if entry else None) == state


def test_cycle_time_snapshot_hand_computed_window() -> None:
    snapshot = cycle_time_snapshot(PULL_REQUESTS, COMMITS, DEPLOYMENTS, end=at(END), window_days=7)
    assert snapshot["window_days"] == 7
    assert snapshot["end"] == "2025-10-04T00:00:00+00:00"
    # PRs 1, 2, 3, 4 and 9 merged in the window; PR 8 before it.
    assert snapshot["coding"] == pytest.approx(
        {"p50_hours": 1.0, "p90_hours": 2.6, "p95_hours": 2.8, "mean_hours": 1.0, "count": 3}
    )
    assert snapshot["pickup"] == pytest.approx(
        {"p50_hours": 0.75, "p90_hours": 0.95, "p95_hours": 0.975, "mean_hours": 0.75, "count": 2}
    )
    assert snapshot["review"]["p50_hours"] == pytest.approx(2.25)
    assert snapshot["deploy"] == pytest.approx(
        {"p50_hours": 2.0, "p90_hours": 2.8, "p95_hours": 2.9, "mean_hours": 7 / 3, "count": 3}
    )
    assert snapshot["cycle_time"] == pytest.approx(
        {"p50_hours": 3.0, "p90_hours": 7.6, "p95_hours": 7.8, "mean_hours": 4.0, "count": 5}
    )
    assert snapshot["review_time"] == pytest.approx(
        {"p50_hours": 1.25, "p90_hours": 1.85, "p95_hours": 1.925, "mean_hours": 1.25, "count": 2}
    )
    assert [entry["number"] for entry in snapshot["open_prs"]] == [3, 5, 6, 8, 9]


def test_cycle_time_snapshot_empty_window_stages_null() -> None:
    snapshot = cycle_time_snapshot(
        PULL_REQUESTS, COMMITS, DEPLOYMENTS, end=at("2025-09-19T12:00Z"), window_days=7
    )
    for stage in ("coding", "pickup", "review", "deploy", "cycle_time", "review_time"):
        assert set(snapshot[stage].values()) == {None}, stage
    # Before its merge, PR 8 was open and waiting.
    assert [(entry["number"], entry["state"]) for entry in snapshot["open_prs"]] == [
        (8, "waiting_for_review")
    ]


DAY = 86_400_000_000
pr_events = st.builds(
    PullRequestChange,
    repository_id=st.just("r1"),
    number=st.integers(1, 3),
    timestamp=st.integers(0, 5),
    author=st.none() | st.sampled_from(["alice", "bob"]),
    created_at=st.none() | st.integers(0, 10 * DAY),
    first_commit_at=st.none() | st.integers(0, 10 * DAY),
    merged_at=st.none() | st.integers(0, 10 * DAY),
    merge_commit_sha=st.none() | st.sampled_from(["m1", "m2"]),
    closed_at=st.none() | st.integers(0, 10 * DAY),
    commit_shas=st.lists(st.sampled_from(["a", "b"]), max_size=2).map(tuple),
    review=st.none()
    | st.builds(
        Review,
        submitted_at=st.integers(0, 10 * DAY),
        reviewer=st.sampled_from(["alice", "bob", "carol"]),
        state=st.sampled_from(["approved", "commented"]),
    ),
)
commit_events = st.builds(
    Commit,
    repository_id=st.just("r1"),
    sha=st.sampled_from(["a", "b", "c", "m1"]),
    committed_at=st.integers(0, 10 * DAY),
    pull_request_number=st.none() | st.integers(1, 3),
)
deployment_events = st.builds(
    Deployment,
    repository_id=st.just("r1"),
    id=st.sampled_from(["d1", "d2"]),
    environment=st.just("production"),
    status=st.sampled_from(["success", "failure"]),
    finished_at=st.integers(0, 10 * DAY),
    commit_shas=st.none() | st.lists(st.sampled_from(["a", "m1", "m2"]), max_size=2).map(tuple),
)


def pull_requests_of(events: list[PullRequestChange]) -> list[PullRequest]:
    states: dict[tuple[str, int], PullRequestState] = {}
    for event in events:
        key = (event.repository_id, event.number)
        states[key] = merge_pull_request(states.get(key), event)
    return [state.view() for state in states.values()]


@settings(max_examples=150)
@given(
    st.lists(pr_events, max_size=15),
    st.lists(commit_events, max_size=8),
    st.lists(deployment_events, max_size=6),
    st.randoms(use_true_random=False),
)
def test_cycle_time_snapshot_any_order_and_duplicates_same_answer(
    events: list[PullRequestChange], commits: list[Commit], deployments: list[Deployment], rng: object
) -> None:
    def answer(prs: list[PullRequestChange], cs: list[Commit], ds: list[Deployment]) -> object:
        return cycle_time_snapshot(pull_requests_of(prs), cs, ds, end=8 * DAY, window_days=7)

    replayed = (events + events[::2], commits + commits[::2], deployments + deployments[::2])
    for history in replayed:
        rng.shuffle(history)  # type: ignore[attr-defined]
    assert answer(*replayed) == answer(events, commits, deployments)


def test_commits_shipped_before_the_merge_make_it_deployed_when_merged_not_a_negative_stage() -> None:
    # c9 is committed at 09:00 and shipped by the implicit deployment d9 at 10:00 (commit
    # time rule); its pull request merges at 12:00, and nothing else ships it.
    early = PullRequest(
        "r1", 9, author="alice", created_at=at("2025-10-01T08:00Z"), merged_at=at("2025-10-01T12:00Z")
    )
    found = timelines([early], [commit("c9", "2025-10-01T09:00Z", 9)], [deploy("d9", "2025-10-01T10:00Z")])
    timeline = found[("r1", 9)]
    assert timeline.deployed_at == at("2025-10-01T10:00Z")  # the shipping itself is unchanged
    stages = stage_durations(timeline)
    assert stages.deploy == 0.0
    assert stages.cycle_time == 3 * HOUR  # first commit 09:00 -> deployed at the merge, 12:00
