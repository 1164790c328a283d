"""Data-quality scores (seed 002's DataQualityCheck): completeness, freshness, consistency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.quality import (
    QualityPolicy,
    assess,
    completeness,
    consistency,
    consistency_issues,
    freshness,
)

NOW = datetime(2025, 11, 19, 12, 0, tzinfo=UTC)
FULL = {
    "event_type": "user_action",
    "source": "web_app",
    "user_id": "u1",
    "session_id": "s1",
    "ip_address": "10.0.0.1",
    "data": {"action": "click"},
    "tags": ["frontend"],
    "version": "1.0",
}


def test_completeness_required_only_zero_all_optional_one() -> None:
    assert completeness({"event_type": "metric", "source": "s"}) == 0.0
    assert completeness(FULL) == 1.0


@pytest.mark.parametrize(
    ("present", "expected"),
    [(["user_id"], 1 / 6), (["user_id", "data", "tags"], 0.5), (["data", "tags"], 1 / 3)],
)
def test_completeness_share_of_optional_fields(present: list[str], expected: float) -> None:
    assert completeness({name: FULL[name] for name in ["event_type", "source", *present]}) == pytest.approx(
        expected
    )


def test_completeness_empty_values_count_as_absent() -> None:
    assert (
        completeness({"event_type": "metric", "source": "s", "data": {}, "tags": [], "user_id": None}) == 0.0
    )


@pytest.mark.parametrize(
    ("age_s", "expected"),
    [
        pytest.param(0, 1.0, id="now"),
        pytest.param(3600, 1.0, id="at-max-age"),
        pytest.param(3601, 1 - 1 / 3600, id="just-past"),
        pytest.param(5400, 0.5, id="half-way"),
        pytest.param(7200, 0.0, id="twice-max-age"),
        pytest.param(86_400, 0.0, id="a-day"),
        pytest.param(-300, 1.0, id="within-skew"),
        pytest.param(-301, 0.0, id="future"),
    ],
)
def test_freshness_by_age(age_s: int, expected: float) -> None:
    assert freshness(NOW - timedelta(seconds=age_s), NOW) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("payload", "issues"),
    [
        pytest.param(
            {"event_type": "user_action"}, ["User action events should include user_id"], id="action"
        ),
        pytest.param({"event_type": "user_action", "user_id": "u"}, [], id="action-ok"),
        pytest.param(
            {"event_type": "error", "data": {}}, ["Error events should include data.message"], id="error"
        ),
        pytest.param(
            {"event_type": "error", "data": {"message": "  "}},
            ["Error events should include data.message"],
            id="error-blank",
        ),
        pytest.param({"event_type": "error", "data": {"message": "boom"}}, [], id="error-ok"),
        pytest.param(
            {"event_type": "metric", "data": {"value": "3"}},
            ["Metric events should include a numeric data.value"],
            id="metric-string",
        ),
        pytest.param(
            {"event_type": "metric", "data": {"value": True}},
            ["Metric events should include a numeric data.value"],
            id="metric-bool",
        ),
        pytest.param({"event_type": "metric", "data": {"value": 0.5}}, [], id="metric-ok"),
        pytest.param(
            {"event_type": "api_call", "data": {"endpoint": "/x", "status_code": 200}}, [], id="api-ok"
        ),
        pytest.param(
            {"event_type": "api_call", "data": {"endpoint": "/x", "status_code": 600}},
            ["data.status_code should be an HTTP status code (100-599)"],
            id="api-status",
        ),
        pytest.param(
            {"event_type": "system_event", "data": {"duration_ms": -1}},
            ["data.duration_ms should be a number >= 0"],
            id="negative-duration",
        ),
        pytest.param(
            {"event_type": "api_call", "data": None},
            ["API call events should include data.endpoint"],
            id="api-no-data",
        ),
    ],
)
def test_consistency_issues_business_rules(payload: dict[str, Any], issues: list[str]) -> None:
    assert consistency_issues(payload) == issues


def test_consistency_score_half_per_issue() -> None:
    assert [consistency(n) for n in range(4)] == [1.0, 0.5, 0.0, 0.0]


def test_assess_full_fresh_consistent_event_scores_one() -> None:
    report = assess(FULL, NOW - timedelta(seconds=10), NOW)
    assert report.overall == 1.0 and not report.flagged and report.issues == ()


def test_assess_weighted_mean_and_flag_below_min_score() -> None:
    # completeness 0, freshness 1, consistency 0.5 -> 0.4*0 + 0.3*1 + 0.3*0.5 = 0.45
    minimal = {"event_type": "user_action", "source": "s"}
    report = assess(minimal, NOW, NOW)
    assert (report.completeness, report.freshness, report.consistency) == (0.0, 1.0, 0.5)
    assert report.overall == pytest.approx(0.45)
    assert report.flagged
    assert not assess(minimal, NOW, NOW, QualityPolicy(min_score=0.45)).flagged
    assert assess(minimal, NOW, NOW, QualityPolicy(min_score=0.46)).flagged


def test_assess_future_timestamp_named_as_issue() -> None:
    report = assess(FULL, NOW + timedelta(hours=1), NOW)
    assert report.freshness == 0.0
    assert report.issues == ("timestamp is in the future",)


def test_assess_depends_only_on_arguments() -> None:
    when = NOW - timedelta(hours=5)
    assert assess(FULL, when, NOW) == assess(FULL, when, NOW)
    assert assess(FULL, when, NOW).as_dict()["freshness"] == 0.0


def test_assess_with_broken_rules_given_scores_as_when_it_checks_them() -> None:
    minimal = {"event_type": "user_action", "source": "s"}
    given = consistency_issues(minimal)
    future = NOW + timedelta(hours=1)
    assert assess(minimal, future, NOW, broken_rules=given) == assess(minimal, future, NOW)
    # The given list is not extended in place by the future-timestamp issue.
    assert given == ["User action events should include user_id"]
