"""The logs agent's fast path: a message of the common shape becomes the LogLine that
LogMessage's validation gives; anything it cannot vouch for is left to LogMessage."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from devtools.log_history import generate_log_history
from models.logs import LogLine, LogMessage, plain_log_line

MISSING = object()

BASE: dict[str, Any] = {
    "service": "svc-01",
    "level": "info",
    "message": "GET /x 200",
    "latency_ms": 12.5,
    "timestamp": "2026-11-02T00:00:01Z",
    "trace_id": "t-1",
    "request_id": "req_1",
    "host": "web-1",
}
_IDS = ("svc-01", "a", "x" * 200, "x" * 201, "", " svc", "svc ", "s v", "svc\t", "svc\x00", "svc\x7f", "svc\u00a0",
        "\u2028svc", "svc\x1f", "sérvice", "svc\u200b", 7, None, MISSING)  # fmt: skip
# Each field's choices, valid and not.
CHOICES: dict[str, tuple[Any, ...]] = {
    "service": _IDS,
    "level": ("info", "INFO", " warn ", "Fatal", "err", "nope", "", "\u0130nfo", 3, None, MISSING),
    "message": ("GET /x 200", "", "nul\x00here", "é" * 10_000, "y" * 10_001, "  two  spaces ", 5, None, MISSING),
    "latency_ms": (12.5, 0.0, -0.0, 86_400_000.0, 86_400_000.1, -1.0, math.nan, math.inf, 12, True, "12.5", None,
                   MISSING),
    "timestamp": ("2026-11-02T00:00:01Z", "2026-11-02T00:00:01.5Z", "2026-11-02T00:00:01.123456+00:00",
                  "2026-11-02T00:00:01.1234567Z", "2026-11-02T05:00:01+05:00", "2026-11-02T00:00:01",
                  "2026-11-02t00:00:01Z", "2026-11-02 00:00:01Z", "2026-02-30T00:00:01Z", "2026-11-02T24:00:00Z",
                  "2026-11-02T23:59:60Z", "1989-12-31T23:59:59Z", "1990-01-01T00:00:00Z",
                  "2099-12-31T23:59:59.999999Z", "2100-01-01T00:00:00Z", "0000-01-01T00:00:00Z",
                  "２026-11-02T00:00:01Z", 1_700_000_000, None, MISSING),
    "trace_id": _IDS,
    "request_id": _IDS,
    "host": ("web-1", "h" * 255, "h" * 256, "nul\x00", 1, None, MISSING),
    "attributes": ({"k": "v"}, {}, [], "x", None, MISSING),
    "extra": (1, MISSING),
}  # fmt: skip


def changed(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in {**BASE, **changes}.items() if v is not MISSING}


def validated(value: dict[str, Any]) -> LogLine | None:
    try:
        return LogLine.of(LogMessage.model_validate(value))
    except ValidationError:
        return None


def check(value: dict[str, Any]) -> None:
    line = plain_log_line(value)
    if line is not None:
        expected = validated(value)
        assert expected is not None, "the fast path accepted what validation refuses"
        assert line == expected
        assert line.timestamp.tzinfo == expected.timestamp.tzinfo
        assert line.log_key == expected.log_key


@pytest.mark.parametrize(
    "value", [changed({name: choice}) for name, choices in CHOICES.items() for choice in choices]
)
def test_a_plain_line_with_one_field_changed_is_the_line_validation_gives(value: dict[str, Any]) -> None:
    check(value)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(CHOICES)), st.integers(0, 1000), min_size=2, max_size=4))
def test_a_plain_line_with_fields_changed_is_the_line_validation_gives(picks: dict[str, int]) -> None:
    check(changed({name: CHOICES[name][i % len(CHOICES[name])] for name, i in picks.items()}))


def test_the_common_shape_takes_the_fast_path() -> None:
    history = generate_log_history(services=3, hours=12.0, per_kind=1, seed=4)
    values = [orjson.loads(orjson.dumps(r.message_json())) for r in history.records[:2000]]
    values[0] = {**values[0], "trace_id": "t-1", "host": "web-1"}
    for value in values:
        line = plain_log_line(value)
        assert line is not None
        assert line == validated(value)


def test_anything_else_is_left_to_validation() -> None:
    assert plain_log_line(BASE) is not None
    for change in (
        {"timestamp": "2026-11-02T05:00:01+05:00"},  # valid, another offset
        {"latency_ms": 12},  # valid, an integer
        {"attributes": {"k": "v"}},  # valid, attributes
        {"level": "nope"},
        {"service": " svc"},
    ):
        assert plain_log_line(changed(change)) is None
