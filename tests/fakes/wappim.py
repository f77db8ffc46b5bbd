"""An offline emulator of the wapp.im v3 gateway HTTP API, for tests.

`FakeWappim` is a real aiohttp server on 127.0.0.1 (see `server.py`) that behaves the way
`/work/shared/api/wappim.md` describes the real service: a pool of test instances handed out by
`chat/spare`, a slow wake-up after `status?full=1`, QR codes that rotate and then expire, a phone
that scans, instances wiped under the client's feet, and the gateway's error shapes. Tests steer it
with knobs (`scan`, `wipe`, `set_free`, `receive`, `history`, `expire_files`, `fail_next`, …) from
their own thread and read back what happened (`sent`, `sent_files`, `message_log(...)`,
`requests`, `instance(...)`, `current_qr(...)`).

Two-way (chat-api's shape, wappim.md sections 6 and 8; no wapp.im caller of these was found):
`receive(...)` puts a message on an instance's log, which `messages?lastMessageNumber=N` pages
through; `sendFile` takes a data URI or a URL; files of incoming messages are served by the
emulator itself under `/files/…` on its own origin (`origin`).

Instance life cycle (times come from `WappimTimeline`)::

    init ──status?full=1──▶ loading ──init_seconds──▶ got qr code (QR #1, #2, … rotate)
      ▲                                                  │ max_qrs used up: substatus "expired"
      │ logout / removeChat / wipe / logout_from_phone   │   (status?full=1 wakes it again)
      │                                                scan()
      └──────── authenticated/CONNECTED ◀──pair_seconds── loading/pairing

Hypotheses ([H]) chosen where wappim.md has no evidence:

- A missing or wrong `X-Tasktest-Token` gives HTTP 401 with
  `{"error_code": 401, "error_text": "Wrong X-Tasktest-Token"}`; the older header
  `X-Whatsapp-Token: 5d8af8faaeb61680883a850be0c577e2` is accepted as well. The header is checked
  before anything else (after the fault knobs, which stand for the proxy in front).
- `chat/spare` answers its errors with HTTP 200 and an integer `error_code`: 1 "No free chats",
  2 "crm is required". It accepts GET and POST. `md` is recorded and echoed (as an int) only.
- The spare `date_trial` is null or `date_add + 72 h` (both were seen), chosen at random.
- A token is stable per instance across re-issues (`removeChat` keeps it), and only `wipe()`
  replaces it. `instanceId` is `2a01:4f8:c17:ac8:3::<id in hex>` (the samples end in small hex numbers).
- Instance-level errors use chat-api's shape: 404 `{"error": "Instance not found"}`, 401
  `{"error": "Wrong token. Please provide token as a GET parameter."}` (the token is read only
  from the query), 404 `{"error": "Method not found"}`; checked in that order. Method names are
  case-sensitive and every method accepts both GET and POST.
- `status` wakes an `init` instance only with `full=1` and a falsy `no_wakeup`. `state` equals
  `accountStatus` except once linked (`CONNECTED`); `init` has no `statusData`, every other state
  has chat-api's `statusData` (`substatus`, `title`, `msg`, …). `qrCode` needs `full=1` and
  `qr_style == "status"`, and sits right before `state` in the JSON text (S3).
- The QR content is legacy WA-Web `1@<ref>,<key>,<client id>`: base64 of 64, 32 and 16 random
  bytes (the sizes of the S3 sample), rendered as a 244 px PNG (box 4, border 4) data URI.
  QR #1 lives `first_qr_seconds`, each next one `rotate_seconds`; after `max_qrs` the instance stays `got qr code` with substatus `expired`,
  no `qrCode`, an empty `qr_code`, and `actions.expiry`. Then `status?full=1` re-initialises it
  (a `loading` phase again, then a new QR cycle) and so does the chat-api method `expiry` (a new
  QR cycle at once). Slots nobody looked at are skipped, so `qrs` lists only QRs that existed.
- During pairing the reply is `accountStatus`/`state` `loading` with substatus `pairing`.
- `qr_code` is `text/html; charset=utf-8` `<img src="data:image/png;base64,…">`, or an empty body
  whenever no valid QR is shown.
- `sendMessage` merges query parameters and the body (JSON, form or multipart; the body wins).
  `chatId` (or `chat_id`) wins over `phone`; non-digits are stripped and an 11-digit number that
  starts with 8 becomes 7…. `body` is required (200 `{"error_code": 3, …}`), and so is a recipient
  (200 `{"error_code": 4, "error_text": "phone or chatId is required"}`). The message id is
  `true_<chatId>_<20 upper-case hex>` and `queueNumber` counts per instance. Not authenticated:
  chat-api's "will be sent after successful auth" reply, recorded with `queued_unauthorised`.
- `removeChat` releases the test instance back to the pool (account cleared, state `init`, token
  kept) and answers `{"success": true}`; `reboot` answers `{"success": true}` and runs the loading
  phase again (back to `authenticated` if it was linked, else to a new QR cycle); `logout`
  answers chat-api's `{"accountStatus": "Logout request sent to WhatsApp"}` and goes to `init`.
- `isRegisteredUser?phone=` answers a bare JSON `true` for 10–15 digits, else `false`.
- `qrs`, `name` and `number` reset when `chat/spare` hands the instance out again.
- Repeated slashes in the path are merged and a trailing slash is ignored (nginx's default).
- JSON replies are compact (`{"id":9,"token":…}` as pasted in S3), with `/` not escaped.
- Any exception in a handler becomes a 500 with a plain-text body; the server never dies.
- Bodies up to `MAX_BODY` (64 MiB) are read: a 20 MB file as a data URI is about 27 MB.

Two-way hypotheses ([H]):

- `messages` (GET or POST, token in the query) answers chat-api's
  `{"messages": [...], "lastMessageNumber": N}` in every phase: an instance that is not linked
  answers with what its log holds (usually nothing). Parameters come from the query and the body:
  `lastMessageNumber` (absent or not a number: 0) and `limit` (absent, negative or not a number:
  100; 0: no limit, as chat-api documents). The bound is exclusive (messageNumber > N) unless the
  plain attribute `inclusive_bound` is True (>= N, so the message N comes again: chat-api does not
  say which it is). The reply's `lastMessageNumber` is the messageNumber of the last message
  returned, or N when none is. Messages beyond `limit` come in the next poll, oldest first.
- A message is chat-api's object: `id`, `body`, `type`, `senderName`, `fromMe`, `author`, `time`
  (unix seconds, int), `chatId`, `chatName`, `messageNumber` (per instance, from 1), `caption`
  (null unless given). `id` is `false_<chatId>_<20 upper-case hex>` (`true_…` when fromMe) and, in
  a group, WA-Web's `…_<author>` suffix after it. `author` is the writer's `<digits>@c.us`: the
  contact in a 1:1 chat (equal to `chatId`), the member in a group, the account itself when fromMe
  (its number, `79990000000` before any scan). `chatName` is the group's name in a group, the
  contact's `senderName` in a 1:1 chat (its digits when fromMe); fromMe messages carry the
  account's name as `senderName`. Media types have the file's URL as `body`.
- Messages the client sends (`sendMessage`, `sendFile`) while linked appear in the log as fromMe,
  with the id the send answered (chat-api lists them too); `echo_sent = False` turns that off.
- The log, the files and the numbering are per instance and start afresh when `chat/spare` hands
  the instance out again; a wiped instance's old token gets 401 like every method.
- Files are served without any token at `<origin>/files/<32 hex>/<file name>` with their MIME type
  and Content-Length; `expire_files()` makes them 404 (chat-api keeps files for 30 days).
- `sendFile` reads the same fields as `sendMessage` plus `filename` (required: 200
  `{"error_code": 6, "error_text": "filename is required"}`), `caption` and `quotedMsgId`. `body`
  is a data URI `data:<mime>;base64,<payload>` (decoded and recorded in `sent_files`), or an
  http(s) URL (recorded as given, never fetched: the emulator is offline); anything else, or a
  data URI whose base64 does not decode, is 200 `{"error_code": 5, "error_text": …}`. Checks run
  in the order body (3), recipient (4), filename (6), body's form (5). A file part in a multipart
  body is not taken as the file. The reply is sendMessage's.
- `quotedMsgId` is recorded in `fields`, never checked against the log.

Thread-safety: instance state lives on the server's event loop and handlers never await while
changing it; knobs called from another thread run there through `BackgroundServer.call`. The
plain attributes (`timeline`, `qr_style`, `spare_shape`, `sent_as`, `inclusive_bound`,
`echo_sent`) can be set from anywhere.
"""

from __future__ import annotations

import base64
import binascii
import copy
import io
import json
import random
import re
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import quote

import qrcode
from aiohttp import web

from tests.fakes import emulator

TASK_TOKEN = "f62cdf1e83bc324ba23aee3b113c6249"
LEGACY_HEADER = "X-Whatsapp-Token"
LEGACY_TOKEN = "5d8af8faaeb61680883a850be0c577e2"
FIRST_INSTANCE_ID = 22  # the real samples show small sequential ids (22, 23, 24, 26, 27, 30)
TOKEN_ALPHABET = string.ascii_letters + string.digits + "-"  # a "-" was seen in a real token
TRIAL_SECONDS = 72 * 3600  # integrations/install gave date_trial = date_add + 72 h (S6)
MAX_BODY = 64 * 1024 * 1024  # aiohttp's default (1 MiB) would refuse a photo as a data URI
DEFAULT_LIMIT = 100  # chat-api's default page of `messages`
OWN_NUMBER = "79990000000"  # the account's number before any scan (scan()'s default)
# chat-api message types whose `body` is the file's URL (wappim.md section 8).
MEDIA_TYPES = frozenset({"image", "video", "document", "ptt", "audio", "sticker"})

QrStyle = Literal["status", "qr_code"]
SpareShape = Literal["full", "short"]
SentAs = Literal["bool", "string"]

WRONG_TOKEN = "Wrong token. Please provide token as a GET parameter."
NOT_AUTHENTICATED = (
    # chat-api's text, double space included (wappim.md section 5).
    "Status of the account not equals authenticated. Message to  {chat_id} will be sent after "
    "successful auth."
)
# What a proxy that cut the connection mid-body leaves behind.
TRUNCATED_JSON = b'{"accountStatus":"got qr code","qrCode":"data:image/png;base64,iVBORw0KGgoAAAA'


@dataclass
class WappimTimeline:
    """How long each slow phase lasts, in seconds (tests use tiny values)."""

    init_seconds: float = 2.0  # "loading" after the waking status?full=1, before the first QR
    first_qr_seconds: float = 60.0  # lifetime of QR #1 ("valid for one minute", chat-api)
    rotate_seconds: float = 20.0  # lifetime of each following QR (legacy WA Web's ref refresh)
    max_qrs: int = 6  # then substatus "expired" until status?full=1 or expiry
    pair_seconds: float = 1.0  # "loading"/"pairing" between scan() and "authenticated"


class Phase(StrEnum):
    """Where an instance is in its life cycle (the `status` view is derived from it)."""

    INIT = "init"  # asleep; only status?full=1 (or reboot) wakes it
    LOADING = "loading"  # waking up for init_seconds, then `after_loading`
    QR = "qr"  # showing rotating QRs, then expired
    PAIRING = "pairing"  # the phone scanned; linked after pair_seconds
    AUTHENTICATED = "authenticated"  # linked: sends are delivered


@dataclass
class FakeInstance:
    """One test chat of the pool. `instance()` hands out deep copies of these."""

    id: int
    token: str
    instance_id: str  # the IPv6-like `instanceId` / `chat_id`
    chat_key: str  # 32 hex, also `apikey`
    date_trial: int | None
    assigned: bool = False  # handed out by chat/spare and not released or wiped since
    reserved: bool = False  # held out of the pool by set_free()
    status: str = "init"  # accountStatus: init | loading | got qr code | authenticated
    state: str = "init"  # WA-Web-like `state`; CONNECTED once linked
    substatus: str = "init"
    qrs: list[str] = field(default_factory=list)  # every QR content shown, oldest first
    name: str = ""
    number: str = ""
    crm: str = ""
    domain: str = ""
    md: int = 0
    date_add: int = 0
    old_tokens: list[str] = field(default_factory=list)  # tokens invalidated by wipe()
    phase: Phase = Phase.INIT
    phase_started: float = 0.0  # monotonic
    after_loading: Phase = Phase.QR
    qr_slot: int = -1  # index of the rotation slot whose QR is qrs[-1]
    expired: bool = False
    pending_name: str = ""  # the account that scanned, shown once pairing is over
    pending_number: str = ""
    queue_number: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)  # chat-api objects, oldest first
    message_number: int = 0  # the messageNumber of the last message logged

    @property
    def showing_qr(self) -> bool:
        return self.phase is Phase.QR and not self.expired and bool(self.qrs)


@dataclass(frozen=True)
class SentMessage:
    instance_id: int  # the `instance{ID}` number
    phone: str  # the recipient as the client gave it (`phone`, else `chatId`)
    chat_id: str  # normalised, e.g. "79872745052@c.us"
    body: str
    fields: dict[str, str]  # everything received: query parameters, then body fields
    message_id: str
    queued_unauthorised: bool = False  # sent while not authenticated (chat-api queues it)
    at: float = 0.0  # monotonic


@dataclass(frozen=True)
class SentFile:
    instance_id: int  # the `instance{ID}` number
    phone: str  # the recipient as the client gave it (`phone`, else `chatId`)
    chat_id: str  # normalised, e.g. "79872745052@c.us" or "120363…@g.us"
    filename: str
    mime: str | None  # from the data URI; None when `body` was a URL
    data: bytes | None = field(repr=False)  # the decoded data URI; None when `body` was a URL
    url: str | None  # `body` when it was a URL
    caption: str
    fields: dict[str, str] = field(repr=False)  # everything received (the data URI included)
    message_id: str
    queued_unauthorised: bool = False  # sent while not authenticated (chat-api queues it)
    at: float = 0.0  # monotonic


@dataclass(frozen=True)
class StoredFile:
    """A file the emulator serves under `/files/…` (the media of a logged message)."""

    instance_id: int
    data: bytes = field(repr=False)
    filename: str
    mime: str


@dataclass(frozen=True)
class RequestRecord(emulator.RequestRecord):
    fields: dict[str, str] = field(default_factory=dict)  # parsed body (JSON, form, multipart)


_Method = Callable[[FakeInstance, web.Request, dict[str, str]], web.Response]


def _compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def _json(data: Any, status: int = 200) -> web.Response:
    # Compact like the pasted replies (S3 slices the text at `","state"`); key order kept.
    return web.json_response(data, status=status, dumps=_compact)


async def _read_fields(request: web.Request) -> dict[str, str]:
    """Body fields of any shape clients use (wappim.md section 0): JSON, form or multipart."""
    if not request.body_exists:
        return {}
    request = request.clone(client_max_size=MAX_BODY)
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        fields: dict[str, str] = {}
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                with value.file as part:  # a file part: keep its content as text
                    fields[key] = part.read().decode("utf-8", "replace")
            else:
                fields[key] = str(value)
        return fields
    # JSON, declared or not (some clients forget the Content-Type).
    try:
        data = json.loads(await request.read())
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return emulator.text_fields(data)


def _digits_chat_id(raw: str) -> str | None:
    """`89872745052`, `+7 987 274-50-52` or `89872745052@c.us` → `79872745052@c.us`."""
    local, at, domain = raw.strip().partition("@")
    if at and domain != "c.us":
        return raw.strip()  # a group (`…@g.us`) or anything else: pass through untouched
    digits = re.sub(r"\D", "", local)
    if not digits:
        return None
    if len(digits) == 11 and digits.startswith("8"):
        digits = "7" + digits[1:]  # Russian trunk prefix (wappim.md section 5, [H])
    return f"{digits}@c.us"


def _recipient(fields: Mapping[str, str]) -> tuple[str, str | None]:
    """The recipient as given (`chatId` or `chat_id` wins over `phone`) and as a chat id."""
    given = fields.get("chatId") or fields.get("chat_id") or fields.get("phone") or ""
    return given, _digits_chat_id(given)


def _is_truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("1", "true", "yes", "on")


def _int_or(value: str | None, default: int) -> int:
    try:
        return int((value or "").strip())
    except ValueError:
        return default


def _decode_data_uri(uri: str) -> tuple[str, bytes] | None:
    """`data:<mime>;base64,<payload>` → (mime, bytes), or None when it is not one."""
    match = re.fullmatch(r"data:([\w.+-]+/[\w.+-]+);base64,(.*)", uri.strip(), re.S)
    if match is None:
        return None
    try:
        return match[1].lower(), base64.b64decode(match[2], validate=True)
    except binascii.Error:
        return None


def _type_for(mime: str | None) -> str:
    """The message type of a sent file in the log: by its MIME type, else a document."""
    major = (mime or "").split("/", 1)[0]
    return major if major in ("image", "video", "audio") else "document"


class FakeWappim(emulator.Emulator[RequestRecord]):
    """The wapp.im v3 emulator; `url` is what the bot gets as WAPP_API_URL."""

    malformed_body = TRUNCATED_JSON

    def __init__(
        self,
        *,
        token: str = TASK_TOKEN,
        instances: int = 3,
        timeline: WappimTimeline | None = None,
        qr_style: QrStyle = "status",
        spare_shape: SpareShape = "full",
        sent_as: SentAs = "bool",
        seed: int | None = None,
    ) -> None:
        super().__init__(RequestRecord, url_path="/v3")
        self.token = token
        self.timeline = timeline or WappimTimeline()
        self.qr_style: QrStyle = qr_style
        self.spare_shape: SpareShape = spare_shape
        self.sent_as: SentAs = sent_as
        self.inclusive_bound = False  # `messages` gives messageNumber >= N instead of > N
        self.echo_sent = True  # what the client sends while linked shows up in `messages`
        self._rng = random.Random(seed)
        self._instances: dict[int, FakeInstance] = {}
        for _ in range(instances):
            self._add_instance()
        self._sent: list[SentMessage] = []
        self._sent_files: list[SentFile] = []
        self._files: dict[str, StoredFile] = {}  # the 32-hex key of a /files/ URL → the file
        self._png_cache: dict[str, str] = {}  # QR content → data URI
        self._methods: dict[str, _Method] = {
            "status": self._m_status,
            "qr_code": self._m_qr_code,
            "me": self._m_me,
            "sendMessage": self._m_send_message,
            "sendFile": self._m_send_file,
            "messages": self._m_messages,
            "logout": self._m_logout,
            "removeChat": self._m_remove_chat,
            "reboot": self._m_reboot,
            "expiry": self._m_expiry,
            "isRegisteredUser": self._m_is_registered_user,
        }

    # ------------------------------------------------------------------ knobs

    def set_free(self, n: int) -> None:
        """Make exactly `n` instances available to chat/spare (0 → "No free chats")."""

        def apply() -> None:
            unassigned = sorted(
                (i for i in self._instances.values() if not i.assigned), key=lambda i: i.id
            )
            for inst in unassigned:
                inst.reserved = True
            for inst in unassigned[:n]:
                inst.reserved = False
            for _ in range(n - len(unassigned)):
                self._add_instance()

        self._on_loop(apply)

    def free_count(self) -> int:
        return self._on_loop(lambda: len(self._free_instances()))

    def scan(
        self,
        instance_id: int,
        *,
        name: str = "Test User",
        number: str = "79990000000",
        qr: str | None = None,
    ) -> None:
        """The phone scans the QR shown now (or checks that `qr` is that QR, if given)."""

        def apply() -> None:
            inst = self._get(instance_id)
            self._advance(inst)
            if not inst.showing_qr:
                raise AssertionError(
                    f"instance {instance_id} shows no QR to scan "
                    f"(status {inst.status!r}, substatus {inst.substatus!r})"
                )
            if qr is not None and qr != inst.qrs[-1]:
                stale = "an older QR of this instance" if qr in inst.qrs else "not a QR it issued"
                raise AssertionError(f"instance {instance_id}: the scanned QR is {stale}")
            inst.pending_name, inst.pending_number = name, number
            self._enter(inst, Phase.PAIRING)
            self._sync_view(inst)

        self._on_loop(apply)

    def wipe(self, instance_id: int) -> None:
        """The 2-hourly wipe: old token → 401, back to the pool with a new token."""
        self._on_loop(lambda: self._wipe(self._get(instance_id)))

    def wipe_all(self) -> None:
        """Every instance wiped at once, like the real 2-hour timer."""

        def apply() -> None:
            for inst in self._instances.values():
                self._wipe(inst)

        self._on_loop(apply)

    def logout_from_phone(self, instance_id: int) -> None:
        """The user unlinked the device on the phone: back to an asleep `init`."""

        def apply() -> None:
            inst = self._get(instance_id)
            self._reset_account(inst)
            self._sync_view(inst)

        self._on_loop(apply)

    def receive(
        self,
        instance_id: int,
        *,
        phone: str = "79001234567",
        body: str = "hi",
        type: str = "chat",
        sender_name: str = "Ivan",
        group: tuple[str, str] | None = None,
        from_me: bool = False,
        caption: str | None = None,
        time: float | None = None,
        file: tuple[bytes, str, str] | None = None,
    ) -> str:
        """A message reaches the instance; returns its chat-api id.

        `phone` is the writer (the contact, or the group member); `group` is (the group id's
        digits or the whole `…@g.us` id, the group's name). With `from_me` the account itself
        wrote it (on the phone) into the chat with `phone` (or `group`). `file` is (bytes, file
        name, MIME type): the emulator serves it and `body` becomes its URL; otherwise a media
        `type` keeps `body` as given, so a test can point it anywhere. `time` is unix seconds
        (default: now); one in the past models a message from before the link.
        """
        at = time  # the parameter hides the `time` module in here

        def apply() -> str:
            inst = self._get(instance_id)
            contact = _digits_chat_id(phone) or phone
            own = f"{inst.number or OWN_NUMBER}@c.us"
            if group is None:
                chat_id, chat_name = contact, (contact.split("@")[0] if from_me else sender_name)
            else:
                chat_id = group[0] if group[0].endswith("@g.us") else f"{group[0]}@g.us"
                chat_name = group[1]
            text = body
            if file is not None:
                text = self._store_file(inst, *file)
            return self._log_message(
                inst,
                chat_id=chat_id,
                chat_name=chat_name,
                author=own if from_me else contact,
                sender_name=(inst.name or sender_name) if from_me else sender_name,
                from_me=from_me,
                body=text,
                kind=type,
                caption=caption,
                at=at,
            )

        return self._on_loop(apply)

    def history(
        self,
        instance_id: int,
        bodies: tuple[str, ...] = ("earlier 1", "earlier 2"),
        *,
        phone: str = "79001234567",
        age: float = 3600.0,
    ) -> list[str]:
        """Text messages from before the link: the first `age` seconds ago, one second apart."""
        start = time.time() - age
        return [
            self.receive(instance_id, phone=phone, body=body, time=start + n)
            for n, body in enumerate(bodies)
        ]

    def expire_files(self, instance_id: int | None = None) -> int:
        """The gateway forgets the files (of one instance, or all): their URLs answer 404.
        Returns how many were dropped."""

        return self._on_loop(lambda: self._drop_files(instance_id))

    # ------------------------------------------------------------------ what happened

    def instance(self, instance_id: int) -> FakeInstance:
        """A snapshot of the instance, brought up to date with the clock."""

        def snap() -> FakeInstance:
            inst = self._get(instance_id)
            self._advance(inst)
            return copy.deepcopy(inst)

        return self._on_loop(snap)

    def instances(self) -> list[FakeInstance]:
        return [self.instance(i) for i in self._on_loop(lambda: sorted(self._instances))]

    def current_qr(self, instance_id: int) -> str | None:
        """The text encoded in the QR shown now, or None when no valid QR is shown."""

        def read() -> str | None:
            inst = self._get(instance_id)
            self._advance(inst)
            return inst.qrs[-1] if inst.showing_qr else None

        return self._on_loop(read)

    @property
    def sent(self) -> list[SentMessage]:
        return self._on_loop(lambda: list(self._sent))

    @property
    def sent_files(self) -> list[SentFile]:
        return self._on_loop(lambda: list(self._sent_files))

    def message_log(self, instance_id: int) -> list[dict[str, Any]]:
        """Every message `messages` can give for the instance (chat-api objects), oldest first."""
        return self._on_loop(lambda: copy.deepcopy(self._get(instance_id).messages))

    @property
    def origin(self) -> str:
        """Scheme, host and port of the server (`url` without `/v3`): where files are served."""
        return self._server.url

    # ------------------------------------------------------------------ the pool

    def _add_instance(self) -> FakeInstance:
        new_id = max(self._instances, default=FIRST_INSTANCE_ID - 1) + 1
        inst = FakeInstance(
            id=new_id,
            token=self._new_token(),
            instance_id=f"2a01:4f8:c17:ac8:3::{new_id:x}",
            chat_key=self._rng.randbytes(16).hex(),
            date_trial=None,
        )
        self._instances[new_id] = inst
        return inst

    def _new_token(self) -> str:
        return "".join(self._rng.choices(TOKEN_ALPHABET, k=16))

    def _free_instances(self) -> list[FakeInstance]:
        free = (i for i in self._instances.values() if not i.assigned and not i.reserved)
        return sorted(free, key=lambda i: i.id)

    def _get(self, instance_id: int) -> FakeInstance:
        try:
            return self._instances[instance_id]
        except KeyError:
            raise AssertionError(f"the fake has no instance {instance_id}") from None

    def _wipe(self, inst: FakeInstance) -> None:
        inst.old_tokens.append(inst.token)
        inst.token = self._new_token()
        inst.chat_key = self._rng.randbytes(16).hex()
        inst.assigned = inst.reserved = False
        self._reset_account(inst)
        self._sync_view(inst)

    def _reset_account(self, inst: FakeInstance) -> None:
        inst.name = inst.number = inst.pending_name = inst.pending_number = ""
        self._enter(inst, Phase.INIT)

    # ------------------------------------------------------------------ the clock

    def _enter(self, inst: FakeInstance, phase: Phase, *, at: float | None = None) -> None:
        inst.phase = phase
        inst.phase_started = time.monotonic() if at is None else at
        inst.qr_slot = -1
        inst.expired = False

    def _qr_slot(self, elapsed: float) -> int | None:
        """Which QR of the cycle is shown `elapsed` s into the QR phase; None once expired."""
        tl = self.timeline
        if elapsed < tl.first_qr_seconds:
            return 0
        slot = 1 + int((elapsed - tl.first_qr_seconds) // max(tl.rotate_seconds, 1e-9))
        return slot if slot < max(tl.max_qrs, 1) else None

    def _advance(self, inst: FakeInstance) -> None:
        """Apply every transition the clock has made due since the last look."""
        now = time.monotonic()
        tl = self.timeline
        if inst.phase is Phase.LOADING and now - inst.phase_started >= tl.init_seconds:
            # The next phase starts when loading ended, not when somebody looked.
            self._enter(inst, inst.after_loading, at=inst.phase_started + tl.init_seconds)
        if inst.phase is Phase.PAIRING and now - inst.phase_started >= tl.pair_seconds:
            inst.name, inst.number = inst.pending_name, inst.pending_number
            self._enter(inst, Phase.AUTHENTICATED, at=inst.phase_started + tl.pair_seconds)
        if inst.phase is Phase.QR and not inst.expired:
            slot = self._qr_slot(now - inst.phase_started)
            if slot is None:
                inst.expired = True
            elif slot > inst.qr_slot:
                inst.qrs.append(self._new_qr_content())
                inst.qr_slot = slot
        self._sync_view(inst)

    def _sync_view(self, inst: FakeInstance) -> None:
        view = {
            Phase.INIT: ("init", "init", "init"),
            Phase.LOADING: ("loading", "loading", "loading"),
            Phase.QR: ("got qr code", "got qr code", "expired" if inst.expired else "normal"),
            Phase.PAIRING: ("loading", "loading", "pairing"),
            Phase.AUTHENTICATED: ("authenticated", "CONNECTED", "normal"),
        }
        inst.status, inst.state, inst.substatus = view[inst.phase]

    def _wake(self, inst: FakeInstance, after: Phase = Phase.QR) -> None:
        self._enter(inst, Phase.LOADING)
        inst.after_loading = after
        self._sync_view(inst)

    # ------------------------------------------------------------------ messages and files

    def _log_message(
        self,
        inst: FakeInstance,
        *,
        chat_id: str,
        chat_name: str,
        author: str,
        sender_name: str,
        from_me: bool,
        body: str,
        kind: str,
        caption: str | None,
        at: float | None = None,
        message_id: str | None = None,
    ) -> str:
        if message_id is None:
            message_id = f"{'true' if from_me else 'false'}_{chat_id}_{self._hex_id()}"
            if chat_id.endswith("@g.us"):
                message_id += f"_{author}"  # WA-Web names the member in a group message's id
        inst.message_number += 1
        inst.messages.append(
            {
                "id": message_id,
                "body": body,
                "type": kind,
                "senderName": sender_name,
                "fromMe": from_me,
                "author": author,
                "time": int(time.time() if at is None else at),
                "chatId": chat_id,
                "chatName": chat_name,
                "messageNumber": inst.message_number,
                "caption": caption,
            }
        )
        return message_id

    def _echo(
        self,
        inst: FakeInstance,
        message_id: str,
        chat_id: str,
        body: str,
        kind: str,
        caption: str | None = None,
    ) -> None:
        """A message the client sent, as the log shows it (fromMe)."""
        if not self.echo_sent:
            return
        known = (m["chatName"] for m in reversed(inst.messages) if m["chatId"] == chat_id)
        self._log_message(
            inst,
            chat_id=chat_id,
            chat_name=next(known, chat_id.split("@")[0]),
            author=f"{inst.number or OWN_NUMBER}@c.us",
            sender_name=inst.name,
            from_me=True,
            body=body,
            kind=kind,
            caption=caption,
            message_id=message_id,
        )

    def _store_file(self, inst: FakeInstance, data: bytes, filename: str, mime: str) -> str:
        """Keep a file and answer the URL it is served at (the emulator's own origin)."""
        key = self._rng.randbytes(16).hex()
        self._files[key] = StoredFile(instance_id=inst.id, data=data, filename=filename, mime=mime)
        return f"{self.origin}/files/{key}/{quote(filename or 'file', safe='')}"

    def _file(self, path: str) -> web.Response:
        match = re.fullmatch(r"/files/([0-9a-f]{32})(?:/.*)?", path)
        stored = self._files.get(match[1]) if match else None
        if stored is None:
            return web.Response(status=404, text="404: Not Found")
        return web.Response(body=stored.data, headers={"Content-Type": stored.mime})

    def _drop_files(self, instance_id: int | None) -> int:
        gone = [k for k, f in self._files.items() if instance_id in (None, f.instance_id)]
        for key in gone:
            del self._files[key]
        return len(gone)

    def _hex_id(self) -> str:
        return self._rng.randbytes(10).hex().upper()

    # ------------------------------------------------------------------ QR codes

    def _new_qr_content(self) -> str:
        """Legacy (md=0) WA-Web QR text: ref, public key, client id (wappim.md S3)."""

        def b64(n: int) -> str:
            return base64.b64encode(self._rng.randbytes(n)).decode()

        return f"1@{b64(64)},{b64(32)},{b64(16)}"

    def _data_uri(self, content: str) -> str:
        uri = self._png_cache.get(content)
        if uri is None:
            qr = qrcode.QRCode(box_size=4, border=4)  # 244 px for the 160-character content
            qr.add_data(content)
            qr.make(fit=True)
            png = io.BytesIO()
            qr.make_image().save(png, format="PNG")
            uri = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
            self._png_cache[content] = uri
        return uri

    # ------------------------------------------------------------------ HTTP

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        try:
            fields = await _read_fields(request)
            unreadable: Exception | None = None
        except Exception as exc:  # still recorded below; answered with a 500 after the faults
            fields, unreadable = {}, exc
        faulty = await self._intake(request, fields=fields)
        if faulty is not None:
            return faulty
        if unreadable is not None:
            raise unreadable
        return self._dispatch(request, fields)

    def _header_ok(self, headers: Mapping[str, str]) -> bool:
        return (
            headers.get("X-Tasktest-Token") == self.token
            or headers.get(LEGACY_HEADER) == LEGACY_TOKEN
        )

    def _dispatch(self, request: web.Request, fields: dict[str, str]) -> web.Response:
        path = re.sub(r"/{2,}", "/", request.path).rstrip("/")
        if path.startswith("/files/"):
            return self._file(path)  # no header or token: the URL itself is the secret
        if path != "/v3" and not path.startswith("/v3/"):
            return web.Response(status=404, text="404: Not Found")
        if not self._header_ok(request.headers):
            return _json({"error_code": 401, "error_text": "Wrong X-Tasktest-Token"}, 401)
        if path == "/v3/chat/spare":
            return self._spare(request)
        match = re.fullmatch(r"/v3/instance(\d+)/([^/]+)", path)
        if match is None:
            return _json({"error_code": 404, "error_text": "Not found"}, 404)
        inst = self._instances.get(int(match[1]))
        if inst is None:
            return _json({"error": "Instance not found"}, 404)
        if request.query.get("token") != inst.token:
            return _json({"error": WRONG_TOKEN}, 401)
        method = self._methods.get(match[2])
        if method is None:
            return _json({"error": "Method not found"}, 404)
        self._advance(inst)
        return method(inst, request, fields)

    def _spare(self, request: web.Request) -> web.Response:
        crm = request.query.get("crm", "")
        if not crm:
            return _json({"error_code": 2, "error_text": "crm is required"})
        free = self._free_instances()
        if not free:
            return _json({"error_code": 1, "error_text": "No free chats"})
        inst = free[0]
        md = request.query.get("md", "0")
        inst.assigned = True
        inst.crm, inst.domain = crm, request.query.get("domain", "")
        inst.md = int(md) if md.isdigit() else 0
        inst.date_add = int(time.time())  # date_add resets on re-issue (wappim.md section 1)
        inst.date_trial = self._rng.choice([None, inst.date_add + TRIAL_SECONDS])
        inst.qrs = []
        inst.queue_number = 0
        inst.messages, inst.message_number = [], 0
        self._drop_files(inst.id)
        self._reset_account(inst)
        self._sync_view(inst)
        if self.spare_shape == "short":
            return _json({"id": inst.id, "token": inst.token, "instanceId": inst.instance_id})
        # The 17 keys in the order pasted from a real reply (wappim.md S3).
        return _json(
            {
                "id": inst.id,
                "instanceId": inst.instance_id,
                "token": inst.token,
                "chat_id": inst.instance_id,
                "md": inst.md,
                "chat_token": inst.token,
                "chat_key": inst.chat_key,
                "apikey": inst.chat_key,
                "date_add": inst.date_add,
                "date_trial": inst.date_trial,
                "date_pay": 0,
                "date_subscription": 0,
                "phone": "",
                "name": "",
                "platform": "",
                "status": 0,
                "is_premium": 0,
            }
        )

    # ------------------------------------------------------------------ instance methods

    def _m_status(
        self, inst: FakeInstance, request: web.Request, _: dict[str, str]
    ) -> web.Response:
        full = _is_truthy(request.query.get("full"))
        wakes = full and not _is_truthy(request.query.get("no_wakeup"))
        if wakes and (inst.phase is Phase.INIT or (inst.phase is Phase.QR and inst.expired)):
            self._wake(inst)
            self._advance(inst)  # a zero-length loading phase ends at once
        if inst.phase is Phase.INIT:
            return _json({"accountStatus": "init", "state": "init"})
        reply: dict[str, Any] = {"accountStatus": inst.status}
        if full and self.qr_style == "status" and inst.showing_qr:
            reply["qrCode"] = self._data_uri(inst.qrs[-1])  # right before "state" (S3)
        reply["state"] = inst.state
        reply["statusData"] = self._status_data(inst)
        return _json(reply)

    def _status_data(self, inst: FakeInstance) -> dict[str, Any]:
        """chat-api's statusData (wappim.md section 2); no known wapp.im client reads it."""
        if inst.phase is Phase.AUTHENTICATED:
            return {"substatus": "normal"}
        if inst.phase is Phase.PAIRING:
            return {
                "substatus": "pairing",
                "title": "Pairing",
                "msg": "Linking the device to the phone",
                "reason": "syncing",
            }
        if inst.phase is Phase.LOADING:
            return {
                "substatus": "loading",
                "title": "Loading",
                "msg": "The instance is starting, try again in a few seconds",
                "submsg": "Retrying...",
                "reason": "connecting",
            }
        if inst.expired:
            return {
                "substatus": "expired",
                "title": "QR code expired",
                "msg": "Request a new QR code with status?full=1",
                "actions": {"expiry": {"act": "expiry", "label": "Click to reload QR code"}},
            }
        return {
            "substatus": "normal",
            "title": "Scan the QR code",
            "msg": "WhatsApp → Settings → Linked devices → Link a device",
            "submsg": "The QR code is valid for one minute",
        }

    def _m_qr_code(self, inst: FakeInstance, _r: web.Request, _f: dict[str, str]) -> web.Response:
        html = f'<img src="{self._data_uri(inst.qrs[-1])}">' if inst.showing_qr else ""
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    def _m_me(self, inst: FakeInstance, _r: web.Request, _f: dict[str, str]) -> web.Response:
        if inst.phase is not Phase.AUTHENTICATED:
            return _json({"id": "undefined", "number": "", "name": ""})
        return _json(
            {
                "id": f"{inst.number}@c.us",
                "number": inst.number,
                "name": inst.name,
                "pushname": inst.name,
            }
        )

    def _m_send_message(
        self, inst: FakeInstance, request: web.Request, body_fields: dict[str, str]
    ) -> web.Response:
        fields = {**request.query, **body_fields}
        body = fields.get("body", "")
        if not body:
            return _json({"error_code": 3, "error_text": "body is required"})
        given, chat_id = _recipient(fields)
        if chat_id is None:
            return _json({"error_code": 4, "error_text": "phone or chatId is required"})
        inst.queue_number += 1
        message_id = f"true_{chat_id}_{self._hex_id()}"
        queued = inst.phase is not Phase.AUTHENTICATED
        self._sent.append(
            SentMessage(
                instance_id=inst.id,
                phone=fields.get("phone") or given,
                chat_id=chat_id,
                body=body,
                fields=fields,
                message_id=message_id,
                queued_unauthorised=queued,
                at=time.monotonic(),
            )
        )
        if not queued:
            self._echo(inst, message_id, chat_id, body, "chat")
        return self._sent_reply(inst, chat_id, message_id, queued)

    def _m_send_file(
        self, inst: FakeInstance, request: web.Request, body_fields: dict[str, str]
    ) -> web.Response:
        fields = {**request.query, **body_fields}
        body = fields.get("body", "").strip()
        if not body:
            return _json({"error_code": 3, "error_text": "body is required"})
        given, chat_id = _recipient(fields)
        if chat_id is None:
            return _json({"error_code": 4, "error_text": "phone or chatId is required"})
        filename = fields.get("filename", "").strip()
        if not filename:
            return _json({"error_code": 6, "error_text": "filename is required"})
        mime: str | None = None
        data: bytes | None = None
        url: str | None = None
        if body.lower().startswith("data:"):
            decoded = _decode_data_uri(body)
            if decoded is None:
                return _json({"error_code": 5, "error_text": "body is not a valid data URI"})
            mime, data = decoded
        elif re.match(r"https?://", body, re.I):
            url = body
        else:
            return _json({"error_code": 5, "error_text": "body must be a URL or a data URI"})
        inst.queue_number += 1
        message_id = f"true_{chat_id}_{self._hex_id()}"
        queued = inst.phase is not Phase.AUTHENTICATED
        caption = fields.get("caption", "")
        self._sent_files.append(
            SentFile(
                instance_id=inst.id,
                phone=fields.get("phone") or given,
                chat_id=chat_id,
                filename=filename,
                mime=mime,
                data=data,
                url=url,
                caption=caption,
                fields=fields,
                message_id=message_id,
                queued_unauthorised=queued,
                at=time.monotonic(),
            )
        )
        if not queued:
            where = url or self._store_file(inst, data or b"", filename, mime or "")
            self._echo(inst, message_id, chat_id, where, _type_for(mime), caption or None)
        return self._sent_reply(inst, chat_id, message_id, queued)

    def _sent_reply(
        self, inst: FakeInstance, chat_id: str, message_id: str, queued: bool
    ) -> web.Response:
        message = NOT_AUTHENTICATED.format(chat_id=chat_id) if queued else f"Sent to {chat_id}"
        return _json(
            {
                "sent": "true" if self.sent_as == "string" else True,
                "message": message,
                "id": message_id,
                "queueNumber": inst.queue_number,
            }
        )

    def _m_messages(
        self, inst: FakeInstance, request: web.Request, body_fields: dict[str, str]
    ) -> web.Response:
        fields = {**request.query, **body_fields}
        after = _int_or(fields.get("lastMessageNumber"), 0)
        limit = _int_or(fields.get("limit"), DEFAULT_LIMIT)
        if limit < 0:
            limit = DEFAULT_LIMIT
        if self.inclusive_bound:
            picked = [m for m in inst.messages if m["messageNumber"] >= after]
        else:
            picked = [m for m in inst.messages if m["messageNumber"] > after]
        if limit:
            picked = picked[:limit]
        last = picked[-1]["messageNumber"] if picked else after
        return _json({"messages": copy.deepcopy(picked), "lastMessageNumber": last})

    def _m_logout(self, inst: FakeInstance, _r: web.Request, _f: dict[str, str]) -> web.Response:
        self._reset_account(inst)
        self._sync_view(inst)
        return _json({"accountStatus": "Logout request sent to WhatsApp"})

    def _m_remove_chat(
        self, inst: FakeInstance, _r: web.Request, _f: dict[str, str]
    ) -> web.Response:
        inst.assigned = False  # back to the pool, token kept (tokens survive re-issue)
        self._reset_account(inst)
        self._sync_view(inst)
        return _json({"success": True})

    def _m_reboot(self, inst: FakeInstance, _r: web.Request, _f: dict[str, str]) -> web.Response:
        linked = inst.phase in (Phase.AUTHENTICATED, Phase.PAIRING)
        if inst.phase is Phase.PAIRING:  # the scan went through before the restart
            inst.name, inst.number = inst.pending_name, inst.pending_number
        self._wake(inst, Phase.AUTHENTICATED if linked else Phase.QR)
        return _json({"success": True})

    def _m_expiry(self, inst: FakeInstance, _r: web.Request, _f: dict[str, str]) -> web.Response:
        if not (inst.phase is Phase.QR and inst.expired):
            text = 'Expiry request not sent because substatus don\'t equals "expired"'
            return _json({"accountStatus": text})
        self._enter(inst, Phase.QR)
        self._advance(inst)
        return _json({"accountStatus": "Expiry request sent to WhatsApp"})

    def _m_is_registered_user(
        self, _i: FakeInstance, request: web.Request, _f: dict[str, str]
    ) -> web.Response:
        digits = re.sub(r"\D", "", request.query.get("phone", ""))
        return _json(10 <= len(digits) <= 15)
