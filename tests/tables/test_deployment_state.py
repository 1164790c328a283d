from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tables.commit_state import Commit, collapse_commits, merge_commit
from tables.deployment_state import (
    Deployment,
    Shipment,
    collapse_deployments,
    lead_times,
    merge_deployment,
    ship_known_commits,
    shipped_at,
)
from tables.instants import to_micros

HOUR = 3600


def ship_commits(deployments: Iterable[Deployment], commits: Iterable[Commit]) -> list[Shipment]:
    """What each deployment ships of raw commit events (duplicates and updates included)."""
    return ship_known_commits(deployments, collapse_commits(commits))


def at(text: str) -> int:
    return to_micros(datetime.fromisoformat(text))


def deploy(
    ident: str,
    finished: str,
    shas: tuple[str, ...] | None = None,
    status: str = "success",
    environment: str = "production",
    repository_id: str = "r1",
) -> Deployment:
    return Deployment(repository_id, ident, environment, status, at(finished), commit_shas=shas)


def commit(sha: str, committed: str, repository_id: str = "r1", number: int | None = None) -> Commit:
    return Commit(repository_id, sha, at(committed), number)


def shipped(deployments: list[Deployment], commits: list[Commit]) -> dict[str, tuple[str, ...]]:
    return {s.deployment.id: s.shas for s in ship_commits(deployments, commits)}


def test_merge_commit_copies_keep_earliest_time_and_smallest_number() -> None:
    merged = merge_commit(commit("a", "2025-10-01T12:00Z", number=7), commit("a", "2025-10-01T11:00Z"))
    merged = merge_commit(merged, commit("a", "2025-10-01T13:00Z", number=3))
    assert merged == commit("a", "2025-10-01T11:00Z", number=3)


def test_merge_commit_other_identity_raises() -> None:
    with pytest.raises(ValueError, match="cannot merge commit"):
        merge_commit(commit("a", "2025-10-01T12:00Z"), commit("b", "2025-10-01T12:00Z"))


@pytest.mark.parametrize(
    ("first", "second", "counts"),
    [
        pytest.param("failure", "success", True, id="failure-then-success-is-deployment"),
        pytest.param("success", "failure", False, id="success-then-failure-is-failed-attempt"),
    ],
)
def test_merge_deployment_latest_finished_at_wins(first: str, second: str, counts: bool) -> None:
    early = deploy("d1", "2025-10-01T10:00Z", status=first)
    late = deploy("d1", "2025-10-01T11:00Z", status=second)
    assert merge_deployment(early, late) == late
    assert merge_deployment(late, early) == late
    assert late.is_dora_deployment() is counts


def test_merge_deployment_other_identity_raises() -> None:
    with pytest.raises(ValueError, match="cannot merge deployment"):
        merge_deployment(deploy("d1", "2025-10-01T10:00Z"), deploy("d2", "2025-10-01T10:00Z"))


@pytest.mark.parametrize(
    ("deployment", "counts"),
    [
        pytest.param(deploy("d", "2025-10-01T10:00Z"), True, id="production-success"),
        pytest.param(deploy("d", "2025-10-01T10:00Z", status="failure"), False, id="production-failure"),
        pytest.param(deploy("d", "2025-10-01T10:00Z", environment="staging"), False, id="staging"),
    ],
)
def test_deployment_counts_only_successful_production(deployment: Deployment, counts: bool) -> None:
    assert deployment.is_dora_deployment() is counts
    assert deployment.is_dora_deployment({"production", "staging"}) is (deployment.status == "success")


def test_ship_commits_without_shas_ships_unshipped_commits_up_to_finish() -> None:
    commits = [
        commit("c1", "2025-10-01T08:00Z"),
        commit("c2", "2025-10-01T10:00Z"),  # exactly at the finish: shipped
        commit("c3", "2025-10-01T11:00Z"),
    ]
    deployments = [deploy("d1", "2025-10-01T10:00Z"), deploy("d2", "2025-10-02T10:00Z")]
    assert shipped(deployments, commits) == {"d1": ("c1", "c2"), "d2": ("c3",)}


def test_ship_commits_listed_shas_ship_once_and_unknown_shas_included() -> None:
    commits = [commit("c1", "2025-10-01T08:00Z"), commit("c2", "2025-10-01T09:00Z")]
    deployments = [
        deploy("d1", "2025-10-01T10:00Z", shas=("c1", "ghost")),
        deploy("d2", "2025-10-01T11:00Z", shas=("c1", "c2")),
    ]
    assert shipped(deployments, commits) == {"d1": ("c1", "ghost"), "d2": ("c2",)}


def test_ship_commits_empty_list_is_given_and_ships_nothing() -> None:
    commits = [commit("c1", "2025-10-01T08:00Z")]
    deployments = [deploy("d1", "2025-10-01T10:00Z", shas=()), deploy("d2", "2025-10-01T11:00Z")]
    assert shipped(deployments, commits) == {"d1": (), "d2": ("c1",)}


def test_ship_commits_implicit_deployment_takes_commit_a_later_one_lists() -> None:
    commits = [commit("c1", "2025-10-01T08:00Z")]
    deployments = [deploy("d1", "2025-10-01T10:00Z"), deploy("d2", "2025-10-01T11:00Z", shas=("c1",))]
    assert shipped(deployments, commits) == {"d1": ("c1",), "d2": ()}


def test_ship_commits_failed_and_staging_deployments_ship_nothing() -> None:
    commits = [commit("c1", "2025-10-01T08:00Z")]
    deployments = [
        deploy("f", "2025-10-01T09:00Z", status="failure"),
        deploy("s", "2025-10-01T09:30Z", environment="staging"),
        deploy("d1", "2025-10-01T10:00Z"),
    ]
    assert shipped(deployments, commits) == {"d1": ("c1",)}


def test_ship_commits_repositories_ship_independently() -> None:
    commits = [commit("c1", "2025-10-01T08:00Z", "r1"), commit("c1", "2025-10-01T08:00Z", "r2")]
    deployments = [
        deploy("d1", "2025-10-01T10:00Z", repository_id="r1"),
        deploy("d1", "2025-10-01T10:00Z", repository_id="r2"),
    ]
    result = {
        (s.deployment.repository_id, s.deployment.id): s.shas for s in ship_commits(deployments, commits)
    }
    assert result == {("r1", "d1"): ("c1",), ("r2", "d1"): ("c1",)}


def test_ship_commits_late_deployment_reshuffles_shipping_by_event_time() -> None:
    commits = [commit("c1", "2025-10-01T08:00Z"), commit("c2", "2025-10-01T12:00Z")]
    later = deploy("d2", "2025-10-01T13:00Z")
    assert shipped([later], commits) == {"d2": ("c1", "c2")}
    earlier = deploy("d1", "2025-10-01T09:00Z")  # arrives last, finished first
    assert shipped([later, earlier], commits) == {"d1": ("c1",), "d2": ("c2",)}


def test_lead_times_positive_seconds_only() -> None:
    commits = collapse_commits(
        [
            commit("early", "2025-10-01T08:00Z"),
            commit("same", "2025-10-01T10:00Z"),  # lead time 0: shipped, not a sample
            commit("skewed", "2025-10-01T11:00Z"),  # committed after the deployment: negative
        ]
    )
    (shipment,) = ship_commits(
        [deploy("d1", "2025-10-01T10:00Z", shas=("early", "same", "skewed", "ghost"))], commits.values()
    )
    assert shipment.shas == ("early", "ghost", "same", "skewed")
    assert lead_times(shipment, commits) == [2 * HOUR]


def test_lead_times_commit_arriving_after_deployment_gets_lead_time() -> None:
    deployment = deploy("d1", "2025-10-01T10:00Z", shas=("c1",))
    (before,) = ship_commits([deployment], [])
    assert lead_times(before, {}) == []
    late = collapse_commits([commit("c1", "2025-10-01T07:00Z")])
    (after,) = ship_commits([deployment], late.values())
    assert lead_times(after, late) == [3 * HOUR]


def test_shipped_at_maps_commit_to_shipping_deployment_finish() -> None:
    shipments = ship_commits(
        [deploy("d1", "2025-10-01T10:00Z"), deploy("d2", "2025-10-02T10:00Z")],
        [commit("c1", "2025-10-01T08:00Z"), commit("c2", "2025-10-01T12:00Z")],
    )
    assert shipped_at(shipments) == {
        ("r1", "c1"): at("2025-10-01T10:00Z"),
        ("r1", "c2"): at("2025-10-02T10:00Z"),
    }


@pytest.mark.parametrize(
    "entity",
    [
        pytest.param(deploy("d1", "2025-10-01T10:00Z", shas=("a", "b")), id="deployment-with-shas"),
        pytest.param(deploy("d1", "2025-10-01T10:00Z"), id="deployment-without-shas"),
        pytest.param(
            Deployment("r1", "d1", "production", "success", 5, 1, "h", (), (1, 2)),
            id="deployment-every-field",
        ),
        pytest.param(commit("c1", "2025-10-01T08:00Z", number=4), id="commit"),
    ],
)
def test_to_record_json_round_trip_equal(entity: Deployment | Commit) -> None:
    record = json.loads(json.dumps(entity.to_record()))
    assert type(entity).from_record(record) == entity


deployment_events = st.builds(
    Deployment,
    repository_id=st.sampled_from(["r1", "r2"]),
    id=st.sampled_from(["d1", "d2", "d3", "d4"]),
    environment=st.sampled_from(["production", "staging"]),
    status=st.sampled_from(["success", "failure"]),
    finished_at=st.integers(0, 20),
    commit_shas=st.none() | st.lists(st.sampled_from(["a", "b", "c", "x"]), max_size=3).map(tuple),
)
commit_events = st.builds(
    Commit,
    repository_id=st.sampled_from(["r1", "r2"]),
    sha=st.sampled_from(["a", "b", "c", "d", "e"]),
    committed_at=st.integers(0, 20),
    pull_request_number=st.none() | st.integers(1, 3),
)


@given(
    st.lists(deployment_events, max_size=15),
    st.lists(commit_events, max_size=15),
    st.randoms(use_true_random=False),
)
def test_ship_commits_any_order_and_duplicates_same_result(
    deployments: list[Deployment], commits: list[Commit], rng: object
) -> None:
    replayed_deployments = deployments + deployments[::2]
    replayed_commits = commits + commits[1::2]
    rng.shuffle(replayed_deployments)  # type: ignore[attr-defined]
    rng.shuffle(replayed_commits)  # type: ignore[attr-defined]
    assert collapse_deployments(replayed_deployments) == collapse_deployments(deployments)
    assert collapse_commits(replayed_commits) == collapse_commits(commits)
    assert ship_commits(replayed_deployments, replayed_commits) == ship_commits(deployments, commits)


@given(st.lists(deployment_events, max_size=15), st.lists(commit_events, max_size=15))
def test_ship_commits_any_history_ships_each_commit_at_most_once(
    deployments: list[Deployment], commits: list[Commit]
) -> None:
    seen: set[tuple[str, str]] = set()
    for shipment in ship_commits(deployments, commits):
        assert shipment.deployment.is_dora_deployment()
        keys = {(shipment.deployment.repository_id, sha) for sha in shipment.shas}
        assert not keys & seen
        seen |= keys


@given(st.lists(deployment_events, max_size=15), st.lists(commit_events, max_size=15))
def test_ship_known_commits_ships_as_the_raw_history(deployments: list[Deployment], commits: list[Commit]) -> None:
    # The metrics pass collapse_commits' answer to avoid collapsing it again.
    known = collapse_commits(commits + commits[::2])
    assert ship_known_commits(deployments, known) == ship_commits(deployments, commits)
    assert collapse_commits(known.values()) == known


def test_ship_commits_without_production_deployments_ships_nothing() -> None:
    staging = deploy("d1", "2025-10-02T00:00Z", environment="staging")
    assert ship_commits([staging], [commit("a", "2025-10-01T00:00Z")]) == []
