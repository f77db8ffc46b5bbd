"""Logging set-up with one rule: secrets never reach a log line.

A filter on the root handler masks every registered secret (bot token, gateway tokens,
instance tokens as they become known) wherever it occurs, plus anything shaped like a token
in a URL. httpx logs full URLs at INFO, so its logger is kept at WARNING as well (and aiohttp's,
the transport under httpx: `bot.transport`).
Phone numbers are masked at INFO and above (see `mask_phone`).
"""

from __future__ import annotations

import logging
import re
import sys
import threading

_MASK = "***"
# Tokens that travel in URLs: wapp.im `?token=…`, the Bot API `/bot<token>/`, Green-API's last path segment.
_URL_TOKEN_PATTERNS = (
    re.compile(r"(?i)([?&](?:token|apikey|api_token)=)[^&\s\"']+"),
    re.compile(r"(/bot)\d+:[A-Za-z0-9_-]+"),
    re.compile(r"(/waInstance\d+/[A-Za-z]+/)[A-Za-z0-9]+"),
)


class SecretRegistry:
    """The secrets to mask; gateway code adds instance tokens as soon as it learns them."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *secrets: str | None) -> None:
        with self._lock:
            # Very short values would mask ordinary words; real tokens are much longer.
            self._secrets.update(s for s in secrets if s and len(s) >= 6)

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, _MASK)
        for pattern in _URL_TOKEN_PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + _MASK, text)
        return text


secrets = SecretRegistry()


class RedactingFormatter(logging.Formatter):
    """Formats as usual (traceback included), then masks the whole line."""

    def format(self, record: logging.LogRecord) -> str:
        return secrets.redact(super().format(record))


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    noisy_loggers = (
        "httpx",
        "httpcore",
        "aiohttp",
        "aiosqlite",
        "asyncpg",
        "tortoise",
        "apscheduler",
    )
    for noisy in noisy_loggers:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def mask_phone(phone: str | None) -> str:
    """`79872745052` → `7987***5052` for logs: enough to correlate, not enough to identify."""
    if not phone:
        return "-"
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        return phone
    return phone[:4] + _MASK + phone[-4:] if len(phone) > 8 else _MASK
