from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tables.commit_state import Commit
from tables.deployment_state import Deployment
from tables.dora import (
    change_failure_band,
    deploy_days_median,
    deployment_frequency_band,
    dora_snapshot,
    lead_time_band,
    restore_band,
)
from tables.incident_state import Incident, IncidentChange, IncidentState, merge_incident
from tables.instants import to_micros
from tables.windows import Window


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


def commit(sha: str, committed: str, number: int | None = None, repository_id: str = "r1") -> Commit:
    return Commit(repository_id, sha, at(committed), number)


def incident(
    ident: str,
    opened: str,
    resolved: str | None = None,
    deployment_id: str | None = None,
    repository_id: str = "r1",
) -> Incident:
    return Incident(repository_id, ident, at(opened), at(resolved) if resolved else None, deployment_id)


END = "2025-10-31T00:00Z"  # a 30-day window is (Oct 1 00:00, Oct 31 00:00]; weeks start Oct 3, 10, 17, 24

COMMITS = [
    commit("c0", "2025-09-20T00:00Z"),  # shipped by d0, before the window
    commit("c1", "2025-10-01T12:00Z", number=1),  # c1-c3: two PRs shipped by d1
    commit("c2", "2025-10-02T00:00Z", number=1),
    commit("c3", "2025-10-02T06:00Z", number=2),
    commit("c4", "2025-10-05T00:00Z"),
    commit("c5", "2025-10-06T01:00Z"),  # listed by d2 but committed after it: shipped, no sample
    commit("c6", "2025-10-06T12:00Z"),
    commit("c7", "2025-10-30T00:00Z"),
]
DEPLOYMENTS = [
    deploy("d0", "2025-09-25T00:00Z"),
    deploy("d1", "2025-10-02T12:00Z"),  # no commit_shas: c1, c2, c3 -> 24 h, 12 h, 6 h
    deploy("d2", "2025-10-06T00:00Z", ("c4", "c5", "ghost")),  # c4 -> 24 h
    deploy("d3", "2025-10-06T18:00Z"),  # c6 -> 6 h; c5 is already shipped
    deploy("f1", "2025-10-08T00:00Z", status="failure"),
    deploy("s1", "2025-10-09T00:00Z", environment="staging"),
    deploy("d4", "2025-10-20T00:00Z", ()),  # ships nothing
    deploy("d5", END),  # on the window's end: inside; c7 -> 24 h
    deploy("d6", "2025-11-02T00:00Z"),  # after the window
]
INCIDENTS = [
    incident("i1", "2025-10-02T13:00Z", "2025-10-02T14:00Z"),  # -> d1; restore 1 h
    incident("i2", "2025-10-07T00:00Z", "2025-10-08T00:00Z", deployment_id="d3"),  # -> d3; 24 h
    incident("i3", "2025-09-01T00:00Z", "2025-10-03T00:00Z"),  # before any deployment; 768 h; d1 is rework
    incident("i4", "2025-10-30T00:00Z", deployment_id="f1"),  # names a failure: nothing; open; d5 is rework
    incident("i5", "2025-10-21T00:00Z", "2025-10-21T00:30Z", deployment_id="ghost"),  # nothing; 0.5 h
    incident("i6", "2025-10-29T00:00Z", "2025-11-01T00:00Z"),  # -> d4; open at the end
]


def test_dora_snapshot_hand_computed_history_matches() -> None:
    snapshot = dora_snapshot(DEPLOYMENTS, INCIDENTS, COMMITS, end=at(END), window_days=30)
    assert snapshot["window_days"] == 30
    assert snapshot["end"] == "2025-10-31T00:00:00+00:00"
    # Deploy days per week [W0 Oct 31, W1 Oct 20, W2 none, W3 Oct 6] -> median of [0, 1, 1, 1];
    # the month is Oct 2, 6, 20, 31. d1 falls in the 2 leftover days: counted, in no week.
    assert snapshot["deployment_frequency"] == {
        "deployments": 5,
        "deploy_days_per_week": 1.0,
        "deploy_days_per_month": 4.0,
        "band": "high",
    }
    # Lead times [6, 6, 12, 24, 24, 24] h: p50 at rank 2.5, p90 at 4.5, p95 at 4.75.
    assert snapshot["lead_time"] == pytest.approx(
        {
            "p50_hours": 18.0,
            "p90_hours": 24.0,
            "p95_hours": 24.0,
            "mean_hours": 16.0,
            "count": 6,
            "band": "elite",
        }
    )
    assert snapshot["change_failure_rate"] == pytest.approx(
        {"rate": 0.6, "failed_deployments": 3, "deployments": 5, "band": "low"}
    )
    # Restore [0.5, 1, 24, 768] h: p50 at rank 1.5, p90 at 2.7, p95 at 2.85.
    assert snapshot["time_to_restore"] == pytest.approx(
        {
            "p50_hours": 12.5,
            "p90_hours": 24 + 0.7 * 744,
            "p95_hours": 24 + 0.85 * 744,
            "mean_hours": 793.5 / 4,
            "count": 4,
            "open_incidents": 2,
            "band": "high",
        }
    )
    assert snapshot["rework_rate"] == pytest.approx({"rate": 0.4, "rework_deployments": 2, "deployments": 5})


def test_dora_snapshot_shape_is_the_api_contract() -> None:
    snapshot = dora_snapshot(DEPLOYMENTS, INCIDENTS, COMMITS, end=at(END), window_days=30)
    assert {name: list(value) if isinstance(value, dict) else None for name, value in snapshot.items()} == {
        "window_days": None,
        "end": None,
        "deployment_frequency": ["deployments", "deploy_days_per_week", "deploy_days_per_month", "band"],
        "lead_time": ["p50_hours", "p90_hours", "p95_hours", "mean_hours", "count", "band"],
        "change_failure_rate": ["rate", "failed_deployments", "deployments", "band"],
        "time_to_restore": [
            "p50_hours",
            "p90_hours",
            "p95_hours",
            "mean_hours",
            "count",
            "open_incidents",
            "band",
        ],
        "rework_rate": ["rate", "rework_deployments", "deployments"],
    }


def test_dora_snapshot_empty_window_all_null() -> None:
    snapshot = dora_snapshot(DEPLOYMENTS, INCIDENTS, COMMITS, end=at("2026-03-01T00:00Z"), window_days=7)
    for name in ("deployment_frequency", "lead_time", "change_failure_rate", "rework_rate"):
        assert set(snapshot[name].values()) == {None}, name
    restore = snapshot["time_to_restore"]
    assert restore.pop("open_incidents") == 1  # i4, never resolved: not windowed
    assert set(restore.values()) == {None}


def test_dora_snapshot_no_entities_open_incidents_zero() -> None:
    snapshot = dora_snapshot([], [], [], end=at(END), window_days=90)
    assert snapshot["time_to_restore"]["open_incidents"] == 0
    assert snapshot["deployment_frequency"]["deployments"] is None


def test_dora_snapshot_only_non_positive_lead_times_lead_time_null() -> None:
    deployments = [deploy("d1", "2025-10-10T00:00Z", ("late", "same"))]
    commits = [commit("late", "2025-10-11T00:00Z"), commit("same", "2025-10-10T00:00Z")]
    snapshot = dora_snapshot(deployments, [], commits, end=at(END), window_days=30)
    assert set(snapshot["lead_time"].values()) == {None}
    assert snapshot["deployment_frequency"]["deployments"] == 1
    # Zero is 0 where data exists (edge rule 2).
    assert snapshot["change_failure_rate"] == {
        "rate": 0.0,
        "failed_deployments": 0,
        "deployments": 1,
        "band": "elite",
    }
    assert snapshot["rework_rate"] == {"rate": 0.0, "rework_deployments": 0, "deployments": 1}


def test_dora_snapshot_seven_day_window_has_no_month() -> None:
    deployments = [deploy("d1", "2025-10-25T00:00Z"), deploy("d2", "2025-10-30T00:00Z")]
    frequency = dora_snapshot(deployments, [], [], end=at(END), window_days=7)["deployment_frequency"]
    assert frequency == {
        "deployments": 2,
        "deploy_days_per_week": 2.0,
        "deploy_days_per_month": None,
        "band": "high",
    }


def test_dora_snapshot_commit_arriving_after_deployment_gets_lead_time() -> None:
    deployments = [deploy("d1", "2025-10-10T00:00Z")]
    before = dora_snapshot(deployments, [], [], end=at(END), window_days=30)
    after = dora_snapshot(deployments, [], [commit("c1", "2025-10-09T00:00Z")], end=at(END), window_days=30)
    assert before["lead_time"]["count"] is None
    assert after["lead_time"]["count"] == 1
    assert after["lead_time"]["p50_hours"] == pytest.approx(24.0)


def test_dora_snapshot_team_pools_samples_across_repositories() -> None:
    deployments = [
        deploy("d1", "2025-10-10T00:00Z", repository_id="r1"),
        deploy("d1", "2025-10-12T00:00Z", repository_id="r2"),
    ]
    commits = [
        commit("a", "2025-10-09T23:00Z", repository_id="r1"),  # 1 h
        commit("b", "2025-10-09T21:00Z", repository_id="r1"),  # 3 h
        commit("a", "2025-10-11T10:00Z", repository_id="r2"),  # 14 h: same sha, other repository
    ]
    incidents = [
        incident("i1", "2025-10-12T01:00Z", "2025-10-12T03:00Z", deployment_id="d1", repository_id="r1")
    ]
    team = dora_snapshot(deployments, incidents, commits, end=at(END), window_days=30)
    # The pooled median of [1, 3, 14] h, not the mean of the repositories' medians (2 and 14).
    assert team["lead_time"]["p50_hours"] == pytest.approx(3.0)
    assert team["lead_time"]["count"] == 3
    assert team["deployment_frequency"]["deployments"] == 2
    # The incident names r1's d1, though r2's d1 finished closer before it.
    assert team["change_failure_rate"]["failed_deployments"] == 1
    assert team["rework_rate"]["rework_deployments"] == 0


def test_dora_snapshot_rework_needs_incident_of_same_repository() -> None:
    deployments = [deploy("d1", "2025-10-10T00:00Z", repository_id="r1")]
    incidents = [incident("i1", "2025-10-09T00:00Z", repository_id="r2")]
    snapshot = dora_snapshot(deployments, incidents, [], end=at(END), window_days=30)
    assert snapshot["rework_rate"]["rework_deployments"] == 0


@pytest.mark.parametrize(
    ("resolved", "rework"),
    [
        pytest.param("2025-10-10T00:00Z", False, id="resolved-at-finish"),
        pytest.param("2025-10-10T00:01Z", True, id="resolved-after-finish"),
        pytest.param(None, True, id="unresolved"),
    ],
)
def test_dora_snapshot_rework_while_incident_open(resolved: str | None, rework: bool) -> None:
    deployments = [deploy("d1", "2025-10-10T00:00Z")]
    incidents = [incident("i1", "2025-10-10T00:00Z", resolved, deployment_id="other")]
    snapshot = dora_snapshot(deployments, incidents, [], end=at(END), window_days=30)
    assert snapshot["rework_rate"]["rework_deployments"] == int(rework)


def test_deploy_days_median_distinct_days_per_slice() -> None:
    window = Window(at(END), 30)
    times = [
        at("2025-10-30T01:00Z"),
        at("2025-10-30T23:00Z"),
        at("2025-10-29T00:00Z"),
        at("2025-10-20T00:00Z"),
    ]
    assert deploy_days_median(times, window, 7) == 0.5  # weeks [2, 1, 0, 0]: Oct 30 counts once
    assert deploy_days_median(times, window, 30) == 3.0
    assert deploy_days_median(times, Window(at(END), 7), 30) is None


@pytest.mark.parametrize(
    ("per_week", "per_month", "deployments", "band"),
    [
        pytest.param(5.0, 20.0, 30, "elite", id="5-days-a-week-elite"),
        pytest.param(4.5, 20.0, 30, "high", id="4.5-days-a-week-high"),
        pytest.param(1.0, 4.0, 4, "high", id="1-day-a-week-high"),
        pytest.param(0.5, 1.0, 2, "medium", id="1-day-a-month-medium"),
        pytest.param(0.0, 0.0, 1, "low", id="no-day-in-median-month-low"),
        pytest.param(None, None, 1, "medium", id="short-window-one-deployment-medium"),
        pytest.param(None, None, 0, "low", id="short-window-none-low"),
    ],
)
def test_deployment_frequency_band_boundaries(
    per_week: float | None, per_month: float | None, deployments: int, band: str
) -> None:
    assert deployment_frequency_band(per_week, per_month, deployments) == band


@pytest.mark.parametrize(
    ("hours", "band"),
    [
        pytest.param(23.99, "elite", id="under-a-day"),
        pytest.param(24.0, "high", id="a-day-is-high"),
        pytest.param(167.99, "high", id="under-a-week"),
        pytest.param(168.0, "medium", id="a-week-is-medium"),
        pytest.param(719.99, "medium", id="under-30-days"),
        pytest.param(720.0, "low", id="30-days-is-low"),
    ],
)
def test_lead_time_band_strict_boundaries(hours: float, band: str) -> None:
    assert lead_time_band(hours) == band


@pytest.mark.parametrize(
    ("hours", "band"),
    [
        pytest.param(0.99, "elite", id="under-an-hour"),
        pytest.param(1.0, "high", id="an-hour-is-high"),
        pytest.param(24.0, "medium", id="a-day-is-medium"),
        pytest.param(167.99, "medium", id="under-a-week"),
        pytest.param(168.0, "low", id="a-week-is-low"),
    ],
)
def test_restore_band_strict_boundaries(hours: float, band: str) -> None:
    assert restore_band(hours) == band


@pytest.mark.parametrize(
    ("failed", "deployments", "band"),
    [
        pytest.param(0, 7, "elite", id="zero"),
        pytest.param(1, 20, "elite", id="exactly-5-percent"),
        pytest.param(1, 19, "high", id="just-over-5-percent"),
        pytest.param(1, 10, "high", id="exactly-10-percent"),
        pytest.param(3, 20, "medium", id="exactly-15-percent"),
        pytest.param(1, 6, "low", id="over-15-percent"),
    ],
)
def test_change_failure_band_inclusive_boundaries(failed: int, deployments: int, band: str) -> None:
    assert change_failure_band(failed, deployments) == band


DAY = 86_400_000_000
deployment_events = st.builds(
    Deployment,
    repository_id=st.sampled_from(["r1", "r2"]),
    id=st.sampled_from(["d1", "d2", "d3", "d4"]),
    environment=st.sampled_from(["production", "production", "staging"]),
    status=st.sampled_from(["success", "success", "failure"]),
    finished_at=st.integers(0, 40 * DAY),
    commit_shas=st.none() | st.lists(st.sampled_from(["a", "b", "c", "x"]), max_size=3).map(tuple),
)
commit_events = st.builds(
    Commit,
    repository_id=st.sampled_from(["r1", "r2"]),
    sha=st.sampled_from(["a", "b", "c", "d", "e"]),
    committed_at=st.integers(0, 40 * DAY),
)
incident_events = st.builds(
    IncidentChange,
    repository_id=st.sampled_from(["r1", "r2"]),
    id=st.sampled_from(["i1", "i2", "i3"]),
    timestamp=st.integers(0, 5),
    opened_at=st.none() | st.integers(0, 40 * DAY),
    resolved_at=st.none() | st.integers(0, 40 * DAY),
    deployment_id=st.none() | st.sampled_from(["d1", "d2", "nope"]),
)


def incidents_of(events: list[IncidentChange]) -> list[Incident]:
    states: dict[tuple[str, str], IncidentState] = {}
    for event in events:
        key = (event.repository_id, event.id)
        states[key] = merge_incident(states.get(key), event)
    return [state.view() for state in states.values()]


def snapshot_of(deployments: list[Deployment], incidents: list[IncidentChange], commits: list[Commit]) -> Any:
    return dora_snapshot(deployments, incidents_of(incidents), commits, end=30 * DAY, window_days=30)


@settings(max_examples=150)
@given(
    st.lists(deployment_events, max_size=12),
    st.lists(incident_events, max_size=10),
    st.lists(commit_events, max_size=12),
    st.randoms(use_true_random=False),
)
def test_dora_snapshot_any_order_and_duplicates_same_answer(
    deployments: list[Deployment], incidents: list[IncidentChange], commits: list[Commit], rng: object
) -> None:
    replayed = [history + history[::2] for history in (deployments, incidents, commits)]
    for history in replayed:
        rng.shuffle(history)  # type: ignore[attr-defined]
    assert snapshot_of(*replayed) == snapshot_of(deployments, incidents, commits)  # type: ignore[arg-type]
