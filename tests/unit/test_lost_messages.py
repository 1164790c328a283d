from faust.types import TP

from app.lost_messages import LostMessageWatch, lost_heads

A = TP("git.commits", 0)
B = TP("git.commits", 1)


def test_an_unacked_head_below_acked_offsets_is_lost() -> None:
    assert lost_heads({A: 10}, {A: 15}, {A: {11, 12}}, queued=set()) == {A: 10}


def test_heads_acked_queued_in_flight_or_unread_are_not_lost() -> None:
    assert lost_heads({A: 10}, {A: 15}, {A: {10, 11}}, queued=set()) == {}  # commit pending
    assert lost_heads({A: 10}, {A: 15}, {A: {11}}, queued={(A, 10)}) == {}  # still queued
    assert lost_heads({A: 10}, {A: 15}, {}, queued=set()) == {}  # its batch in flight
    assert lost_heads({A: 10}, {A: 10}, {A: {11}}, queued=set()) == {}  # just sought there
    assert lost_heads({A: None, B: 5}, {A: 3, B: None}, {A: {4}, B: {6}}, queued=set()) == {}


def test_a_partition_with_a_full_queue_is_never_suspected() -> None:
    assert lost_heads({A: 10}, {A: 15}, {A: {11}}, queued=set(), busy={A}) == {}


def test_rewind_only_when_found_twice_at_the_same_offset() -> None:
    watch = LostMessageWatch()
    assert watch.confirm({A: 10, B: 3}) == {}
    assert watch.confirm({A: 10, B: 4}) == {A: 10}
    assert watch.confirm({A: 10, B: 4}) == {B: 4}  # A starts over after its rewind
    watch.reset()
    assert watch.confirm({B: 4}) == {}


def test_a_commit_that_stands_still_behind_the_end_is_reported_once() -> None:
    from app.lost_messages import StallWatch

    watch = StallWatch(checks=3)
    assert watch.observe({A: 10, B: 5}, {A: 20, B: 5}) == []
    assert watch.observe({A: 10, B: 5}, {A: 20, B: 9}) == []
    assert watch.observe({A: 10, B: 5}, {A: 20, B: 9}) == [A]  # B only behind for two checks
    assert watch.observe({A: 10, B: 5}, {A: 20, B: 9}) == [B]  # A already reported
    assert watch.observe({A: 11, B: 9}, {A: 20, B: 9}) == []  # A moved, B caught up
    assert watch.observe({A: 11}, {A: 20}) == []
    assert watch.observe({A: 11}, {A: 20}) == [A]


def test_a_reset_starts_every_count_over() -> None:
    from app.lost_messages import StallWatch

    watch = StallWatch(checks=2)
    assert watch.observe({A: 10}, {A: 20}) == []
    watch.reset()
    assert watch.observe({A: 10}, {A: 20}) == []
    assert watch.observe({A: 10}, {A: 20}) == [A]


def test_an_idle_commit_is_a_candidate_after_its_checks_unless_in_flight() -> None:
    from app.lost_messages import IdleWatch

    watch = IdleWatch(checks=3)
    read = {A: 9, B: None}
    assert watch.observe({A: 10, B: None}, read, in_flight=set()) == []
    assert watch.observe({A: 10, B: None}, read, in_flight={B}) == []  # B's messages in flight
    assert watch.observe({A: 10, B: None}, read, in_flight=set()) == [A]
    assert watch.observe({A: 10, B: None}, read, in_flight=set()) == [A]  # until rewound or moved
    assert watch.observe({A: 12, B: None}, read, in_flight=set()) == [B]  # A moved; B idle 3 checks
    assert watch.observe({A: 12, B: 0}, read, in_flight=set()) == [B]  # nothing committed is offset 0


def test_a_partition_whose_read_offset_moves_is_not_idle() -> None:
    # A partition starved by a backlog elsewhere: its first records arrive, read moves on,
    # and the commit follows only after they are processed.
    from app.lost_messages import IdleWatch

    watch = IdleWatch(checks=2)
    watch.observe({A: None}, {A: None}, in_flight=set())
    assert watch.observe({A: None}, {A: None}, in_flight=set()) == [A]
    assert watch.observe({A: None}, {A: 260}, in_flight=set()) == []
    assert watch.observe({A: None}, {A: 260}, in_flight=set()) == [A]  # read, then nothing more


def test_an_idle_partition_is_rewound_once_at_the_same_offset() -> None:
    from app.lost_messages import IdleWatch

    watch = IdleWatch(checks=2)
    read = {A: 5}
    watch.observe({A: 10}, read, in_flight=set())
    assert watch.observe({A: 10}, read, in_flight=set()) == [A]
    watch.rewound(A, 10)
    for _ in range(4):
        assert watch.observe({A: 10}, read, in_flight=set()) == []  # still stuck there: not again
    watch.observe({A: 11}, read, in_flight=set())
    assert watch.observe({A: 11}, read, in_flight=set()) == [A]  # moved, then stuck elsewhere
    watch.reset()
    assert watch.observe({A: 11}, read, in_flight=set()) == []
