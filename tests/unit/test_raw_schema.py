"""Raw topics: a message becomes the event Faust's own schema would make of it."""

from __future__ import annotations

import faust
import pytest
from faust.types.tuples import Message

from runtime.raw_schema import raw_schema

MESSAGES = [
    (b"repo-1", b'{"sha": "abc"}', [("h", b"v")]),
    (None, b"value without a key", []),
    (b"tombstone", None, []),
    (b"", b"", []),
    (b"\xff\x00binary", b"\x00\x01\x02", []),
]


@pytest.mark.parametrize(("key", "value", "headers"), MESSAGES)
async def test_a_message_decodes_as_fausts_raw_schema_decodes_it(
    key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
) -> None:
    app = faust.App("raw-schema-test", autodiscover=False)
    fausts: faust.Schema[bytes, bytes] = faust.Schema(
        key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    message = Message("t", 3, 41, 0.0, 0, headers, key, value, None)
    ours = await raw_schema().compile(app)(message)
    theirs = await fausts.compile(app)(message)
    assert (ours.key, ours.value, ours.headers, ours.message) == (
        theirs.key,
        theirs.value,
        theirs.headers,
        theirs.message,
    )
    assert ours.key == key and ours.value == value


def test_the_app_reads_its_topics_with_it() -> None:
    from app.topics import user_activity

    assert user_activity.schema is not None and type(user_activity.schema).__name__ == "RawSchema"
    assert user_activity.key_type is bytes and user_activity.value_type is bytes
