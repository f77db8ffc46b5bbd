"""An offline emulator of the ITD Chile WhatsApp API v2, for tests.

`FakeItd` is a real aiohttp server on 127.0.0.1 (see `server.py`) that behaves the way seed 002
("Especificación de API WHATSAPP ITD Chile" v1.0) and `/work/shared/api/gateways.md` section B
describe the service: one pre-linked line per account, a header token, a credit counter that every
send spends, message keys (uuid4) whose status moves `MESSAGE QUEUED` → `SENT` → `READ`, received
messages served by `recievedWhatsapp` (sic) and pushed to the panel's webhooks, status changes
pushed too, files fetched from the URLs a send names, and the seed's exact envelopes and Spanish
messages. `url` is what the bot gets as ITD_API_URL (`…/api/v2/whatsapp`).

Message life cycle (offsets from the send, from `ItdTimeline`)::

    MESSAGE QUEUED ──sent_seconds──▶ SENT (sent_at) ──delivered_seconds──▶ SENT + delivered_at
                                                      ──read_seconds──▶ READ

Webhooks ("configured in the panel"): the plain attributes `incoming_hook_url` and
`status_hook_url`. While one is set, the emulator POSTs JSON to it from its own loop, with one
aiohttp `ClientSession` opened and closed with the server:

- `receive(...)` pushes the received record to `incoming_hook_url` (and keeps it for
  `recievedWhatsapp`);
- each status change of a sent message is pushed to `status_hook_url` as the seed's
  `{"sent_at":"dd/MM/yyyy HH:mm","status":"<word>","uuid":"…"}`, when the timeline reaches it
  (timers on the server loop; `age()` moves them too), in order, once each;
- `push_raw(kind, body)` sends any body (hostile ones included) to a hook.

Every attempt is recorded in `pushes` (a `Push`: kind, url, body, HTTP status or error) once its
answer came, that is just after the receiver answered.

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
- `sendWhatsapp` IMAGE and FILE: ITD must fetch `content` to deliver it, so right after accepting
  the send (a task on the server loop, not before the reply) the emulator GETs the URL (redirects
  followed, at most `fetch_max_bytes`) and records `fetched` (the body of a 2xx), `fetch_status`,
  `fetch_content_type` or `fetch_error` on the message. A failed fetch does not change the
  message's status (the seed has no word for it). LINK is not fetched.
- `statusWhatsappByKey`: `sent_at`/`delivered_at` are null until they happen; dates use the
  seed's `yyyy-MM-dd HH:mm:ss.S` in local time. A missing `key` → 400 "Introduzca parámetro key",
  an empty one → 400 BAD PARAMETERS, an unknown one → 503 INVALID_MESSAGE.
- `creditsWhatsapp` answers `data` as a number (the seed's example) or, with
  `credits_as="string"`, as a string (the seed's type column).
- `recievedWhatsapp` needs `senderPhone` (the contact), `sendAt` (`ddMMyyyy`, local date of the
  message) and an integer `top` (missing or not an integer: 400 BAD PARAMETERS); it answers the
  newest `top` matches first with the merged record of gateways.md B.2; none → 503 NO WHATSAPP
  MESSAGES.
- The incoming push is B.3's record in the seed's key order, plus `senderName` and `senderType`
  (B.2 has them) after `senderPhone`, then `mimetype` for a file and `location_name` for a
  location. `content` is the text of a chat and empty for anything else (the caption is in
  `caption`); `lat`/`lng` are strings, empty unless a location; `thumb` (a base64 preview) is
  never sent. `sendAt` is epoch milliseconds.
- Files of received messages are served by the emulator itself, unauthenticated (like the seed's
  `content.itdchile.cl` links), at `/files/<hex>/<name>` on its own origin: that URL is `url`.
- A group message (`receive(..., group=<id>)`) has `senderType` "group", the group's id in
  `senderPhone` and `senderName` as given: ITD (Waboxapp's contact is the chat) does not say which
  member wrote.
- Status pushes carry SENT and READ; MESSAGE QUEUED (the state the send's reply implies) is pushed
  only with `ItdTimeline.push_queued`, so by default no push can beat the send's reply to the bot.
  delivered_at changes no word, so it is not pushed. `sent_at` is the SENT moment (the acceptance
  for MESSAGE QUEUED), local time. A hook URL is read when the change happens: a change while
  `status_hook_url` is None is never pushed later.
- Delivery: each hook has one queue, sent in order. A push that fails (no connection, timeout,
  any non-2xx answer) is tried again after `push_retry_seconds`, `push_attempts` tries in all;
  the queue waits meanwhile, so a later push never overtakes an earlier one.
- JSON replies are compact with the seed's key order; any exception in a handler becomes a 500
  with a plain-text body.

Thread-safety: all state lives on the server's event loop and handlers never await while changing
it; knobs called from another thread run there through `BackgroundServer.call`, and none of them
waits for a push (the receiver may be a bot on the test's own loop). `timeline`, `credits_as`, the
hook URLs and the push/fetch settings are plain attributes that can be set from anywhere.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid as uuid_module
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
from aiohttp import web

from tests.fakes import emulator

ITD_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJpdGQtdGVzdCJ9.aXRkLWZha2Utc2lnbmF0dXJl"
BASE_PATH = "/api/v2/whatsapp"
FILES_PATH = "/files"  # where the emulator serves the files of received messages [H]
CONTENT_TYPES = ("TEXT", "IMAGE", "LINK", "FILE")
FETCHED_TYPES = ("IMAGE", "FILE")  # what ITD has to download to deliver
# The appendix's message types (any other word can be given to `receive`, to test the unknown).
MESSAGE_TYPES = ("chat", "image", "video", "document", "audio", "ptt", "sticker", "location")

CreditsAs = Literal["int", "string"]
HookKind = Literal["incoming", "status"]
PushBody = dict[str, Any] | list[Any] | str | bytes  # dict and list are sent as JSON

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
    push_queued: bool = False  # also push MESSAGE QUEUED when the send is accepted


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
    # IMAGE/FILE: what fetching `content` gave (all None until the fetch is over).
    fetched: bytes | None = field(default=None, repr=False)  # the body of a 2xx answer
    fetch_status: int | None = None  # the HTTP status of the answer
    fetch_content_type: str | None = None
    fetch_error: str | None = None  # no answer (connection refused, …) or a body over the cap

    @property
    def international(self) -> str:
        return self.prefijo + self.phone

    @property
    def fetch_done(self) -> bool:
        return self.fetch_status is not None or self.fetch_error is not None


@dataclass(frozen=True)
class ReceivedRecord:
    """A message that reached the line: pushed to the reception hook, kept for recievedWhatsapp."""

    uuid: str
    account_phone: str
    sender_phone: str  # the contact, or the group's id
    sender_name: str
    content: str
    sent_at_ms: int  # epoch milliseconds
    message_type: str = "chat"
    sender_type: str = "user"
    caption: str = ""
    url: str = ""  # the file, served by the emulator
    mimetype: str = ""
    lat: str = ""
    lng: str = ""
    location_name: str = ""
    direction: int = 0  # 1: written by the account itself (on the phone)


@dataclass(frozen=True)
class Push:
    """One POST the emulator made to a hook; each retry is a record of its own."""

    kind: HookKind
    url: str
    body: PushBody  # as given: the record (a dict, sent as JSON), or `push_raw`'s body
    status: int | None  # the receiver's HTTP status; None when there was no answer
    error: str | None = None  # why there was no answer (ClientConnectorError, TimeoutError, …)
    answer: str = ""  # the start of the receiver's reply body
    attempt: int = 1  # 1 for the first try, 2 for the first retry, …

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class _Outgoing:
    kind: HookKind
    url: str
    body: PushBody
    content_type: str
    retry: bool


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


def _push_date(wall: float) -> str:
    """The status push's `26/12/2019 16:07` (dd/MM/yyyy HH:mm, local time)."""
    return time.strftime("%d/%m/%Y %H:%M", time.localtime(wall))


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
        incoming_hook_url: str | None = None,
        status_hook_url: str | None = None,
        push_attempts: int = 4,
        push_retry_seconds: float = 0.2,
        push_timeout: float = 5.0,
        fetch_max_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        super().__init__(RequestRecord, url_path=BASE_PATH)
        self.token = token
        self.auth_header = auth_header
        self.timeline = timeline or ItdTimeline()
        self.credits_as: CreditsAs = credits_as
        self.account_phone = account_phone
        # The panel's "URL DE RECEPCIÓN DE WHATSAPP" and "URL PARA NOTIFICACIÓN DE ESTADOS".
        self.incoming_hook_url = incoming_hook_url
        self.status_hook_url = status_hook_url
        self.push_attempts = push_attempts  # tries per push, the first included
        self.push_retry_seconds = push_retry_seconds  # the pause before a retry
        self.push_timeout = push_timeout  # per try; also per fetch of a sent file
        self.fetch_max_bytes = fetch_max_bytes
        self._credits = credits
        self._messages: dict[str, ItdMessage] = {}
        self._received: list[ReceivedRecord] = []
        self._files: dict[str, tuple[bytes, str]] = {}  # file id → (bytes, mime)
        self._pushes: list[Push] = []
        self._pushed_words: dict[str, list[str]] = {}  # uuid → status words already due
        self._timers: dict[str, asyncio.TimerHandle] = {}  # uuid → the next status change
        self._queues: dict[HookKind, asyncio.Queue[_Outgoing]] = {
            "incoming": asyncio.Queue(),
            "status": asyncio.Queue(),
        }
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._methods: dict[str, Callable[[dict[str, str]], web.Response]] = {
            "sendWhatsapp": self._m_send,
            "statusWhatsappByKey": self._m_status,
            "creditsWhatsapp": self._m_credits,
            "recievedWhatsapp": self._m_received,
        }
        self._server.app.on_startup.append(self._open_pushes)
        self._server.app.on_cleanup.append(self._close_pushes)

    # ------------------------------------------------------------------ knobs

    def set_credits(self, credits: int) -> None:
        def apply() -> None:
            self._credits = credits

        self._on_loop(apply)

    @property
    def credits(self) -> int:
        return self._on_loop(lambda: self._credits)

    def age(self, key: str, seconds: float) -> None:
        """Move a message `seconds` further along its timeline (deterministic progress); the
        status changes it passes are pushed at once, in order."""

        def apply() -> None:
            message = self._get(key)
            message.sent_at_monotonic -= seconds
            message.sent_at_wall -= seconds
            self._advance(key)

        self._on_loop(apply)

    def receive(
        self,
        sender_phone: str,
        content: str = "",
        *,
        sender_name: str = "Tu nombre",
        at: float | None = None,
        message_type: str | None = None,
        file: tuple[bytes, str, str] | None = None,
        caption: str = "",
        group: str | None = None,
        lat: float | str | None = None,
        lng: float | str | None = None,
        location_name: str = "",
        from_me: bool = False,
    ) -> str:
        """A contact writes to the line; returns the message uuid. The record is served by
        recievedWhatsapp and pushed to `incoming_hook_url` when one is set.

        `file` is `(bytes, filename, mime)`: the emulator serves it on its own origin and puts
        that URL in the record. `message_type` defaults to "location" with `lat`/`lng`, else to
        the file's kind by its mime (image, video, audio, document), else "chat". `group` is a
        group's id: it becomes `senderPhone` (with `senderType` "group"). `from_me`: written by
        the account on the phone (`direction` 1).
        """
        url = mimetype = ""
        if file is not None:
            data, name, mimetype = file
            file_id = uuid_module.uuid4().hex
            url = f"{self._server.url}{FILES_PATH}/{file_id}/{quote(name, safe='')}"
            served = (data, mimetype)

            def serve() -> None:
                self._files[file_id] = served

            self._on_loop(serve)
        if message_type is None:
            message_type = _message_type(mimetype) if file is not None else "chat"
            if lat is not None and lng is not None:
                message_type = "location"
        record = ReceivedRecord(
            uuid=str(uuid_module.uuid4()),
            account_phone=self.account_phone,
            sender_phone=group if group is not None else sender_phone,
            sender_name=sender_name,
            content=content,
            sent_at_ms=int((time.time() if at is None else at) * 1000),
            message_type=message_type,
            sender_type="group" if group is not None else "user",
            caption=caption,
            url=url,
            mimetype=mimetype,
            lat="" if lat is None else str(lat),
            lng="" if lng is None else str(lng),
            location_name=location_name,
            direction=1 if from_me else 0,
        )

        def apply() -> None:
            self._received.append(record)
            if self.incoming_hook_url:
                self._enqueue("incoming", self.incoming_hook_url, _incoming_json(record))

        self._on_loop(apply)
        return record.uuid

    def push_raw(
        self,
        kind: HookKind,
        body: PushBody,
        *,
        url: str | None = None,
        content_type: str = "application/json",
        retry: bool = True,
    ) -> None:
        """Queue any body (dict and list go as JSON; str and bytes as they are) for the hook of
        `kind` (or `url`), behind the pushes already queued; it does not wait for the answer
        (see `pushes`). `retry=False`: one try, whatever the answer."""
        target = url or (self.incoming_hook_url if kind == "incoming" else self.status_hook_url)
        if not target:
            raise AssertionError(f"no {kind} hook URL is configured")
        self._on_loop(lambda: self._enqueue(kind, target, body, content_type, retry))

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

    @property
    def pushes(self) -> list[Push]:
        """Every push attempt, in the order they were answered (or failed). An attempt is
        recorded once its answer came, so a moment after the receiver answered it: a test waits
        for the record here, not for the receiver's side of it."""
        return self._on_loop(lambda: list(self._pushes))

    def pushes_of(self, kind: HookKind) -> list[Push]:
        return [p for p in self.pushes if p.kind == kind]

    def file_url(self, uuid: str) -> str:
        """The `url` of a received message (empty when it has no file)."""
        urls = self._on_loop(lambda: [r.url for r in self._received if r.uuid == uuid])
        if not urls:
            raise AssertionError(f"the fake received no message {uuid!r}")
        return urls[0]

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
        if request.path.startswith(FILES_PATH + "/"):
            return self._file(request)
        return self._dispatch(request, fields, bad_body)

    def _file(self, request: web.Request) -> web.Response:
        """GET `/files/<hex>/<name>`: the file of a received message (the name is decoration)."""
        found = self._files.get(request.path.removeprefix(FILES_PATH + "/").split("/", 1)[0])
        if found is None:
            return web.Response(status=404, text="404: Not Found")
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, text="405: Method Not Allowed")
        data, mime = found
        return web.Response(body=data, headers={"Content-Type": mime})

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
        if content_type in FETCHED_TYPES:
            self._spawn(self._fetch(key, content.strip()))
        self._advance(key)
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

    # ------------------------------------------------------------------ status changes

    def _status_plan(self) -> list[tuple[str, float]]:
        """The pushed status words and when each is due (seconds after the send)."""
        tl = self.timeline
        plan = [("MESSAGE QUEUED", 0.0)] if tl.push_queued else []
        plan.append(("SENT", tl.sent_seconds))
        if tl.read_seconds is not None:
            plan.append(("READ", tl.read_seconds))
        return plan

    def _advance(self, key: str) -> None:
        """Push every status change of message `key` that is due and not pushed yet, in order,
        then set a timer for the next one. Runs on the server loop."""
        message = self._messages.get(key)
        if message is None or self._stopped:
            return
        handle = self._timers.pop(key, None)
        if handle is not None:
            handle.cancel()
        done = self._pushed_words.setdefault(key, [])
        elapsed = time.monotonic() - message.sent_at_monotonic
        for word, due in self._status_plan():
            if word in done:
                continue
            if elapsed < due:
                self._timers[key] = self._server.loop.call_later(due - elapsed, self._advance, key)
                return
            done.append(word)
            if self.status_hook_url:
                self._enqueue("status", self.status_hook_url, self._status_push(message, word))

    def _status_push(self, message: ItdMessage, word: str) -> dict[str, Any]:
        sent = message.sent_at_wall + (
            0.0 if word == "MESSAGE QUEUED" else self.timeline.sent_seconds
        )
        return {"sent_at": _push_date(sent), "status": word, "uuid": message.uuid}  # seed order

    # ------------------------------------------------------------------ pushes and fetches

    def _enqueue(
        self,
        kind: HookKind,
        url: str,
        body: PushBody,
        content_type: str = "application/json",
        retry: bool = True,
    ) -> None:
        self._queues[kind].put_nowait(_Outgoing(kind, url, body, content_type, retry))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open_pushes(self, _app: web.Application) -> None:
        self._session = aiohttp.ClientSession()
        for kind in self._queues:
            self._spawn(self._push_worker(kind))

    async def _close_pushes(self, _app: web.Application) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _push_worker(self, kind: HookKind) -> None:
        queue = self._queues[kind]
        while True:
            outgoing = await queue.get()
            try:
                await self._deliver(outgoing)
            except Exception as exc:  # a body that cannot be sent: recorded, the queue goes on
                self._pushes.append(
                    Push(outgoing.kind, outgoing.url, outgoing.body, None, type(exc).__name__)
                )

    async def _deliver(self, out: _Outgoing) -> None:
        """POST one push, with its retries (the hook's queue waits meanwhile)."""
        assert self._session is not None
        if isinstance(out.body, dict | list):
            data = _compact(out.body).encode()
        else:
            data = out.body.encode() if isinstance(out.body, str) else out.body
        attempts = 1 if not out.retry else max(1, self.push_attempts)
        for attempt in range(1, attempts + 1):
            status: int | None = None
            error: str | None = None
            answer = ""
            try:
                async with self._session.post(
                    out.url,
                    data=data,
                    headers={"Content-Type": out.content_type},
                    timeout=aiohttp.ClientTimeout(total=self.push_timeout),
                ) as response:
                    status = response.status
                    answer = (await response.content.read(1000)).decode(errors="replace")
            except Exception as exc:  # recorded, then tried again
                error = type(exc).__name__
            push = Push(out.kind, out.url, out.body, status, error, answer, attempt)
            self._pushes.append(push)
            if push.ok:
                return
            if attempt < attempts:
                await asyncio.sleep(self.push_retry_seconds)

    async def _fetch(self, key: str, url: str) -> None:
        """What ITD does with an IMAGE/FILE send: download `content` (see the docstring)."""
        assert self._session is not None
        status: int | None = None
        mime: str | None = None
        error: str | None = None
        body = bytearray()
        try:
            async with self._session.get(
                url, timeout=aiohttp.ClientTimeout(total=self.push_timeout)
            ) as response:
                status = response.status
                mime = response.headers.get("Content-Type")
                async for chunk in response.content.iter_chunked(65536):
                    body.extend(chunk)
                    if len(body) > self.fetch_max_bytes:
                        error = f"over {self.fetch_max_bytes} bytes"
                        break
        except Exception as exc:  # recorded on the message
            error = type(exc).__name__
        message = self._messages.get(key)
        if message is None:
            return
        message.fetch_status = status
        message.fetch_content_type = mime
        message.fetch_error = error
        ok = status is not None and 200 <= status < 300 and error is None
        message.fetched = bytes(body) if ok else None


def _message_type(mime: str) -> str:
    """A file's message type by its mime: image, video, audio or document."""
    major = mime.split("/", 1)[0].lower()
    return {"image": "image", "video": "video", "audio": "audio"}.get(major, "document")


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
        "direction": record.direction,
        "messageType": record.message_type,
        "comments": "READ",
    }


def _incoming_json(record: ReceivedRecord) -> dict[str, Any]:
    """The reception push of gateways.md B.3, in the seed's key order (see the docstring)."""
    body: dict[str, Any] = {
        "uuid": record.uuid,
        "accountPhone": record.account_phone,
        "senderPhone": record.sender_phone,
        "senderName": record.sender_name,
        "senderType": record.sender_type,
        "content": record.content,
        "sendAt": record.sent_at_ms,
        "messageType": record.message_type,
        "caption": record.caption,
        "url": record.url,
        "title": "",
        "description": "",
        "lng": record.lng,
        "lat": record.lat,
        "direction": record.direction,
    }
    if record.mimetype:
        body["mimetype"] = record.mimetype
    if record.message_type == "location":
        body["location_name"] = record.location_name
    return body


def _copy(message: ItdMessage) -> ItdMessage:
    return replace(message, fields=dict(message.fields))
