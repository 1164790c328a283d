"""Secrets in URLs: masked in every shape, never an exception (issue 21, item 5)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from structlog.testing import capture_logs

from app.db import Database
from app.logging import mask_urls
from app.redaction import mask_url, mask_urls_in_text, scrub, secret_values
from app.retry import RetryPolicy

SECRET = "S3cretPW"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        pytest.param(
            "postgresql://sei:S3cretPW@db:5432/sei", "postgresql://sei:***@db:5432/sei", id="userinfo"
        ),
        pytest.param(
            "postgresql://sei:S3cretPW@[db/sei", "postgresql://sei:***@[db/sei", id="unclosed-bracket"
        ),
        pytest.param("redis://:S3cretPW@[redis", "redis://:***@[redis", id="redis-unclosed-bracket"),
        pytest.param("redis://:S3cretPW@redis:6379/0", "redis://:***@redis:6379/0", id="redis-password-only"),
        pytest.param(
            "postgresql://u:S3c@ret/PW@db/sei", "postgresql://u:***@db/sei", id="unencoded-at-and-slash"
        ),
        pytest.param(
            "postgresql://sei@db/sei?password=S3cretPW",
            "postgresql://sei@db/sei?password=***",
            id="query-password",
        ),
        pytest.param(
            "postgresql://db/sei?sslmode=require&sslpassword=S3cretPW&application_name=x",
            "postgresql://db/sei?sslmode=require&sslpassword=***&application_name=x",
            id="query-sslpassword",
        ),
        pytest.param("rediss://db/0?PWD=S3cretPW#f", "rediss://db/0?PWD=***#f", id="query-pwd-upper"),
        pytest.param(
            "http://h/x?pass=S3cretPW&secret=S3cretPW&access_token=S3cretPW&api_key=S3cretPW",
            "http://h/x?pass=***&secret=***&access_token=***&api_key=***",
            id="query-other-credentials",
        ),
        pytest.param("redis://redis:6379", "redis://redis:6379", id="nothing-to-hide"),
        pytest.param("postgresql://sei@db/sei?user=sei", "postgresql://sei@db/sei?user=sei", id="user-only"),
        pytest.param("not a url at all", "not a url at all", id="not-a-url"),
        pytest.param("", "", id="empty"),
    ],
)
def test_mask_url_hides_every_secret_and_never_raises(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://sei:S3cretPW@[db/sei",
        "postgresql://sei:S3cretPW@db:notaport/sei",
        "postgresql://sei:S3cretPW@db:99999999/sei",
        "postgresql://sei:S3cretPW@]db[/sei",
        "redis://:S3cretPW@[::1/0",
        "postgresql://sei@db/sei?password=S3cretPW&password=S3cretPW",
    ],
)
def test_mask_url_of_malformed_url_keeps_no_secret(url: str) -> None:
    assert SECRET not in mask_url(url)
    assert SECRET not in mask_urls_in_text(f"connecting to '{url}' failed")


def test_mask_urls_in_text_keeps_quoted_passwords_hidden() -> None:
    text = "error: 'postgresql://u:S3c\"ret'PW@db/x' and \"redis://:S3cretPW@r\", ok"
    masked = mask_urls_in_text(text)
    assert "S3c" not in masked and SECRET not in masked
    assert masked.startswith("error: 'postgresql://u:***@db/x'")


def test_secret_values_are_raw_and_decoded() -> None:
    assert secret_values("postgresql://u:p%40ss@h/d?token=a+b") == {"p%40ss", "p@ss", "a+b", "a b"}
    assert secret_values("postgresql://u@h/d") == frozenset()


def test_scrub_removes_secrets_an_error_message_quotes() -> None:
    url = "postgresql://u:p%2Fss@h/d?sslpassword=S3cretPW"
    text = "bad value 'p/ss'; key file locked with S3cretPW; dsn postgresql://x:y@z/d"
    assert scrub(text, [url]) == "bad value '***'; key file locked with ***; dsn postgresql://x:***@z/d"


def test_log_processor_masks_urls_in_every_string_field() -> None:
    event = {"event": "connect postgresql://u:S3cretPW@h/d", "n": 3, "exception": "x redis://:S3cretPW@r"}
    assert mask_urls(None, "info", event) == {
        "event": "connect postgresql://u:***@h/d",
        "n": 3,
        "exception": "x redis://:***@r",
    }


def test_circuit_open_log_masks_query_password_and_error_text() -> None:
    dsn = "postgresql://sei@127.0.0.1:1/sei?password=S3cretPW"
    database = Database(dsn, pool_size=1, retry=RetryPolicy(max_retries=0, base_s=0))
    with capture_logs() as logs:
        database._note_failure(OSError(f"cannot reach {dsn} (password S3cretPW)"), "write", 1, exhausted=True)
    assert logs and logs[0]["event"] == "db.circuit_open"
    assert SECRET not in repr(logs)
    assert SECRET not in (database.last_error or "")


def test_settings_repr_shows_no_url_password() -> None:
    from app.settings import load_settings

    settings = load_settings(
        timescale_url="postgresql://sei:S3cretPW@db/sei", redis_url="redis://:S3cretPW@redis:6379/0"
    )
    assert SECRET not in repr(settings) and SECRET not in str(settings)


def test_worker_log_config_masks_urls_in_library_and_structlog_lines() -> None:
    # The worker's logging, configured as app.main does, in a process of its own.
    script = """
import logging, logging.config
from app.logging import configure_structlog, get_logger, logging_config
configure_structlog()
logging.config.dictConfig(logging_config("INFO"))
url = "postgresql://sei:S3cretPW@db/sei?sslpassword=S3cretPW"
logging.getLogger("aiokafka").warning("cannot reach %s", url)
get_logger("sei.test").error("db.failed", error=f"OSError: {url} refused")
try:
    raise RuntimeError(url)
except RuntimeError:
    get_logger("sei.test").exception("db.crashed")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3 and all("postgresql://sei:***@db/sei?sslpassword=***" in line for line in lines)
    assert SECRET not in result.stderr
