"""ITD Chile WhatsApp API v2 driver (api/gateways.md section B; seed 002 is the only source).

ITD resells one pre-linked WhatsApp line per customer account (its panel names Waboxapp as the
connector): there is no QR, no pairing and no instance life cycle in the API. So this gateway is
`Enrolment.OPERATOR`: the bot's operator configures the account's token, and every person who
picks ITD sends through that one line. The methods used are `creditsWhatsapp` (token check,
liveness and credits), `sendWhatsapp` and `statusWhatsappByKey`.

Choices where the seed is silent ([H]):

- **Auth header.** The seed's page on the token ("Creación de un token", "Uso") is missing. We
  send `Authorization: Bearer <token>` when `auth_header` is "Authorization" (any case), else
  `<auth_header>: <token>` with the bare token. A token configured as "Bearer …" is not doubled;
  an empty one sends no header at all (ITD then answers 401 → AuthError).
- **Verb.** Every call is a POST with a JSON body and `Content-Type: application/json` (the seed
  documents POST + JSON for every method and answers 415 without the Content-Type; where GET
  parameters go is a guess). `creditsWhatsapp` gets `{}`. The two reads are marked idempotent, so
  the transport may repeat them after a network error or a plain 5xx; `sendWhatsapp` is not.
- **The line.** `acquire()` only checks the token and returns `Line(instance_id="itd", token="")`:
  the token is the operator's, configured once, never stored per person. `start`, `logout` and
  `release` do nothing: the operator's line is never unlinked or given back by the bot.
- **State.** `status()` is AUTHORIZED (raw "OK") whenever `creditsWhatsapp` answers, RESTRICTED
  (raw "NO CREDITS") when it says 0 credits (a send would get 502 NOT_CREDITS). A 401 raises
  AuthError. Credits are documented as a String and shown as a number: both are read; anything
  else counts as "unknown" (still AUTHORIZED).
- **Account.** No call tells who the line is (`accountPhone` only appears in received messages),
  so `account()` answers `Account(name=None, phone=None)`.
- **Numbers.** `phone` is the national significant number and `prefijo` the country calling code,
  split with `phonenumbers` from the international digits (Italy's leading 0 is kept). A number
  with no known country code is refused locally (InvalidRequestError) before any call.
- **Media.** `send_media` sends `content_type` IMAGE when the file name (else the URL's path)
  ends in .jpg .jpeg .png .gif .webp, FILE otherwise, with `content` = the URL and `caption`.
  LINK (a page preview) is `send_link`'s (/sendlink), never guessed from a URL. ITD has no
  file-name field, so `filename` only decides the type.
- **Delivery.** `statusWhatsappByKey` words: READ → READ; else a non-empty `delivered_at` →
  DELIVERED; SENT → SENT; MESSAGE QUEUED → QUEUED (spaces, underscores and case ignored). An
  unknown word with FAIL/ERROR/REJECT in it → FAILED; any other falls back on the timestamps.
- **Errors.** The envelope's `statusApi` decides first, then its `code` (when HTTP says 200), then
  the HTTP status: NOT_CREDITS → QuotaError, INVALID_MESSAGE → NotFoundError, UNAUTHORIZED/401/403
  → AuthError, BAD_REQUEST/400/415/other 4xx → InvalidRequestError, 429 → RateLimitedError, other
  5xx → UpstreamError. 502 and 503 are ITD's business answers, so the transport hands them to us
  unretried (`business_statuses`); a 502/503 *without* ITD's envelope (a proxy's HTML page) is an
  UpstreamError that the transport did not repeat, because it cannot tell the two apart.
- **A send reply without `uuid`** gives `SentMessage(message_id=None)`, not an error: the message
  probably went out, and an error would make the caller send it twice.
- Webhooks (incoming messages, status pushes) are configured in ITD's web panel, not by the API;
  `recievedWhatsapp` polling is not used by this driver.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import phonenumbers
from phonenumbers import NumberParseException

from bot.gateways.base import (
    Account,
    AuthError,
    Delivery,
    Enrolment,
    Gateway,
    GatewayError,
    InvalidRequestError,
    Line,
    LineState,
    LineStatus,
    NotFoundError,
    QuotaError,
    RateLimitedError,
    SentMessage,
    UpstreamError,
)
from bot.gateways.http import GatewayHttp, json_body, retry_after, sent_body
from bot.logs import secrets

log = logging.getLogger(__name__)

LINE_ID = "itd"  # the one (operator's) line; Line.instance_id for every ITD chat
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp"})

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


def auth_headers(token: str, auth_header: str = "Authorization") -> dict[str, str]:
    """The header that carries the TOKEN API (name configurable: the seed lost that page)."""
    bare = re.sub(r"(?i)^bearer\s+", "", token.strip())
    if not bare:
        return {}  # no token configured: ITD answers 401 (AuthError); "Bearer " is not a header
    if auth_header.strip().lower() == "authorization":
        return {"Authorization": f"Bearer {bare}"}
    return {auth_header.strip(): bare}


def split_phone(phone: str) -> tuple[str, str]:
    """International digits → (`prefijo`, `phone`): `56912345678` → ("56", "912345678")."""
    digits = re.sub(r"\D", "", phone)
    try:
        number = phonenumbers.parse("+" + digits)
    except NumberParseException:
        raise InvalidRequestError(
            f"ITD: cannot split a {len(digits)}-digit number into country code and number"
        ) from None
    national = phonenumbers.national_significant_number(number)
    if not national or not number.country_code:
        raise InvalidRequestError(f"ITD: a {len(digits)}-digit number has no national part")
    return str(number.country_code), national


def media_type(url: str, filename: str | None = None) -> str:
    """IMAGE when the name ends in an image extension, else FILE (LINK is `send_link`'s)."""
    name = filename or urlsplit(url).path
    dot = name.rfind(".")
    extension = name[dot:].lower() if dot >= 0 else ""
    return "IMAGE" if extension in IMAGE_EXTENSIONS else "FILE"


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


class ItdGateway(Gateway):
    name = "itd"
    title = "ITD Chile"
    enrolment = Enrolment.OPERATOR

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        auth_header: str = "Authorization",
        timeout: float = 15.0,
    ) -> None:
        secrets.add(token)  # the JWT travels in a header: keep it out of any log line
        self.http = GatewayHttp(
            api_url,
            name="ITD",
            headers=auth_headers(token, auth_header),
            timeout=timeout,
            # 502 NOT_CREDITS / 503 INVALID_MESSAGE are answers, not outages: never retried.
            business_statuses=frozenset({502, 503}),
        )

    # ------------------------------------------------------------------ life cycle

    async def acquire(self, credentials: dict[str, str] | None = None) -> Line:
        """Check the operator's token (401 → AuthError); the line is always the same one.

        `token` is empty: the operator's token lives in the configuration, not per person.
        """
        await self._credits()
        return Line(instance_id=LINE_ID, token="")

    async def start(self, line: Line) -> None:
        """Nothing to start: ITD's line is linked and run by ITD."""

    async def status(self, line: Line) -> LineStatus:
        credits = await self._credits()
        if credits is not None and credits <= 0:
            return LineStatus(state=LineState.RESTRICTED, raw="NO CREDITS")
        return LineStatus(state=LineState.AUTHORIZED, raw="OK")

    async def account(self, line: Line) -> Account:
        """Undocumented: no ITD call tells the line's name or number."""
        return Account(name=None, phone=None)

    async def logout(self, line: Line) -> None:
        """No-op: the operator's line is never unlinked by the bot."""

    async def release(self, line: Line) -> None:
        """No-op: the operator's line is never given back."""

    async def details(self, line: Line) -> dict[str, str]:
        credits = await self._credits()
        return {"credits": str(credits) if credits is not None else "unknown"}

    async def aclose(self) -> None:
        await self.http.aclose()

    # ------------------------------------------------------------------ messages

    async def send_text(
        self, line: Line, phone: str, text: str, *, quoted: str | None = None
    ) -> SentMessage:
        prefijo, national = split_phone(phone)
        body = {"content_type": "TEXT", "content": text, "phone": national, "prefijo": prefijo}
        return await self._send(body)

    async def send_media(
        self,
        line: Line,
        phone: str,
        url: str,
        *,
        caption: str | None = None,
        filename: str | None = None,
    ) -> SentMessage:
        prefijo, national = split_phone(phone)
        body = {
            "content_type": media_type(url, filename),
            "content": url,
            "phone": national,
            "prefijo": prefijo,
        }
        if caption:
            body["caption"] = caption
        return await self._send(body)

    async def send_link(
        self, line: Line, phone: str, url: str, *, caption: str | None = None
    ) -> SentMessage:
        prefijo, national = split_phone(phone)
        body = {"content_type": "LINK", "content": url, "phone": national, "prefijo": prefijo}
        if caption:
            body["caption"] = caption
        return await self._send(body)

    async def delivery(self, line: Line, message_id: str) -> Delivery:
        envelope = await self._call("statusWhatsappByKey", {"key": message_id}, idempotent=True)
        return parse_delivery(envelope.get("data"))

    # ------------------------------------------------------------------ plumbing

    async def _send(self, body: dict[str, str]) -> SentMessage:
        envelope = await self._call("sendWhatsapp", body, idempotent=False)
        uuid = envelope.get("uuid")
        if not uuid:
            log.warning("ITD: sendWhatsapp answered OK without a uuid")
        return SentMessage(message_id=str(uuid) if uuid else None)

    async def _credits(self) -> int | None:
        envelope = await self._call("creditsWhatsapp", {}, idempotent=True)
        credits = parse_credits(envelope.get("data"))
        if credits is None:
            log.info("ITD: unreadable credits %r", str(envelope.get("data"))[:40])
        return credits

    async def _call(self, method: str, body: dict[str, Any], *, idempotent: bool) -> dict[str, Any]:
        # httpx's json= sets `Content-Type: application/json`, which ITD requires (415 otherwise).
        response = await self.http.request("POST", method, json=body, idempotent=idempotent)
        return _envelope(response, method, sending=not idempotent)


def _envelope(response: httpx.Response, method: str, *, sending: bool = False) -> dict[str, Any]:
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
