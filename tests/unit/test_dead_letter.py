"""The dead-letter record: exact originals, and the topic copy's size bound."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from models.dead_letter import DeadLetter, decode_original


def letter(original: bytes) -> DeadLetter:
    return DeadLetter(
        topic="git.commits",
        partition=3,
        offset=41,
        key=b"repo-\xff",
        original=original,
        error_type="DecodeError",
        reason="invalid_json",
        message="invalid JSON",
        failed_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        headers=(("trace", b"t-1"), ("bin", b"\x00\xff")),
    )


@pytest.mark.parametrize("original", [b'{"a": "caf\xc3\xa9"}', b"\xff\xfe\x00 binary", b""])
def test_record_round_trips_the_exact_original_and_key(original: bytes) -> None:
    record = letter(original).to_record()
    assert decode_original(record["original_encoding"], record["original_message"]) == original
    assert (record["original_size"], record["original_truncated"]) == (len(original), False)
    assert decode_original(record["metadata"]["key_encoding"], record["metadata"]["key"]) == b"repo-\xff"
    assert record["dlq_id"] == "dlq_git.commits_3_41"
    assert record["failed_at"] == "2026-01-02T03:04:05Z"
    assert record["metadata"]["headers"] == {"trace": "t-1", "bin": "AP8="}


def test_topic_copy_is_cut_at_the_limit_and_says_so() -> None:
    original = b"x" * 1000
    record = letter(original).to_record(original_limit=100)
    assert record["original_truncated"] is True and record["original_size"] == 1000
    assert decode_original(record["original_encoding"], record["original_message"]) == original[:100]
    assert letter(original).to_record(original_limit=1000)["original_truncated"] is False
