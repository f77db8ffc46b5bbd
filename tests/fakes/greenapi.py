"""An offline emulator of Green-API's WhatsApp HTTP API (api/gateways.md, section A), for tests.

`FakeGreenApi` is a real aiohttp server on 127.0.0.1 (see `server.py`). Its `url` is the `apiUrl`
a person would copy from the Green-API console (and the instance's media host too); every call is
`/waInstance{id}/{method}/{token}`. Tests create instances with `add_instance()`, steer them with
knobs (`scan`, `enter_code`, `set_state`, `set_stale_auth`, `delete`, `expire`,
`set_message_status`, `set_settings`, `set_webhook_url`, `fail_next`, …) from their own thread,
make messages arrive (`receive_text`, `receive_file`, `receive_location`, `receive_contact`,
`receive_other`, `receive_call`, `phone_sent`, or a raw `push`), and read back what happened
(`sent`, `requests`, `instance(...)`, `notifications(...)`, `current_qr(...)`).

Instance life cycle (times come from `GreenTimeline`)::

    (body null) ──create_seconds──▶ starting ──start_seconds──▶ notAuthorized (QR #1, #2, … rotate)
                                       ▲                              │ scan() / enter_code()
          reboot / set_state("starting")│                              ▼
                                       └──────────────────────── authorized
    logout: any linked state ──▶ notAuthorized (account cleared, a new QR cycle)
    set_state("yellowCard" | "blocked" | "sleepMode" | "suspended" | any word): shown instead of
    "authorized" until reboot (blocked survives a reboot) or logout.

Notifications (A.9): each instance has a FIFO queue. `receiveNotification` answers its head as
`{"receiptId", "body"}` (again and again) until `deleteNotification/{token}/{receiptId}`; an empty
queue holds the call open up to `receiveTimeout` seconds, then answers `null`. What is queued:
`incomingMessageReceived` (the `receive_*` knobs), `incomingCall`, `outgoingMessageReceived`
(`phone_sent`), `outgoingAPIMessageReceived` and `outgoingMessageStatus` for every API send (at
the moments its journal status changes), and `stateInstanceChanged`, each behind its getSettings
switch.

Implemented methods (names case-insensitive, verbs per the official client, A.13):
GET getStateInstance, qr, getWaSettings, getSettings, lastOutgoingMessages, reboot, logout,
receiveNotification; DELETE deleteNotification; POST getAuthorizationCode, getContactInfo,
sendMessage, sendFileByUrl, sendFileByUpload (multipart). Files uploaded or received are served at
`GET /media/<key>/<file name>` on the same server.
Not emulated: webhook pushes (a `webhookUrl` only stops the queue), the partner API, uploadFile,
downloadFile, checkWhatsapp, setSettings (`set_settings` is the test's knob).

Hypotheses ([H]) chosen where gateways.md has no evidence:

- Routing order: fault knobs; path shape (else 404 `Not Found`); idInstance not digits (400
  `Parameter idInstance not an integer`); empty token segment (400 `Parameter apiTokenInstance not
  define`); unknown id (403 `Forbidden`); bad token (401 `Unauthorized`); unknown method, wrong
  verb or an extra path segment (404 `Not Found`); deleted/expired instance (400 with the
  documented text); rate limit (429 `Too Many Requests`); then the method. All of those bodies are
  `text/plain`. A trailing slash after the token is ignored.
- Ids start at 1101000001 (the docs' samples); tokens are 50 lower-case hex characters.
- QR content is whatsmeow's `2@<ref>,<noise key>,<identity key>,<adv secret>`: base64 of 48, 32,
  32 and 32 random bytes, rendered as a PNG of about 256 px (border 4). QRs rotate every
  `qr_rotate_seconds` for ever (the HTTP `qr` has no documented expiry); a QR slot nobody looked at
  is skipped, so `qrs` lists only QRs that existed.
- `qr` while the body is `null` or `starting`: 400 `instance in starting process try later`; the
  same for sends and getAuthorizationCode. getContactInfo needs a linked account, else 400
  `instance account not authorized`. getStateInstance, getWaSettings, getSettings, logout, reboot
  and lastOutgoingMessages answer in every state.
- Sends while not linked (notAuthorized or an override such as yellowCard) are accepted and stay
  `pending` until the instance can send (the docs' 24 h queue; expiry not modelled).
- Validation failures are 400 `Bad Request Validation failed. Details: <Joi-like text>`, using the
  documented detail texts. Unknown body fields are refused (`'x' is not allowed`); the allowed sets
  are the documented parameters. The file name must end in `.ext` (1–10 letters/digits). `urlFile`
  must be http(s). `phoneNumber` and `minutes` must be JSON integers / query digits. A body that is
  not JSON gives 400 `Unexpected token <c> in JSON at position <n>`; JSON that is not an object
  gives 400 `bad request data`.
- chatId: `[1-9]\\d{4,14}@c.us`, `\\d+-\\d+@g.us` or `\\d{18}@g.us`.
- idMessage: `BAE5` + 12 upper-case hex. The journal lists the newest first and holds `type`,
  `idMessage`, `timestamp`, `typeMessage`, `chatId`, `statusMessage`, `sendByApi`, plus
  `textMessage` (text) or `downloadUrl`, `caption`, `fileName`, `mimeType` (files).
- Statuses: `pending` → (`send_seconds`) `sent` → (`deliver_seconds`) `delivered` →
  (`read_seconds`) `read`; to a `no_account` number: `pending` → `noAccount`; to the account's
  own number it stays `sent` (documented). `set_message_status` forces any word.
- Pairing code: 8 characters from WhatsApp's linking alphabet, no dash, valid `code_seconds`.
  `status: false` (with `code: ""`) when linked or stale (400 `starting` text while starting).
- getWaSettings: the newer revision (`chatId` = `<15 digits>@lid`, `historySyncProgress`,
  `logoutProcess` false); `stateInstance` is null while the body of getStateInstance is null.
- getContactInfo on the account's own wid returns the name given to `scan`/`enter_code`; others
  come from `contacts` (digits → name), else "".
- logout answers `{"isLogout": true}` in every state and unlinks at once (even while `starting`;
  a no-op while the body is still `null`); it clears the account, any override and stale auth.
  reboot answers `{"isReboot": true}` (a no-op while `null`), clears `yellowCard`/`sleepMode`/…
  but not `blocked`, and returns to the same link state after `start_seconds`.
- `qr` on a linked instance answers `alreadyLogged`, whatever override word is shown.
- `pendingPassword` (Green's non-WhatsApp products) is not emulated except as a `set_state` word.
- Rate limits (`rate_limits=True`): a sliding 1 s window per instance and method with the A.12
  numbers (getAuthorizationCode, not listed, gets 1/s); refused calls do not count; no
  Retry-After header (not documented; `fail_next(headers=…)` can send one).
- Quota (`quota_correspondents=N`): the Developer plan's monthly correspondents. Sending to an
  (N+1)th distinct chat gives 466 with the documented body; sends to known chats still pass.
- Any exception in a handler becomes a 500 with a plain-text body; the server never dies.
- receiveNotification answers in every state of the instance. `receiveTimeout` is clamped to at
  most 60 s but, unlike Green (5–60 s), also taken below 5 down to 0 (an immediate answer), so
  tests stay fast; without it the wait is 5 s; a value that is not digits gives 400
  `… 'receiveTimeout' must be a number`. While `webhookUrl` is set it answers `null` at once.
  A held poll answers as soon as something is queued, and `null` when the server stops.
- receiptIds count from 1 per instance. deleteNotification takes any receiptId still queued (not
  only the head) → `{"result": true}`; unknown or already deleted → `{"result": false}`; a
  missing or non-numeric one → 400 `Parameter receiptId must be a Number`.
- Switches (getSettings, all "yes"/"no"): incomingWebhook gates incoming messages (and, with
  incomingCallWebhook, calls); outgoingMessageWebhook gates `phone_sent`;
  outgoingAPIMessageWebhook gates `outgoingAPIMessageReceived`; outgoingWebhook gates statuses,
  except `failed` and `noAccount` which always come (A.8); stateWebhook gates
  `stateInstanceChanged` and is "yes" by default. `push` ignores every switch.
- For each API send, once its status leaves `pending`: `outgoingAPIMessageReceived`, then one
  `outgoingMessageStatus` per journal status (`sent`, `delivered`, `read`; or the one final word),
  each timestamped when it happened. They are computed from the timeline whenever the queue is
  touched (and a held poll wakes when the next one is due), so they keep the order of events.
  `set_message_status` queues its word at once and ends the walk. Statuses carry
  `sendByApi: true` and no `description`.
- stateInstanceChanged is queued when the shown state word changes through scan, enter_code,
  logout, reboot (and the end of its restart), set_state and set_stale_auth. An instance made
  linked by `add_instance(phone=…)`, and the first start after creation, queue nothing.
- Incoming ids are `3EB0` + 16 upper-case hex; `senderContactName` comes from `contacts`.
  Incoming media are served by the emulator; `download_url=` puts any other URL in the message.
- sendFileByUpload: multipart fields `file` (required, non-empty, with a filename), `chatId`,
  optional `fileName` (default: the part's filename; an extension is required), `caption`,
  `quotedMessageId`, `typingTime`, `typingType`. It answers `{"idMessage", "urlFile"}`, the
  `urlFile` being where the emulator serves the bytes. A JSON body lacks `file`: 400
  `… 'file' is required`; a broken multipart body: 400 `bad request data`.

Thread-safety: instance state lives on the server's event loop and handlers never await while
changing it (the long poll awaits only between complete looks at the queue); knobs called from
another thread run there through `BackgroundServer.call`. Plain attributes (`timeline`,
`rate_limits`, `quota_correspondents`, `no_account`, `contacts`) can be set from the test between
calls.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import inspect
import io
import json
import mimetypes
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import quote

import qrcode
from aiohttp import BodyPartReader, web

from tests.fakes import emulator

FIRST_INSTANCE_ID = 1101000001
DEFAULT_PHONE = "79990000000"
DEFAULT_NAME = "Test User"
PEER_PHONE = "79001234567"  # who writes to the account in the `receive_*` knobs
PEER_NAME = "Ivan"

# Documented error texts (A.11), answered as text/plain.
STARTING = "instance in starting process try later"
NOT_AUTHORIZED = "instance account not authorized"
EXPIRED = "Instance account is expired. Renew your instance from personal area"
DELETED = "Instance is deleted"
VALIDATION = "Bad Request Validation failed. Details: {}"
CHAT_ID_FORMAT = "'chatId' must be one of the next formats: 'phone_number@c.us' or 'group_id@g.us'"
STALE_AUTH = "Instance has auth. You need to make log out"
ALREADY_LOGGED = "instance account already authorized"
RECEIPT_NOT_A_NUMBER = "Parameter receiptId must be a Number"
DEFAULT_RECEIVE_TIMEOUT = 5
MAX_RECEIVE_TIMEOUT = 60
MAX_MESSAGE = 20000
MAX_UPLOAD = 100 * 1024 * 1024  # bytes of one uploaded file
# What a proxy that cut the connection mid-body leaves behind.
TRUNCATED_JSON = b'{"stateInstance":"autho'

# Requests per second per instance (A.12).
RATE_LIMITS: dict[str, int] = {
    "getstateinstance": 1,
    "getsettings": 1,
    "getwasettings": 1,
    "reboot": 1,
    "logout": 1,
    "lastoutgoingmessages": 1,
    "getcontactinfo": 1,
    "getauthorizationcode": 1,
    "qr": 3,
    "sendmessage": 50,
    "sendfilebyurl": 50,
    "sendfilebyupload": 50,
    "receivenotification": 100,
    "deletenotification": 100,
}
_CODE_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"  # whatsmeow's linking-code alphabet
_CHAT_ID = re.compile(r"[1-9]\d{4,14}@c\.us|\d+-\d+@g\.us|\d{18}@g\.us")
_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,10})$")
_ROUTE = re.compile(r"/waInstance([^/]+)/([^/]+)/([^/]*)(?:/([^/]*))?/?")
_MEDIA = re.compile(r"/media/([0-9a-f]{16})/[^/]+")
_WITH_RECEIPT = {"deletenotification"}  # methods that take a path segment after the token
_FILE_MESSAGES = ("imageMessage", "videoMessage", "documentMessage", "audioMessage")
_IMAGE = {"jpg", "jpeg", "png", "gif", "webp"}
_VIDEO = {"mp4", "3gp", "mov", "avi", "mkv"}
_AUDIO = {"mp3", "ogg", "opus", "m4a", "aac", "wav"}


@dataclass
class GreenTimeline:
    """How long each slow phase lasts, in seconds (tests use tiny values)."""

    create_seconds: float = 2.0  # body `null` after add_instance (real: up to ~5 min)
    start_seconds: float = 2.0  # "starting" after creation, reboot, set_state (real: ≤ 5 min)
    qr_rotate_seconds: float = 20.0  # each QR's lifetime (A.2)
    code_seconds: float = 150.0  # a pairing code's lifetime (about 2.5 min, A.3)
    send_seconds: float = 0.5  # pending → sent, once the instance can send
    deliver_seconds: float = 1.0  # sent → delivered
    read_seconds: float = 2.0  # delivered → read


class Phase(StrEnum):
    CREATING = "creating"  # getStateInstance answers `null`
    STARTING = "starting"
    NOT_AUTHORIZED = "notAuthorized"  # QRs rotate; a pairing code can be asked for
    AUTHORIZED = "authorized"  # linked (an override word may be shown instead)


@dataclass
class Outgoing:
    """One message in the instance's outgoing journal."""

    id_message: str
    chat_id: str
    type_message: str
    fields: dict[str, Any]
    timestamp: int  # unix seconds, as the journal shows it
    created: float  # monotonic
    released: float | None = None  # when it left the queue (the instance could send)
    final: str = "read"  # where the status walk stops: read | noAccount | sent
    forced: str | None = None  # set_message_status()
    notified: int = 0  # how many of its notifications (`_steps`) are queued already


@dataclass
class Notification:
    """One item of an instance's notification queue."""

    receipt_id: int
    body: Any  # the notification (a dict, or anything a test pushed)
    at: float  # monotonic, when it was queued


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)


def default_settings() -> dict[str, Any]:
    """getSettings of a new instance (without `wid`, which follows the link)."""
    no, yes = "no", "yes"
    return {
        "countryInstance": "",
        "typeAccount": "",
        "webhookUrl": "",
        "webhookUrlToken": "",
        "delaySendMessagesMilliseconds": 1000,
        "markIncomingMessagesReaded": no,
        "markIncomingMessagesReadedOnReply": no,
        "outgoingWebhook": yes,
        "outgoingMessageWebhook": yes,
        "outgoingAPIMessageWebhook": yes,
        "incomingWebhook": yes,
        "deviceWebhook": no,
        "statusInstanceWebhook": no,
        "stateWebhook": yes,
        "enableMessagesHistory": no,
        "keepOnlineStatus": no,
        "pollMessageWebhook": no,
        "incomingBlockWebhook": yes,
        "incomingCallWebhook": yes,
        "editedMessageWebhook": no,
        "deletedMessageWebhook": no,
    }


@dataclass
class GreenInstance:
    """One instance. `instance()` hands out deep copies of these."""

    id: int
    token: str
    phase: Phase = Phase.CREATING
    phase_started: float = 0.0  # monotonic
    after_starting: Phase = Phase.NOT_AUTHORIZED
    override: str | None = None  # shown instead of "authorized": yellowCard, blocked, …
    stale_auth: bool = False  # qr answers "Instance has auth…" until logout
    deleted: bool = False
    expired: bool = False
    phone: str = ""
    name: str = ""
    lid: str = ""
    qrs: list[str] = field(default_factory=list)  # every QR content shown, oldest first
    qr_slot: int = -1
    code: str = ""
    code_phone: str = ""
    code_issued: float = 0.0
    correspondents: list[str] = field(default_factory=list)  # distinct chats sent to
    invocations: dict[str, int] = field(default_factory=dict)  # per method, for the 466 body
    outgoing: list[Outgoing] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=default_settings)
    queue: list[Notification] = field(default_factory=list)  # notifications, oldest first
    next_receipt: int = 1
    deleted_receipts: list[int] = field(default_factory=list)  # by deleteNotification, in order
    announce_restart: bool = False  # the end of this `starting` is a stateInstanceChanged

    def switched_on(self, name: str) -> bool:
        return self.settings.get(name) == "yes"

    @property
    def state_word(self) -> str | None:
        if self.phase is Phase.CREATING:
            return None
        if self.phase is Phase.AUTHORIZED and self.override:
            return self.override
        return self.phase.value

    @property
    def linked(self) -> bool:
        return self.phase is Phase.AUTHORIZED

    @property
    def can_send(self) -> bool:
        return self.phase is Phase.AUTHORIZED and self.override is None


@dataclass(frozen=True)
class SentMessage:
    instance_id: int
    method: str  # "sendMessage" | "sendFileByUrl" | "sendFileByUpload"
    chat_id: str
    id_message: str
    fields: dict[str, Any]  # the JSON body (or the multipart text fields) as received
    queued: bool  # the instance could not send at that moment
    at: float  # monotonic
    data: bytes | None = field(default=None, repr=False)  # sendFileByUpload: the file's bytes
    upload: Upload | None = None  # sendFileByUpload: the file part as received
    url_file: str | None = None  # sendFileByUpload: where the emulator serves the bytes

    @property
    def message(self) -> str | None:
        value = self.fields.get("message")
        return value if isinstance(value, str) else None

    @property
    def quoted(self) -> str | None:
        value = self.fields.get("quotedMessageId")
        return value if isinstance(value, str) else None

    @property
    def file_name(self) -> str | None:
        value = self.fields.get("fileName")
        if isinstance(value, str):
            return value
        return self.upload.filename if self.upload is not None else None


@dataclass(frozen=True)
class RequestRecord(emulator.RequestRecord):
    """`path` contains the token."""

    api_method: str  # the method segment, lower-cased ("" when the path has another shape)
    instance_id: str
    body: Any  # parsed JSON, the raw text when it is not JSON, a multipart form (str | Upload
    # per field), or None


class _BadRequest(Exception):
    """A 400 with this text/plain body."""


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


def _text(text: str, status: int) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


def _unexpected_token(raw: str, exc: json.JSONDecodeError) -> str:
    char = raw[exc.pos] if exc.pos < len(raw) else "end"
    return f"Unexpected token {char} in JSON at position {exc.pos}"


def _digits(phone: str) -> str:
    return re.sub(r"\D", "", phone)


def _unix(at: float) -> int:
    """A monotonic moment as unix seconds."""
    return int(time.time() - (time.monotonic() - at))


def _check_fields(body: dict[str, Any], allowed: Iterable[str], required: Iterable[str]) -> None:
    allowed = set(allowed)
    for key in body:
        if key not in allowed:
            raise _BadRequest(VALIDATION.format(f"'{key}' is not allowed"))
    for key in required:
        if key not in body or body[key] is None:
            raise _BadRequest(VALIDATION.format(f"'{key}' is required"))


def _check_chat_id(value: Any) -> str:
    if not isinstance(value, str) or not _CHAT_ID.fullmatch(value):
        raise _BadRequest(VALIDATION.format(CHAT_ID_FORMAT))
    return value


def _check_text(body: dict[str, Any], key: str) -> None:
    value = body.get(key)
    if value is None:
        return
    if not isinstance(value, str):
        raise _BadRequest(VALIDATION.format(f"'{key}' must be a string"))
    if len(value) > MAX_MESSAGE:
        raise _BadRequest(
            VALIDATION.format(f"'{key}' length must be less than or equal to 20000 characters long")
        )


def _type_of(file_name: str) -> tuple[str, str]:
    match = _EXTENSION.search(file_name)
    ext = match[1].lower() if match else ""
    mime = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
    if ext in _IMAGE:
        return "imageMessage", mime
    if ext in _VIDEO:
        return "videoMessage", mime
    if ext in _AUDIO:
        return "audioMessage", mime
    return "documentMessage", mime


async def _read_form(request: web.Request) -> dict[str, Any]:
    """A multipart/form-data body → field name → text, or `Upload` for a part with a filename."""
    form: dict[str, Any] = {}
    # aiohttp refuses parts over 1 MB by default; Green takes files up to 100 MB (A.6).
    reader = await request.clone(client_max_size=MAX_UPLOAD).multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ValueError("nested multipart")
        data = bytes(await part.read(decode=False))
        if part.filename is not None:
            content_type = part.headers.get("Content-Type", "")
            form[part.name or ""] = Upload(part.filename, content_type, data)
        else:
            form[part.name or ""] = data.decode("utf-8", "replace")
    return form


_Method = Callable[
    [GreenInstance, web.Request, dict[str, Any]], web.Response | Awaitable[web.Response]
]


class FakeGreenApi(emulator.Emulator[RequestRecord]):
    """The Green-API emulator; `url` is what a person types as apiUrl."""

    malformed_body = TRUNCATED_JSON
    fault_paths_ignore_case = True

    def __init__(
        self,
        *,
        timeline: GreenTimeline | None = None,
        rate_limits: bool = False,
        quota_correspondents: int | None = None,
        no_account: Iterable[str] = (),
        seed: int | None = None,
    ) -> None:
        super().__init__(RequestRecord)
        self.timeline = timeline or GreenTimeline()
        self.rate_limits = rate_limits
        self.quota_correspondents = quota_correspondents
        self.no_account: set[str] = set(no_account)  # digits: numbers without WhatsApp
        self.contacts: dict[str, str] = {}  # digits → name, for getContactInfo
        self._rng = random.Random(seed)
        self._instances: dict[int, GreenInstance] = {}
        self._sent: list[SentMessage] = []
        self._hits: dict[tuple[int, str], deque[float]] = {}
        self._png_cache: dict[str, str] = {}  # QR content → base64 PNG
        self._files: dict[str, tuple[bytes, str]] = {}  # media key → (bytes, content type)
        self._bells: dict[int, asyncio.Event] = {}  # instance id → wakes its held polls
        self._closing = False  # the server is stopping: held polls answer `null`
        # lower-cased method name → (HTTP verb, handler)
        self._methods: dict[str, tuple[str, _Method]] = {
            "getstateinstance": ("GET", self._m_state),
            "qr": ("GET", self._m_qr),
            "getwasettings": ("GET", self._m_wa_settings),
            "getsettings": ("GET", self._m_settings),
            "lastoutgoingmessages": ("GET", self._m_last_outgoing),
            "reboot": ("GET", self._m_reboot),
            "logout": ("GET", self._m_logout),
            "getauthorizationcode": ("POST", self._m_authorization_code),
            "getcontactinfo": ("POST", self._m_contact_info),
            "sendmessage": ("POST", self._m_send_message),
            "sendfilebyurl": ("POST", self._m_send_file_by_url),
            "sendfilebyupload": ("POST", self._m_send_file_by_upload),
            "receivenotification": ("GET", self._m_receive_notification),
            "deletenotification": ("DELETE", self._m_delete_notification),
        }

    # ------------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        if not self._started and not self._stopped:
            self._stopped = True
            self._server.loop.close()  # never ran: only the loop to free
            return
        if self._started and not self._stopped:
            self._on_loop(self._close_polls)  # held long polls answer now, not at their timeout
        super().stop()

    def _close_polls(self) -> None:
        self._closing = True
        for bell in self._bells.values():
            bell.set()
        self._bells.clear()

    # ------------------------------------------------------------------ knobs

    def add_instance(
        self, id: int | None = None, token: str | None = None, *, phone: str | None = None
    ) -> tuple[int, str]:
        """A new instance, still being created (`null`); with `phone`, already linked to it."""

        def apply() -> tuple[int, str]:
            new_id = (
                id if id is not None else max(self._instances, default=FIRST_INSTANCE_ID - 1) + 1
            )
            if new_id in self._instances:
                raise AssertionError(f"the fake already has instance {new_id}")
            inst = GreenInstance(id=new_id, token=token or self._rng.randbytes(25).hex())
            inst.lid = str(self._rng.randrange(10**14, 10**15))
            self._instances[new_id] = inst
            self._enter(inst, Phase.CREATING)
            if phone is not None:
                self._link(inst, phone, DEFAULT_NAME, time.monotonic())  # as if long ago: no news
            return inst.id, inst.token

        return self._on_loop(apply)

    def scan(
        self,
        instance_id: int,
        *,
        phone: str = DEFAULT_PHONE,
        name: str = DEFAULT_NAME,
        qr: str | None = None,
    ) -> None:
        """The phone scans the QR shown now (or checks that `qr` is that QR, if given)."""

        def apply() -> None:
            inst = self._get(instance_id)
            self._advance(inst)
            current = self._showing_qr(inst)
            if current is None:
                raise AssertionError(
                    f"instance {instance_id} shows no QR (state {inst.state_word!r}, "
                    f"stale auth {inst.stale_auth})"
                )
            if qr is not None and qr != current:
                stale = "an older QR of this instance" if qr in inst.qrs else "not a QR it issued"
                raise AssertionError(f"instance {instance_id}: the scanned QR is {stale}")
            before = inst.state_word
            self._link(inst, phone, name, time.monotonic())
            self._announce_change(inst, before)

        self._on_loop(apply)

    def enter_code(
        self, instance_id: int, code: str | None = None, *, name: str = DEFAULT_NAME
    ) -> None:
        """The person types the pairing code on the phone given to getAuthorizationCode."""

        def apply() -> None:
            inst = self._get(instance_id)
            self._advance(inst)
            now = time.monotonic()
            if inst.phase is not Phase.NOT_AUTHORIZED or not inst.code:
                raise AssertionError(f"instance {instance_id} has no pairing code out")
            if now - inst.code_issued >= self.timeline.code_seconds:
                raise AssertionError(f"instance {instance_id}: the pairing code has expired")
            if code is not None and code != inst.code:
                raise AssertionError(f"instance {instance_id}: wrong pairing code {code!r}")
            before = inst.state_word
            self._link(inst, inst.code_phone, name, now)
            self._announce_change(inst, before)

        self._on_loop(apply)

    def set_state(self, instance_id: int, state: str) -> None:
        """Force what getStateInstance says.

        `starting`: a maintenance restart (back to the same link state after start_seconds);
        `notAuthorized`: unlinked from the phone; `authorized`: clears any override (linking
        with the default phone if needed); any other word (`yellowCard`, `blocked`, `sleepMode`,
        `suspended`, or an unknown one): shown instead of `authorized`, linking first if needed.
        """

        def apply() -> None:
            inst = self._get(instance_id)
            self._advance(inst)
            now = time.monotonic()
            before = inst.state_word
            if state == "starting":
                self._restart(inst, keep_override=True)
            elif state == "notAuthorized":
                self._unlink(inst)
            else:
                if not inst.linked:
                    self._link(inst, DEFAULT_PHONE, DEFAULT_NAME, now)
                inst.override = None if state == "authorized" else state
                if inst.can_send:
                    self._release(inst, now)
            self._announce_change(inst, before)

        self._on_loop(apply)

    def set_stale_auth(self, instance_id: int, on: bool = True) -> None:
        """Green's "stale auth" trouble: notAuthorized, but `qr` says "Instance has auth…"."""

        def apply() -> None:
            inst = self._get(instance_id)
            self._advance(inst)
            before = inst.state_word
            if on and inst.linked:
                self._unlink(inst)
            inst.stale_auth = on
            self._announce_change(inst, before)

        self._on_loop(apply)

    def delete(self, instance_id: int) -> None:
        """The instance was deleted in the console: every method answers 400 `Instance is deleted`."""
        self._on_loop(lambda: setattr(self._get(instance_id), "deleted", True))

    def expire(self, instance_id: int, expired: bool = True) -> None:
        """The instance's tariff ran out: every method answers the 400 `…is expired…` text."""
        self._on_loop(lambda: setattr(self._get(instance_id), "expired", expired))

    def set_message_status(self, id_message: str, status: str) -> None:
        """Force a journal status (`failed`, `notInGroup`, anything), and queue its
        outgoingMessageStatus now (not for `pending`); the timeline's walk ends there."""

        def apply() -> None:
            for inst in self._instances.values():
                for message in inst.outgoing:
                    if message.id_message == id_message:
                        self._advance(inst)  # what was due before comes first
                        message.forced = status  # ends the walk: `_steps` is empty now
                        if status != "pending":
                            self._queue_status(inst, message, status, time.monotonic())
                        return
            raise AssertionError(f"the fake sent no message {id_message}")

        self._on_loop(apply)

    def set_settings(self, instance_id: int, **values: Any) -> None:
        """Change getSettings fields (`incomingWebhook="no"`, `stateWebhook="no"`, …) as the
        person would in the console; unknown names are refused."""

        def apply() -> None:
            inst = self._get(instance_id)
            unknown = set(values) - set(inst.settings)
            if unknown:
                raise AssertionError(f"getSettings has no {sorted(unknown)}")
            inst.settings.update(values)
            self._ring(inst)  # a held poll sees a new webhookUrl at once

        self._on_loop(apply)

    def set_webhook_url(self, instance_id: int, url: str) -> None:
        """Green pushes to this URL instead (not emulated): receiveNotification answers `null`."""
        self.set_settings(instance_id, webhookUrl=url)

    # ------------------------------------------------------------------ incoming knobs

    def receive_text(
        self,
        instance_id: int,
        *,
        phone: str = PEER_PHONE,
        text: str = "hi",
        sender_name: str = PEER_NAME,
        group: tuple[str, str] | None = None,
        timestamp: int | None = None,
        extended: bool = False,
        quoted_id: str | None = None,
    ) -> str:
        """`phone` writes to the account (in `group` = (group chat id, group name), if given):
        a textMessage, an extendedTextMessage, or with `quoted_id` a quotedMessage. Returns the
        idMessage."""

        def message_data(inst: GreenInstance) -> dict[str, Any]:
            if quoted_id is not None:
                original = next(
                    (
                        m.fields.get("message", "")
                        for m in inst.outgoing
                        if m.id_message == quoted_id
                    ),
                    "",
                )
                return {
                    "typeMessage": "quotedMessage",
                    "extendedTextMessageData": {
                        "text": text,
                        "stanzaId": quoted_id,
                        "participant": f"{inst.phone}@c.us",
                    },
                    "quotedMessage": {
                        "stanzaId": quoted_id,
                        "participant": f"{inst.phone}@c.us",
                        "typeMessage": "textMessage",
                        "textMessage": original,
                    },
                }
            if extended:
                return {
                    "typeMessage": "extendedTextMessage",
                    "extendedTextMessageData": {
                        "text": text,
                        "description": "",
                        "title": "",
                        "previewType": "None",
                        "jpegThumbnail": "",
                        "forwardingScore": 0,
                        "isForwarded": False,
                    },
                }
            return {"typeMessage": "textMessage", "textMessageData": {"textMessage": text}}

        return self._incoming(instance_id, phone, sender_name, group, timestamp, message_data)

    def receive_file(
        self,
        instance_id: int,
        *,
        data: bytes,
        kind: str = "imageMessage",
        file_name: str = "photo.jpg",
        mime_type: str | None = None,
        caption: str = "",
        phone: str = PEER_PHONE,
        sender_name: str = PEER_NAME,
        group: tuple[str, str] | None = None,
        timestamp: int | None = None,
        download_url: str | None = None,
    ) -> str:
        """A file message (`kind`: imageMessage, videoMessage, documentMessage, audioMessage or
        stickerMessage). Its `downloadUrl` is where the emulator serves `data`, unless
        `download_url` names another place. Returns the idMessage."""
        if kind not in (*_FILE_MESSAGES, "stickerMessage"):
            raise AssertionError(f"not a file message type: {kind}")
        mime = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"

        def message_data(_inst: GreenInstance) -> dict[str, Any]:
            url = download_url if download_url is not None else self._store(data, file_name, mime)
            return {
                "typeMessage": kind,
                "fileMessageData": {
                    "downloadUrl": url,
                    "caption": caption,
                    "fileName": file_name,
                    "jpegThumbnail": "",
                    "mimeType": mime,
                    "isForwarded": False,
                    "forwardingScore": 0,
                },
            }

        return self._incoming(instance_id, phone, sender_name, group, timestamp, message_data)

    def receive_location(
        self,
        instance_id: int,
        *,
        latitude: float = 55.7558,
        longitude: float = 37.6173,
        name: str = "",
        address: str = "",
        phone: str = PEER_PHONE,
        sender_name: str = PEER_NAME,
        group: tuple[str, str] | None = None,
    ) -> str:
        location = {
            "nameLocation": name,
            "address": address,
            "jpegThumbnail": "",
            "latitude": latitude,
            "longitude": longitude,
        }
        return self.receive_other(
            instance_id,
            "locationMessage",
            {"locationMessageData": location},
            phone=phone,
            sender_name=sender_name,
            group=group,
        )

    def receive_contact(
        self,
        instance_id: int,
        *,
        display_name: str = "Anna",
        contact_phone: str = "79005550000",
        phone: str = PEER_PHONE,
        sender_name: str = PEER_NAME,
        group: tuple[str, str] | None = None,
    ) -> str:
        vcard = (
            f"BEGIN:VCARD\nVERSION:3.0\nN:;{display_name};;;\nFN:{display_name}\n"
            f"TEL;type=CELL;waid={contact_phone}:+{contact_phone}\nEND:VCARD"
        )
        return self.receive_other(
            instance_id,
            "contactMessage",
            {"contactMessageData": {"displayName": display_name, "vcard": vcard}},
            phone=phone,
            sender_name=sender_name,
            group=group,
        )

    def receive_other(
        self,
        instance_id: int,
        type_message: str,
        data: dict[str, Any] | None = None,
        *,
        phone: str = PEER_PHONE,
        sender_name: str = PEER_NAME,
        group: tuple[str, str] | None = None,
        timestamp: int | None = None,
    ) -> str:
        """Any message type: `messageData` is `{"typeMessage": type_message, **data}`, e.g.
        `receive_other(i, "pollMessage", {"pollMessageData": {…}})`. Returns the idMessage."""
        extra = dict(data or {})
        return self._incoming(
            instance_id,
            phone,
            sender_name,
            group,
            timestamp,
            lambda _inst: {"typeMessage": type_message, **extra},
        )

    def receive_call(
        self,
        instance_id: int,
        *,
        phone: str = PEER_PHONE,
        status: str = "offer",
        id_message: str | None = None,
    ) -> str:
        """An incomingCall notification. Green sends `offer` when it rings, then one of pickUp,
        hangUp, missed or declined with the same idMessage: pass the first call's return value as
        `id_message` for the second. Returns the idMessage."""

        def apply() -> str:
            inst = self._get(instance_id)
            self._advance(inst)
            call_id = id_message or self._incoming_id()
            if inst.switched_on("incomingWebhook") and inst.switched_on("incomingCallWebhook"):
                self._enqueue(
                    inst,
                    {
                        "from": f"{_digits(phone)}@c.us",
                        "typeWebhook": "incomingCall",
                        "instanceData": self._instance_data(inst),
                        "status": status,
                        "timestamp": int(time.time()),
                        "idMessage": call_id,
                    },
                )
            return call_id

        return self._on_loop(apply)

    def phone_sent(
        self,
        instance_id: int,
        *,
        phone: str = PEER_PHONE,
        text: str = "hi",
        timestamp: int | None = None,
    ) -> str:
        """The person writes to `phone` from the phone itself: outgoingMessageReceived."""

        def apply() -> str:
            inst = self._get(instance_id)
            self._advance(inst)
            id_message = self._incoming_id()
            if inst.switched_on("outgoingMessageWebhook"):
                chat = f"{_digits(phone)}@c.us"
                self._enqueue(
                    inst,
                    {
                        "typeWebhook": "outgoingMessageReceived",
                        "instanceData": self._instance_data(inst),
                        "timestamp": int(time.time()) if timestamp is None else timestamp,
                        "idMessage": id_message,
                        "senderData": {
                            "chatId": chat,
                            "chatName": self.contacts.get(_digits(phone), ""),
                            "sender": f"{inst.phone}@c.us",
                            "senderName": inst.name,
                            "senderContactName": "",
                        },
                        "messageData": {
                            "typeMessage": "textMessage",
                            "textMessageData": {"textMessage": text},
                        },
                    },
                )
            return id_message

        return self._on_loop(apply)

    def push(self, instance_id: int, body: Any) -> int:
        """Queue any notification body as it is (switches ignored); returns its receiptId."""

        def apply() -> int:
            inst = self._get(instance_id)
            self._advance(inst)
            return self._enqueue(inst, body)

        return self._on_loop(apply)

    def _incoming(
        self,
        instance_id: int,
        phone: str,
        sender_name: str,
        group: tuple[str, str] | None,
        timestamp: int | None,
        message_data: Callable[[GreenInstance], dict[str, Any]],
    ) -> str:
        """Queue an incomingMessageReceived (if incomingWebhook is on); returns its idMessage."""

        def apply() -> str:
            inst = self._get(instance_id)
            self._advance(inst)
            if not inst.linked:
                raise AssertionError(f"instance {instance_id} is not linked: nothing reaches it")
            number = _digits(phone)
            if not number:
                raise AssertionError(f"no digits in the sender's phone {phone!r}")
            if group is not None and not re.fullmatch(r"\d+-\d+@g\.us|\d{18}@g\.us", group[0]):
                raise AssertionError(f"not a group chat id: {group[0]!r}")
            contact = self.contacts.get(number, "")
            chat_id, chat_name = group if group is not None else (f"{number}@c.us", sender_name)
            id_message = self._incoming_id()
            if inst.switched_on("incomingWebhook"):
                self._enqueue(
                    inst,
                    {
                        "typeWebhook": "incomingMessageReceived",
                        "instanceData": self._instance_data(inst),
                        "timestamp": int(time.time()) if timestamp is None else timestamp,
                        "idMessage": id_message,
                        "senderData": {
                            "chatId": chat_id,
                            "chatName": chat_name,
                            "sender": f"{number}@c.us",
                            "senderName": sender_name,
                            "senderContactName": contact,
                        },
                        "messageData": message_data(inst),
                    },
                )
            return id_message

        return self._on_loop(apply)

    def fail_next(
        self,
        path_contains: str,
        *,
        status: int = 502,
        body: str | bytes = emulator.PROXY_502_PAGE,
        content_type: str = "text/html",
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next matching requests with this reply (default: a proxy's 502 page).

        Faults match a case-insensitive substring of the request path, are used in the order they
        were added, and apply before anything else: the request is recorded, the API never sees it.
        """
        self._add_fail(path_contains, status, body, content_type, times, headers)

    # ------------------------------------------------------------------ what happened

    def instance(self, instance_id: int) -> GreenInstance:
        """A snapshot of the instance, brought up to date with the clock."""

        def snap() -> GreenInstance:
            inst = self._get(instance_id)
            self._advance(inst)
            return copy.deepcopy(inst)

        return self._on_loop(snap)

    def state(self, instance_id: int) -> str | None:
        """What getStateInstance would say now (None for the `null` body)."""
        return self.instance(instance_id).state_word

    def current_qr(self, instance_id: int) -> str | None:
        """The text encoded in the QR that `qr` shows now, or None."""

        def read() -> str | None:
            inst = self._get(instance_id)
            self._advance(inst)
            return self._showing_qr(inst)

        return self._on_loop(read)

    def current_code(self, instance_id: int) -> str | None:
        return self.instance(instance_id).code or None

    def message_status(self, id_message: str) -> str:
        def read() -> str:
            now = time.monotonic()
            for inst in self._instances.values():
                self._advance(inst)
                for message in inst.outgoing:
                    if message.id_message == id_message:
                        return self._status_of(message, now)
            raise AssertionError(f"the fake sent no message {id_message}")

        return self._on_loop(read)

    @property
    def sent(self) -> list[SentMessage]:
        return self._on_loop(lambda: list(self._sent))

    def notifications(self, instance_id: int) -> list[Notification]:
        """The instance's queue now, head first (statuses that fell due included)."""

        def read() -> list[Notification]:
            inst = self._get(instance_id)
            self._advance(inst)
            return copy.deepcopy(inst.queue)

        return self._on_loop(read)

    def requests_to(self, api_method: str) -> list[RequestRecord]:
        """Requests for one API method (case-insensitive)."""
        return [r for r in self.requests if r.api_method == api_method.lower()]

    # ------------------------------------------------------------------ the clock

    def _get(self, instance_id: int) -> GreenInstance:
        try:
            return self._instances[instance_id]
        except KeyError:
            raise AssertionError(f"the fake has no instance {instance_id}") from None

    def _enter(self, inst: GreenInstance, phase: Phase, *, at: float | None = None) -> None:
        inst.phase = phase
        inst.phase_started = time.monotonic() if at is None else at
        inst.qr_slot = -1

    def _advance(self, inst: GreenInstance) -> None:
        """Apply every transition the clock has made due since the last look."""
        now = time.monotonic()
        tl = self.timeline
        if inst.phase is Phase.CREATING and now - inst.phase_started >= tl.create_seconds:
            # The next phase starts when the previous one ended, not when somebody looked.
            self._enter(inst, Phase.STARTING, at=inst.phase_started + tl.create_seconds)
            inst.after_starting = Phase.NOT_AUTHORIZED
        if inst.phase is Phase.STARTING and now - inst.phase_started >= tl.start_seconds:
            at = inst.phase_started + tl.start_seconds
            self._emit_due(inst, at)  # statuses due before the restart ended come first
            self._enter(inst, inst.after_starting, at=at)
            if inst.announce_restart:
                inst.announce_restart = False
                self._announce_change(inst, "starting", at=at)
            if inst.can_send:
                self._release(inst, at)
        if inst.phase is Phase.NOT_AUTHORIZED and not inst.stale_auth:
            slot = int((now - inst.phase_started) // max(tl.qr_rotate_seconds, 1e-9))
            if slot > inst.qr_slot:
                inst.qrs.append(self._new_qr_content())
                inst.qr_slot = slot
        self._emit_due(inst, now)

    def _showing_qr(self, inst: GreenInstance) -> str | None:
        if inst.phase is Phase.NOT_AUTHORIZED and not inst.stale_auth and inst.qrs:
            return inst.qrs[-1]
        return None

    def _link(self, inst: GreenInstance, phone: str, name: str, at: float) -> None:
        inst.phone, inst.name = re.sub(r"\D", "", phone), name
        inst.code = inst.code_phone = ""
        inst.stale_auth = False
        self._enter(inst, Phase.AUTHORIZED, at=at)
        if inst.can_send:
            self._release(inst, at)

    def _unlink(self, inst: GreenInstance) -> None:
        inst.phone = inst.name = inst.code = inst.code_phone = ""
        inst.override = None
        inst.stale_auth = False
        self._enter(inst, Phase.NOT_AUTHORIZED)
        self._advance(inst)

    def _restart(self, inst: GreenInstance, *, keep_override: bool) -> None:
        if inst.phase is Phase.CREATING:
            return  # nothing runs yet
        if not keep_override and inst.override != "blocked":
            inst.override = None  # a reboot is what ends a yellowCard (A.1)
        inst.after_starting = Phase.AUTHORIZED if inst.linked else Phase.NOT_AUTHORIZED
        self._enter(inst, Phase.STARTING)
        inst.announce_restart = True

    def _release(self, inst: GreenInstance, at: float) -> None:
        for message in inst.outgoing:
            if message.released is None:
                message.released = max(at, message.created)

    def _status_of(self, message: Outgoing, now: float) -> str:
        if message.forced:
            return message.forced
        if message.released is None:
            return "pending"
        tl = self.timeline
        elapsed = now - message.released
        if elapsed < tl.send_seconds:
            return "pending"
        if message.final != "read":
            return message.final
        if elapsed < tl.send_seconds + tl.deliver_seconds:
            return "sent"
        if elapsed < tl.send_seconds + tl.deliver_seconds + tl.read_seconds:
            return "delivered"
        return "read"

    # ------------------------------------------------------------------ notifications

    def _enqueue(self, inst: GreenInstance, body: Any, at: float | None = None) -> int:
        """Queue a notification after everything that fell due before it; returns its receiptId."""
        at = time.monotonic() if at is None else at
        self._emit_due(inst, at)
        return self._append(inst, body, at)

    def _append(self, inst: GreenInstance, body: Any, at: float) -> int:
        receipt_id = inst.next_receipt
        inst.next_receipt += 1
        inst.queue.append(Notification(receipt_id=receipt_id, body=body, at=at))
        self._ring(inst)
        return receipt_id

    def _ring(self, inst: GreenInstance) -> None:
        """Wake the polls held on this instance: they look at the queue again."""
        bell = self._bells.pop(inst.id, None)
        if bell is not None:
            bell.set()

    def _instance_data(self, inst: GreenInstance) -> dict[str, Any]:
        return {
            "idInstance": inst.id,
            "wid": f"{inst.phone}@c.us" if inst.phone else "",
            "typeInstance": "whatsapp",
        }

    def _incoming_id(self) -> str:
        return "3EB0" + self._rng.randbytes(8).hex().upper()

    def _store(self, data: bytes, file_name: str, content_type: str) -> str:
        """Serve `data` at a new URL on this server; returns the URL."""
        key = self._rng.randbytes(8).hex()
        self._files[key] = (data, content_type)
        name = re.sub(r"[/\\]", "_", file_name) or "file"
        return f"{self.url}/media/{key}/{quote(name)}"

    def _steps(self, message: Outgoing) -> list[tuple[float, str]]:
        """(when, status) of each notification an API send makes once it leaves the queue; the
        status "" stands for its outgoingAPIMessageReceived. Mirrors `_status_of`; a forced
        status (`set_message_status`) ends the walk."""
        if message.released is None or message.forced is not None:
            return []
        tl = self.timeline
        first = message.released + tl.send_seconds
        if message.final != "read":
            return [(first, ""), (first, message.final)]
        delivered = first + tl.deliver_seconds
        return [
            (first, ""),
            (first, "sent"),
            (delivered, "delivered"),
            (delivered + tl.read_seconds, "read"),
        ]

    def _emit_due(self, inst: GreenInstance, until: float) -> None:
        """Queue, in time order, the notifications of API sends that fell due by `until`."""
        due: list[tuple[float, int, int, Outgoing, str]] = []
        for index, message in enumerate(inst.outgoing):
            steps = self._steps(message)
            for step in range(message.notified, len(steps)):
                when, status = steps[step]
                if when > until:
                    break
                due.append((when, index, step, message, status))
        for when, _index, step, message, status in sorted(due, key=lambda d: d[:3]):
            message.notified = step + 1
            if status:
                self._queue_status(inst, message, status, when)
            elif inst.switched_on("outgoingAPIMessageWebhook"):
                self._append(inst, self._api_message_body(inst, message, when), when)

    def _next_due(self, inst: GreenInstance) -> float | None:
        """When the next timed notification falls due (a held poll wakes then)."""
        times = [
            steps[message.notified][0]
            for message in inst.outgoing
            if message.notified < len(steps := self._steps(message))
        ]
        if inst.phase is Phase.STARTING and inst.announce_restart:
            times.append(inst.phase_started + self.timeline.start_seconds)
        return min(times, default=None)

    def _queue_status(self, inst: GreenInstance, message: Outgoing, status: str, at: float) -> None:
        # failed and noAccount cannot be switched off (A.8).
        if not inst.switched_on("outgoingWebhook") and status not in ("failed", "noAccount"):
            return
        self._append(
            inst,
            {
                "typeWebhook": "outgoingMessageStatus",
                "chatId": message.chat_id,
                "instanceData": self._instance_data(inst),
                "timestamp": _unix(at),
                "idMessage": message.id_message,
                "status": status,
                "sendByApi": True,
            },
            at,
        )

    def _api_message_body(
        self, inst: GreenInstance, message: Outgoing, at: float
    ) -> dict[str, Any]:
        fields = message.fields
        if message.type_message == "textMessage":
            data: dict[str, Any] = {
                "typeMessage": "textMessage",
                "textMessageData": {"textMessage": fields.get("message", "")},
            }
        else:
            file_name = str(fields.get("fileName", ""))
            data = {
                "typeMessage": message.type_message,
                "fileMessageData": {
                    "downloadUrl": fields.get("urlFile", ""),
                    "caption": fields.get("caption", ""),
                    "fileName": file_name,
                    "jpegThumbnail": "",
                    "mimeType": _type_of(file_name)[1],
                },
            }
        return {
            "typeWebhook": "outgoingAPIMessageReceived",
            "instanceData": self._instance_data(inst),
            "timestamp": _unix(at),
            "idMessage": message.id_message,
            "senderData": {
                "chatId": message.chat_id,
                "chatName": "",
                "sender": f"{inst.phone}@c.us",
                "senderName": inst.name,
                "senderContactName": "",
            },
            "messageData": data,
        }

    def _announce_change(
        self, inst: GreenInstance, before: str | None, *, at: float | None = None
    ) -> None:
        """stateInstanceChanged, when the shown state word is new and stateWebhook is on."""
        word = inst.state_word
        if word is None or word == before or not inst.switched_on("stateWebhook"):
            return
        at = time.monotonic() if at is None else at
        self._enqueue(
            inst,
            {
                "typeWebhook": "stateInstanceChanged",
                "instanceData": self._instance_data(inst),
                "timestamp": _unix(at),
                "stateInstance": word,
            },
            at,
        )

    # ------------------------------------------------------------------ QR codes

    def _new_qr_content(self) -> str:
        """whatsmeow's multi-device QR text: ref, noise key, identity key, adv secret."""

        def b64(n: int) -> str:
            return base64.b64encode(self._rng.randbytes(n)).decode()

        return f"2@{b64(48)},{b64(32)},{b64(32)},{b64(32)}"

    def _png_b64(self, content: str) -> str:
        cached = self._png_cache.get(content)
        if cached is None:
            qr = qrcode.QRCode(border=4)
            qr.add_data(content)
            qr.make(fit=True)
            qr.box_size = max(1, round(256 / (qr.modules_count + 8)))  # about 256 px (A.2)
            png = io.BytesIO()
            qr.make_image().save(png, format="PNG")
            cached = base64.b64encode(png.getvalue()).decode()
            self._png_cache[content] = cached
        return cached

    # ------------------------------------------------------------------ HTTP

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        match = _ROUTE.fullmatch(request.path)
        raw = ""
        form: dict[str, Any] | None = None
        broken_form = False
        if request.method == "POST" and request.content_type == "multipart/form-data":
            try:
                form = await _read_form(request)
            except Exception:  # whatever a broken body makes the parser raise
                broken_form = True
            parsed: Any = form
        else:
            raw = (await request.read()).decode("utf-8", "replace") if request.body_exists else ""
            try:
                parsed = json.loads(raw) if raw.strip() else None
            except ValueError:
                parsed = raw
        faulty = await self._intake(
            request,
            api_method=match[2].lower() if match else "",
            instance_id=match[1] if match else "",
            body=parsed,
        )
        if faulty is not None:
            return faulty
        try:
            if broken_form:
                raise _BadRequest("bad request data")
            return await self._dispatch(request, match, raw, form)
        except _BadRequest as bad:
            return _text(str(bad), 400)

    async def _dispatch(
        self,
        request: web.Request,
        match: re.Match[str] | None,
        raw: str,
        form: dict[str, Any] | None,
    ) -> web.Response:
        if match is None:
            return self._media_file(request)
        id_text, method_name, token, extra = match.groups()
        if not id_text.isdigit():
            raise _BadRequest("Parameter idInstance not an integer")
        if not token:
            raise _BadRequest("Parameter apiTokenInstance not define")
        inst = self._instances.get(int(id_text))
        if inst is None:
            return _text("Forbidden", 403)
        if token != inst.token:
            return _text("Unauthorized", 401)
        route = self._methods.get(method_name.lower())
        if route is None or route[0] != request.method:
            return _text("Not Found", 404)
        if extra and method_name.lower() not in _WITH_RECEIPT:
            return _text("Not Found", 404)
        if inst.deleted:
            raise _BadRequest(DELETED)
        if inst.expired:
            raise _BadRequest(EXPIRED)
        if self.rate_limits and not self._admit(inst.id, method_name.lower()):
            return _text("Too Many Requests", 429)
        self._advance(inst)
        body: dict[str, Any] = {}
        if request.method == "POST":
            body = form if form is not None else self._json_object(raw)
        reply = route[1](inst, request, body)
        return await reply if inspect.isawaitable(reply) else reply

    def _media_file(self, request: web.Request) -> web.Response:
        """`GET /media/<key>/<name>`: a file sent or received through the emulator."""
        match = _MEDIA.fullmatch(request.path)
        stored = self._files.get(match[1]) if match and request.method == "GET" else None
        if stored is None:
            return _text("Not Found", 404)
        data, content_type = stored
        return web.Response(body=data, headers={"Content-Type": content_type})

    def _admit(self, instance_id: int, method: str) -> bool:
        limit = RATE_LIMITS.get(method)
        if limit is None:
            return True
        now = time.monotonic()
        hits = self._hits.setdefault((instance_id, method), deque())
        while hits and now - hits[0] >= 1.0:
            hits.popleft()
        if len(hits) >= limit:
            return False  # refused calls do not count
        hits.append(now)
        return True

    @staticmethod
    def _json_object(raw: str) -> dict[str, Any]:
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _BadRequest(_unexpected_token(raw, exc)) from None
        if not isinstance(data, dict):
            raise _BadRequest("bad request data")
        return data

    @staticmethod
    def _not_ready(inst: GreenInstance) -> None:
        if inst.phase in (Phase.CREATING, Phase.STARTING):
            raise _BadRequest(STARTING)

    # ------------------------------------------------------------------ instance methods

    def _m_state(self, inst: GreenInstance, _r: web.Request, _b: dict[str, Any]) -> web.Response:
        word = inst.state_word
        if word is None:
            return web.Response(text="null", content_type="application/json")
        return _json({"stateInstance": word})

    def _m_qr(self, inst: GreenInstance, _r: web.Request, _b: dict[str, Any]) -> web.Response:
        self._not_ready(inst)
        if inst.linked:
            return _json({"type": "alreadyLogged", "message": ALREADY_LOGGED})
        if inst.stale_auth:
            return _json({"type": "error", "message": STALE_AUTH})
        content = self._showing_qr(inst)
        if content is None:  # cannot happen after _advance; kept for safety
            raise _BadRequest(STARTING)
        return _json({"type": "qrCode", "message": self._png_b64(content)})

    def _m_wa_settings(
        self, inst: GreenInstance, _r: web.Request, _b: dict[str, Any]
    ) -> web.Response:
        # Account fields are empty unless linked, and when blocked (A.4).
        shown = inst.linked and inst.override != "blocked"
        return _json(
            {
                "avatar": f"https://pps.whatsapp.net/v/t61.24694-24/{inst.id}.jpg" if shown else "",
                "phone": inst.phone if shown else "",
                "stateInstance": inst.state_word,
                "deviceId": f"{inst.phone}:8@s.whatsapp.net" if shown else "",
                "chatId": f"{inst.lid}@lid" if shown else "",
                "historySyncProgress": 100 if shown else 0,
                "logoutProcess": False,
            }
        )

    def _m_settings(self, inst: GreenInstance, _r: web.Request, _b: dict[str, Any]) -> web.Response:
        return _json({"wid": f"{inst.phone}@c.us" if inst.linked else "", **inst.settings})

    def _m_last_outgoing(
        self, inst: GreenInstance, request: web.Request, _b: dict[str, Any]
    ) -> web.Response:
        minutes_text = request.query.get("minutes", "1440")
        if not minutes_text.isdigit():
            raise _BadRequest(VALIDATION.format("'minutes' must be a number"))
        since = time.time() - int(minutes_text) * 60
        now = time.monotonic()
        entries = []
        for message in reversed(inst.outgoing):  # newest first
            if message.timestamp < since:
                continue
            entry: dict[str, Any] = {
                "type": "outgoing",
                "idMessage": message.id_message,
                "timestamp": message.timestamp,
                "typeMessage": message.type_message,
                "chatId": message.chat_id,
                "statusMessage": self._status_of(message, now),
                "sendByApi": True,
            }
            if message.type_message == "textMessage":
                entry["textMessage"] = message.fields.get("message", "")
            else:
                entry["downloadUrl"] = message.fields.get("urlFile", "")
                entry["caption"] = message.fields.get("caption", "")
                entry["fileName"] = message.fields.get("fileName", "")
                entry["mimeType"] = _type_of(str(entry["fileName"]))[1]
            entries.append(entry)
        return _json(entries)

    def _m_reboot(self, inst: GreenInstance, _r: web.Request, _b: dict[str, Any]) -> web.Response:
        before = inst.state_word
        self._restart(inst, keep_override=False)
        self._announce_change(inst, before)
        return _json({"isReboot": True})

    def _m_logout(self, inst: GreenInstance, _r: web.Request, _b: dict[str, Any]) -> web.Response:
        before = inst.state_word
        if inst.phase is not Phase.CREATING:
            self._unlink(inst)
        self._announce_change(inst, before)
        return _json({"isLogout": True})

    async def _m_receive_notification(
        self, inst: GreenInstance, request: web.Request, _b: dict[str, Any]
    ) -> web.Response:
        """The long poll: the queue's head, or `null` after receiveTimeout seconds."""
        text = request.query.get("receiveTimeout", str(DEFAULT_RECEIVE_TIMEOUT))
        if not text.isdigit():
            raise _BadRequest(VALIDATION.format("'receiveTimeout' must be a number"))
        deadline = time.monotonic() + min(int(text), MAX_RECEIVE_TIMEOUT)
        while True:
            self._advance(inst)
            if self._closing or inst.settings.get("webhookUrl"):
                break
            if inst.queue:
                head = inst.queue[0]
                return _json({"receiptId": head.receipt_id, "body": head.body})
            now = time.monotonic()
            if now >= deadline:
                break
            wait = deadline - now
            due = self._next_due(inst)
            if due is not None:
                wait = min(wait, max(due - now, 0.001))
            bell = self._bells.get(inst.id)
            if bell is None:
                bell = self._bells[inst.id] = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bell.wait(), wait)
        return web.Response(text="null", content_type="application/json")

    def _m_delete_notification(
        self, inst: GreenInstance, request: web.Request, _b: dict[str, Any]
    ) -> web.Response:
        match = _ROUTE.fullmatch(request.path)
        receipt = (match[4] if match else None) or ""
        if not receipt.isdigit():
            raise _BadRequest(RECEIPT_NOT_A_NUMBER)
        for item in inst.queue:
            if item.receipt_id == int(receipt):
                inst.queue.remove(item)
                inst.deleted_receipts.append(item.receipt_id)
                return _json({"result": True})
        return _json({"result": False})

    def _m_authorization_code(
        self, inst: GreenInstance, _r: web.Request, body: dict[str, Any]
    ) -> web.Response:
        _check_fields(body, ("phoneNumber",), ("phoneNumber",))
        number = body["phoneNumber"]
        if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
            raise _BadRequest(VALIDATION.format("'phoneNumber' must be a number"))
        self._not_ready(inst)
        if inst.linked or inst.stale_auth:
            return _json({"status": False, "code": ""})
        inst.code = "".join(self._rng.choices(_CODE_ALPHABET, k=8))
        inst.code_phone = str(number)
        inst.code_issued = time.monotonic()
        return _json({"status": True, "code": inst.code})

    def _m_contact_info(
        self, inst: GreenInstance, _r: web.Request, body: dict[str, Any]
    ) -> web.Response:
        _check_fields(body, ("chatId",), ("chatId",))
        chat = _check_chat_id(body["chatId"])
        self._not_ready(inst)
        if not inst.linked:
            raise _BadRequest(NOT_AUTHORIZED)
        digits = chat.split("@", 1)[0]
        name = inst.name if digits == inst.phone else self.contacts.get(digits, "")
        return _json(
            {
                "avatar": "",
                "name": name,
                "contactName": "",
                "email": "",
                "category": "",
                "description": "",
                "products": [],
                "chatId": chat,
                "lastSeen": None,
                "isArchive": False,
                "isDisappearing": False,
                "isMute": False,
                "messageExpiration": 0,
                "muteExpiration": None,
                "isBusiness": False,
            }
        )

    def _m_send_message(
        self, inst: GreenInstance, _r: web.Request, body: dict[str, Any]
    ) -> web.Response:
        allowed = (
            "chatId",
            "message",
            "quotedMessageId",
            "archiveChat",
            "linkPreview",
            "typingTime",
            "typePreview",
            "customPreview",
        )
        _check_fields(body, allowed, ("chatId", "message"))
        chat = _check_chat_id(body["chatId"])
        _check_text(body, "message")
        if not body["message"]:
            raise _BadRequest(VALIDATION.format("'message' is not allowed to be empty"))
        return self._accept(inst, "sendMessage", chat, "textMessage", body)

    def _m_send_file_by_url(
        self, inst: GreenInstance, _r: web.Request, body: dict[str, Any]
    ) -> web.Response:
        allowed = (
            "chatId",
            "urlFile",
            "fileName",
            "caption",
            "quotedMessageId",
            "archiveChat",
            "typingTime",
            "typingType",
        )
        _check_fields(body, allowed, ("chatId", "urlFile", "fileName"))
        chat = _check_chat_id(body["chatId"])
        url = body["urlFile"]
        if not isinstance(url, str) or not re.match(r"https?://[^/\s]+", url):
            raise _BadRequest(VALIDATION.format("'urlFile' must be a valid uri"))
        file_name = body["fileName"]
        if not isinstance(file_name, str) or not _EXTENSION.search(file_name):
            raise _BadRequest(VALIDATION.format("'fileName' must have an extension"))
        _check_text(body, "caption")
        return self._accept(inst, "sendFileByUrl", chat, _type_of(file_name)[0], body)

    def _m_send_file_by_upload(
        self, inst: GreenInstance, _r: web.Request, body: dict[str, Any]
    ) -> web.Response:
        allowed = (
            "chatId",
            "file",
            "fileName",
            "caption",
            "quotedMessageId",
            "typingTime",
            "typingType",
        )
        _check_fields(body, allowed, ("chatId", "file"))
        upload = body["file"]
        if not isinstance(upload, Upload):
            raise _BadRequest(VALIDATION.format("'file' must be a file"))
        if not upload.data:
            raise _BadRequest(VALIDATION.format("'file' is not allowed to be empty"))
        chat = _check_chat_id(body["chatId"])
        file_name = body.get("fileName") or upload.filename
        if not isinstance(file_name, str) or not _EXTENSION.search(file_name):
            raise _BadRequest(VALIDATION.format("'fileName' must have an extension"))
        _check_text(body, "caption")
        fields = {key: value for key, value in body.items() if key != "file"}
        return self._accept(
            inst, "sendFileByUpload", chat, _type_of(file_name)[0], fields, upload=upload
        )

    def _accept(
        self,
        inst: GreenInstance,
        method: str,
        chat: str,
        type_message: str,
        body: dict[str, Any],
        *,
        upload: Upload | None = None,
    ) -> web.Response:
        """Queue a validated send: quota, then the journal entry and `sent` (an upload's bytes
        are then served by the emulator, at the `urlFile` of the answer)."""
        self._not_ready(inst)
        key = method.lower()
        inst.invocations[key] = inst.invocations.get(key, 0) + 1
        if chat not in inst.correspondents:
            limit = self.quota_correspondents
            if limit is not None and len(inst.correspondents) >= limit:
                return self._quota_reply(inst, key)
            inst.correspondents.append(chat)
        now = time.monotonic()
        url_file = None
        if upload is not None:
            name = str(body.get("fileName") or upload.filename)
            content_type = upload.content_type or _type_of(name)[1]
            url_file = self._store(upload.data, name, content_type)
        digits = chat.split("@", 1)[0]
        final = "noAccount" if digits in self.no_account else "read"
        if digits == inst.phone:
            final = "sent"  # a message to oneself ends at one tick (A.5)
        message = Outgoing(
            id_message="BAE5" + self._rng.randbytes(6).hex().upper(),
            chat_id=chat,
            type_message=type_message,
            fields=dict(body) if url_file is None else {**body, "urlFile": url_file},
            timestamp=int(time.time()),
            created=now,
            final=final,
        )
        inst.outgoing.append(message)
        if inst.can_send:
            message.released = now
        self._sent.append(
            SentMessage(
                instance_id=inst.id,
                method=method,
                chat_id=chat,
                id_message=message.id_message,
                fields=dict(body),
                queued=not inst.can_send,
                at=now,
                data=upload.data if upload is not None else None,
                upload=upload,
                url_file=url_file,
            )
        )
        if url_file is not None:
            return _json({"idMessage": message.id_message, "urlFile": url_file})
        return _json({"idMessage": message.id_message})

    def _quota_reply(self, inst: GreenInstance, method: str) -> web.Response:
        allowed = ", ".join(c.split("@", 1)[0] for c in inst.correspondents)
        limit = self.quota_correspondents or 0
        return _json(
            {
                "invokeStatus": {
                    "method": method,
                    "used": inst.invocations.get(method, 0),
                    "total": 0,
                    "status": "QUOTE_ALLOWED",
                    "description": "",
                },
                "correspondentsStatus": {
                    "method": "correspondents",
                    "used": len(inst.correspondents),
                    "total": limit,
                    "status": "CORRESPONDENTS_QUOTE_EXCEEDED",
                    "description": "Monthly quota has been exceeded. You can only send or "
                    f"receive messages from these numbers: {allowed}",
                },
            },
            status=466,
        )
