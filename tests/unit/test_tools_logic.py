"""The pure parts of the operator commands: option parsing, dead-letter selection and
replay plans, record filters for replays, and the reconciliation comparison."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from app.commands.comparison import (
    NONE,
    DayCounts,
    Difference,
    compare_buckets,
    counts_from_view,
    day_bounds,
    repair_targets,
    window_days,
)
from app.commands.dlq_selection import Selection, StoredLetter, plan_replay
from app.commands.exceptions import OptionError
from app.commands.params import format_instant, parse_instant, parse_window
from app.commands.resend import (
    TOPIC_REPLAY_HEADER,
    in_time_range,
    is_replay_copy,
    with_header,
)
from models.dead_letter import REPLAY_HEADER
from tests.dead_letter_bytes import decode_original

FAILED_AT = datetime(2025, 11, 19, 10, 30, tzinfo=UTC)


def letter(dlq_id: str = "dlq_git.commits_0_5", **overrides: object) -> StoredLetter:
    fields: dict[str, object] = {
        "dlq_id": dlq_id,
        "topic": "git.commits",
        "partition": 0,
        "offset": 5,
        "key": b"repo-1",
        "original": b'{"event_type": "commit_created"}',
        "error_type": "ValidationError",
        "reason": "validation",
        "message": "data.sha: Field required",
        "failed_at": FAILED_AT,
    }
    fields.update(overrides)
    return StoredLetter(**fields)  # type: ignore[arg-type]


# -- option values ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("90m", timedelta(minutes=90), id="minutes"),
        pytest.param("24h", timedelta(hours=24), id="hours"),
        pytest.param("7d", timedelta(days=7), id="days"),
        pytest.param("2w", timedelta(weeks=2), id="weeks"),
        pytest.param("30s", timedelta(seconds=30), id="seconds"),
        pytest.param(" 12H ", timedelta(hours=12), id="case-and-spaces"),
    ],
)
def test_parse_window_valid_forms_give_timedelta(text: str, expected: timedelta) -> None:
    assert parse_window(text) == expected


@pytest.mark.parametrize("text", ["", "24", "h", "1.5h", "-3d", "0h", "5x", "99999d", "24 hours"])
def test_parse_window_invalid_raises_with_value_in_message(text: str) -> None:
    with pytest.raises(ValueError, match=repr(text).replace("(", r"\(").replace(")", r"\)")):
        parse_window(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2025-11-19T10:30:00Z", FAILED_AT, id="zulu"),
        pytest.param("2025-11-19T12:30:00+02:00", FAILED_AT, id="offset"),
        pytest.param("2025-11-19T10:30:00", FAILED_AT, id="naive-is-utc"),
        pytest.param("2025-11-19", datetime(2025, 11, 19, tzinfo=UTC), id="date"),
    ],
)
def test_parse_instant_any_offset_gives_utc(text: str, expected: datetime) -> None:
    parsed = parse_instant(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


def test_parse_instant_garbage_raises_naming_value() -> None:
    with pytest.raises(ValueError, match="'yesterday' is not an ISO-8601 time"):
        parse_instant("yesterday")


def test_format_instant_utc_with_z_and_dash_for_none() -> None:
    assert format_instant(datetime(2025, 11, 19, 12, 30, tzinfo=timezone(timedelta(hours=2)))) == (
        "2025-11-19T10:30:00Z"
    )
    assert format_instant(None) == "-"


# -- dead-letter selection -------------------------------------------------------------


def test_selection_where_binds_every_filter_as_parameter() -> None:
    selection = Selection(
        topic="git.commits",
        partition=3,
        start_offset=10,
        end_offset=20,
        error_type="DecodeError",
        since=FAILED_AT,
    )
    where, args = selection.where()
    assert where == (
        ' WHERE topic = $1 AND partition = $2 AND "offset" >= $3 AND "offset" <= $4 '
        "AND error_type = $5 AND failed_at >= $6"
    )
    assert args == ["git.commits", 3, 10, 20, "DecodeError", FAILED_AT]


def test_selection_where_ids_and_empty() -> None:
    assert Selection(dlq_ids=("a", "b")).where() == (" WHERE dlq_id = ANY($1::text[])", [["a", "b"]])
    assert Selection().where() == ("", [])


def test_selection_where_sql_looking_value_is_only_a_parameter() -> None:
    where, args = Selection(topic="x'; DROP TABLE dead_letters; --").where()
    assert where == " WHERE topic = $1"
    assert args == ["x'; DROP TABLE dead_letters; --"]


@pytest.mark.parametrize(
    ("selection", "value_file", "message"),
    [
        pytest.param(Selection(), False, "choose what to replay", id="nothing-selected"),
        pytest.param(
            Selection(dlq_ids=("a",), topic="t"), False, "do not combine it with --topic", id="id-and-filter"
        ),
        pytest.param(
            Selection(partition=1), False, "--partition 1 needs --topic", id="partition-without-topic"
        ),
        pytest.param(
            Selection(topic="t", start_offset=4),
            False,
            "need --topic and --partition",
            id="offset-without-partition",
        ),
        pytest.param(
            Selection(topic="t", partition=0, start_offset=9, end_offset=3),
            False,
            "--start-offset 9 is after --end-offset 3",
            id="reversed-range",
        ),
        pytest.param(Selection(topic="t"), True, "exactly one --dlq-id", id="value-file-without-id"),
        pytest.param(
            Selection(dlq_ids=("a", "b")), True, r"exactly one --dlq-id \(got 2\)", id="value-file-two-ids"
        ),
    ],
)
def test_selection_check_for_replay_rejects_with_option_names(
    selection: Selection, value_file: bool, message: str
) -> None:
    with pytest.raises(OptionError, match=message):
        selection.check_for_replay(value_file=value_file)


@pytest.mark.parametrize(
    "selection",
    [
        pytest.param(Selection(dlq_ids=("a",)), id="ids"),
        pytest.param(Selection(topic="t", partition=0, start_offset=3, end_offset=3), id="seed-001-range"),
        pytest.param(Selection(topic="t"), id="topic"),
        pytest.param(Selection(error_type="DecodeError"), id="error-type"),
    ],
)
def test_selection_check_for_replay_accepts_valid(selection: Selection) -> None:
    selection.check_for_replay(value_file=False)


def test_selection_describe_and_missing_ids() -> None:
    assert Selection(dlq_ids=("a", "b")).describe() == "--dlq-id a --dlq-id b"
    assert Selection(topic="t", partition=0).describe() == "--topic t --partition 0"
    assert Selection(dlq_ids=("a", "b")).missing([letter("a")]) == ["b"]


def test_plan_replay_skips_replayed_unless_forced() -> None:
    fresh = letter("a")
    done = letter("b", replay_count=1, replayed_at=FAILED_AT)
    plan = plan_replay([fresh, done], force=False)
    assert (plan.send, plan.skipped) == ([fresh], [done])
    forced = plan_replay([fresh, done], force=True)
    assert (forced.send, forced.skipped) == ([fresh, done], [])


def test_stored_letter_record_is_seed_002_format_with_exact_original() -> None:
    original = b"\xff\xfe\x00garbage"
    record = letter(
        original=original, headers={"trace": "t1"}, replay_count=2, replayed_at=FAILED_AT
    ).record()
    assert set(record) >= {
        "dlq_id",
        "original_message",
        "error",
        "retry_count",
        "failed_at",
        "metadata",
        "replay",
    }
    assert record["original_encoding"] == "base64"
    assert decode_original(record["original_encoding"], record["original_message"]) == original
    assert record["error"]["type"] == "ValidationError"
    assert record["metadata"] | {"headers": None} == {
        "topic": "git.commits",
        "partition": 0,
        "offset": 5,
        "key": "repo-1",
        "key_encoding": "utf-8",
        "headers": None,
    }
    assert record["metadata"]["headers"] == {"trace": "t1"}
    assert record["replay"] == {"replayed": True, "replay_count": 2, "replayed_at": "2025-11-19T10:30:00Z"}


def test_stored_letter_from_row_reads_jsonb_text() -> None:
    row = {
        "dlq_id": "d",
        "topic": "git.commits",
        "partition": 1,
        "offset": 2,
        "message_key": None,
        "original": memoryview(b"{}"),
        "headers": '{"h": "v"}',
        "error_type": "DecodeError",
        "error_reason": "invalid_json",
        "error_message": "m",
        "traceback": None,
        "retry_count": 0,
        "failed_at": FAILED_AT,
        "replayed_at": None,
        "replay_count": 0,
    }
    stored = StoredLetter.from_row(row)
    assert stored.original == b"{}"
    assert stored.key is None
    assert stored.headers == {"h": "v"}


def test_stored_letter_line_shows_coordinates_error_and_replay_state() -> None:
    assert letter().line() == (
        "dlq_git.commits_0_5  git.commits/0/5  ValidationError  validation  2025-11-19T10:30:00Z  not replayed"
    )
    assert (
        letter(replay_count=1, replayed_at=FAILED_AT)
        .line()
        .endswith("replayed 1x, last 2025-11-19T10:30:00Z")
    )


def test_replay_header_names_are_distinct_prefixes_the_worker_recognises() -> None:
    # agents/batches.py processes anything whose header starts with "x-sei-replay".
    assert REPLAY_HEADER.startswith("x-sei-replay")
    assert TOPIC_REPLAY_HEADER.startswith("x-sei-replay")
    assert REPLAY_HEADER != TOPIC_REPLAY_HEADER


# -- record filters --------------------------------------------------------------------


def test_in_time_range_is_half_open() -> None:
    assert in_time_range(100, 100, 200)
    assert in_time_range(199, 100, 200)
    assert not in_time_range(200, 100, 200)
    assert not in_time_range(99, 100, 200)


def test_is_replay_copy_only_for_topic_replays() -> None:
    assert is_replay_copy([("a", b"1"), (TOPIC_REPLAY_HEADER, b"1")])
    assert not is_replay_copy([(REPLAY_HEADER, b"dlq_x")])  # a corrected dead letter is a source
    assert not is_replay_copy([])


def test_with_header_replaces_and_keeps_others() -> None:
    headers = [("trace", b"t"), (TOPIC_REPLAY_HEADER, b"old")]
    assert with_header(headers, TOPIC_REPLAY_HEADER, b"1") == [("trace", b"t"), (TOPIC_REPLAY_HEADER, b"1")]


# -- reconciliation --------------------------------------------------------------------

DAY = date(2025, 11, 19)


def test_compare_buckets_equal_sides_give_no_difference() -> None:
    counts = {("r", DAY): DayCounts(3, 30, 9)}
    assert compare_buckets(counts, dict(counts), dict(counts)) == []


def test_compare_buckets_missing_row_is_reported_with_all_sides() -> None:
    rows = {("r", DAY): DayCounts(2, 20, 6)}
    daily = {("r", DAY): DayCounts(3, 30, 9)}
    live = {("r", DAY): DayCounts(3, 30, 9)}
    assert compare_buckets(rows, daily, live) == [
        Difference("r", DAY, DayCounts(2, 20, 6), daily[("r", DAY)], live[("r", DAY)])
    ]


def test_compare_buckets_absent_sides_count_as_zero() -> None:
    live_only = {("r", DAY): DayCounts(1, None, None)}
    assert compare_buckets({}, {}, live_only) == [Difference("r", DAY, None, None, DayCounts(1))]
    # A bucket nobody has commits in is not a difference.
    assert compare_buckets({}, {}, {("r", DAY): NONE}) == []


def test_compare_buckets_null_sums_differ_from_zero_sums() -> None:
    rows = {("r", DAY): DayCounts(1, None, None)}
    other = {("r", DAY): DayCounts(1, 0, 0)}
    assert len(compare_buckets(rows, other, other)) == 1


def test_compare_buckets_sorted_by_repository_then_day() -> None:
    later = DAY + timedelta(days=1)
    live = {("b", DAY): DayCounts(1), ("a", later): DayCounts(1), ("a", DAY): DayCounts(1)}
    assert [d.bucket for d in compare_buckets({}, {}, live)] == [("a", DAY), ("a", later), ("b", DAY)]


def test_difference_describe_and_dict_name_both_sides() -> None:
    difference = Difference("repo-1", DAY, DayCounts(2, 20, None), None, DayCounts(3, 30, 9))
    assert difference.describe() == (
        "repo-1 2025-11-19: commits rows 2 commits (+20 -?); commits_daily_stats nothing; "
        "live table 3 commits (+30 -9)"
    )
    assert difference.as_dict()["database_daily_stats"] is None
    assert difference.as_dict()["live"] == {"commit_count": 3, "total_additions": 30, "total_deletions": 9}


@pytest.mark.parametrize(
    ("now", "window", "expected"),
    [
        pytest.param(
            datetime(2025, 11, 19, 10, tzinfo=UTC), timedelta(hours=24), (date(2025, 11, 18), DAY), id="24h"
        ),
        pytest.param(datetime(2025, 11, 19, 10, tzinfo=UTC), timedelta(minutes=90), (DAY, DAY), id="90m"),
        pytest.param(
            datetime(2025, 11, 19, 0, 30, tzinfo=UTC),
            timedelta(minutes=90),
            (date(2025, 11, 18), DAY),
            id="over-midnight",
        ),
        pytest.param(
            datetime(2025, 11, 19, 10, tzinfo=UTC), timedelta(days=7), (date(2025, 11, 12), DAY), id="7d"
        ),
        pytest.param(
            datetime(2025, 11, 19, 1, tzinfo=timezone(timedelta(hours=5))),
            timedelta(hours=1),
            (date(2025, 11, 18), date(2025, 11, 18)),
            id="offset-now-is-utc",
        ),
    ],
)
def test_window_days_whole_utc_days(now: datetime, window: timedelta, expected: tuple[date, date]) -> None:
    assert window_days(now, window) == expected


def test_day_bounds_half_open_utc() -> None:
    assert day_bounds(date(2025, 11, 18), DAY) == (
        datetime(2025, 11, 18, tzinfo=UTC),
        datetime(2025, 11, 20, tzinfo=UTC),
    )


def test_counts_from_view_skips_empty_days() -> None:
    answer = {
        "repository_id": "r",
        "days": [
            {"day": "2025-11-19", "commit_count": 2, "total_additions": 5, "total_deletions": None},
            {"day": "2025-11-20", "commit_count": 0, "total_additions": None, "total_deletions": None},
        ],
    }
    assert counts_from_view(answer) == {("r", DAY): DayCounts(2, 5, None)}


def test_repair_targets_groups_days_per_repository() -> None:
    later = DAY + timedelta(days=1)
    differences = [Difference("a", DAY, None, None, None), Difference("a", later, None, None, None)]
    differences.append(Difference("b", DAY, None, None, None))
    assert repair_targets(differences) == {"a": {DAY, later}, "b": {DAY}}
