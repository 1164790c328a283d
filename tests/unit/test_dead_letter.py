"""The dead-letter record: exact originals, and the topic copy's size bound."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.dead_letter import (
    TOPIC_KEY_LIMIT,
    TOPIC_ORIGINAL_LIMIT,
    TOPIC_RECORD_LIMIT,
    DeadLetter,
)
from tests.dead_letter_bytes import decode_original


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


def repeated(pieces: list[bytes]) -> st.SearchStrategy[bytes]:
    """Large values cheaply: a piece repeated up to ~1.5 MB (control bytes grow sixfold in
    JSON, bytes that are not UTF-8 by a third in base64)."""
    return st.builds(lambda piece, times: piece * times, st.sampled_from(pieces), st.integers(0, 1_500_000))


HOSTILE = [b"\x01", b"x", b"\xff", "é".encode(), b'"', b"\\", b"\x00\xff", "\U0001f600".encode()]


@settings(max_examples=40, deadline=None)
@given(
    original=repeated(HOSTILE),
    key=repeated(HOSTILE),
    header=repeated(HOSTILE),
    headers=st.integers(0, 40),
    message=repeated([b"\x02", b"m"]),
    trace=repeated([b"\x03", b"t"]),
)
def test_the_topic_record_is_bounded_after_encoding_whatever_the_message(
    original: bytes, key: bytes, header: bytes, headers: int, message: bytes, trace: bytes
) -> None:
    dead = DeadLetter(
        topic="git.commits",
        partition=0,
        offset=7,
        key=key,
        original=original,
        error_type="ValidationError",
        reason="validation",
        message=message.decode()[:10_000],
        failed_at=datetime(2026, 1, 2, tzinfo=UTC),
        traceback=trace.decode(),
        headers=tuple((f"h{i}-" + "\x01" * 300, header) for i in range(headers)),
    )
    encoded = dead.topic_record()
    assert len(encoded) <= TOPIC_RECORD_LIMIT
    assert dead.topic_key is not None and len(dead.topic_key) <= TOPIC_KEY_LIMIT
    record = orjson.loads(encoded)
    kept = decode_original(record["original_encoding"], record["original_message"])
    assert original.startswith(kept) and record["original_size"] == len(original)
    assert record["original_truncated"] is (kept != original)
    assert key.startswith(decode_original(record["metadata"]["key_encoding"], record["metadata"]["key"]))
    assert dead.traceback is not None and dead.traceback.endswith(record["error"]["traceback"])
    assert record["metadata"]["headers_truncated"] is (len(record["metadata"]["headers"]) < headers)


def test_what_the_issue_found_fits_the_broker() -> None:
    """300 KB of control bytes on git.commits (1.57 MB once escaped), and a 700 KB key
    (1.40 MB): both crashed the worker's producer."""
    control = letter(b"\x01" * 300_000)
    assert len(control.topic_record()) <= TOPIC_RECORD_LIMIT
    record = orjson.loads(control.topic_record())
    assert record["original_truncated"] is True and set(record["original_message"]) == {"\x01"}
    big_key = DeadLetter(
        topic="events.ingest",
        partition=1,
        offset=2,
        key=b"k" * 700_000,
        original=b"not json",
        error_type="DecodeError",
        reason="invalid_json",
        message="invalid JSON",
        failed_at=datetime(2026, 1, 2, tzinfo=UTC),
    )
    record = orjson.loads(big_key.topic_record())
    assert record["metadata"]["key_truncated"] is True and record["metadata"]["key"] == "k" * TOPIC_KEY_LIMIT
    assert record["original_message"] == "not json"
    assert big_key.topic_key == b"k" * TOPIC_KEY_LIMIT


def test_utf8_text_cut_inside_a_character_stays_text() -> None:
    original = "é".encode() * TOPIC_ORIGINAL_LIMIT  # after the "x", the cut splits a character
    record = orjson.loads(letter(b"x" + original).topic_record())
    assert record["original_encoding"] == "utf-8" and record["original_truncated"] is True
