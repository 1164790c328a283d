"""Validation and normalization of git.commits messages, including every bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from agents.intake import Parsed, Rejection, parse_message
from models.commits import CommitMessage
from models.decoding import decode_json_object


def commit(**overrides: object) -> dict[str, object]:
    data = {
        "sha": "abc123",
        "author": "user@example.com",
        "message": "Fix bug",
        "files_changed": 3,
        "additions": 45,
        "deletions": 12,
    }
    event: dict[str, object] = {
        "event_type": "commit_created",
        "timestamp": "2025-10-01T12:00:00Z",
        "source": "github",
        "repository_id": "repo-123",
        "data": data,
    }
    for key, value in overrides.items():
        if key.startswith("data."):
            if value is ...:
                data.pop(key[5:], None)
            else:
                data[key[5:]] = value
        elif value is ...:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def parse(event: object) -> CommitMessage | Rejection:
    return unwrap(parse_message(orjson.dumps(event), CommitMessage))


def unwrap(parsed: Parsed[CommitMessage] | Rejection) -> CommitMessage | Rejection:
    return parsed.event if isinstance(parsed, Parsed) else parsed


def test_parse_seed_example_normalizes_fields() -> None:
    parsed = parse(commit(**{"data.author": "  User@Example.COM "}))
    assert isinstance(parsed, CommitMessage)
    assert parsed.data.author == "user@example.com"
    assert parsed.committed_at == datetime(2025, 10, 1, 12, tzinfo=UTC)
    assert parsed.data.additions == 45


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        pytest.param("2025-10-01T14:00:00+02:00", datetime(2025, 10, 1, 12, tzinfo=UTC), id="offset"),
        pytest.param("2025-10-01T12:00:00", datetime(2025, 10, 1, 12, tzinfo=UTC), id="naive-is-utc"),
        pytest.param(
            "2025-10-01T07:00:00-05:00", datetime(2025, 10, 1, 12, tzinfo=UTC), id="negative-offset"
        ),
    ],
)
def test_parse_timestamps_are_stored_as_utc(timestamp: str, expected: datetime) -> None:
    parsed = parse(commit(**{"data.committed_at": timestamp}))
    assert isinstance(parsed, CommitMessage)
    assert parsed.committed_at == expected
    assert parsed.committed_at.tzinfo is UTC


def test_parse_committed_at_defaults_to_envelope_timestamp() -> None:
    parsed = parse(commit(timestamp="2025-10-02T08:30:00Z"))
    assert isinstance(parsed, CommitMessage)
    assert parsed.data.committed_at is None
    assert parsed.committed_at == datetime(2025, 10, 2, 8, 30, tzinfo=UTC)


def test_parse_missing_numbers_are_null() -> None:
    parsed = parse(commit(**{"data.additions": ..., "data.deletions": None}))
    assert isinstance(parsed, CommitMessage)
    assert parsed.data.additions is None and parsed.data.deletions is None


def test_parse_invalid_utf8_is_replaced_not_rejected() -> None:
    raw = orjson.dumps(commit(**{"data.message": "caf__"})).replace(b"caf__", b"caf\xe9!")
    parsed = unwrap(parse_message(raw, CommitMessage))
    assert isinstance(parsed, CommitMessage)
    assert parsed.data.message == "caf\ufffd!"


def test_parse_nul_and_sql_text_kept_verbatim_except_nul() -> None:
    text = "x'); DROP TABLE commits; --\x00end"
    parsed = parse(commit(**{"data.message": text}))
    assert isinstance(parsed, CommitMessage)
    assert parsed.data.message == "x'); DROP TABLE commits; --\ufffdend"


def test_parse_unknown_fields_are_ignored() -> None:
    parsed = parse(commit(extra="x", **{"data.unknown": [1, 2]}))
    assert isinstance(parsed, CommitMessage)


@pytest.mark.parametrize(
    ("raw", "reason", "message"),
    [
        pytest.param(b"", "empty", "empty message", id="empty"),
        pytest.param(None, "empty", "empty message", id="null-value"),
        pytest.param(b"{not json", "invalid_json", "invalid JSON", id="invalid-json"),
        pytest.param(b"\xff\xfe\x00", "invalid_json", "invalid JSON", id="binary"),
        pytest.param(b"[1, 2]", "not_an_object", "got list", id="array"),
        pytest.param(b"42", "not_an_object", "got int", id="scalar"),
        pytest.param(b"[" * 5000 + b"]" * 5000, "invalid_json", "depth", id="deeply-nested"),
        pytest.param(
            b'{"event_type": "commit_created", "event_type": "commit_created", "data": {}}',
            "duplicate_key",
            "'event_type' appears more than once",
            id="duplicate-key",
        ),
        pytest.param(b'{"a": {"b": 1, "b": 2}}', "duplicate_key", "'b'", id="nested-duplicate-key"),
        pytest.param(
            b'{"a": [1, [{"c": 1}, {"d": 1, "d": 2}]]}', "duplicate_key", "'d'", id="duplicate-key-in-a-list"
        ),
        pytest.param(b'{"a": "' + b"x" * (1024 * 1024) + b'"}', "oversized", "over the", id="oversized"),
    ],
)
def test_parse_undecodable_messages_are_rejected(raw: bytes | None, reason: str, message: str) -> None:
    rejection = parse_message(raw, CommitMessage)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == reason
    assert message in rejection.message


@pytest.mark.parametrize(
    ("overrides", "where"),
    [
        pytest.param({"data.sha": ...}, "data.sha: Field required", id="missing-sha"),
        pytest.param({"data.sha": ""}, "data.sha", id="empty-sha"),
        pytest.param({"data.sha": 7}, "data.sha: Input should be a valid string", id="sha-not-string"),
        pytest.param({"repository_id": ...}, "repository_id: Field required", id="missing-repository"),
        pytest.param({"repository_id": "a\nb"}, "control characters", id="repository-control-char"),
        pytest.param(
            {"data.additions": -1},
            "data.additions: Input should be greater than or equal to 0",
            id="negative",
        ),
        pytest.param(
            {"data.additions": "45"}, "data.additions: Input should be a valid integer", id="string-number"
        ),
        pytest.param({"data.deletions": True}, "data.deletions: Input should be a valid integer", id="bool"),
        pytest.param({"data.files_changed": 1.5}, "data.files_changed", id="fraction"),
        pytest.param({"data.additions": 2**40}, "less than or equal", id="too-large"),
        pytest.param({"timestamp": "yesterday"}, "timestamp", id="unparseable-time"),
        pytest.param(
            {"timestamp": "1970-01-01T00:00:00Z"}, "outside 1990-01-01..2100-01-01", id="epoch-zero"
        ),
        pytest.param({"timestamp": "9999-12-31T00:00:00Z"}, "outside 1990-01-01..2100-01-01", id="year-9999"),
        pytest.param(
            {"data.committed_at": "2200-01-01T00:00:00Z"}, "data.committed_at", id="absurd-committed-at"
        ),
        pytest.param(
            {"event_type": "commit_deleted"}, "event_type: Input should be 'commit_created'", id="event-type"
        ),
        pytest.param({"data": "abc"}, "data: Input should be a valid dictionary", id="data-not-object"),
    ],
)
def test_parse_invalid_events_name_the_field(overrides: dict[str, object], where: str) -> None:
    rejection = parse(commit(**overrides))
    assert isinstance(rejection, Rejection)
    assert rejection.reason == "validation"
    assert where in rejection.message


def test_parse_warn_mode_drops_invalid_optional_fields() -> None:
    parsed = parse_message(
        orjson.dumps(commit(**{"data.additions": -5, "data.author": 7})), CommitMessage, "warn"
    )
    assert isinstance(parsed, Parsed)
    assert parsed.event.data.additions is None and parsed.event.data.author is None
    assert parsed.event.data.deletions == 12
    assert any("data.additions" in w for w in parsed.warnings)


@pytest.mark.parametrize("mode", ["warn", "disabled"])
def test_parse_lenient_modes_still_reject_missing_identity(mode: str) -> None:
    rejection = parse_message(orjson.dumps(commit(**{"data.sha": ...})), CommitMessage, mode)  # type: ignore[arg-type]
    assert isinstance(rejection, Rejection)
    assert "data.sha" in rejection.message


def test_parse_lenient_mode_rejects_unparseable_bytes() -> None:
    rejection = parse_message(b"{nope", CommitMessage, "warn")
    assert isinstance(rejection, Rejection) and rejection.error_type == "DecodeError"


def test_the_same_key_in_separate_objects_is_not_a_duplicate() -> None:
    # Objects inside lists and nested lists are counted; a `":` inside a string is not a key.
    raw = b'{"a": [{"k": 1}, {"k": 2}], "b": {"k": "x\\":y"}, "k": [[{"k": 3}]]}'
    decoded = decode_json_object(raw)
    assert decoded.value["a"][1]["k"] == 2
    assert decoded.value["k"] == [[{"k": 3}]]
