"""whinmovilla (inUtil-Labs "slot" API) driver (api/gateways.md section C; seed 003, a draft).

A slot is one WhatsApp robot with an 8-character id, in exactly one state: `available`, `active`
(bound to a line) or `sleeping` (bound, paused on purpose). A person gets a free slot, scans the
QR of `/enroll/:slotid`, and the slot becomes `active` with their number as its line. Every
request carries `Authorization: Bearer <token>`; parameters go in the path.

Choices where the draft is silent ([H]):

- **Verbs.** Everything is a GET with path parameters. Reads (`/slots…`, `/slots2lines`,
  `/enroll`) may be repeated by the transport; `/sleepid`, `/resumeid` and `/kill` are repeated
  only if they never left this machine (a second `sleepid` would answer 422 "already asleep").
- **List replies** ("a vector of JSON key/value pairs") are read in every plausible shape:
  `[{"<id>": "<value>"}, …]`, `{"<id>": "<value>", …}`, records such as
  `[{"slotid": "…", "status": "…"}]` / `[{"slot": "…", "line": "…"}]`, a bare list of ids, or
  any of these wrapped in a one-key object (`{"slots": […]}`).
- **acquire** takes the first slot of `/slots/available` that this process has not handed out in
  the last `hold_seconds`: the API reserves nothing, so two people asking at once would otherwise
  get the same slot. No such slot → NoFreeLinesError. `release()` drops the hold.
  `Line.token` is empty: the Bearer token is the integrator's, not per slot.
- **status** reads `/slots` only (one call per poll): `active` → AUTHORIZED, `sleeping` →
  SLEEPING, a slot missing from the list → NotFoundError, any other word → UNKNOWN. `available`
  means "show the QR": AWAITING_QR with the QR of `/enroll/:slotid` (STARTING while it gives none).
  A slot this process saw bound since the last `start()`/`acquire()` that is `available` again was
  unlinked (phone, `/kill`): LOGGED_OUT, and `/enroll` is *not* called, since that could rotate
  the QR of whoever holds the slot now. After a restart that memory is gone and such a slot shows
  AWAITING_QR; the chat service already reads "a linked line shows a QR" as logged out.
- **QR.** Each `/enroll` call may start a new pairing and so a new QR: it is called only when
  this process has no QR for the slot or the one it has is older than `qr_refresh_seconds`
  (20 s, whatsmeow's rotation), one call at a time per slot. `qr_lifetimes` says 20 s to match.
  The value may be the QR content (`2@…,…,…,…`), base64 of that content, a base64 PNG or a data
  URI; `parse_qr` follows the "robust client rule" of gateways.md C.1.
- **account** is the slot's line from `/slots2lines` (international digits); the name is never
  given (None). **pause/resume** use `/sleepid/:slot` and `/resumeid/:slot`. **logout** and
  **release** look the line up in `/slots2lines` and call `/kill/:line` (which unbinds it and
  deletes its keys, so the slot is `available` again); with no line bound there is nothing to kill.
  A 200 reply other than "OK" is accepted (logged): the draft names no other success text.
- **details** shows the slot id (no call). An empty token sends no Authorization header (401).
- **Sending** is not in the draft (its "Messaging endpoints" section stops after the general
  remarks): `send_text` and `send_media` raise UnsupportedError from `_send`, the one place to
  add it. Delivery receipts and inbound messages (POSTed to one integrator URL) are not handled.
- **Errors:** 401/403 → AuthError, 404 → NotFoundError, 422 (a text body) → InvalidRequestError
  with that text, 429 → RateLimitedError, other 4xx → InvalidRequestError, 5xx → UpstreamError
  (after the transport's retries for reads).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import time
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from bot.gateways.base import (
    Account,
    AuthError,
    Enrolment,
    Gateway,
    GatewayError,
    InvalidRequestError,
    Line,
    LineState,
    LineStatus,
    NoFreeLinesError,
    NotFoundError,
    Qr,
    RateLimitedError,
    SentMessage,
    UnsupportedError,
    digits,
)
from bot.gateways.http import GatewayHttp, json_body, retry_after
from bot.gateways.qr import qr_from_text
from bot.logs import secrets

log = logging.getLogger(__name__)

# Field names a record-shaped list reply might use (case-insensitive).
SLOT_KEYS = ("slotid", "slot_id", "slot", "id")
STATUS_KEYS = ("status", "state", "estado")
LINE_KEYS = ("line", "linea", "phone", "number")

# whatsmeow's pairing QR: "<ref>,<noise key>,<identity key>,<adv secret>", the ref like "2@…".
_QR_CONTENT = re.compile(r"\d@[^\s,]+(,[^\s,]+)+")
_BASE64 = re.compile(r"[A-Za-z0-9+/=_-]+")

Pairs = list[tuple[str, str | None]]


def parse_pairs(body: Any, key_names: tuple[str, ...], value_names: tuple[str, ...]) -> Pairs:
    """A "vector of key/value pairs" in any plausible shape → [(key, value or None), …]."""
    if isinstance(body, list):
        pairs: Pairs = []
        for item in body:
            if isinstance(item, str | int) and not isinstance(item, bool):
                pairs.append((str(item), None))
            elif isinstance(item, dict):
                pairs.extend(_record_pairs(item, key_names, value_names))
        return pairs
    if isinstance(body, dict):
        if _field(body, key_names) is not None:
            return _record_pairs(body, key_names, value_names)
        nested = [v for v in body.values() if isinstance(v, list | dict)]
        if len(body) == 1 and nested:
            return parse_pairs(nested[0], key_names, value_names)  # {"slots": [...]}
        return [(str(k), _text(v)) for k, v in body.items() if not isinstance(v, list | dict)]
    return []


def _record_pairs(
    item: dict[str, Any], key_names: tuple[str, ...], value_names: tuple[str, ...]
) -> Pairs:
    key = _field(item, key_names)
    if key is not None:
        return [(key, _field(item, value_names))]
    # {"<id>": "<value>"}: usually one pair per object; several are read the same way.
    return [(str(k), _text(v)) for k, v in item.items() if not isinstance(v, list | dict)]


def _field(item: dict[str, Any], names: tuple[str, ...]) -> str | None:
    lowered = {str(k).lower(): v for k, v in item.items()}
    for name in names:
        if name in lowered and not isinstance(lowered[name], list | dict):
            return _text(lowered[name])
    return None


def _text(value: object) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def parse_qr(value: str) -> Qr | None:
    """`/enroll`'s "qr": QR content, base64 of the content, a base64 PNG or a data URI."""
    value = value.strip()
    if not value:
        return None
    if _QR_CONTENT.fullmatch(value):
        return Qr(content=value)
    decoded = _b64_text(value)
    if decoded is not None and _QR_CONTENT.fullmatch(decoded):
        return Qr(content=decoded)
    # A data URI or base64 image is read back to its content; anything else is the content.
    return qr_from_text(value)


def _b64_text(value: str) -> str | None:
    if not _BASE64.fullmatch(value):
        return None
    try:
        padded = value + "=" * (-len(value) % 4)
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        return raw.decode("ascii").strip()
    except (binascii.Error, ValueError):
        return None


class WhinmovillaGateway(Gateway):
    name = "whinmovilla"
    title = "whinmovilla"
    enrolment = Enrolment.SPARE
    qr_lifetimes: ClassVar[tuple[float, float]] = (20.0, 20.0)  # = qr_refresh_seconds

    # Per-instance knobs (tests shrink them).
    qr_refresh_seconds: float = 20.0  # fetch a new QR from /enroll after this long
    hold_seconds: float = 600.0  # a slot handed out by acquire() is not handed out again

    def __init__(
        self, api_url: str, token: str, *, timeout: float = 15.0, breaker_seconds: float = 30.0
    ) -> None:
        secrets.add(token)  # the Bearer token travels in a header: keep it out of any log line
        self.http = GatewayHttp(
            api_url,
            name="whinmovilla",
            # No token → no header (a 401, AuthError); httpx refuses a bare "Bearer ".
            headers={"Authorization": f"Bearer {token.strip()}"} if token.strip() else {},
            timeout=timeout,
            breaker_cooldown=breaker_seconds,
        )
        self._held: dict[str, float] = {}  # slot → when acquire() handed it out (monotonic)
        self._qrs: dict[str, tuple[Qr, float]] = {}  # slot → (last QR, when /enroll gave it)
        self._qr_locks: dict[str, asyncio.Lock] = {}
        self._was_linked: set[str] = set()  # slots seen active/sleeping since start()/acquire()

    # ------------------------------------------------------------------ life cycle

    async def acquire(self, credentials: dict[str, str] | None = None) -> Line:
        body = await self._json("slots/available")
        now = time.monotonic()
        self._held = {s: t for s, t in self._held.items() if now - t < self.hold_seconds}
        for slot, state in parse_pairs(body, SLOT_KEYS, STATUS_KEYS):
            if state is not None and state.lower() != "available":
                continue  # a reply that lists more than it was asked for
            if slot in self._held:
                continue  # someone else here is enrolling it right now
            self._held[slot] = now
            self._forget(slot)
            return Line(instance_id=slot, token="")
        raise NoFreeLinesError("whinmovilla: no available slot")

    async def start(self, line: Line) -> None:
        """Nothing to wake up; a fresh enrolment starts with no QR and no "was linked" memory."""
        self._forget(line.instance_id)

    async def status(self, line: Line) -> LineStatus:
        slot = line.instance_id
        states = dict(parse_pairs(await self._json("slots"), SLOT_KEYS, STATUS_KEYS))
        if slot not in states:
            raise NotFoundError("whinmovilla: the slot is not in /slots")
        raw = states[slot] or ""
        word = raw.lower()
        if word in ("active", "sleeping"):
            self._was_linked.add(slot)
            self._qrs.pop(slot, None)
            state = LineState.AUTHORIZED if word == "active" else LineState.SLEEPING
            return LineStatus(state=state, raw=raw)
        if word != "available":
            return LineStatus(state=LineState.UNKNOWN, raw=raw)
        if slot in self._was_linked:
            return LineStatus(state=LineState.LOGGED_OUT, raw=raw)
        qr = await self._qr(slot)
        state = LineState.AWAITING_QR if qr is not None else LineState.STARTING
        return LineStatus(state=state, qr=qr, raw=raw)

    async def account(self, line: Line) -> Account:
        return Account(name=None, phone=await self._line_of(line.instance_id))

    async def pause(self, line: Line) -> None:
        await self._action(f"sleepid/{_seg(line.instance_id)}")

    async def resume(self, line: Line) -> None:
        await self._action(f"resumeid/{_seg(line.instance_id)}")

    async def logout(self, line: Line) -> None:
        """`/kill/:line` unbinds the line and deletes its keys; no line bound → nothing to do."""
        phone = await self._line_of(line.instance_id)
        if phone is not None:
            await self._action(f"kill/{_seg(phone)}")
        self._qrs.pop(line.instance_id, None)

    async def release(self, line: Line) -> None:
        """Kill the binding if any; the slot is then `available` for anyone."""
        await self.logout(line)
        self._held.pop(line.instance_id, None)
        self._forget(line.instance_id)

    async def details(self, line: Line) -> dict[str, str]:
        return {"slot": line.instance_id}

    async def aclose(self) -> None:
        await self.http.aclose()

    # ------------------------------------------------------------------ messages

    async def send_text(
        self, line: Line, phone: str, text: str, *, quoted: str | None = None
    ) -> SentMessage:
        return await self._send(line, phone, {"text": text})

    async def send_media(
        self,
        line: Line,
        phone: str,
        url: str,
        *,
        caption: str | None = None,
        filename: str | None = None,
    ) -> SentMessage:
        return await self._send(line, phone, {"document": {"url": url}, "caption": caption})

    async def _send(self, line: Line, phone: str, content: dict[str, Any]) -> SentMessage:
        # The draft documents NO send endpoint. If whinmovilla has the one of its sibling product
        # whinself (gateways.md C.2, a guess), sending would go here, roughly:
        #     response = await self.http.request(
        #         "POST", "wspout", json={"jid": f"{phone}@s.whatsapp.net", **content},
        #         idempotent=False,
        #     )
        #     _raise_for_status(response)     # whinself answers 200 with a text, no message id
        #     return SentMessage(message_id=None)
        # (how a request would name the sending slot/line is unknown as well).
        raise UnsupportedError("whinmovilla documents no send endpoint")

    # ------------------------------------------------------------------ plumbing

    def _forget(self, slot: str) -> None:
        self._qrs.pop(slot, None)
        self._was_linked.discard(slot)

    async def _qr(self, slot: str) -> Qr | None:
        lock = self._qr_locks.setdefault(slot, asyncio.Lock())
        async with lock:  # one /enroll at a time per slot: each call may rotate the QR
            cached = self._qrs.get(slot)
            if cached is not None and time.monotonic() - cached[1] < self.qr_refresh_seconds:
                return cached[0]
            body = await self._json(f"enroll/{_seg(slot)}")
            value = body.get("qr") if isinstance(body, dict) else body
            qr = parse_qr(value) if isinstance(value, str) else None
            if qr is not None:
                self._qrs[slot] = (qr, time.monotonic())
            return qr

    async def _line_of(self, slot: str) -> str | None:
        lines = dict(parse_pairs(await self._json("slots2lines"), SLOT_KEYS, LINE_KEYS))
        return digits(lines.get(slot)) or None

    async def _json(self, path: str) -> Any:
        response = await self.http.request("GET", path, idempotent=True, label=_label(path))
        _raise_for_status(response)
        return json_body(response, "whinmovilla")

    async def _action(self, path: str) -> None:
        response = await self.http.request("GET", path, idempotent=False, label=_label(path))
        _raise_for_status(response)
        text = response.text.strip().strip('"')
        if text.upper() != "OK":
            log.info("whinmovilla: %s answered 200 with %r", path.split("/", 1)[0], text[:40])


def _seg(value: str) -> str:
    """A path parameter, escaped so that an odd slot id cannot change the route."""
    return quote(value, safe="")


def _label(path: str) -> str:
    """The call's name for the metrics: the route without its slot id or phone (a slot id may
    be letters only, which `api_method` would keep)."""
    return path.split("/", 1)[0]


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    text = " ".join(response.text.split())[:160]
    detail = f"whinmovilla: HTTP {status}: {text or '(no text)'}"
    error: type[GatewayError]
    if status in (401, 403):
        error = AuthError
    elif status == 404:
        error = NotFoundError
    elif status == 429:
        raise RateLimitedError(detail, retry_after=retry_after(response))
    else:
        error = InvalidRequestError  # 422 "<why>", and any other refusal
    raise error(detail)
