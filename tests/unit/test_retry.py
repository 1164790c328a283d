from app.retry import RetryPolicy


def test_retry_policy_delays_follow_seed_002() -> None:
    assert RetryPolicy(max_retries=3, base_s=2.0).delays() == [0.0, 2.0, 4.0, 8.0]


def test_retry_policy_zero_retries_is_one_attempt() -> None:
    assert RetryPolicy(max_retries=0).delays() == [0.0]
