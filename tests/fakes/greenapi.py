"""An offline emulator of Green-API's WhatsApp HTTP API (api/gateways.md, section A), for tests.

`FakeGreenApi` is a real aiohttp server on 127.0.0.1 (see `server.py`). Its `url` is the `apiUrl`
a person would copy from the Green-API console; every call is
`/waInstance{id}/{method}/{token}`. Tests create instances with `add_instance()`, steer them with
knobs (`scan`, `enter_code`, `set_state`, `set_stale_auth`, `delete`, `expire`,
`set_message_status`, `fail_next`, …) from their own thread
and read back what happened (`sent`, `requests`, `instance(...)`, `current_qr(...)`).

Instance life cycle (times come from `GreenTimeline`)::

    (body null) ──create_seconds──▶ starting ──start_seconds──▶ notAuthorized (QR #1, #2, … rotate)
                                       ▲                              │ scan() / enter_code()
          reboot / set_state("starting")│                              ▼
                                       └──────────────────────── authorized
    logout: any linked state ──▶ notAuthorized (account cleared, a new QR cycle)
    set_state("yellowCard" | "blocked" | "sleepMode" | "suspended" | any word): shown instead of
    "authorized" until reboot (blocked survives a reboot) or logout.

Implemented methods (names case-insensitive, verbs per the official client, A.13):
GET getStateInstance, qr, getWaSettings, getSettings, lastOutgoingMessages, reboot, logout;
POST getAuthorizationCode, getContactInfo, sendMessage, sendFileByUrl.
Not emulated: notifications (receiveNotification/deleteNotification, webhooks), the partner API,
uploads, checkWhatsapp, setSettings.

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

Thread-safety: instance state lives on the server's event loop and handlers never await while
changing it; knobs called from another thread run there through `BackgroundServer.call`. Plain
attributes (`timeline`, `rate_limits`, `quota_correspondents`, `no_account`, `contacts`) can be set
from the test between calls.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import mimetypes
import random
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import qrcode
from aiohttp import web

from tests.fakes import emulator

FIRST_INSTANCE_ID = 1101000001
DEFAULT_PHONE = "79990000000"
DEFAULT_NAME = "Test User"

# Documented error texts (A.11), answered as text/plain.
STARTING = "instance in starting process try later"
NOT_AUTHORIZED = "instance account not authorized"
EXPIRED = "Instance account is expired. Renew your instance from personal area"
DELETED = "Instance is deleted"
VALIDATION = "Bad Request Validation failed. Details: {}"
CHAT_ID_FORMAT = "'chatId' must be one of the next formats: 'phone_number@c.us' or 'group_id@g.us'"
STALE_AUTH = "Instance has auth. You need to make log out"
ALREADY_LOGGED = "instance account already authorized"
MAX_MESSAGE = 20000
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
}
_CODE_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"  # whatsmeow's linking-code alphabet
_CHAT_ID = re.compile(r"[1-9]\d{4,14}@c\.us|\d+-\d+@g\.us|\d{18}@g\.us")
_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,10})$")
_ROUTE = re.compile(r"/waInstance([^/]+)/([^/]+)/([^/]*)(?:/([^/]*))?/?")
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
    method: str  # "sendMessage" | "sendFileByUrl"
    chat_id: str
    id_message: str
    fields: dict[str, Any]  # the JSON body as received
    queued: bool  # the instance could not send at that moment
    at: float  # monotonic

    @property
    def message(self) -> str | None:
        value = self.fields.get("message")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class RequestRecord(emulator.RequestRecord):
    """`path` contains the token."""

    api_method: str  # the method segment, lower-cased ("" when the path has another shape)
    instance_id: str
    body: Any  # parsed JSON, or the raw text when it is not JSON, or None


class _BadRequest(Exception):
    """A 400 with this text/plain body."""


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


def _text(text: str, status: int) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


def _unexpected_token(raw: str, exc: json.JSONDecodeError) -> str:
    char = raw[exc.pos] if exc.pos < len(raw) else "end"
    return f"Unexpected token {char} in JSON at position {exc.pos}"


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


_Method = Callable[[GreenInstance, web.Request, dict[str, Any]], web.Response]


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
        }

    # ------------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        if not self._started and not self._stopped:
            self._stopped = True
            self._server.loop.close()  # never ran: only the loop to free
            return
        super().stop()

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
                self._link(inst, phone, DEFAULT_NAME, time.monotonic())
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
            self._link(inst, phone, name, time.monotonic())

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
            self._link(inst, inst.code_phone, name, now)

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

        self._on_loop(apply)

    def set_stale_auth(self, instance_id: int, on: bool = True) -> None:
        """Green's "stale auth" trouble: notAuthorized, but `qr` says "Instance has auth…"."""

        def apply() -> None:
            inst = self._get(instance_id)
            self._advance(inst)
            if on and inst.linked:
                self._unlink(inst)
            inst.stale_auth = on

        self._on_loop(apply)

    def delete(self, instance_id: int) -> None:
        """The instance was deleted in the console: every method answers 400 `Instance is deleted`."""
        self._on_loop(lambda: setattr(self._get(instance_id), "deleted", True))

    def expire(self, instance_id: int, expired: bool = True) -> None:
        """The instance's tariff ran out: every method answers the 400 `…is expired…` text."""
        self._on_loop(lambda: setattr(self._get(instance_id), "expired", expired))

    def set_message_status(self, id_message: str, status: str) -> None:
        """Force a journal status (`failed`, `notInGroup`, anything)."""

        def apply() -> None:
            for inst in self._instances.values():
                for message in inst.outgoing:
                    if message.id_message == id_message:
                        message.forced = status
                        return
            raise AssertionError(f"the fake sent no message {id_message}")

        self._on_loop(apply)

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
            self._enter(inst, inst.after_starting, at=at)
            if inst.can_send:
                self._release(inst, at)
        if inst.phase is Phase.NOT_AUTHORIZED and not inst.stale_auth:
            slot = int((now - inst.phase_started) // max(tl.qr_rotate_seconds, 1e-9))
            if slot > inst.qr_slot:
                inst.qrs.append(self._new_qr_content())
                inst.qr_slot = slot

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
        raw = (await request.read()).decode("utf-8", "replace") if request.body_exists else ""
        match = _ROUTE.fullmatch(request.path)
        try:
            parsed: Any = json.loads(raw) if raw.strip() else None
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
            return self._dispatch(request, match, raw)
        except _BadRequest as bad:
            return _text(str(bad), 400)

    def _dispatch(
        self, request: web.Request, match: re.Match[str] | None, raw: str
    ) -> web.Response:
        if match is None:
            return _text("Not Found", 404)
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
        if route is None or route[0] != request.method or extra:
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
            body = self._json_object(raw)
        return route[1](inst, request, body)

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
        no, yes = "no", "yes"
        return _json(
            {
                "wid": f"{inst.phone}@c.us" if inst.linked else "",
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
                "stateWebhook": no,
                "enableMessagesHistory": no,
                "keepOnlineStatus": no,
                "pollMessageWebhook": no,
                "incomingBlockWebhook": yes,
                "incomingCallWebhook": yes,
                "editedMessageWebhook": no,
                "deletedMessageWebhook": no,
            }
        )

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
        self._restart(inst, keep_override=False)
        return _json({"isReboot": True})

    def _m_logout(self, inst: GreenInstance, _r: web.Request, _b: dict[str, Any]) -> web.Response:
        if inst.phase is not Phase.CREATING:
            self._unlink(inst)
        return _json({"isLogout": True})

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

    def _accept(
        self, inst: GreenInstance, method: str, chat: str, type_message: str, body: dict[str, Any]
    ) -> web.Response:
        """Queue a validated send: quota, then the journal entry and `sent`."""
        self._not_ready(inst)
        key = method.lower()
        inst.invocations[key] = inst.invocations.get(key, 0) + 1
        if chat not in inst.correspondents:
            limit = self.quota_correspondents
            if limit is not None and len(inst.correspondents) >= limit:
                return self._quota_reply(inst, key)
            inst.correspondents.append(chat)
        now = time.monotonic()
        digits = chat.split("@", 1)[0]
        final = "noAccount" if digits in self.no_account else "read"
        if digits == inst.phone:
            final = "sent"  # a message to oneself ends at one tick (A.5)
        message = Outgoing(
            id_message="BAE5" + self._rng.randbytes(6).hex().upper(),
            chat_id=chat,
            type_message=type_message,
            fields=dict(body),
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
            )
        )
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
