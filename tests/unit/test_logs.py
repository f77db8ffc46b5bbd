"""`bot.logs`: secrets never reach a log line; phones are masked."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator

import pytest

from bot.logs import RedactingFormatter, SecretRegistry, mask_phone, secrets


def test_registered_secrets_are_masked() -> None:
    registry = SecretRegistry()
    registry.add("Es7OhIYSuG2N-klS", None, "")
    assert registry.redact("token Es7OhIYSuG2N-klS in text") == "token *** in text"
    assert registry.redact("twice Es7OhIYSuG2N-klS,Es7OhIYSuG2N-klS") == "twice ***,***"
    assert registry.redact("nothing secret here") == "nothing secret here"


def test_short_values_are_not_registered() -> None:
    registry = SecretRegistry()
    registry.add("abc", "12345")
    assert registry.redact("abc 12345") == "abc 12345"


def test_longest_secret_is_masked_first() -> None:
    registry = SecretRegistry()
    registry.add("abcdef", "abcdefghij")
    assert registry.redact("x abcdefghij y abcdef") == "x *** y ***"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "GET https://dev.wapp.im/v3/instance9/status?token=Es7OhIYSuG2N-klS&full=1",
            "GET https://dev.wapp.im/v3/instance9/status?token=***&full=1",
        ),
        ("GET /x?full=1&token=abc123 done", "GET /x?full=1&token=*** done"),
        ("GET /x?TOKEN=abc123", "GET /x?TOKEN=***"),
        ("GET /x?apikey=f5197c79e97c&api_token=zz", "GET /x?apikey=***&api_token=***"),
        (
            "POST https://api.telegram.org/bot123456:AAE-x_yZ09/getUpdates",
            "POST https://api.telegram.org/bot***/getUpdates",
        ),
        (
            "GET https://api.telegram.org/file/bot123:abc/photos/file_1.jpg",
            "GET https://api.telegram.org/file/bot***/photos/file_1.jpg",
        ),
        (
            "POST https://api.green-api.com/waInstance1101000001/sendMessage/d75b3a66374942c5b3c0",
            "POST https://api.green-api.com/waInstance1101000001/sendMessage/***",
        ),
        (
            "GET https://1103.api.green-api.com/waInstance1103/getStateInstance/abcDEF123 200",
            "GET https://1103.api.green-api.com/waInstance1103/getStateInstance/*** 200",
        ),
    ],
)
def test_url_tokens_are_masked_without_registration(line: str, expected: str) -> None:
    assert SecretRegistry().redact(line) == expected


def test_ordinary_urls_are_left_alone() -> None:
    line = "GET https://dev.wapp.im/v3/chat/spare?crm=TEST&domain=test&md=0 200"
    assert SecretRegistry().redact(line) == line


@pytest.fixture
def log_stream() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger(f"tests.unit.logs.{uuid.uuid4().hex}")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_formatter_masks_message_args(log_stream: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = log_stream
    secret = "sec-" + uuid.uuid4().hex
    secrets.add(secret)
    logger.info("line token %s acquired", secret)
    out = stream.getvalue()
    assert secret not in out
    assert "line token *** acquired" in out


def test_formatter_masks_secrets_in_tracebacks(
    log_stream: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = log_stream
    secret = "tb-" + uuid.uuid4().hex
    secrets.add(secret)

    def failing(token: str) -> None:
        raise RuntimeError(f"gateway said no to {token} at /v3/instance1/me?token=qwerty123")

    try:
        failing(secret)
    except RuntimeError:
        logger.exception("status failed")
    out = stream.getvalue()
    assert "Traceback (most recent call last)" in out
    assert "RuntimeError: gateway said no to ***" in out
    assert secret not in out
    assert "qwerty123" not in out
    assert "?token=***" in out


@pytest.fixture
def root_level() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    old = root.level
    yield root
    root.setLevel(old)


def test_mask_phone_at_info(root_level: logging.Logger) -> None:
    root_level.setLevel(logging.INFO)
    assert mask_phone("79872745052") == "7987***5052"
    assert mask_phone("4915216896607") == "4915***6607"
    assert mask_phone("12345678") == "***"
    assert mask_phone(None) == "-"
    assert mask_phone("") == "-"


def test_mask_phone_at_debug_shows_it(root_level: logging.Logger) -> None:
    root_level.setLevel(logging.DEBUG)
    assert mask_phone("79872745052") == "79872745052"
