from __future__ import annotations

import pytest

from app.ml_engine import EngineScore, WrongAnswer, parse_answer
from runtime.breaker import CircuitBreaker


def test_consecutive_failures_open_it_and_time_half_opens_it() -> None:
    b = CircuitBreaker(failures=3, open_s=30)
    assert b.allow(0) and b.code == 0
    b.failed(1)
    b.failed(2)
    assert b.state == "closed" and b.allow(2)
    b.succeeded()  # a success in between resets the count
    b.failed(3)
    b.failed(4)
    assert b.state == "closed"
    b.failed(5)
    assert b.state == "open" and b.code == 1
    assert not b.allow(34.9)
    assert b.allow(35.0) and b.state == "half_open" and b.code == 2


def test_a_failed_trial_opens_it_again_a_good_one_closes_it() -> None:
    b = CircuitBreaker(failures=2, open_s=10)
    b.failed(0)
    b.failed(0)
    assert b.allow(10) and b.state == "half_open"
    b.failed(10)  # one failure is enough in half-open
    assert b.state == "open" and not b.allow(19)
    assert b.allow(20)
    b.succeeded()
    assert b.state == "closed" and b.consecutive == 0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="failures=0"):
        CircuitBreaker(failures=0, open_s=1)


def test_an_answer_is_one_score_in_range_per_log() -> None:
    body = (
        b'{"scores": [{"anomaly_score": 0.9, "is_anomaly": true}, {"anomaly_score": 0, "is_anomaly": false}]}'
    )
    assert parse_answer(body, 2) == [EngineScore(0.9, True), EngineScore(0.0, False)]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>", "not JSON"),
        (b"[]", "expected 1 scores"),
        (b'{"scores": []}', "expected 1 scores, got 0"),
        (b'{"scores": [{"anomaly_score": 1.5, "is_anomaly": true}]}', "not a number in"),
        (b'{"scores": [{"anomaly_score": "0.5", "is_anomaly": true}]}', "not a number in"),
        (b'{"scores": [{"anomaly_score": true, "is_anomaly": true}]}', "not a number in"),
        (b'{"scores": [{"anomaly_score": 0.5, "is_anomaly": 1}]}', "not a boolean"),
        (b'{"scores": [7]}', "not a number in"),
    ],
)
def test_wrong_answers_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(WrongAnswer, match=reason):
        parse_answer(body, 1)
