"""ITD Chile WhatsApp API v2 driver (api/gateways.md section B; seed 002 is the only source).

ITD resells one pre-linked WhatsApp line per customer account (its panel names Waboxapp as the
connector): there is no QR, no pairing and no instance life cycle in the API. So this gateway is
`Enrolment.OPERATOR`: the bot's operator configures the account's token, and every person who
picks ITD sends through that one line. The methods used are `creditsWhatsapp` (token check,
liveness and credits), `sendWhatsapp` and `statusWhatsappByKey`.

Two-way (`Reception.PUSH`): ITD POSTs to the two URLs the operator types into ITD's web panel
(not settable by the API): the bot serves them as `/hooks/itd/<HOOK_SECRET>/incoming` (one
received record, B.3) and `…/status` (the ticks), and hands each body to `parse_push`. Files go
out by URL (`files_by_url`): ITD downloads `content` itself, so `send_file` needs the address
where the bot serves the bytes (under PUBLIC_URL). Files that come in are downloaded by
`download` through a `MediaFetcher` that trusts only the API's own origin.

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
- **Incoming push.** A JSON object (or a list of at most 100 of them, which ITD never showed),
  else InvalidRequestError; so is anything without an id, or with a sender we cannot answer.
  `id` is `uuid`, else `whatsappKey`. `senderPhone` is the contact in both directions (the seed's
  `direction` 1 example still names the contact), so `chat` = `sender` = its digits (at most 15);
  `from_me` is `direction` 1. `messageType` chat/image/video/document/audio/ptt/sticker/location
  maps to its kind (ptt is VOICE; missing is chat); any other word is OTHER with the word as
  `details`. The text is `content` for chat and OTHER, `caption` (else `content`) for the rest.
  `media_url` is `url` (http(s) only) for files and stickers, `file_name` its last path segment
  (ITD's sample URL ends in the file's name), `mime_type` is `mimetype`. A location's details are
  "lat,lng location_name". `sendAt` (else `createdAt`) is epoch ms, or seconds when below 10^11.
  Texts are cut to 65536 characters, names to 128.
- **Groups.** `senderType` "group" (or a `senderPhone` ending in @g.us) is read as Waboxapp does
  it: `senderPhone` is the group's id and `senderName` the group's name; nobody says which member
  wrote. So `chat` is "<id>@g.us", `group_name` is `senderName`, and `sender` is empty. ITD can
  only send to phone + prefijo: a "…@g.us" recipient is refused (UnsupportedError) instead of
  being mangled into a phone number.
- **Status push.** `{"sent_at","status","uuid"}`. `status` is a word, read as
  `statusWhatsappByKey`'s (an unknown FAIL-ish word is FAILED with the word as `reason`; any
  other unknown word is SENT when `sent_at` is there, else QUEUED), or, as the seed's type column
  says, an int: read as WhatsApp's ack levels (-1 failed, 0 queued, 1 sent, 2 delivered, 3 read,
  4 played = read; an unknown level is SENT), digits in a string too. A missing uuid or status
  is InvalidRequestError.
- **Files out.** `send_file` without `OutgoingFile.url` is UnsupportedError (ITD cannot take bytes:
  the operator has to set PUBLIC_URL), not InvalidRequestError (the person's file is fine). With
  it: IMAGE when the mime is image/*, else by the file name's extension (as `send_media`), else
  FILE; `content` is the URL. ITD has no file-name field: the URL should end in the name.
- **Files in.** `download` never sends the JWT: a media URL is not ours to trust with it (the
  seed's sample is on content.itdchile.cl, another host). URLs on the API's origin are fetched
  even on a private network; any other host must be public (see `bot.gateways.media`).
- `recievedWhatsapp` polling is not used by this driver (it needs each contact's number).
"""

from __future__ import annotations

import json
import logging
import math
import posixpath
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import phonenumbers
from phonenumbers import NumberParseException

from bot.gateways import fields
from bot.gateways.base import (
    Account,
    AuthError,
    Delivery,
    DeliveryUpdate,
    Download,
    Enrolment,
    Event,
    Gateway,
    GatewayError,
    Inbound,
    InvalidRequestError,
    Line,
    LineState,
    LineStatus,
    MessageKind,
    NotFoundError,
    OutgoingFile,
    QuotaError,
    RateLimitedError,
    Reception,
    SentMessage,
    UnsupportedError,
    UpstreamError,
    digits,
)
from bot.gateways.http import GatewayHttp, json_body, retry_after, sent_body
from bot.gateways.media import MediaFetcher
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


# `messageType` of a received record (the seed's appendix) → kind; any other word is OTHER.
_MESSAGE_KINDS: dict[str, MessageKind] = {
    "chat": MessageKind.TEXT,
    "image": MessageKind.IMAGE,
    "video": MessageKind.VIDEO,
    "document": MessageKind.DOCUMENT,
    "audio": MessageKind.AUDIO,
    "ptt": MessageKind.VOICE,
    "sticker": MessageKind.STICKER,
    "location": MessageKind.LOCATION,
}

# An int `status` in a status push: WhatsApp's ack levels [H] (the seed types it int, shows words).
_ACK_LEVELS: dict[int, Delivery] = {
    -1: Delivery.FAILED,
    0: Delivery.QUEUED,
    1: Delivery.SENT,
    2: Delivery.DELIVERED,
    3: Delivery.READ,
    4: Delivery.READ,  # played (a voice note)
}

MAX_PUSHED_RECORDS = 100  # records in one push body, when it is a list
MAX_ID = 128  # the seed's `key` is at most 100 characters
MAX_TEXT = 65536  # WhatsApp's own limit for a text
MAX_NAME = 128


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
    if phone.strip().lower().endswith("@g.us"):
        raise UnsupportedError("ITD sends to phone numbers only, not to WhatsApp groups")
    number_digits = re.sub(r"\D", "", phone)
    try:
        number = phonenumbers.parse("+" + number_digits)
    except NumberParseException:
        raise InvalidRequestError(
            f"ITD: cannot split a {len(number_digits)}-digit number into country code and number"
        ) from None
    national = phonenumbers.national_significant_number(number)
    if not national or not number.country_code:
        raise InvalidRequestError(f"ITD: a {len(number_digits)}-digit number has no national part")
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


def parse_push(hook: str, body: Any) -> list[Event]:
    """One POST to an ITD hook → events; InvalidRequestError for anything ITD would not send.

    `body` is the decoded JSON (str and bytes are decoded here). See the module docstring.
    """
    if hook not in ("incoming", "status"):
        raise InvalidRequestError(f"ITD has no {str(hook)[:40]!r} hook")
    if isinstance(body, str | bytes | bytearray):
        try:
            body = json.loads(body)
        except (ValueError, RecursionError):
            raise InvalidRequestError("ITD push: the body is not JSON") from None
    records = body if isinstance(body, list) else [body]
    if len(records) > MAX_PUSHED_RECORDS:
        raise InvalidRequestError(f"ITD push: {len(records)} records in one body")
    if not all(isinstance(record, dict) for record in records):
        raise InvalidRequestError("ITD push: the body is not a JSON object")
    parse = parse_incoming if hook == "incoming" else parse_status
    return [parse(record) for record in records]


def parse_incoming(record: dict[str, Any]) -> Inbound:
    """One received record (gateways.md B.3) → Inbound; see the module docstring."""
    message_id = (
        fields.text(record.get("uuid")).strip() or fields.text(record.get("whatsappKey")).strip()
    )
    if not message_id or len(message_id) > MAX_ID:
        raise InvalidRequestError("ITD push: a received record without a usable uuid")
    phone = fields.text(record.get("senderPhone"))[:200].strip()
    name = _name(record.get("senderName"))
    group_name: str | None = None
    is_group = fields.text(record.get("senderType")).strip().lower() == "group"
    if is_group or phone.lower().endswith("@g.us"):
        group_id = re.sub(r"[^0-9-]", "", phone.split("@", 1)[0]).strip("-")
        if not group_id or len(group_id) > 64:
            raise InvalidRequestError("ITD push: a group record without a usable group id")
        chat, sender, group_name, name = f"{group_id}@g.us", "", name, None
    else:
        chat = sender = digits(phone)
        if not 0 < len(sender) <= 15:
            raise InvalidRequestError("ITD push: a received record without a usable senderPhone")
    word = fields.text(record.get("messageType")).strip().lower()[:40] or "chat"
    kind = _MESSAGE_KINDS.get(word, MessageKind.OTHER)
    content = fields.text(record.get("content"))[:MAX_TEXT]
    caption = fields.text(record.get("caption"))[:MAX_TEXT]
    text = content if kind in (MessageKind.TEXT, MessageKind.OTHER) else caption or content
    media_url = file_name = None
    if kind.has_file or kind is MessageKind.STICKER:
        media_url = fields.web_url(record.get("url"))
        file_name = _url_file_name(media_url) if media_url else None
    details = ""
    if kind is MessageKind.LOCATION:
        lat = _coordinate(record.get("lat"), 90.0)
        lng = _coordinate(record.get("lng"), 180.0)
        place = _name(record.get("location_name")) or ""
        details = f"{lat},{lng} {place}".strip() if lat and lng else place
    elif kind is MessageKind.OTHER:
        details = re.sub(r"[^\w.-]", "", word)
    direction = record.get("direction")
    return Inbound(
        id=message_id,
        chat=chat,
        sender=sender,
        sender_name=name,
        group_name=group_name,
        kind=kind,
        text=text,
        media_url=media_url,
        file_name=file_name,
        mime_type=_mime(record.get("mimetype")),
        sent_at=_epoch(record.get("sendAt")) or _epoch(record.get("createdAt")),
        from_me=direction in (1, "1") and not isinstance(direction, bool),
        details=details,
    )


def parse_status(record: dict[str, Any]) -> DeliveryUpdate:
    """One status push `{"sent_at","status","uuid"}` → DeliveryUpdate (see the docstring)."""
    key = fields.text(record.get("uuid")).strip()
    if not key or len(key) > MAX_ID:
        raise InvalidRequestError("ITD push: a status without a usable uuid")
    status = record.get("status")
    if isinstance(status, bool) or not isinstance(status, int | str) or status == "":
        raise InvalidRequestError("ITD push: a status push without a status")
    if isinstance(status, str) and re.fullmatch(r"\s*-?\d{1,3}\s*", status):
        status = int(status)
    if isinstance(status, int):
        delivery = _ACK_LEVELS.get(status)
        if delivery is None:
            log.info("ITD: unknown numeric message status; taken as sent")
            delivery = Delivery.SENT
        reason = str(status) if delivery is Delivery.FAILED else ""
        return DeliveryUpdate(message_id=key, delivery=delivery, reason=reason)
    word = " ".join(status[:80].split())
    delivery = parse_delivery({"status": word, "sent_at": fields.text(record.get("sent_at"))[:40]})
    reason = word[:40] if delivery is Delivery.FAILED else ""
    return DeliveryUpdate(message_id=key, delivery=delivery, reason=reason)


def _name(value: object) -> str | None:
    """One line of at most 128 characters, or None."""
    name = " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", fields.text(value)[: MAX_NAME * 4]).split())
    return name[:MAX_NAME] or None


def _url_file_name(url: str) -> str | None:
    name = posixpath.basename(unquote(urlsplit(url).path))
    name = re.sub(r"[\x00-\x1f\x7f/\\]", "", name).strip()[:MAX_NAME]
    return name or None


def _mime(value: object) -> str | None:
    mime = fields.text(value)[:200].split(";", 1)[0].strip().lower()
    return mime if re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", mime) else None


def _coordinate(value: object, limit: float) -> str | None:
    """A latitude/longitude (string or number) within ±`limit`, as text; None if unreadable."""
    text = fields.text(value).strip()[:40]
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number) or abs(number) > limit:
        return None
    return repr(number)


def _epoch(value: object) -> datetime | None:
    """Epoch milliseconds (or seconds, below 10^11) → UTC datetime; None if unreadable."""
    text = fields.text(value).strip()[:40]
    try:
        stamp = float(text)
    except ValueError:
        return None
    if not math.isfinite(stamp) or stamp <= 0:
        return None
    if stamp >= 1e11:
        stamp /= 1000
    try:
        return datetime.fromtimestamp(stamp, UTC)
    except (OverflowError, OSError, ValueError):
        return None


class ItdGateway(Gateway):
    name = "itd"
    title = "ITD Chile"
    enrolment = Enrolment.OPERATOR
    reception = Reception.PUSH
    files_by_url = True

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
        # Files of incoming messages: ITD's own origin is trusted, other hosts must be public.
        self.media = MediaFetcher()
        self.trusted = (api_url,)

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
        try:
            await self.http.aclose()
        finally:
            await self.media.aclose()

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
        return await self._send_url(phone, media_type(url, filename), url, caption)

    async def send_file(
        self,
        line: Line,
        phone: str,
        file: OutgoingFile,
        *,
        caption: str | None = None,
        quoted: str | None = None,
    ) -> SentMessage:
        """ITD fetches the file from `file.url`, where the bot serves the bytes."""
        if not file.url:
            raise UnsupportedError(
                "ITD fetches files by URL: set PUBLIC_URL so the bot serves them"
            )
        image = file.mime.strip().lower().startswith("image/")
        content_type = "IMAGE" if image else media_type(file.url, file.name)
        return await self._send_url(phone, content_type, file.url, caption)

    async def send_link(
        self, line: Line, phone: str, url: str, *, caption: str | None = None
    ) -> SentMessage:
        return await self._send_url(phone, "LINK", url, caption)

    async def delivery(self, line: Line, message_id: str) -> Delivery:
        envelope = await self._call("statusWhatsappByKey", {"key": message_id}, idempotent=True)
        return parse_delivery(envelope.get("data"))

    # ------------------------------------------------------------------ incoming

    def parse_push(self, hook: str, body: Any) -> list[Event]:
        return parse_push(hook, body)

    async def download(self, line: Line, url: str, *, max_bytes: int) -> Download:
        return await self.media.fetch(url, trusted=self.trusted, max_bytes=max_bytes)

    # ------------------------------------------------------------------ plumbing

    async def _send_url(
        self, phone: str, content_type: str, url: str, caption: str | None
    ) -> SentMessage:
        """sendWhatsapp IMAGE, FILE or LINK: ITD fetches `url` itself."""
        prefijo, national = split_phone(phone)
        body = {"content_type": content_type, "content": url, "phone": national, "prefijo": prefijo}
        if caption:
            body["caption"] = caption
        return await self._send(body)

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
