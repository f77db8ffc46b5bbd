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

What HCI answers, and which error each failure is, is read in `hci_replies.py` (the areas,
operators, contacts and messages as `HciArea`, `HciOperator`, `HciContact`, `HciMessage`).

Choices where the seed is silent ([H]):

- **Auth header.** The seed shows none. `Authorization: Bearer <token>` by default, or the bare
  token in the header HCI_AUTH_HEADER names (`bot.gateways.http.auth_headers`, as ITD). The token
  is registered with `bot.logs.secrets`.
- **Numbers.** The seed shows the manager's `number`, `contactId` and `contactNumber` as JSON
  numbers, so they are sent as numbers (international digits; a value with a leading 0 or more
  than 15 digits goes as a string, which a JavaScript number would mangle). Operator and area ids
  go as strings, as the seed shows them. In replies, numbers and strings are both read.
- **Waiting.** `messages` for a contact nobody has (in its area's queue: see `hci_replies.py`)
  sends `operatorId: "0"` (the seed's "nobody" in `chat/new`).
- **A missing contact.** `contact(number)` lists the manager's contacts (`{contacts: […]}`, or a
  bare list) and answers None when the number is not among them; HCI has no call for one contact.
- **content vs content2.** `content` carries the text as base64 of its UTF-8, `content2` the
  plain text, as the seed's body shows; which one HCI delivers is HCI's business.
- **Files.** `type` is image, audio or video by the MIME type's main part, else pdf (the seed's
  only document type); a missing or generic MIME type is guessed from `name`. The data URI is
  `data:<mime>;base64,<…>`; the seed has no file-name field, so `name` only helps guess the type.
- **Media downloads.** URLs on HCI's own origin are fetched even on a private network, any other
  host must be public; the token is never sent with them (a media link is not ours to trust).
- **`sa`** (per-contact score or bot step) is ignored. **The socket** (`POST api/socket`, protocol
  undocumented) is not used: the bot polls every INCOMING_POLL_INTERVAL instead. The Facebook
  routes, `api/chat/message/send` and the manager routes are not used.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
import re
from typing import Any
from urllib.parse import quote

from bot.gateways.base import (
    Account,
    Download,
    Enrolment,
    Gateway,
    InvalidRequestError,
    Line,
    LineState,
    LineStatus,
    OutgoingFile,
    SentMessage,
    digits,
)
from bot.gateways.hci_replies import (
    NAME,
    HciArea,
    HciContact,
    HciMessage,
    HciOperator,
    parse_areas,
    parse_contacts,
    parse_messages,
    parse_operators,
    parse_sent_id,
    reply_data,
)
from bot.gateways.http import GatewayHttp, auth_headers
from bot.gateways.media import MediaFetcher
from bot.logs import mask_phone, secrets

log = logging.getLogger(__name__)

UPLOAD_TIMEOUT = 120.0  # a file goes out as base64 inside the JSON body


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
        breaker_seconds: float = 30.0,
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
            api_url,
            name=NAME,
            headers=auth_headers(token, auth_header),
            timeout=timeout,
            breaker_cooldown=breaker_seconds,
        )
        # Files of messages: HCI's own origin is trusted, other hosts must be public.
        self.media = MediaFetcher()
        self.trusted = (api_url,)
        self._port = quote(self.controller_port, safe="")

    # ------------------------------------------------------------------ areas and operators

    async def areas(self) -> list[HciArea]:
        return parse_areas(await self._read("GET", f"api/area/{self._port}"))

    async def area_operators(self, area_id: str) -> list[HciOperator]:
        body = {"idarea": _required(area_id, "area id")}
        return parse_operators(await self._read("POST", f"api/area/operator/{self._port}", body))

    # ------------------------------------------------------------------ contacts

    async def contacts_in_area(self, area_id: str) -> list[HciContact]:
        body = {"number": self._manager(), "area": _required(area_id, "area id")}
        return parse_contacts(await self._read("POST", "api/user/contact/area", body))

    async def contact(self, number: str) -> HciContact | None:
        """The manager's contact with this number, or None when HCI does not know it."""
        wanted = _digits(number)
        data = await self._read("POST", "api/user/contact/get", {"number": self._manager()})
        return next((c for c in parse_contacts(data) if c.number == wanted), None)

    async def messages(self, operator_id: str, contact_number: str) -> list[HciMessage]:
        """The contact's chat, oldest first (`operator_id` "" for a contact nobody has)."""
        body = {
            "operatorId": operator_id.strip() or "0",
            "contactId": _number(contact_number),
        }
        return parse_messages(await self._read("POST", "api/chat/message", body))

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
        return parse_sent_id(data)

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
        return parse_sent_id(reply)

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
        return reply_data(response, path, write=False)

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
        return reply_data(response, path, write=True)


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
