"""Reading the loose JSON of gateway replies and pushes: values that may come as strings or
numbers, or be absent, or be hostile. Each helper answers a clean value or an empty one, never
raises."""

from __future__ import annotations

import math
from urllib.parse import urlsplit

MAX_URL = 4096


def text(value: object) -> str:
    """A JSON scalar as text ("" for null, booleans, objects and lists); 5.0 reads "5"."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    try:
        return str(value)
    except ValueError:  # an int with more digits than Python prints
        return ""


def web_url(value: object) -> str | None:
    """An http(s) URL with a host, of at most MAX_URL characters, else None."""
    url = text(value).strip()
    if not url or len(url) > MAX_URL:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else None
