"""HCI Whats Center client (api/gateways.md part D; seed 004 is the only source).

HCI is a help desk (CRM) above one shared WhatsApp line, not a WhatsApp gateway: it has no QR,
session or state, so this is a plain client (`HciClient`), not a `Gateway`. The line is a
"manager" (`manager_number`, HCI_MANAGER_NUMBER) run by a controller (`controller_port`,
HCI_CONTROLLER_PORT); the controller has areas (queues) and operators; a contact waits in its
area's queue until an operator takes it. Every path is appended to `api_url` (HCI_API_URL).

    areas()                 GET  api/area/{controllerPort}
    area_operators(area)    POST api/area/operator/{controllerPort}       {idarea}
    contacts_in_area(area)  POST api/user/contact/area                    {number, area}
    contact(number)         POST api/user/contact/get                     {number}, then picked
    messages(op, contact)   POST api/chat/message                         {operatorId, contactId}
    take(contact, op)       PUT  api/user/contact/operator/my             {number, operatorId, contactId}
    transfer_to_operator    PUT  api/user/contact/operator                (same body)
    transfer_to_area        PUT  api/user/contact/area                    {number, area, contactNumber}
    send_text               POST api/chat/message/send/operator/{controllerPort}
                                 {content: base64(text), content2: text, operatorId, contactNumber}
    send_file               POST api/chat/message/send/operator/file/{controllerPort}
                                 {contactNumber, from: operatorId, base64: data URI, type}
    download(url)           GET  the message's `url`, through `MediaFetcher` (no token sent)

Errors (all `GatewayError`s, told in words; `detail` never holds the token, never a traceback):

- HTTP 401/403 → AuthError; 429 → RateLimitedError; 5xx and network failures come from
  `GatewayHttp` (reads are repeated there, writes never: reads are POSTs, marked idempotent
  because they change nothing; Take, transfers and sends are not).
- `{"success": false, "data": …}` (any status) → NotFoundError when the status is 404 or the
  words say "not found", AuthError when they say unauthorized/forbidden, else
  InvalidRequestError; `data` (clipped to one line, secrets masked) is in the detail.
- A body that is not JSON, or not `{success: true|false, data}`, or whose `data` is not the shape
  the call expects → UpstreamError. Except after a write answered 2xx: then the action probably
  happened, so the outcome is ambiguous: NetworkError(request_sent=True), as
  `bot.gateways.http.sent_body` does for every driver; a caller must not repeat it blindly.
- Odd items inside a list (not an object, no id) are skipped, not fatal: one broken contact must
  not hide the others.

Choices where the seed is silent ([H]):

- **Auth header.** The seed shows none. `Authorization: Bearer <token>` by default, or the bare
  token in the header HCI_AUTH_HEADER names (`bot.gateways.itd.auth_headers`, as ITD). The token
  is registered with `bot.logs.secrets`.
- **Numbers.** The seed shows the manager's `number`, `contactId` and `contactNumber` as JSON
  numbers, so they are sent as numbers (international digits; a value with a leading 0 or more
  than 15 digits goes as a string, which a JavaScript number would mangle). Operator and area ids
  go as strings, as the seed shows them. In replies, numbers and strings are both read.
- **Ids in replies.** An area is `{idarea, name}` (also `id` or `_id`), an operator
  `{operatorId, name}` (also `id` or `_id`); the seed shows neither shape. A contact's number is
  its `id` (else `contactNumber`), reduced to digits; one without digits is skipped.
- **Waiting.** A contact whose `operatorId` is "0", 0, "" or missing is in its area's queue
  (`HciContact.operator_id` is then ""). `messages` for a contact nobody has sends
  `operatorId: "0"` (the seed's "nobody" in `chat/new`).
- **A missing contact.** `contact(number)` lists the manager's contacts (`{contacts: […]}`, or a
  bare list) and answers None when the number is not among them; HCI has no call for one contact.
- **Messages.** `data` is the list of the chat's messages, oldest first (a `{messages: […]}`
  object is read too). `key` is the message's `id` (else `_id`), else "#<position>", the 0-based
  index in that list: a chat whose messages have no ids must only ever grow at its end for
  positions to de-duplicate. `content` is kept exactly as HCI gives it, never base64-decoded
  (plain "Ok" is valid base64; only our own sends are encoded, and HCI stores the text).
  `type` is lower-cased, "text" when missing; media types are image | pdf | audio | video.
  `from` is kept as text: the customer's number for the customer's messages, an operator id
  for operators' (`from_customer` compares digits with the contact's). `url` is kept when it is
  http(s). `at` is `createdAt`: ISO 8601 (naive taken as UTC), or epoch ms/s.
- **content vs content2.** `content` carries the text as base64 of its UTF-8, `content2` the
  plain text, as the seed's body shows; which one HCI delivers is HCI's business.
- **Files.** `type` is image, audio or video by the MIME type's main part, else pdf (the seed's
  only document type); a missing or generic MIME type is guessed from `name`. The data URI is
  `data:<mime>;base64,<…>`; the seed has no file-name field, so `name` only helps guess the type.
- **Sent message ids.** A send answers `{message data}`: its `id` (else `_id`) is returned, or
  None when there is none (not an error: the message probably went out).
- **Media downloads.** URLs on HCI's own origin are fetched even on a private network, any other
  host must be public; the token is never sent with them (a media link is not ours to trust).
- **`sa`** (per-contact score or bot step) is ignored. **The socket** (`POST api/socket`, protocol
  undocumented) is not used: the bot polls every INCOMING_POLL_INTERVAL instead. The Facebook
  routes, `api/chat/message/send` and the manager routes are not used.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import mimetypes
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from bot.gateways import fields
from bot.gateways.base import (
    Account,
    AuthError,
    Download,
    Enrolment,
    Gateway,
    GatewayError,
    InvalidRequestError,
    Line,
    LineState,
    LineStatus,
    NetworkError,
    NotFoundError,
    OutgoingFile,
    RateLimitedError,
    SentMessage,
    UpstreamError,
    digits,
)
from bot.gateways.http import GatewayHttp, retry_after
from bot.gateways.itd import auth_headers
from bot.gateways.media import MediaFetcher
from bot.logs import mask_phone, secrets

log = logging.getLogger(__name__)

NAME = "HCI"
FILE_TYPES = ("image", "pdf", "audio", "video")
MAX_ID = 128
MAX_NAME = 128
MAX_TEXT = 65536
MAX_WORDS = 200  # of HCI's `data` in an error's detail
UPLOAD_TIMEOUT = 120.0  # a file goes out as base64 inside the JSON body


@dataclass(frozen=True)
class HciArea:
    id: str
    name: str


@dataclass(frozen=True)
class HciOperator:
    id: str
    name: str


@dataclass(frozen=True)
class HciContact:
    number: str  # the contact's digits (the seed's `id`)
    name: str
    area: str  # area id ('' when none)
    operator_id: str  # '' while waiting (HCI's "0" or empty normalised to '')
    protocol: str  # HCI's ticket id ("BR848a795dsa684d")

    @property
    def waiting(self) -> bool:
        """In its area's queue: no operator has it."""
        return not self.operator_id


@dataclass(frozen=True)
class HciMessage:
    key: str  # the message id when HCI gives one, else f"#{position}" (0-based, in the chat)
    content: str  # as HCI gives it (never base64-decoded)
    type: str  # text | image | pdf | audio | video (as HCI says, lower-cased)
    sender: str  # the seed's `from` as a string: the customer's number or an operator id
    url: str | None
    at: datetime | None

    def from_customer(self, contact_number: str) -> bool:
        """Written by the customer: `from` is the contact's number (compared as digits)."""
        sender = digits(self.sender)
        return bool(sender) and sender == digits(contact_number)


class HciClient:
    """One HCI Whats Center line (manager + controller); `aclose()` when done."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        auth_header: str = "Authorization",
        manager_number: str,
        controller_port: str,
        timeout: float = 15.0,
    ) -> None:
        if not api_url.strip():
            raise ValueError("HCI_API_URL is empty")
        if not digits(manager_number):
            raise ValueError("HCI_MANAGER_NUMBER has no digits")
        if not controller_port.strip():
            raise ValueError("HCI_CONTROLLER_PORT is empty")
        secrets.add(token, token.strip())  # it travels in a header: keep it out of any log line
        self.manager_number = digits(manager_number)
        self.controller_port = controller_port.strip()
        self.http = GatewayHttp(
            api_url, name=NAME, headers=auth_headers(token, auth_header), timeout=timeout
        )
        # Files of messages: HCI's own origin is trusted, other hosts must be public.
        self.media = MediaFetcher()
        self.trusted = (api_url,)
        self._port = quote(self.controller_port, safe="")

    # ------------------------------------------------------------------ areas and operators

    async def areas(self) -> list[HciArea]:
        data = await self._read("GET", f"api/area/{self._port}")
        return [
            HciArea(id=area_id, name=_name(item.get("name")) or area_id)
            for item in _items(data, "areas")
            if (area_id := _id(item, "idarea", "id", "_id"))
        ]

    async def area_operators(self, area_id: str) -> list[HciOperator]:
        body = {"idarea": _required(area_id, "area id")}
        data = await self._read("POST", f"api/area/operator/{self._port}", body)
        return [
            HciOperator(id=operator_id, name=_name(item.get("name")) or operator_id)
            for item in _items(data, "operators")
            if (operator_id := _id(item, "operatorId", "id", "_id"))
        ]

    # ------------------------------------------------------------------ contacts

    async def contacts_in_area(self, area_id: str) -> list[HciContact]:
        body = {"number": self._manager(), "area": _required(area_id, "area id")}
        data = await self._read("POST", "api/user/contact/area", body)
        return _contacts(data)

    async def contact(self, number: str) -> HciContact | None:
        """The manager's contact with this number, or None when HCI does not know it."""
        wanted = _digits(number)
        data = await self._read("POST", "api/user/contact/get", {"number": self._manager()})
        return next((c for c in _contacts(data) if c.number == wanted), None)

    async def messages(self, operator_id: str, contact_number: str) -> list[HciMessage]:
        """The contact's chat, oldest first (`operator_id` "" for a contact nobody has)."""
        body = {
            "operatorId": operator_id.strip() or "0",
            "contactId": _number(contact_number),
        }
        data = await self._read("POST", "api/chat/message", body)
        if isinstance(data, dict) and "messages" in data:
            data = data["messages"]
        if not isinstance(data, list):
            raise UpstreamError(f"HCI chat/message: data is {_kind(data)}, not a list")
        messages = []
        for position, item in enumerate(data):
            message = _message(item, position)
            if message is not None:
                messages.append(message)
        return messages

    # ------------------------------------------------------------------ routing

    async def take(self, contact_number: str, operator_id: str) -> None:
        """The operator claims the contact ("answer the contact"). Not idempotent: once per claim."""
        body = self._routing_body(contact_number, operator_id)
        await self._write("PUT", "api/user/contact/operator/my", body)
        log.info("HCI: operator %s took %s", operator_id, mask_phone(digits(contact_number)))

    async def transfer_to_operator(self, contact_number: str, operator_id: str) -> None:
        body = self._routing_body(contact_number, operator_id)
        await self._write("PUT", "api/user/contact/operator", body)

    async def transfer_to_area(self, contact_number: str, area_id: str) -> None:
        """Into another area's queue (HCI may clear the operator)."""
        body = {
            "number": self._manager(),
            "area": _required(area_id, "area id"),
            "contactNumber": _number(contact_number),
        }
        await self._write("PUT", "api/user/contact/area", body)

    # ------------------------------------------------------------------ sending

    async def send_text(self, operator_id: str, contact_number: str, text: str) -> str | None:
        """Answer as the operator; HCI's message id, or None when it gives none."""
        body = {
            "content": base64.b64encode(text.encode("utf-8")).decode("ascii"),
            "content2": text,
            "operatorId": _required(operator_id, "operator id"),
            "contactNumber": _number(contact_number),
        }
        data = await self._write("POST", f"api/chat/message/send/operator/{self._port}", body)
        return _sent_id(data)

    async def send_file(
        self, operator_id: str, contact_number: str, data: bytes, mime: str, name: str
    ) -> str | None:
        """Send a file's bytes as a data URI; HCI's message id, or None when it gives none."""
        mime = _file_mime(mime, name)
        body = {
            "contactNumber": _number(contact_number),
            "from": _required(operator_id, "operator id"),
            "base64": f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}",
            "type": file_type(mime),
        }
        path = f"api/chat/message/send/operator/file/{self._port}"
        reply = await self._write("POST", path, body, http_timeout=UPLOAD_TIMEOUT)
        return _sent_id(reply)

    async def download(self, url: str, *, max_bytes: int) -> Download:
        """The file of a message. MediaTooLargeError over `max_bytes`; UnsafeUrlError for a URL
        off HCI's origin that points at a private address. The token is never sent."""
        return await self.media.fetch(url, trusted=self.trusted, max_bytes=max_bytes)

    async def aclose(self) -> None:
        try:
            await self.http.aclose()
        finally:
            await self.media.aclose()

    # ------------------------------------------------------------------ plumbing

    def _manager(self) -> int | str:
        return _number(self.manager_number)

    def _routing_body(self, contact_number: str, operator_id: str) -> dict[str, Any]:
        return {
            "number": self._manager(),
            "operatorId": _required(operator_id, "operator id"),
            "contactId": _number(contact_number),
        }

    async def _read(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A call that changes nothing (repeated by the transport after a 5xx or a timeout)."""
        response = await self.http.request(method, path, json=body, idempotent=True)
        return _data(response, path, write=False)

    async def _write(
        self,
        method: str,
        path: str,
        body: dict[str, Any],
        *,
        http_timeout: float | None = None,
    ) -> Any:
        response = await self.http.request(
            method, path, json=body, idempotent=False, http_timeout=http_timeout
        )
        return _data(response, path, write=True)


# ---------------------------------------------------------------------- replies


def _data(response: httpx.Response, path: str, *, write: bool) -> Any:
    """`data` of a `{success: true, data}` reply; otherwise the matching GatewayError."""
    status = response.status_code
    what = f"{NAME} {_route(path)}"
    body: Any = None
    parsed = False
    if response.content.strip():
        # Not JSON: an HTML page, a truncated body, absurd nesting.
        with contextlib.suppress(ValueError, RecursionError):
            body, parsed = json.loads(response.content), True
    if status in (401, 403):
        words = _words(body.get("data")) if isinstance(body, dict) else ""
        raise AuthError(f"{what}: HTTP {status}: {words or 'token refused'}")
    if status == 429:
        raise RateLimitedError(f"{what}: HTTP 429", retry_after=retry_after(response))
    success = body.get("success") if isinstance(body, dict) else None
    if success is True and 200 <= status < 300:
        return body.get("data")
    if success is False or (isinstance(body, dict) and "data" in body and status >= 400):
        words = _words(body.get("data")) or "(no words)"
        raise _refusal(status, words)(f"{what}: HTTP {status}: {words}")
    # Not HCI's envelope: an HTML error page (wrong HCI_API_URL: Express's "Cannot POST …"),
    # a truncated body, or JSON of another shape.
    if write and 200 <= status < 300:
        # The action probably happened: ambiguous, never to be repeated blindly.
        raise NetworkError(f"{what}: unreadable answer (HTTP {status})", request_sent=True)
    shown = f"JSON {_kind(body)}" if parsed else _page_words(response.text)
    raise UpstreamError(f"{what}: not HCI's reply (HTTP {status}): {shown}")


def _refusal(status: int, words: str) -> type[GatewayError]:
    lowered = words.lower()
    if status == 404 or "not found" in lowered:
        return NotFoundError
    if re.search(r"unauthori[sz]ed|forbidden|invalid token", lowered):
        return AuthError
    if status >= 500:  # a 5xx the transport let through: not ours to call invalid
        return UpstreamError
    return InvalidRequestError


def _route(path: str) -> str:
    """`api/chat/message/send/operator/8080` → `chat/message/send/operator` (for details)."""
    return re.sub(r"/[^/]*\d[^/]*$", "", path.removeprefix("api/"))


def _words(data: object) -> str:
    """HCI's `data` as one clipped line, secrets masked."""
    if data is None:
        return ""
    try:
        text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = type(data).__name__
    line = " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", text[: MAX_WORDS * 4]).split())
    return secrets.redact(line)[:MAX_WORDS]


def _page_words(page: str) -> str:
    """An HTML or text error page, reduced to its words (Express: `Cannot POST /api/x`)."""
    pre = re.search(r"<pre>(.*?)</pre>", page[:4000], re.S | re.I)
    text = re.sub(r"<[^>]*>", " ", pre.group(1) if pre else page[:4000])
    return repr(_words(text)[:80])


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _items(data: object, key: str) -> list[dict[str, Any]]:
    """The objects of a list reply (also `{key: [...]}`); anything else is UpstreamError."""
    if isinstance(data, dict) and isinstance(data.get(key), list):
        data = data[key]
    if not isinstance(data, list):
        raise UpstreamError(f"HCI: {key} reply is {_kind(data)}, not a list")
    skipped = sum(not isinstance(item, dict) for item in data)
    if skipped:
        log.info("HCI: %d %s that are not objects skipped", skipped, key)
    return [item for item in data if isinstance(item, dict)]


def _contacts(data: object) -> list[HciContact]:
    contacts = []
    for item in _items(data, "contacts"):
        number = digits(fields.text(item.get("id"))[:64]) or digits(
            fields.text(item.get("contactNumber"))[:64]
        )
        if not number or len(number) > 32:
            continue  # not a WhatsApp contact we could answer (or a broken record)
        operator = fields.text(item.get("operatorId")).strip()[:MAX_ID]
        contacts.append(
            HciContact(
                number=number,
                name=_name(item.get("name")) or "",
                area=fields.text(item.get("area")).strip()[:MAX_ID],
                operator_id="" if operator in ("", "0") else operator,
                protocol=fields.text(item.get("protocol")).strip()[:MAX_ID],
            )
        )
    return contacts


def _message(item: object, position: int) -> HciMessage | None:
    if not isinstance(item, dict):
        return None
    kind = fields.text(item.get("type")).strip().lower()[:40] or "text"
    return HciMessage(
        key=_id(item, "id", "_id") or f"#{position}",
        content=fields.text(item.get("content"))[:MAX_TEXT],
        type=kind,
        sender=fields.text(item.get("from")).strip()[:MAX_ID],
        url=fields.web_url(item.get("url")),
        at=_when(item.get("createdAt")),
    )


def _sent_id(data: object) -> str | None:
    message_id = _id(data, "id", "_id") if isinstance(data, dict) else ""
    if not message_id:
        log.info("HCI: a send answered without a message id")
    return message_id or None


def _id(item: dict[str, Any], *keys: str) -> str:
    """The first usable id among `keys` (a string or an integer), or ""."""
    for key in keys:
        value = fields.text(item.get(key)).strip()
        if value and len(value) <= MAX_ID:
            return value
    return ""


def _name(value: object) -> str:
    return " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", fields.text(value)[: MAX_NAME * 4]).split())[
        :MAX_NAME
    ]


def _when(value: object) -> datetime | None:
    """`createdAt`: ISO 8601 (JavaScript's `Date.toJSON`), or epoch ms (s when below 10^11)."""
    if isinstance(value, str) and not re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        try:
            at = datetime.fromisoformat(value.strip()[:40])
            return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        except (ValueError, OverflowError):  # not ISO; year 1 at +01:00 is before year 1 UTC
            return None
    try:
        stamp = float(fields.text(value).strip()[:40])
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


# ---------------------------------------------------------------------- requests


def _digits(number: str) -> str:
    found = digits(number)
    if not found:
        raise InvalidRequestError("HCI: a contact number needs digits")
    return found


def _number(number: str) -> int | str:
    """A phone number as the seed shows it: a JSON number (a string when a number would
    lose something: a leading 0, more than 15 digits)."""
    found = _digits(number)
    return int(found) if len(found) <= 15 and not found.startswith("0") else found


def _required(value: str, what: str) -> str:
    value = str(value).strip()
    if not value:
        raise InvalidRequestError(f"HCI: the {what} is empty")
    return value


def _file_mime(mime: str, name: str) -> str:
    mime = mime.split(";", 1)[0].strip().lower()
    if re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", mime) and mime != "application/octet-stream":
        return mime
    guessed, _ = mimetypes.guess_type(name or "")
    return guessed or "application/octet-stream"


def file_type(mime: str) -> str:
    """The seed's message type for a MIME type: image, audio, video, else pdf (documents)."""
    main = mime.split("/", 1)[0].strip().lower()
    return main if main in ("image", "audio", "video") else "pdf"


class HciGateway(Gateway):
    """HCI's shared line behind the gateway interface, so that `/connect hci` links it like the
    operator's ITD line and answers go through the outbox like any message. Sends need the
    answering member's operator id (`Line.options["operator_id"]`, set by `Lines.for_member`);
    incoming messages are HCI's chats, polled by the desk (`bot.services.hci_desk`), not here."""

    name = "hci"
    title = "HCI Whats Center"
    enrolment = Enrolment.OPERATOR
    sends_as_operator = True
    admin_only = True

    def __init__(self, client: HciClient) -> None:
        self.client = client

    async def acquire(self, credentials: dict[str, str] | None = None) -> Line:
        await self.client.areas()  # proves the URL and the token (AuthError otherwise)
        return Line(instance_id=self.client.manager_number, token="")

    async def start(self, line: Line) -> None:
        """Nothing to start: the line is HCI's."""

    async def status(self, line: Line) -> LineStatus:
        await self.client.areas()
        return LineStatus(state=LineState.AUTHORIZED, raw="OK")

    async def account(self, line: Line) -> Account:
        return Account(name=self.title, phone=self.client.manager_number)

    async def send_text(
        self, line: Line, phone: str, text: str, *, quoted: str | None = None
    ) -> SentMessage:
        message_id = await self.client.send_text(_operator(line), phone, text)
        return SentMessage(message_id=message_id)

    async def send_file(
        self,
        line: Line,
        phone: str,
        file: OutgoingFile,
        *,
        caption: str | None = None,
        quoted: str | None = None,
    ) -> SentMessage:
        operator = _operator(line)
        message_id = await self.client.send_file(operator, phone, file.data, file.mime, file.name)
        if caption:  # the seed's file send has no caption: the words follow as a text
            await self.client.send_text(operator, phone, caption)
        return SentMessage(message_id=message_id)

    async def download(self, line: Line, url: str, *, max_bytes: int) -> Download:
        return await self.client.download(url, max_bytes=max_bytes)

    async def logout(self, line: Line) -> None:
        """No-op: the line is HCI's."""

    async def release(self, line: Line) -> None:
        """No-op: the line is HCI's."""

    async def aclose(self) -> None:
        await self.client.aclose()


def _operator(line: Line) -> str:
    operator = line.options.get("operator_id", "")
    if not operator:
        raise InvalidRequestError("HCI: this member is not mapped to an HCI operator")
    return operator
