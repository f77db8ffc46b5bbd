"""An offline emulator of the ITD Chile WhatsApp API v2, for tests.

`FakeItd` is a real aiohttp server on 127.0.0.1 (see `server.py`) that behaves the way seed 002
("Especificación de API WHATSAPP ITD Chile" v1.0) and `/work/shared/api/gateways.md` section B
describe the service: one pre-linked line per account, a header token, a credit counter that every
send spends, message keys (uuid4) whose status moves `MESSAGE QUEUED` → `SENT` → `READ`, received
messages served by `recievedWhatsapp` (sic), and the seed's exact envelopes and Spanish messages.
`url` is what the bot gets as ITD_API_URL (`…/api/v2/whatsapp`).

Message life cycle (offsets from the send, from `ItdTimeline`)::

    MESSAGE QUEUED ──sent_seconds──▶ SENT (sent_at) ──delivered_seconds──▶ SENT + delivered_at
                                                      ──read_seconds──▶ READ

Hypotheses ([H]) chosen where the seed has no evidence:

- The token travels in `Authorization: Bearer <token>` (the seed's page on it is missing); with
  `auth_header` set to another name, that header carries the bare token. Missing or wrong: 401
  with the seed's UNAUTHORIZED envelope. The token is checked before the Content-Type.
- Every method answers GET (parameters in the query string) and POST. A POST whose Content-Type
  is not `application/json` (parameters allowed) gets 415 with an **empty body**. A POST body that
  is not a JSON object gets 400 BAD PARAMETERS. POST fields win over query fields of the same name.
  Other verbs: 405 `{"message":"METHOD NOT ALLOWED","statusApi":"METHOD_NOT_ALLOWED","code":405}`.
- Unknown method (names are case-sensitive, `recievedWhatsapp` keeps its misspelling): 404
  `{"message":"NOT FOUND","statusApi":"NOT_FOUND","code":404}`.
- `sendWhatsapp` checks, in order: `content_type` (400 with the seed's content_type sentence),
  `content` and `phone` non-empty and `phone`/`prefijo` made of digits (400 BAD PARAMETERS), then
  credits (502 NOT_CREDITS at 0). A send costs 1 credit (`credit_usage` 1). JSON numbers are
  accepted where strings are documented (`"prefijo": 56`).
- `statusWhatsappByKey`: `sent_at`/`delivered_at` are null until they happen; dates use the
  seed's `yyyy-MM-dd HH:mm:ss.S` in local time. A missing `key` → 400 "Introduzca parámetro key",
  an empty one → 400 BAD PARAMETERS, an unknown one → 503 INVALID_MESSAGE.
- `creditsWhatsapp` answers `data` as a number (the seed's example) or, with
  `credits_as="string"`, as a string (the seed's type column).
- `recievedWhatsapp` needs `senderPhone` (the contact), `sendAt` (`ddMMyyyy`, local date of the
  message) and an integer `top` (missing or not an integer: 400 BAD PARAMETERS); it answers the
  newest `top` matches first with the merged record of gateways.md B.2; none → 503 NO WHATSAPP
  MESSAGES.
- The status and reception webhooks (configured in ITD's panel) are not emulated.
- JSON replies are compact with the seed's key order; any exception in a handler becomes a 500
  with a plain-text body.

Thread-safety: all state lives on the server's event loop and handlers never await while changing
it; knobs called from another thread run there through `BackgroundServer.call`. `timeline` and
`credits_as` are plain attributes that can be set from anywhere.
"""

from __future__ import annotations

import json
import time
import uuid as uuid_module
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from aiohttp import web

from tests.fakes import emulator

ITD_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJpdGQtdGVzdCJ9.aXRkLWZha2Utc2lnbmF0dXJl"
BASE_PATH = "/api/v2/whatsapp"
CONTENT_TYPES = ("TEXT", "IMAGE", "LINK", "FILE")

CreditsAs = Literal["int", "string"]

# The seed's envelopes, word for word.
UNAUTHORIZED = {"message": "UNAUTHORIZED", "statusApi": "UNAUTHORIZED", "code": 401}
BAD_PARAMETERS = {"message": "BAD PARAMETERS", "statusApi": "BAD_REQUEST", "code": 400}
BAD_CONTENT_TYPE = {
    "message": "Parámetro 'content_type' solo puede ser TEXT, IMAGE, LINK o FILE",
    "statusApi": "BAD_REQUEST",
    "code": 400,
}
MISSING_KEY = {"message": "Introduzca parámetro key", "statusApi": "BAD_REQUEST", "code": 400}
NOT_CREDITS = {"message": "NOT ENOUGH CREDITS", "statusApi": "NOT_CREDITS", "code": 502}
MESSAGE_NOT_FOUND = {
    "message": "WHATSAPP MESSAGE NOT FOUND",
    "statusApi": "INVALID_MESSAGE",
    "code": 503,
}
MISSING_SENDER = {
    "message": "Parámetro senderPhone es necesario.",
    "statusApi": "BAD_REQUEST",
    "code": 400,
}
BAD_SEND_AT = {
    "message": "Parámetro sendAt es necesario y en formato ddMMyyyy ejemplo: 16081997",
    "statusApi": "BAD_REQUEST",
    "code": 400,
}
NO_MESSAGES = {"message": "NO WHATSAPP MESSAGES", "statusApi": "INVALID_MESSAGE", "code": 503}
# [H] envelopes the seed does not show.
NOT_FOUND = {"message": "NOT FOUND", "statusApi": "NOT_FOUND", "code": 404}
METHOD_NOT_ALLOWED = {
    "message": "METHOD NOT ALLOWED",
    "statusApi": "METHOD_NOT_ALLOWED",
    "code": 405,
}
# What a proxy that cut the connection mid-body leaves behind.
TRUNCATED_JSON = b'{"statusApi":"OK","code":200,"da'


@dataclass
class ItdTimeline:
    """When a sent message changes state, in seconds after the send (tests use tiny values)."""

    sent_seconds: float = 2.0  # MESSAGE QUEUED → SENT (sent_at)
    delivered_seconds: float = 5.0  # delivered_at appears (status stays SENT)
    read_seconds: float | None = 30.0  # → READ; None: never read


@dataclass
class ItdMessage:
    """One accepted `sendWhatsapp`. `message()` hands out copies."""

    uuid: str
    content_type: str
    content: str
    phone: str  # national part, as sent
    prefijo: str  # country code ("56" when not sent)
    caption: str
    description: str
    url_thumb: str
    fields: dict[str, str]  # everything received (query, then body)
    sent_at_monotonic: float  # when the send was accepted (moved back by `age`)
    sent_at_wall: float  # time.time() of the same moment

    @property
    def international(self) -> str:
        return self.prefijo + self.phone


@dataclass(frozen=True)
class ReceivedRecord:
    """A message that reached the line (served by recievedWhatsapp)."""

    uuid: str
    account_phone: str
    sender_phone: str
    sender_name: str
    content: str
    sent_at_ms: int  # epoch milliseconds
    message_type: str = "chat"
    sender_type: str = "user"


@dataclass(frozen=True)
class RequestRecord(emulator.RequestRecord):
    fields: dict[str, str] = field(default_factory=dict)  # JSON body fields (POST)
    content_type: str = ""


def _compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_compact)


def _itd_date(wall: float) -> str:
    """The seed's `2020-04-16 10:26:13.0` (local time, tenths of a second)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall))
    return f"{stamp}.{int((wall % 1) * 10)}"


class _BadBody(Exception):
    """The POST body is not a JSON object."""


class FakeItd(emulator.Emulator[RequestRecord]):
    """The ITD Chile emulator; `url` is the API base (`…/api/v2/whatsapp`)."""

    malformed_body = TRUNCATED_JSON

    def __init__(
        self,
        *,
        token: str = ITD_TOKEN,
        auth_header: str = "Authorization",
        credits: int = 100,
        timeline: ItdTimeline | None = None,
        credits_as: CreditsAs = "int",
        account_phone: str = "56123456789",
    ) -> None:
        super().__init__(RequestRecord, url_path=BASE_PATH)
        self.token = token
        self.auth_header = auth_header
        self.timeline = timeline or ItdTimeline()
        self.credits_as: CreditsAs = credits_as
        self.account_phone = account_phone
        self._credits = credits
        self._messages: dict[str, ItdMessage] = {}
        self._received: list[ReceivedRecord] = []
        self._methods: dict[str, Callable[[dict[str, str]], web.Response]] = {
            "sendWhatsapp": self._m_send,
            "statusWhatsappByKey": self._m_status,
            "creditsWhatsapp": self._m_credits,
            "recievedWhatsapp": self._m_received,
        }

    # ------------------------------------------------------------------ knobs

    def set_credits(self, credits: int) -> None:
        def apply() -> None:
            self._credits = credits

        self._on_loop(apply)

    @property
    def credits(self) -> int:
        return self._on_loop(lambda: self._credits)

    def age(self, key: str, seconds: float) -> None:
        """Move a message `seconds` further along its timeline (deterministic progress)."""

        def apply() -> None:
            message = self._get(key)
            message.sent_at_monotonic -= seconds
            message.sent_at_wall -= seconds

        self._on_loop(apply)

    def receive(
        self,
        sender_phone: str,
        content: str,
        *,
        sender_name: str = "Tu nombre",
        at: float | None = None,
    ) -> str:
        """A contact writes to the line; returns the message uuid (served by recievedWhatsapp)."""
        record = ReceivedRecord(
            uuid=str(uuid_module.uuid4()),
            account_phone=self.account_phone,
            sender_phone=sender_phone,
            sender_name=sender_name,
            content=content,
            sent_at_ms=int((time.time() if at is None else at) * 1000),
        )
        self._on_loop(lambda: self._received.append(record))
        return record.uuid

    # ------------------------------------------------------------------ what happened

    @property
    def sent(self) -> list[ItdMessage]:
        """Every accepted send, oldest first (copies)."""
        return self._on_loop(lambda: [_copy(m) for m in self._messages.values()])

    def message(self, key: str) -> ItdMessage:
        return self._on_loop(lambda: _copy(self._get(key)))

    def status_of(self, key: str) -> dict[str, Any]:
        """The `data` that statusWhatsappByKey would answer now."""
        return self._on_loop(lambda: self._status_data(self._get(key)))

    def _get(self, key: str) -> ItdMessage:
        try:
            return self._messages[key]
        except KeyError:
            raise AssertionError(f"the fake sent no message {key!r}") from None

    # ------------------------------------------------------------------ HTTP

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        fields: dict[str, str] = {}
        bad_body = False
        if request.method == "POST" and request.content_type == "application/json":
            try:
                fields = _json_fields(raw)
            except _BadBody:
                bad_body = True
        content_type = request.headers.get("Content-Type", "")
        faulty = await self._intake(request, fields=fields, content_type=content_type)
        if faulty is not None:
            return faulty
        return self._dispatch(request, fields, bad_body)

    def _authorised(self, request: web.Request) -> bool:
        value = request.headers.get(self.auth_header, "").strip()
        if self.auth_header.lower() == "authorization":
            scheme, _, credential = value.partition(" ")
            return scheme.lower() == "bearer" and credential.strip() == self.token
        return value == self.token

    def _dispatch(
        self, request: web.Request, body_fields: dict[str, str], bad_body: bool
    ) -> web.Response:
        path = request.path.rstrip("/")
        prefix, _, method_name = path.rpartition("/")
        method = self._methods.get(method_name) if prefix == BASE_PATH else None
        if method is None:
            return _json(NOT_FOUND, 404)
        if not self._authorised(request):
            return _json(UNAUTHORIZED, 401)
        if request.method not in ("GET", "POST"):
            return _json(METHOD_NOT_ALLOWED, 405)
        if request.method == "POST" and request.content_type != "application/json":
            return web.Response(status=415)  # empty body [H]
        if bad_body:
            return _json(BAD_PARAMETERS, 400)
        return method({**request.query, **body_fields})

    # ------------------------------------------------------------------ methods

    def _m_send(self, fields: dict[str, str]) -> web.Response:
        content_type = fields.get("content_type", "").strip()
        if content_type not in CONTENT_TYPES:
            return _json(BAD_CONTENT_TYPE, 400)
        content = fields.get("content", "")
        phone = fields.get("phone", "").strip()
        prefijo = fields.get("prefijo", "").strip() or "56"
        if not content.strip() or not phone.isdigit() or not prefijo.isdigit():
            return _json(BAD_PARAMETERS, 400)
        if self._credits <= 0:
            return _json(NOT_CREDITS, 502)
        self._credits -= 1
        key = str(uuid_module.uuid4())
        self._messages[key] = ItdMessage(
            uuid=key,
            content_type=content_type,
            content=content,
            phone=phone,
            prefijo=prefijo,
            caption=fields.get("caption", ""),
            description=fields.get("description", ""),
            url_thumb=fields.get("url_thumb", ""),
            fields=dict(fields),
            sent_at_monotonic=time.monotonic(),
            sent_at_wall=time.time(),
        )
        return _json({"uuid": key, "statusApi": "OK", "code": 200})

    def _m_status(self, fields: dict[str, str]) -> web.Response:
        if "key" not in fields:
            return _json(MISSING_KEY, 400)
        key = fields["key"].strip()
        if not key:
            return _json(BAD_PARAMETERS, 400)
        message = self._messages.get(key)
        if message is None:
            return _json(MESSAGE_NOT_FOUND, 503)
        return _json({"statusApi": "OK", "code": 200, "data": self._status_data(message)})

    def _status_data(self, message: ItdMessage) -> dict[str, Any]:
        tl = self.timeline
        elapsed = time.monotonic() - message.sent_at_monotonic
        status, sent_at, delivered_at = "MESSAGE QUEUED", None, None
        if elapsed >= tl.sent_seconds:
            status, sent_at = "SENT", _itd_date(message.sent_at_wall + tl.sent_seconds)
        if elapsed >= tl.delivered_seconds:
            delivered_at = _itd_date(message.sent_at_wall + tl.delivered_seconds)
        if tl.read_seconds is not None and elapsed >= tl.read_seconds:
            status = "READ"
        # The seed's key order.
        return {
            "sent_at": sent_at,
            "status": status,
            "delivered_at": delivered_at,
            "credit_usage": 1,
        }

    def _m_credits(self, _fields: dict[str, str]) -> web.Response:
        data: int | str = str(self._credits) if self.credits_as == "string" else self._credits
        return _json({"statusApi": "OK", "code": 200, "data": data})

    def _m_received(self, fields: dict[str, str]) -> web.Response:
        sender = fields.get("senderPhone", "").strip()
        if not sender:
            return _json(MISSING_SENDER, 400)
        send_at = fields.get("sendAt", "").strip()
        if len(send_at) != 8 or not send_at.isdigit():
            return _json(BAD_SEND_AT, 400)
        top_text = fields.get("top", "").strip()
        if not top_text.isdigit():
            return _json(BAD_PARAMETERS, 400)
        top = int(top_text)
        found = [
            r
            for r in reversed(self._received)
            if r.sender_phone == sender
            and time.strftime("%d%m%Y", time.localtime(r.sent_at_ms / 1000)) == send_at
        ][:top]
        if not found:
            return _json(NO_MESSAGES, 503)
        return _json({"statusApi": "OK", "code": 200, "data": [_received_json(r) for r in found]})


def _json_fields(raw: bytes) -> dict[str, str]:
    if not raw.strip():
        return {}  # `creditsWhatsapp` has nothing to send
    try:
        data = json.loads(raw)
    except ValueError:
        raise _BadBody from None
    if not isinstance(data, dict):
        raise _BadBody
    return emulator.text_fields(data)


def _received_json(record: ReceivedRecord) -> dict[str, Any]:
    """The merged record of gateways.md B.2, in the seed's key order."""
    return {
        "whatsappKey": "",
        "uuid": record.uuid,
        "accountPhone": record.account_phone,
        "senderPhone": record.sender_phone,
        "senderName": record.sender_name,
        "senderType": record.sender_type,
        "content": record.content,
        "createdAt": record.sent_at_ms,
        "sendAt": record.sent_at_ms,
        "direction": 0,
        "messageType": record.message_type,
        "comments": "READ",
    }


def _copy(message: ItdMessage) -> ItdMessage:
    return replace(message, fields=dict(message.fields))
