"""What Green-API answers (api/gateways.md, section A), read into the common types.

`raise_for_status` turns an HTTP status into the error tree (A.11, E.3). Green-API overloads HTTP
400: "not linked yet" and "bad input" differ only in the text, so 400s are classified by substring.
Error bodies may be plain text or JSON; both are accepted. `parse_state`, `parse_qr`,
`parse_delivery` and `parse_sent` read the bodies of getStateInstance, qr, lastOutgoingMessages and
the sends. `STATES` and `DELIVERIES` are Green's words for a line's state and a message's delivery;
the notifications (`greenapi_notifications`) use the same words.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

import httpx

from bot.gateways.base import (
    AuthError,
    Delivery,
    InvalidRequestError,
    LineState,
    NotFoundError,
    NotReadyError,
    Qr,
    QuotaError,
    RateLimitedError,
    SentMessage,
    UpstreamError,
)
from bot.gateways.http import retry_after
from bot.gateways.qr import qr_from_image, qr_from_text

log = logging.getLogger(__name__)

# getStateInstance values (A.1, seed 001), matched case-insensitively → normalised state.
STATES: dict[str, LineState] = {
    "starting": LineState.STARTING,
    "notauthorized": LineState.AWAITING_QR,
    "authorized": LineState.AUTHORIZED,
    "blocked": LineState.BLOCKED,
    "sleepmode": LineState.SLEEPING,  # documented as obsolete: the phone is off
    "yellowcard": LineState.RESTRICTED,  # sending suspended for spam until a reboot
    "suspended": LineState.RESTRICTED,  # Telegram/MAX products; mapped rather than crash (A.1)
    "pendingpassword": LineState.AWAITING_QR,  # ditto: a 2FA password, not a QR, is awaited
}

# lastOutgoingMessages `statusMessage` (A.8) → delivery. `failed`, `yellowCard` come from the
# outgoingMessageStatus push; they are listed so that either source maps the same way.
DELIVERIES: dict[str, Delivery] = {
    "pending": Delivery.QUEUED,
    "sent": Delivery.SENT,
    "delivered": Delivery.DELIVERED,
    "read": Delivery.READ,
    "failed": Delivery.FAILED,
    "noaccount": Delivery.FAILED,
    "notingroup": Delivery.FAILED,
    "yellowcard": Delivery.FAILED,
}

STALE_AUTH_RAW = "needs logout"  # shown in /status when `qr` says "Instance has auth…"


def parse_state(body: Any) -> tuple[LineState, str]:
    """`null` (still being created) → provisioning; unknown words → UNKNOWN with the word kept."""
    if body is None:
        return LineState.PROVISIONING, ""
    if not isinstance(body, dict):
        raise UpstreamError("Green-API: getStateInstance reply is not an object")
    raw = body.get("stateInstance")
    if raw is None:
        return LineState.PROVISIONING, ""
    raw = str(raw)
    return STATES.get(raw.strip().lower(), LineState.UNKNOWN), raw


def parse_qr(body: Any) -> tuple[LineState, Qr | None, str]:
    """A `qr` reply → the state it implies, the QR, and the raw word for /status."""
    if not isinstance(body, dict):
        raise UpstreamError("Green-API: qr reply is not an object")
    kind = str(body.get("type") or "")
    message = str(body.get("message") or "")
    if kind == "qrCode":
        return LineState.AWAITING_QR, _qr(message), "notAuthorized"
    if kind == "alreadyLogged":
        # Linked between our getStateInstance and this call.
        return LineState.AUTHORIZED, None, "authorized"
    if kind == "error" and "instance has auth" in message.lower():
        # Stale auth data on Green's side: only a logout brings a QR back (A.2).
        return LineState.AWAITING_QR, None, STALE_AUTH_RAW
    return LineState.AWAITING_QR, None, "notAuthorized"


def _qr(message: str) -> Qr | None:
    try:
        image = base64.b64decode(message, validate=True)
    except (binascii.Error, ValueError):
        # Not bare base64: maybe a data URI, or (some day) the QR text itself.
        return qr_from_text(message)
    return qr_from_image(image) if image else None


def parse_delivery(body: Any, message_id: str) -> Delivery:
    if not isinstance(body, list):
        raise UpstreamError("Green-API: lastOutgoingMessages reply is not a list")
    for entry in body:
        if isinstance(entry, dict) and str(entry.get("idMessage")) == message_id:
            raw = str(entry.get("statusMessage") or "")
            delivery = DELIVERIES.get(raw.lower())
            if delivery is None:
                log.info("Green-API: unknown statusMessage %r, taken as queued", raw)
                return Delivery.QUEUED
            return delivery
    raise NotFoundError(f"Green-API: message {message_id} is not in the outgoing journal")


def parse_sent(body: Any, method: str) -> SentMessage:
    if not isinstance(body, dict) or not body.get("idMessage"):
        raise UpstreamError(f"Green-API: {method} reply has no idMessage")
    return SentMessage(message_id=str(body["idMessage"]))


def _error_text(response: httpx.Response) -> str:
    """The error's words: a plain-text body, or the message field of a JSON one."""
    text = response.text.strip()
    try:
        body = response.json()
    except ValueError:
        return text[:200]
    if isinstance(body, dict):
        for key in ("message", "description", "error", "error_text"):
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key])[:200]
    return text[:200]


def _quota_detail(response: httpx.Response) -> str:
    """Short and without the phone numbers that the 466 description lists."""
    try:
        body = response.json()
    except ValueError:
        return "Green-API: monthly quota exceeded"
    parts = []
    if isinstance(body, dict):
        for key in ("correspondentsStatus", "invokeStatus"):
            status = body.get(key)
            if isinstance(status, dict) and "EXCEEDED" in str(status.get("status", "")):
                parts.append(
                    f"{status.get('method')} {status.get('used')}/{status.get('total')} "
                    f"({status.get('status')})"
                )
    return "Green-API: monthly quota exceeded" + (": " + ", ".join(parts) if parts else "")


def raise_for_status(response: httpx.Response, method: str) -> None:
    """Map Green-API's HTTP codes to the error tree (A.11, E.3); 5xx never get here."""
    status = response.status_code
    if status < 400:
        return
    text = _error_text(response)
    where = f"Green-API {method}"
    if status == 400:
        lowered = text.lower()
        if "not authorized" in lowered or "starting" in lowered:
            raise NotReadyError(f"{where}: {text}")
        if "expired" in lowered:  # "Instance account is expired. Renew your instance…"
            raise QuotaError(f"{where}: {text}")
        if "deleted" in lowered:  # "Instance is deleted"
            raise NotFoundError(f"{where}: {text}")
        raise InvalidRequestError(f"{where}: {text}")
    if status == 401:
        raise AuthError(f"{where}: wrong apiTokenInstance")
    if status == 403:
        raise AuthError(f"{where}: wrong idInstance (or apiUrl)")
    if status == 404:
        raise InvalidRequestError(f"{where}: no such method for this HTTP verb")
    if status == 429:
        seconds = retry_after(response)
        # Without the header: one second, since every Green-API limit is per second (A.12).
        raise RateLimitedError(
            f"{where}: too many requests", retry_after=1.0 if seconds is None else seconds
        )
    if status == 466:
        raise QuotaError(_quota_detail(response))
    if status == 499:
        raise UpstreamError(f"{where}: HTTP 499 (client closed request)")
    raise InvalidRequestError(f"{where}: HTTP {status}: {text}")
