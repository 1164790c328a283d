"""Ingestion settings: API keys (secret), the quality threshold, the body limit."""

from __future__ import annotations

import pytest

from app.settings import SettingsError, load_settings

URL = "postgresql://sei@db:5432/sei"


def test_ingest_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INGEST_API_KEYS", "DATA_QUALITY_MIN_SCORE", "INGEST_MAX_BODY_BYTES"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(timescale_url=URL)
    assert settings.api_keys == ()
    assert settings.data_quality_min_score == 0.5
    assert settings.ingest_max_body_bytes == 1024 * 1024


def test_ingest_api_keys_split_trimmed_and_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_API_KEYS", " dev-key-12345 ,second-key-0001,")
    settings = load_settings(timescale_url=URL)
    assert settings.api_keys == (b"dev-key-12345", b"second-key-0001")
    assert "dev-key-12345" not in repr(settings) and "dev-key-12345" not in str(settings)


@pytest.mark.parametrize(
    "keys",
    [
        pytest.param("short-key11", id="too-short"),
        pytest.param("has a space 123", id="space"),
        pytest.param("x" * 257, id="too-long"),
    ],
)
def test_ingest_bad_api_key_named_without_its_value(keys: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(timescale_url=URL, ingest_api_keys=f"good-key-00001,{keys}")
    message = str(error.value)
    assert message.startswith(
        "INGEST_API_KEYS='***' is invalid: each key must be 12-256 printable characters"
    )
    assert keys not in message and "good-key-00001" not in message


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            {"data_quality_min_score": 1.5}, "DATA_QUALITY_MIN_SCORE=1.5 is invalid", id="score-high"
        ),
        pytest.param(
            {"data_quality_min_score": -0.1}, "DATA_QUALITY_MIN_SCORE=-0.1 is invalid", id="score-low"
        ),
        pytest.param({"ingest_max_body_bytes": 10}, "INGEST_MAX_BODY_BYTES=10 is invalid", id="body-small"),
    ],
)
def test_ingest_bad_numbers_name_the_variable(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(timescale_url=URL, **overrides)
