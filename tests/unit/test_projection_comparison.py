"""The projections' reconciliation math (app.commands.projection_comparison): plain data in,
differences out."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.commands.projection_comparison import (
    DayDifference,
    SnapshotDifference,
    compare_days,
    compare_snapshot,
    days_from_view,
    repair_repositories,
    same_value,
    snapshot_age_s,
)

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
SNAPSHOT = {
    "repository_id": "r1",
    "window_days": 30,
    "end": "2026-03-03T10:00:00.123456+00:00",
    "deployment_frequency": {"deployments": 4, "deploy_days_per_week": 1.5, "band": "high"},
    "lead_time": {"p50_hours": 2.25, "band": "elite"},
}


def test_compare_snapshot_equal_is_no_difference() -> None:
    assert compare_snapshot("r1", dict(SNAPSHOT), dict(SNAPSHOT)) is None


def test_compare_snapshot_missing_in_redis_is_a_difference() -> None:
    difference = compare_snapshot("r1", None, SNAPSHOT)
    assert difference is not None
    assert difference.target == ("snapshot", "r1")
    assert difference.describe() == "snapshot r1: no snapshot in Redis"
    assert difference.as_dict()["redis"] is None


def test_compare_snapshot_names_each_differing_leaf() -> None:
    stored = {**SNAPSHOT, "lead_time": {"p50_hours": 3.0, "band": "elite"}}
    stored.pop("window_days")
    difference = compare_snapshot("r1", stored, SNAPSHOT)
    assert difference is not None
    assert difference.fields == (("lead_time.p50_hours", 3.0, 2.25), ("window_days", None, 30))
    assert "lead_time.p50_hours redis 3.0, recomputed 2.25" in difference.describe()


def test_compare_snapshot_other_end_is_a_difference() -> None:
    # The command asks for the recomputation at the snapshot's end: any other end differs.
    moved = {**SNAPSHOT, "end": "2026-03-03T10:00:01+00:00"}
    difference = compare_snapshot("r1", SNAPSHOT, moved)
    assert difference is not None and [path for path, _, _ in difference.fields] == ["end"]


def test_compare_snapshot_a_null_leaf_against_a_missing_one_differs() -> None:
    difference = compare_snapshot("r1", {**SNAPSHOT, "extra": None}, SNAPSHOT)
    assert difference is not None and difference.fields == (("extra", None, None),)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param(3.0, 3.0, True, id="equal"),
        pytest.param(1_234_567.000001, 1_234_567.0000010002, True, id="float-sum-order"),
        pytest.param(0.0, 1e-9, True, id="near-zero"),
        pytest.param(86_400.0, 86_401.0, False, id="a-second-off"),
        pytest.param(3.0, 4.0, False, id="a-count-off"),
    ],
)
def test_same_value_tolerates_float_sums_only(a: float, b: float, same: bool) -> None:
    assert same_value(a, b) is same


def test_compare_days_finds_changed_missing_and_extra_rows_sorted() -> None:
    database = {(D1, "deployments"): 2.0, (D2, "deployments"): 5.0, (D3, "incidents_opened"): 1.0}
    expected = {(D1, "deployments"): 2.0, (D2, "deployments"): 4.0, (D3, "lead_time_count"): 3.0}
    found = compare_days("repository", "r1", database, expected)
    assert found == [
        DayDifference("repository", "r1", D2, "deployments", 5.0, 4.0),
        DayDifference("repository", "r1", D3, "incidents_opened", 1.0, None),
        DayDifference("repository", "r1", D3, "lead_time_count", None, 3.0),
    ]
    assert (
        found[0].describe() == "metrics_daily repository r1 2026-03-02 deployments: database 5, recomputed 4"
    )
    assert found[1].describe().endswith("database 1, recomputed no row")


def test_compare_days_leaves_days_before_the_cutoff_alone() -> None:
    # Rows before the cutoff were written at ageing; the tables hold only part of those days.
    database = {(D1, "deployments"): 7.0, (D2, "deployments"): 1.0}
    expected = {(D2, "deployments"): 1.0}
    assert compare_days("repository", "r1", database, expected, since=D2) == []
    assert len(compare_days("repository", "r1", database, expected)) == 1


def test_compare_days_team_names_the_sum() -> None:
    (difference,) = compare_days("team", "t1", {(D1, "deployments"): 9.0}, {(D1, "deployments"): 6.0})
    assert difference.target == ("team", "t1")
    assert difference.describe().endswith("database 9, sum of its repositories 6")
    assert difference.as_dict() == {
        "kind": "team",
        "subject": "t1",
        "day": "2026-03-01",
        "metric": "deployments",
        "database": 9.0,
        "expected": 6.0,
    }


def test_days_from_view_flattens_day_metric_value() -> None:
    answer = {"days": {"2026-03-01": {"deployments": 2, "lead_time_seconds_sum": 3600.5}}}
    assert days_from_view(answer) == {(D1, "deployments"): 2.0, (D1, "lead_time_seconds_sum"): 3600.5}
    assert days_from_view({}) == {}


def test_snapshot_age_is_seconds_since_its_end() -> None:
    now = datetime(2026, 3, 3, 10, 1, 0, 123456, tzinfo=UTC)
    assert snapshot_age_s(SNAPSHOT, now) == 60.0
    assert snapshot_age_s({"end": "not a time"}, now) is None
    assert snapshot_age_s({}, now) is None


def test_repair_repositories_takes_differing_repositories_and_each_repository_of_a_differing_team() -> None:
    differences = [
        SnapshotDifference("r1", None, SNAPSHOT),
        DayDifference("repository", "r2", D1, "deployments", 1.0, 2.0),
        DayDifference("team", "t9", D1, "deployments", 1.0, 2.0),
    ]
    teams = {"r1": "t1", "r2": "t1", "r3": "t9", "r4": "t9", "r5": "t2"}
    assert repair_repositories(differences, teams) == {"r1", "r2", "r3", "r4"}
    assert repair_repositories([], teams) == set()
