"""The metric views' ``window`` and ``end`` parameters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.views.params import (
    MAX_K,
    BadParameter,
    check_identifier,
    minute_bound,
    parse_end,
    parse_window,
    top_k_count,
)
from tables.instants import to_micros


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("9999-12-31T23:59:59-01:00", id="year-10000-in-utc"),
        pytest.param("0001-01-01T00:00:00+01:00", id="year-0-in-utc"),
        pytest.param("9999-12-31T00:00:00", id="far-future"),
        pytest.param("1969-12-31T23:59:59Z", id="before-1990"),
        pytest.param("not a time", id="garbage"),
    ],
)
def test_parse_end_outside_event_times_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_end(text)


def test_parse_end_offset_and_naive_are_utc() -> None:
    assert parse_end("2026-11-01T02:00:00+02:00") == to_micros(datetime(2026, 11, 1, tzinfo=UTC))
    assert parse_end("2026-11-01T00:00:00") == to_micros(datetime(2026, 11, 1, tzinfo=UTC))


@pytest.mark.parametrize("text", ["1d", "x", "9" * 5000, "-7d"])
def test_parse_window_other_than_7_30_90_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_window(text)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("\x00", id="nul"),
        pytest.param("team\n", id="newline"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("x" * 201, id="too-long"),
        pytest.param("\udce9", id="lone-surrogate"),
    ],
)
def test_check_identifier_refuses_what_cannot_be_stored_naming_the_parameter(value: str) -> None:
    with pytest.raises(BadParameter, match="^team must"):
        check_identifier(value, "team")


def test_check_identifier_keeps_names_verbatim() -> None:
    assert check_identifier("platform-team ü", "team") == "platform-team ü"


def test_minute_bound_is_an_aware_utc_minute() -> None:
    assert minute_bound({"from": "2026-11-01T12:05:00+02:00"}, "from") == datetime(
        2026, 11, 1, 10, 5, tzinfo=UTC
    )
    assert minute_bound({"to": "2026-11-01T10:05"}, "to") == datetime(2026, 11, 1, 10, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(None, "^from is required", id="missing"),
        pytest.param(" ", "^from is required", id="blank"),
        pytest.param("yesterday", "^from must be an ISO-8601 timestamp", id="garbage"),
        pytest.param("1969-12-31T23:59:00Z", "^from must be an ISO-8601 timestamp", id="before-1990"),
        pytest.param("2026-11-01T10:05:30Z", "^from must be on a whole minute", id="seconds"),
        pytest.param("2026-11-01T10:05:00.5Z", "^from must be on a whole minute", id="fraction"),
    ],
)
def test_minute_bound_refuses_naming_the_parameter(value: str | None, message: str) -> None:
    with pytest.raises(BadParameter, match=message):
        minute_bound({} if value is None else {"from": value}, "from")


def test_top_k_count_defaults_and_bounds() -> None:
    assert top_k_count({}) == 10
    assert top_k_count({"k": "1"}) == 1
    assert top_k_count({"k": str(MAX_K)}) == MAX_K
    for bad in ("0", "-3", str(MAX_K + 1), "ten", "", "2.5"):
        with pytest.raises(BadParameter, match="^k must be an integer from 1 to 1000"):
            top_k_count({"k": bad})
