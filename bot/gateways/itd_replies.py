"""What ITD Chile answers (api/gateways.md section B; seed 002): the reply envelope and its data.

Every reply is an envelope `{statusApi, code, message, data, …}`; `parse_envelope` returns it when
it says OK and raises the matching `GatewayError` otherwise. `parse_credits` and `parse_delivery`
read the `data` of creditsWhatsapp and statusWhatsappByKey. Choices where the seed is silent ([H]):

- **Delivery.** `statusWhatsappByKey` words: READ → READ; else a non-empty `delivered_at` →
  DELIVERED; SENT → SENT; MESSAGE QUEUED → QUEUED (spaces, underscores and case ignored). An
  unknown word with FAIL/ERROR/REJECT in it → FAILED; any other falls back on the timestamps.
- **Errors.** The envelope's `statusApi` decides first, then its `code` (when HTTP says 200), then
  the HTTP status: NOT_CREDITS → QuotaError, INVALID_MESSAGE → NotFoundError, UNAUTHORIZED/401/403
  → AuthError, BAD_REQUEST/400/415/other 4xx → InvalidRequestError, 429 → RateLimitedError, other
  5xx → UpstreamError. 502 and 503 are ITD's business answers, so the transport hands them to us
  unretried (`business_statuses`); a 502/503 *without* ITD's envelope (a proxy's HTML page) is an
  UpstreamError that the transport did not repeat, because it cannot tell the two apart.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx

from bot.gateways.base import (
    AuthError,
    Delivery,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    QuotaError,
    RateLimitedError,
    UpstreamError,
)
from bot.gateways.http import json_body, retry_after, sent_body

log = logging.getLogger(__name__)

# `statusApi` values of the seed → error class (they win over the HTTP status).
_STATUS_API_ERRORS: dict[str, type[GatewayError]] = {
    "NOT_CREDITS": QuotaError,
    "INVALID_MESSAGE": NotFoundError,
    "UNAUTHORIZED": AuthError,
    "BAD_REQUEST": InvalidRequestError,
}

_DELIVERY_WORDS: dict[str, Delivery] = {
    "MESSAGE QUEUED": Delivery.QUEUED,
    "QUEUED": Delivery.QUEUED,
    "SENT": Delivery.SENT,
    "DELIVERED": Delivery.DELIVERED,
    "READ": Delivery.READ,
}


def parse_credits(data: object) -> int | None:
    """`data` of creditsWhatsapp: documented as String, shown as a number; None if unreadable."""
    if isinstance(data, bool):
        return None
    if isinstance(data, int):
        return data
    if isinstance(data, float) and data.is_integer():
        return int(data)
    if isinstance(data, str) and re.fullmatch(r"\s*-?\d+(\.0+)?\s*", data):
        return int(float(data))
    return None


def parse_delivery(data: object) -> Delivery:
    """`data` of statusWhatsappByKey → Delivery (see the module docstring for the order)."""
    if not isinstance(data, dict):
        raise UpstreamError("ITD: statusWhatsappByKey reply has no data object")
    word = re.sub(r"[\s_]+", " ", str(data.get("status") or "")).strip().upper()
    delivered = bool(str(data.get("delivered_at") or "").strip())
    known = _DELIVERY_WORDS.get(word)
    if known is Delivery.READ:
        return Delivery.READ
    if delivered:
        return Delivery.DELIVERED
    if known is not None:
        return known
    if any(bad in word for bad in ("FAIL", "ERROR", "REJECT")):
        return Delivery.FAILED
    log.info("ITD: unknown message status %r; judging by the timestamps", word[:40])
    return Delivery.SENT if str(data.get("sent_at") or "").strip() else Delivery.QUEUED


def parse_envelope(
    response: httpx.Response, method: str, *, sending: bool = False
) -> dict[str, Any]:
    """The reply's JSON envelope when it says OK; otherwise the matching GatewayError."""
    status = response.status_code
    try:
        body: Any = response.json() if response.content else None
    except ValueError:
        body = None
    envelope: dict[str, Any] = body if isinstance(body, dict) else {}
    status_api = str(envelope.get("statusApi") or "").strip().upper()
    code = envelope.get("code")
    effective = code if status < 400 and isinstance(code, int) and code >= 400 else status
    if effective < 400 and status_api in ("", "OK"):
        if not isinstance(body, dict):
            # Not JSON at all (an HTML page, a truncated body). After a send that probably
            # went out: ambiguous (sent_body), never a retriable error.
            parsed = (sent_body if sending else json_body)(response, "ITD")
            raise UpstreamError(f"ITD {method}: reply is {type(parsed).__name__}, not an object")
        return envelope
    message = str(envelope.get("message") or "").strip()[:120]
    detail = f"ITD {method}: HTTP {status} {status_api or '-'}: {message or '(no message)'}"
    error = _STATUS_API_ERRORS.get(status_api) or _error_for_http(effective)
    if error is RateLimitedError:
        raise RateLimitedError(detail, retry_after=retry_after(response))
    raise error(detail)


def _error_for_http(status: int) -> type[GatewayError]:
    if status in (401, 403):
        return AuthError
    if status == 429:
        return RateLimitedError
    if status >= 500:
        return UpstreamError  # includes a 502/503 without ITD's envelope (a proxy's page)
    if status < 400:
        return UpstreamError  # 200 with an unknown statusApi
    return InvalidRequestError  # 400 BAD_REQUEST, 415 no Content-Type, 404 wrong api_url, …
