from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tables.repository_state import Repository, merge_repository, team_of

snapshots = st.builds(
    Repository,
    repository_id=st.just("r"),
    timestamp=st.integers(0, 5),
    team=st.none() | st.sampled_from(["a", "b"]),
    default_branch=st.none() | st.sampled_from(["main", "master"]),
)


def test_latest_event_wins_whole() -> None:
    old = Repository("r", 1, name="x", team="core")
    new = Repository("r", 2, default_branch="main")
    merged = merge_repository(merge_repository(None, new), old)
    assert merged == new  # last write wins by timestamp: the older name and team are gone
    assert team_of(merged) == "unassigned" and team_of(old) == "core" and team_of(None) == "unassigned"


@given(st.lists(snapshots, min_size=1, max_size=10), st.randoms(use_true_random=False))
def test_any_order_and_duplicates_same_winner(events: list[Repository], rng) -> None:  # type: ignore[no-untyped-def]
    shuffled = events + events[: len(events) // 2]
    rng.shuffle(shuffled)
    first = second = None
    for snapshot in events:
        first = merge_repository(first, snapshot)
    for snapshot in shuffled:
        second = merge_repository(second, snapshot)
    assert first == second
