from __future__ import annotations

import json

from tables.anomaly.detector import DetectorConfig, LogPoint
from tables.log_state import RECENT_KEYS, SERVICE_RETIRED_S, LogServiceState, PartitionLogState

CONFIG = DetectorConfig()
SHAPE = CONFIG.shape()


def test_a_recent_duplicate_is_neither_scored_nor_learned() -> None:
    state = LogServiceState()
    point = LogPoint(10.0, "info", "t", 100.0)
    assert state.score("k1", point, CONFIG, SHAPE) is not None
    seen = state.detector.seen
    assert state.score("k1", point, CONFIG, SHAPE) is None
    assert state.detector.seen == seen


def test_recent_keys_are_bounded_and_survive_a_round_trip() -> None:
    state = LogServiceState()
    for i in range(RECENT_KEYS + 50):
        state.score(f"k{i}", LogPoint(float(i), "info", "t", 100.0), CONFIG, SHAPE)
    assert len(state.recent_keys) == RECENT_KEYS
    assert state.recent_keys[0] == "k50"
    again = LogServiceState.from_value(json.loads(json.dumps(state.to_value())), SHAPE)
    assert again == state
    assert again.score("k60", LogPoint(999.0, "info", "t", 100.0), CONFIG, SHAPE) is None
    assert (
        again.score("k10", LogPoint(999.0, "info", "t", 100.0), CONFIG, SHAPE) is not None
    )  # forgotten: learned again


def test_a_partition_lists_the_services_its_watermark_made_due() -> None:
    p = PartitionLogState()
    p.saw("a", 100.0, 130.0)
    p.saw("b", 120.0, 200.0)
    p.saw("c", 125.0, None)  # in warm-up or already flagged: never due
    assert p.watermark == 125.0
    assert p.due_for_quiet_check() == []
    p.saw("c", 140.0, None)
    assert p.due_for_quiet_check() == ["a"]
    p.flagged("a")
    assert p.due_for_quiet_check() == []
    again = PartitionLogState.from_value(json.loads(json.dumps(p.to_value())))
    assert again == p


def test_a_service_silent_for_a_week_leaves_its_partition() -> None:
    p = PartitionLogState()
    p.saw("old", 0.0, 50.0)
    p.saw("new", SERVICE_RETIRED_S + 1, None)
    assert p.due_for_quiet_check() == []
    assert set(p.services) == {"new"}


def test_a_state_kept_decoded_is_copied_before_it_is_scored_on() -> None:
    """The coalesced table shares the value it keeps decoded: scoring a state read from it
    leaves that value as it was, and the copy scores as the stored record would."""
    kept = LogServiceState()
    for i in range(400):
        kept.score(f"k{i}", LogPoint(float(i), "info", "t", 100.0 + i % 7), CONFIG, SHAPE)
    record = json.loads(json.dumps(kept.to_record()))
    copy = LogServiceState.of(kept, SHAPE)
    decoded = LogServiceState.of(record, SHAPE)
    for i in range(400, 700):
        point = LogPoint(float(i), "error" if i % 5 == 0 else "info", f"t{i % 3}", 100.0 + i % 11)
        assert copy.score(f"k{i}", point, CONFIG, SHAPE) == decoded.score(f"k{i}", point, CONFIG, SHAPE)
    assert copy == decoded
    assert kept.to_record() == record


def test_a_key_listed_twice_stays_recent_until_its_last_listing_leaves() -> None:
    state = LogServiceState(recent_keys=["k0", "dup", *[f"k{i}" for i in range(1, RECENT_KEYS - 2)], "dup"])
    assert state.score("new", LogPoint(1.0, "info", "t", 100.0), CONFIG, SHAPE) is not None
    assert state.score("new2", LogPoint(2.0, "info", "t", 100.0), CONFIG, SHAPE) is not None
    assert state.recent_keys.count("dup") == 1  # the first listing has left
    assert state.score("dup", LogPoint(3.0, "info", "t", 100.0), CONFIG, SHAPE) is None
