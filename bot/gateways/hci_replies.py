"""What HCI Whats Center answers (api/gateways.md part D; seed 004), read into plain values.

`reply_data` opens the `{success, data}` envelope of every reply, or raises the matching error;
`parse_areas`, `parse_operators`, `parse_contacts`, `parse_messages` and `parse_sent_id` read its
`data` into `HciArea`, `HciOperator`, `HciContact` and `HciMessage` (the client is `hci.py`).

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

- **Ids in replies.** An area is `{idarea, name}` (also `id` or `_id`), an operator
  `{operatorId, name}` (also `id` or `_id`); the seed shows neither shape. A contact's number is
  its `id` (else `contactNumber`), reduced to digits; one without digits is skipped.
- **Waiting.** A contact whose `operatorId` is "0", 0, "" or missing is in its area's queue
  (`HciContact.operator_id` is then "").
- **Messages.** `data` is the list of the chat's messages, oldest first (a `{messages: […]}`
  object is read too). `key` is the message's `id` (else `_id`), else "#<position>", the 0-based
  index in that list: a chat whose messages have no ids must only ever grow at its end for
  positions to de-duplicate. `content` is kept exactly as HCI gives it, never base64-decoded
  (plain "Ok" is valid base64; only our own sends are encoded, and HCI stores the text).
  `type` is lower-cased, "text" when missing; media types are image | pdf | audio | video.
  `from` is kept as text: the customer's number for the customer's messages, an operator id
  for operators' (`from_customer` compares digits with the contact's). `url` is kept when it is
  http(s). `at` is `createdAt`: ISO 8601 (naive taken as UTC), or epoch ms/s.
- **Sent message ids.** A send answers `{message data}`: its `id` (else `_id`) is returned, or
  None when there is none (not an error: the message probably went out).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.gateways import fields
from bot.gateways.base import (
    AuthError,
    GatewayError,
    InvalidRequestError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    UpstreamError,
    digits,
)
from bot.gateways.http import retry_after
from bot.logs import secrets

log = logging.getLogger(__name__)

NAME = "HCI"
MAX_ID = 128
MAX_NAME = 128
MAX_TEXT = 65536
MAX_WORDS = 200  # of HCI's `data` in an error's detail


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


def reply_data(response: httpx.Response, path: str, *, write: bool) -> Any:
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


def parse_areas(data: object) -> list[HciArea]:
    return [
        HciArea(id=area_id, name=_name(item.get("name")) or area_id)
        for item in _items(data, "areas")
        if (area_id := _id(item, "idarea", "id", "_id"))
    ]


def parse_operators(data: object) -> list[HciOperator]:
    return [
        HciOperator(id=operator_id, name=_name(item.get("name")) or operator_id)
        for item in _items(data, "operators")
        if (operator_id := _id(item, "operatorId", "id", "_id"))
    ]


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


def parse_contacts(data: object) -> list[HciContact]:
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


def parse_messages(data: object) -> list[HciMessage]:
    """A chat's messages, oldest first (`data`, or its `messages`); odd items are skipped."""
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


def parse_sent_id(data: object) -> str | None:
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
