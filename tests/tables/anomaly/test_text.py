from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tables.anomaly.levels import LEVELS, level_rank, normalize_level
from tables.anomaly.templates import _BLANKS, _MASKS, template_key, template_of


@pytest.mark.parametrize(
    ("raw", "level"),
    [
        ("debug", "debug"),
        ("TRACE", "debug"),
        ("INFO", "info"),
        ("Info", "info"),
        ("notice", "info"),
        ("WARN", "warning"),
        ("warning", "warning"),
        ("Warning", "warning"),
        ("ERR", "error"),
        ("error", "error"),
        ("ERROR", "error"),
        ("FATAL", "critical"),
        ("critical", "critical"),
        ("CRIT", "critical"),
        ("  warn ", "warning"),
    ],
)
def test_levels_are_folded_into_five(raw: str, level: str) -> None:
    assert normalize_level(raw) == level


@pytest.mark.parametrize("raw", ["", "verbose", "warnings", "5", "e rror"])
def test_an_unknown_level_is_refused_by_name(raw: str) -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        normalize_level(raw)


def test_levels_rank_by_severity() -> None:
    assert [level_rank(level) for level in LEVELS] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("message", "template"),
    [
        ("user 42 logged in from 10.0.0.1:443", "user <num> logged in from <ip>"),
        ("request req_a8f3b2c9 took 120ms", "request <id> took <num>ms"),
        ('order 3fa85f64-5717-4562-b3fc-2c963f66afa6 failed: "card declined"', "order <uuid> failed: <str>"),
        ("pool 'billing' exhausted", "pool <str> exhausted"),
        ("ptr 0xDEADbeef", "ptr <hex>"),
        ("cache hit for key session:9f86d081884c7d65", "cache hit for key session:<hex>"),
        ("GET /api/orders/1234 200", "GET /api/orders/<num> <num>"),
        ("retry 3/5 in 2.5s", "retry <num>/<num> in <num>s"),
        ("temp -3.5 C", "temp <num> C"),
        ("job-12 done", "<id> done"),
        ("health check ok", "health check ok"),
        ("accepted   deadbeef\tword", "accepted deadbeef word"),
    ],
)
def test_variable_parts_are_masked(message: str, template: str) -> None:
    assert template_of(message) == template


def test_messages_of_one_line_share_a_template_and_key() -> None:
    a = template_of("request req_0f14eeb638 completed in 38258ms")
    b = template_of("request req_9ba39c66ed completed in 8040ms")
    assert a == b
    assert template_key(a) == template_key(b)
    assert len(template_key(a)) == 12
    assert template_key(a) != template_key(template_of("request req_0f14eeb638 failed in 38258ms"))


hashes = st.text("abcdef0123456789", min_size=16, max_size=16).filter(
    lambda d: any(c.isdigit() for c in d) and any(c.isalpha() for c in d)
)


@given(st.integers(0, 10**12), st.uuids(), hashes)
def test_numbers_uuids_and_hashes_never_reach_the_template(n: int, u: object, digest: str) -> None:
    first = template_of(f"order {n} of {u} hash {digest} done")
    second = template_of("order 7 of 00000000-0000-0000-0000-000000000000 hash 0123456789abcdef done")
    assert first == second


def every_mask_applied(message: str) -> str:
    """template_of's definition: every pattern run in turn, then the blanks folded."""
    text = message
    for pattern, mask, _ in _MASKS:
        text = pattern.sub(mask, text)
    return _BLANKS.sub(" ", text).strip()


_PIECES = st.sampled_from(
    ['"', "'", "\\", "-", ".", ":", "0x", "0X", "x", "_", "<", ">", " ", "  ", "\t", "\n", "\u00a0",
     "\u2028", "\x1f", "7", "42", "٣", "a", "F", "ms", "deadbeef1", "10.0.0.1:80", "req_a8f3", "ok"]
)  # fmt: skip


@given(st.lists(_PIECES | st.text(max_size=4), max_size=14).map("".join))
def test_patterns_skipped_by_their_tests_change_no_template(message: str) -> None:
    assert template_of(message) == every_mask_applied(message)


def test_the_history_s_messages_get_the_templates_of_every_mask() -> None:
    from devtools.log_history import generate_log_history

    history = generate_log_history(services=5, hours=12.0, per_kind=1, seed=3)
    messages = {record.message for record in history.records}
    assert all(template_of(m) == every_mask_applied(m) for m in messages)


def test_template_keys_are_the_hash_whether_remembered_or_not(monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    monkeypatch.setattr("tables.anomaly.templates._KEYS_KEPT", 2)
    templates = [f"GET /<num> {i}" for i in range(5)] * 2
    for template in templates:
        assert template_key(template) == hashlib.blake2b(template.encode(), digest_size=6).hexdigest()
