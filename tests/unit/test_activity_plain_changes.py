"""The activity reader's fast path: a message of the common shape becomes the change that
ActivityMessage's validation gives; anything it cannot vouch for is left to validation,
which then rejects it, keeps it with a warning or keeps it as it is."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from annotated_types import MaxLen
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from agents.activity_change import CLIENT_TEXTS, SERVICE_TEXTS, change_of, plain_change
from agents.intake import Parsed, parse_message
from devtools.activity_history import ActivityPlan, generate_activity_history
from models.activity import ActivityMessage, ClientInfo, ServiceInfo
from models.decoding import DecodeError, decode_json_object
from tables.activity_state import ActivityChange

MISSING = object()

CLIENT = {
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    "screen_resolution": "1920x1080",
    "language": "en-US",
}
SERVICE = {"service_name": "ingestion-service", "service_version": "1.0.0", "environment": "production"}
PROCESSING = {
    "received_at": "2026-03-02T06:00:00.124Z",
    "processed_at": "2026-03-02T06:00:00.140Z",
    "processing_ms": 17,
}
BASE: dict[str, Any] = {
    "event_id": "6f1c3a52-0e4b-4c1e-9a57-2a3f0e7d9b10",
    "request_id": "2b7d9e61-4f0a-4d2b-8c35-7e1a9f3c5d20",
    "event_type": "click",
    "timestamp": "2026-03-02T06:00:00.123Z",
    "user_id": "user-000123",
    "session_id": "cs-1a2b3c4d-5e6f",
    "page_url": "https://shop.example.com/products/0007",
    "event_data": {"element": "button#buy"},
    "client_info": CLIENT,
    "service_info": SERVICE,
    "processing_info": PROCESSING,
}  # fmt: skip

IDS: tuple[Any, ...] = ("user-1", "a", "x" * 200, "x" * 201, "", " u", "u ", "u v", "u\t", "u\n", "u\x00", "u\x7f", "u\x1f",
       "u\u00a0", "\u2028u", "u\u200b", "\u3000u", "usér", "ユーザー", "u\U0001f600", "u\ud800", 7, 7.0, True,
       math.nan, [], {}, None, MISSING)  # fmt: skip
TIMES = ("2026-03-02T06:00:00.123Z", "2026-03-02T06:00:00Z", "2026-03-02T06:00:00.5Z",
         "2026-03-02T06:00:00.123456+00:00", "2026-03-02T06:00:00.1234567Z", "2026-03-02T06:00:00.Z",
         "2026-03-02T06:00:00,5Z", "2026-03-02T11:00:00+05:00", "2026-03-02T06:00:00-00:00",
         "2026-03-02T06:00:00+00:00:00", "2026-03-02T06:00:00", "2026-03-02T06:00Z", "2026-03-02",
         "2026-03-02t06:00:00z", "2026-03-02 06:00:00Z", "20260302T060000Z", "2024-02-29T12:00:00Z",
         "2023-02-29T12:00:00Z", "2100-02-29T00:00:00Z", "2026-03-02T24:00:00Z", "2026-03-02T23:59:60Z",
         "2026-13-02T06:00:00Z", "1989-12-31T23:59:59.999999Z", "1990-01-01T00:00:00Z",
         "1990-01-01T00:30:00+01:00", "2099-12-31T23:59:59.999999Z", "2100-01-01T00:00:00Z",
         "2099-12-31T23:30:00-01:00", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z",
         "9999-12-31T23:59:59-01:00", "２026-03-02T06:00:00Z", "2026-03-02T06:00:00Z\n", " 2026-03-02T06:00:00Z",
         1_772_431_200, 1_772_431_200.5, "1772431200", True, math.nan, None, MISSING)  # fmt: skip
COUNTS = (0, 17, 2**31 - 1, 2**31, -1, True, False, 17.0, math.nan, "17", None, MISSING)


def with_changes(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in {**base, **changes}.items() if v is not MISSING}


def texts(limit: int) -> tuple[Any, ...]:
    return ("x", "", "é" * limit, "y" * (limit + 1), "nul\x00", " spaced ", 5, True, None, MISSING)


def nested(base: dict[str, Any], choices: dict[str, tuple[Any, ...]]) -> tuple[Any, ...]:
    """``base`` with one field changed, for every choice, then other shapes of the object."""
    changed_ones = tuple(
        with_changes(base, {name: choice}) for name, values in choices.items() for choice in values
    )
    return (*changed_ones, {**base, "extra": [1, {"deep": None}]}, {}, [], [base], "x", 1, None, MISSING)


# Each field's choices, valid and not.
CHOICES: dict[str, tuple[Any, ...]] = {
    "event_id": IDS,
    "request_id": IDS,
    "event_type": ("page_view", "click", " click", "", "e" * 201, 3, None, MISSING),
    "timestamp": TIMES,
    "user_id": IDS,
    "session_id": IDS,
    "page_url": ("https://x.example/a", "", "u" * 2_048, "u" * 2_049, "é" * 2_048, "\U0001f600" * 2_048,
                 "nul\x00here", " spaced ", "a\ud800", 5, True, [], None, MISSING),
    "event_data": ({}, {"k": "v"}, {"code": 404, "nested": {"a": [1, 2]}}, {f"k{i}": i for i in range(100)},
                   {f"k{i}": i for i in range(101)}, {1: "int key"}, {"k": math.nan}, [], "x", 0, None,
                   MISSING),
    "client_info": nested(CLIENT, {name: texts(limit) for name, limit in CLIENT_TEXTS}),
    "service_info": nested(SERVICE, {name: texts(limit) for name, limit in SERVICE_TEXTS}),
    "processing_info": nested(PROCESSING, {"received_at": TIMES, "processed_at": TIMES, "processing_ms": COUNTS}),
    "extra": (1, None, {"a": "b"}, MISSING),
}  # fmt: skip


def validated(value: dict[str, Any]) -> ActivityChange | None:
    try:
        return change_of(ActivityMessage.model_validate(value))
    except ValidationError:
        return None


def check(value: dict[str, Any]) -> ActivityChange | None:
    """The fast path's change of ``value`` (None: left to validation), held against
    validation's: of the value itself, and of its bytes as the reader decodes them."""
    change = plain_change(value)
    if change is not None:
        assert validated(value) == change, "the fast path accepted what validation refuses, or differs"
    try:
        raw = orjson.dumps(value)
    except TypeError:  # not JSON (a key that is not a string): no message has it
        return change
    try:
        decoded = plain_change(decode_json_object(raw).value)
    except DecodeError:
        decoded = None
    if decoded is not None:
        for mode in ("strict", "warn", "disabled"):
            parsed = parse_message(raw, ActivityMessage, mode)
            assert isinstance(parsed, Parsed), f"{mode}: the fast path accepted a rejected message"
            assert parsed.warnings == (), f"{mode}: validation drops a field the fast path kept"
            assert change_of(parsed.event) == decoded
    return change


@pytest.mark.parametrize(
    "value", [with_changes(BASE, {name: choice}) for name, choices in CHOICES.items() for choice in choices]
)
def test_a_plain_event_with_one_field_changed_is_the_change_validation_gives(value: dict[str, Any]) -> None:
    check(value)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(CHOICES)), st.integers(0, 10_000), min_size=2, max_size=5))
def test_a_plain_event_with_fields_changed_is_the_change_validation_gives(picks: dict[str, int]) -> None:
    check(with_changes(BASE, {name: CHOICES[name][i % len(CHOICES[name])] for name, i in picks.items()}))


# Any JSON value, and any Python scalar a decoded message cannot hold (NaN, a tuple, bytes).
SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | st.binary(max_size=3)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
NAMES = st.sampled_from([*BASE, *CLIENT, *SERVICE, *PROCESSING]) | st.text(max_size=8)


def _moment(at: datetime, spec: str, zone: str) -> str:
    text = at.replace(tzinfo=None).isoformat(timespec=spec)
    return text + zone


TIME_TEXTS = st.builds(
    _moment,
    st.datetimes(min_value=datetime(1985, 1, 1), max_value=datetime(2105, 1, 1))
    | st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.sampled_from(["auto", "seconds", "milliseconds", "microseconds", "minutes"]),
    st.sampled_from(["Z", "+00:00", "-00:00", "+01:00", "-05:30", "+14:00", "", "z", " Z"]),
)
# Times near the accepted range's bounds, and leap days.
EDGE_TIMES = st.builds(
    _moment,
    st.sampled_from([datetime(1990, 1, 1), datetime(2100, 1, 1), datetime(2024, 2, 29, 12), datetime(2000, 2, 29)])
    .flatmap(lambda at: st.integers(-86_400_000_000, 86_400_000_000).map(lambda us: at + timedelta(microseconds=us))),
    st.sampled_from(["auto", "microseconds"]),
    st.sampled_from(["Z", "+00:00", "+01:00", "-01:00", ""]),
)  # fmt: skip


@settings(max_examples=1_500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(NAMES, VALUES | TIME_TEXTS | EDGE_TIMES | st.sampled_from(IDS[:-1]), max_size=6),
    st.sampled_from(["", "client_info", "service_info", "processing_info"]),
)
def test_a_mutated_event_is_left_to_validation_or_is_its_change(changes: dict[str, Any], into: str) -> None:
    """Random fields (known names or not, any value) put into the plain event or into one
    of its enrichment objects."""
    change = check({**BASE, into: {**BASE[into], **changes}} if into else {**BASE, **changes})
    event("fast path" if change is not None else "left to validation")


@settings(max_examples=500, deadline=None)
@given(TIME_TEXTS | EDGE_TIMES, st.sampled_from(["timestamp", "received_at", "processed_at"]))
def test_any_time_is_parsed_as_validation_parses_it_or_left_to_it(moment: str, field: str) -> None:
    if field == "timestamp":
        change = check({**BASE, "timestamp": moment})
    else:
        change = check({**BASE, "processing_info": {**PROCESSING, field: moment}})
    event("fast path" if change is not None else "left to validation")


def test_a_time_in_the_common_form_is_parsed_to_the_microsecond() -> None:
    for moment, expected in (
        ("2026-03-02T06:00:00.123Z", datetime(2026, 3, 2, 6, 0, 0, 123_000, tzinfo=UTC)),
        ("2024-02-29T23:59:59.999999+00:00", datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC)),
        ("1990-01-01T00:00:00Z", datetime(1990, 1, 1, tzinfo=UTC)),
    ):
        change = check({**BASE, "timestamp": moment})
        assert change is not None
        assert change.time == (expected - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def test_the_generated_history_takes_the_fast_path() -> None:
    """Every well-formed event of devtools.activity_history (all but the malformed ones)."""
    history = generate_activity_history(
        ActivityPlan(events=3_000, users=300, span_s=4 * 3600, malformed=0.01)
    )
    plain = 0
    for item in history.sent:
        try:
            value = decode_json_object(item.value).value
        except DecodeError:
            assert item.kind == "malformed"
            continue
        change = check(value)
        assert (change is not None) == (item.kind != "malformed"), item.value
        plain += change is not None
    assert plain >= 3_000


def test_anything_else_is_left_to_validation() -> None:
    assert plain_change(BASE) is not None
    for change in (
        {"timestamp": "2026-03-02T07:00:00.123+01:00"},  # valid, another offset
        {"timestamp": "2026-03-02T06:00:00.123"},  # valid, naive (UTC)
        {"user_id": " user-000123"},  # valid, trimmed
        {"page_url": 5},
        {"request_id": ""},  # refused in strict mode, dropped with a warning in warn mode
        {"client_info": {**CLIENT, "language": "l" * 51}},
        {"processing_info": {**PROCESSING, "processing_ms": True}},
        {"event_data": {f"k{i}": i for i in range(101)}},
    ):
        assert plain_change(with_changes(BASE, change)) is None


def test_a_nul_in_the_page_url_is_replaced_as_validation_replaces_it() -> None:
    change = check({**BASE, "page_url": "/a\x00b"})
    assert change is not None and change.page_url == "/a\ufffdb"


@pytest.mark.parametrize(("model", "limits"), [(ClientInfo, CLIENT_TEXTS), (ServiceInfo, SERVICE_TEXTS)])
def test_the_text_limits_are_the_models(model: type[BaseModel], limits: tuple[tuple[str, int], ...]) -> None:
    declared = {
        name: next(m.max_length for m in field.metadata if isinstance(m, MaxLen))
        for name, field in model.model_fields.items()
    }
    assert declared == dict(limits)
