"""An offline emulator of the whinmovilla slot API (inUtil-Labs, for Inmovilla), for tests.

`FakeWhinmovilla` is a real aiohttp server on 127.0.0.1 (see `server.py`) that behaves the way
seed 003 (a draft integrator manual) and `/work/shared/api/gateways.md` section C describe the
service: N slots with 8-character alphanumeric ids, each `available`, `active` or `sleeping`;
`/enroll/:slotid` hands out a rotating pairing QR; a phone that scans binds its line to the slot
(and unbinds it from any other slot); lines are put to sleep, woken and killed by line or slot.
`url` is the API base (the real one is `https://apinmovilla.inutil-labs.com/`).

Slot life cycle (times come from `WhinmovillaTimeline`)::

    available ──/enroll──▶ available + pairing (QR #1, #2, … every qr_rotate_seconds)
        ▲                        │ scan(slot, line) ──pair_seconds──▶ active ◀──/resume…──┐
        │                                                                │              │
        └──────── /kill/:line, unlink_from_phone(), the line enrolled elsewhere ◀── sleeping
                                                                 active ──/sleep…──▶ sleeping

Hypotheses ([H]) chosen where the draft has no evidence:

- Every endpoint is a GET with path parameters; an unknown route or another verb gets Express's
  404 text `Cannot <VERB> <path>`. A trailing slash is ignored.
- Auth: `Authorization: Bearer <token>`. No or malformed header: 401 `Unauthorized`; a wrong
  token: 403 `Forbidden` (plain text). Auth is checked before the route.
- List replies, in the shape `list_shape` picks ("a vector of JSON key/value pairs"):

  | endpoint | `pairs` (default) | `records` | `object` |
  |---|---|---|---|
  | `/slots`, `/slots/:status` | `[{"<slot>": "<status>"}]` | `[{"slotid": …, "status": …}]` | `{"<slot>": "<status>"}` |
  | `/slots2lines` (every slot) | `[{"<slot>": "<line>" or null}]` | `[{"slotid": …, "line": …}]` | `{"<slot>": …}` |
  | `/lines2slots` (bound lines) | `[{"<line>": "<slot>"}]` | `[{"line": …, "slotid": …}]` | `{"<line>": "<slot>"}` |

  Slots are listed in creation order. `/slots/:status` with another word: 422 `Invalid status`.
- `/enroll/:slotid` → `{"qr": "<value>"}`, the value per `qr_format`: `content` (the QR text),
  `b64content` (base64 of that text: the draft's "b64 string of the QR code to render"),
  `png_b64` (base64 PNG), `data_uri` (`data:image/png;base64,…`). The content is whatsmeow's
  `2@<ref>,<noise key>,<identity key>,<adv secret>` (base64 parts). The first call starts pairing;
  the QR then rotates every `qr_rotate_seconds` whether or not anyone asks, and each call answers
  the QR valid now. An unknown slot: 404 `Slot not found`; an active/sleeping slot: 422
  `Slot <id> is not available`. While pairing, `/slots` still says `available`.
- `scan()` needs a slot that is pairing; the slot turns `active` after `pair_seconds`.
- `/sleep…`, `/resume…`, `/kill` answer 200 `OK` (text/plain) or 422 with an English reason:
  unknown slot or line, a slot with no line, sleeping a line that is not active, resuming one that
  is not sleeping. `/kill` frees the slot (back to `available`, no QR) and forgets the line's keys.
- Nothing is emulated for sending (the draft has no send endpoint) or for inbound webhooks.
- Any exception in a handler becomes a 500 with a plain-text body; the server never dies.

Thread-safety: slot state lives on the server's event loop and handlers never await while
changing it; knobs called from another thread run there through `BackgroundServer.call`. The
plain attributes (`timeline`, `qr_format`, `list_shape`) can be set from anywhere.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import random
import re
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import qrcode
from aiohttp import web

from tests.fakes.emulator import Emulator, RequestRecord

WHIN_TOKEN = "whin-test-bearer-7f3c2a9e41d8"
SLOT_ALPHABET = string.ascii_letters + string.digits
STATUSES = ("available", "active", "sleeping")
DEFAULT_LINE = "34666123456"  # the draft's example line

QrFormat = Literal["content", "b64content", "png_b64", "data_uri"]
ListShape = Literal["pairs", "records", "object"]

TRUNCATED_JSON = b'[{"aB3dE5fG":"avail'


@dataclass
class WhinmovillaTimeline:
    """How long the slow phases last, in seconds (tests use tiny values)."""

    qr_rotate_seconds: float = 20.0  # lifetime of each pairing QR (whatsmeow's rotation)
    pair_seconds: float = 0.0  # between scan() and `active`


@dataclass
class FakeSlot:
    """One robot. `slot()` hands out deep copies of these."""

    id: str
    status: str = "available"  # what /slots shows: available | active | sleeping
    line: str = ""  # the bound line (international digits), "" when none
    pairing: bool = False  # /enroll called and no scan yet
    qrs: list[str] = field(default_factory=list)  # every QR content issued, oldest first
    qr_started: float = 0.0  # monotonic, when qrs[-1] became valid
    pending_line: str = ""  # scanned, bound once pair_seconds are over
    scanned_at: float = 0.0
    enrolls: int = 0  # /enroll calls answered


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d))


def _text(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/plain")


_OK = "OK"


class FakeWhinmovilla(Emulator[RequestRecord]):
    """The whinmovilla emulator; `url` is what the bot gets as WHIN_API_URL."""

    malformed_body = TRUNCATED_JSON

    def __init__(
        self,
        *,
        token: str = WHIN_TOKEN,
        slots: int = 3,
        timeline: WhinmovillaTimeline | None = None,
        qr_format: QrFormat = "content",
        list_shape: ListShape = "pairs",
        seed: int | None = None,
    ) -> None:
        super().__init__(RequestRecord)
        self.token = token
        self.timeline = timeline or WhinmovillaTimeline()
        self.qr_format: QrFormat = qr_format
        self.list_shape: ListShape = list_shape
        self._rng = random.Random(seed)
        self._slots: dict[str, FakeSlot] = {}
        for _ in range(slots):
            self._add_slot()
        self._killed: list[str] = []  # lines whose keys /kill deleted
        self._png_cache: dict[str, str] = {}  # QR content → base64 PNG

    # ------------------------------------------------------------------ knobs

    def scan(self, slot_id: str, line: str = DEFAULT_LINE, *, qr: str | None = None) -> None:
        """The phone of `line` scans the slot's QR (or checks that `qr` is the one shown now)."""

        def apply() -> None:
            slot = self._get(slot_id)
            self._advance(slot)
            if not slot.pairing or not slot.qrs:
                raise AssertionError(f"slot {slot_id} shows no QR to scan (status {slot.status})")
            if qr is not None and qr != slot.qrs[-1]:
                stale = "an older QR of this slot" if qr in slot.qrs else "not a QR it issued"
                raise AssertionError(f"slot {slot_id}: the scanned QR is {stale}")
            slot.pending_line, slot.scanned_at = line, time.monotonic()
            self._advance(slot)

        self._on_loop(apply)

    def bind(self, slot_id: str, line: str = DEFAULT_LINE, *, status: str = "active") -> None:
        """Set a slot up as already enrolled (`active` or `sleeping`), skipping the QR."""

        def apply() -> None:
            slot = self._get(slot_id)
            self._bind(slot, line)
            slot.status = status

        self._on_loop(apply)

    def unlink_from_phone(self, slot_id: str) -> None:
        """The user removed the linked device on the phone: the slot is free again."""
        self._on_loop(lambda: self._free(self._get(slot_id)))

    def add_slots(self, n: int) -> list[str]:
        return self._on_loop(lambda: [self._add_slot().id for _ in range(n)])

    def add_slot(self, slot_id: str) -> None:
        """A slot with this id (letters only, say: the draft promises no shape)."""
        self._on_loop(lambda: self._slots.setdefault(slot_id, FakeSlot(id=slot_id)))

    # ------------------------------------------------------------------ what happened

    @property
    def slot_ids(self) -> list[str]:
        return self._on_loop(lambda: list(self._slots))

    def slot(self, slot_id: str) -> FakeSlot:
        """A snapshot of the slot, brought up to date with the clock."""

        def snap() -> FakeSlot:
            slot = self._get(slot_id)
            self._advance(slot)
            return copy.deepcopy(slot)

        return self._on_loop(snap)

    def current_qr(self, slot_id: str) -> str | None:
        """The text encoded in the QR valid now, or None when the slot is not pairing."""

        def read() -> str | None:
            slot = self._get(slot_id)
            self._advance(slot)
            return slot.qrs[-1] if slot.pairing and slot.qrs else None

        return self._on_loop(read)

    @property
    def killed(self) -> list[str]:
        return self._on_loop(lambda: list(self._killed))

    # ------------------------------------------------------------------ slots and the clock

    def _add_slot(self) -> FakeSlot:
        while True:
            slot_id = "".join(self._rng.choices(SLOT_ALPHABET, k=8))
            if slot_id not in self._slots:
                break
        slot = FakeSlot(id=slot_id)
        self._slots[slot_id] = slot
        return slot

    def _get(self, slot_id: str) -> FakeSlot:
        try:
            return self._slots[slot_id]
        except KeyError:
            raise AssertionError(f"the fake has no slot {slot_id!r}") from None

    def _advance(self, slot: FakeSlot) -> None:
        """Apply every transition the clock has made due since the last look."""
        now = time.monotonic()
        if slot.pending_line and now - slot.scanned_at >= self.timeline.pair_seconds:
            self._bind(slot, slot.pending_line)
            return
        if slot.pairing and slot.qrs:
            rotate = max(self.timeline.qr_rotate_seconds, 1e-9)
            elapsed = now - slot.qr_started
            if elapsed >= rotate and not slot.pending_line:
                slot.qrs.append(self._new_qr_content())
                # The new QR became valid when the old one expired, not when somebody looked.
                slot.qr_started += rotate * int(elapsed // rotate)

    def _bind(self, slot: FakeSlot, line: str) -> None:
        """Bind `line` to `slot` (one-to-one: unbinding it from any other slot first)."""
        for other in self._slots.values():
            if other is not slot and other.line == line:
                self._free(other)
        slot.line, slot.status = line, "active"
        slot.pairing, slot.pending_line = False, ""

    def _free(self, slot: FakeSlot) -> None:
        slot.status, slot.line = "available", ""
        slot.pairing, slot.pending_line, slot.qrs = False, "", []

    def _slot_of_line(self, line: str) -> FakeSlot | None:
        return next((s for s in self._slots.values() if s.line == line), None)

    # ------------------------------------------------------------------ QR codes

    def _new_qr_content(self) -> str:
        """whatsmeow's pairing text: ref, noise key, identity key, adv secret."""

        def b64(n: int) -> str:
            return base64.b64encode(self._rng.randbytes(n)).decode()

        return f"2@{b64(48)},{b64(32)},{b64(32)},{b64(32)}"

    def _qr_value(self, content: str) -> str:
        if self.qr_format == "content":
            return content
        if self.qr_format == "b64content":
            return base64.b64encode(content.encode()).decode()
        png = self._png_cache.get(content)
        if png is None:
            qr = qrcode.QRCode(box_size=4, border=4)
            qr.add_data(content)
            qr.make(fit=True)
            buffer = io.BytesIO()
            qr.make_image().save(buffer, format="PNG")
            png = self._png_cache[content] = base64.b64encode(buffer.getvalue()).decode()
        return png if self.qr_format == "png_b64" else "data:image/png;base64," + png

    # ------------------------------------------------------------------ HTTP

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        faulty = await self._intake(request)
        return faulty if faulty is not None else self._dispatch(request)

    def _dispatch(self, request: web.Request) -> web.Response:
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            return _text("Unauthorized", 401)
        if credential.strip() != self.token:
            return _text("Forbidden", 403)
        parts = [p for p in request.path.split("/") if p]
        not_found = _text(f"Cannot {request.method} {request.path}", 404)
        if request.method != "GET" or not parts:
            return not_found
        for slot in self._slots.values():
            self._advance(slot)
        name, args = parts[0], parts[1:]
        if name == "slots" and len(args) <= 1:
            return self._slots_list(args[0] if args else None)
        if len(args) == 0:
            if name == "slots2lines":
                return self._pairs(
                    [(s.id, s.line or None) for s in self._slots.values()], "slotid", "line"
                )
            if name == "lines2slots":
                bound = [(s.line, s.id) for s in self._slots.values() if s.line]
                return self._pairs(bound, "line", "slotid")
            return not_found
        if len(args) != 1:
            return not_found
        arg = args[0]
        actions: dict[str, Callable[[str], web.Response]] = {
            "enroll": self._enroll,
            "sleep": lambda line: self._sleep(self._slot_of_line(line), f"Line {line}"),
            "sleepid": lambda sid: self._sleep(self._slots.get(sid), f"Slot {sid}"),
            "resume": lambda line: self._resume(self._slot_of_line(line), f"Line {line}"),
            "resumeid": lambda sid: self._resume(self._slots.get(sid), f"Slot {sid}"),
            "kill": self._kill,
        }
        action = actions.get(name)
        return action(arg) if action is not None else not_found

    def _pairs(self, pairs: Sequence[tuple[str, str | None]], key: str, value: str) -> web.Response:
        if self.list_shape == "object":
            return _json(dict(pairs))
        if self.list_shape == "records":
            return _json([{key: k, value: v} for k, v in pairs])
        return _json([{k: v} for k, v in pairs])

    def _slots_list(self, status: str | None) -> web.Response:
        if status is not None and status not in STATUSES:
            return _text(f"Invalid status: {status}", 422)
        listed = [(s.id, s.status) for s in self._slots.values() if status in (None, s.status)]
        return self._pairs(listed, "slotid", "status")

    def _enroll(self, slot_id: str) -> web.Response:
        slot = self._slots.get(slot_id)
        if slot is None:
            return _text("Slot not found", 404)
        if slot.status != "available":
            return _text(f"Slot {slot_id} is not available", 422)
        if not slot.pairing or not slot.qrs:
            slot.pairing = True
            slot.qrs.append(self._new_qr_content())
            slot.qr_started = time.monotonic()
        slot.enrolls += 1
        return _json({"qr": self._qr_value(slot.qrs[-1])})

    def _sleep(self, slot: FakeSlot | None, what: str) -> web.Response:
        if slot is None:
            return _text(f"{what} not found", 422)
        if not slot.line:
            return _text(f"{what} has no line", 422)
        if slot.status != "active":
            return _text(f"{what} is not active", 422)
        slot.status = "sleeping"
        return _text(_OK)

    def _resume(self, slot: FakeSlot | None, what: str) -> web.Response:
        if slot is None:
            return _text(f"{what} not found", 422)
        if slot.status != "sleeping":
            return _text(f"{what} is not sleeping", 422)
        slot.status = "active"
        return _text(_OK)

    def _kill(self, line: str) -> web.Response:
        slot = self._slot_of_line(line) if re.fullmatch(r"\d+", line) else None
        if slot is None:
            return _text(f"Line {line} not found", 422)
        self._free(slot)
        self._killed.append(line)
        return _text(_OK)
