"""What ITD Chile pushes (api/gateways.md B.3; seed 002), read into events: `parse_push`.

ITD POSTs to the two URLs the operator types into its web panel; the bot serves them as
`/hooks/itd/<HOOK_SECRET>/incoming` (one received record) and `…/status` (the ticks), and the
driver (`ItdGateway.parse_push` in `itd.py`) hands each body here. Anything ITD would not send is
InvalidRequestError. Choices where the seed is silent ([H]):

- **Incoming push.** A JSON object (or a list of at most 100 of them, which ITD never showed),
  else InvalidRequestError; so is anything without an id, or with a sender we cannot answer.
  `id` is `uuid`, else `whatsappKey`. `senderPhone` is the contact in both directions (the seed's
  `direction` 1 example still names the contact), so `chat` = `sender` = its digits (at most 15);
  `from_me` is `direction` 1. `messageType` chat/image/video/document/audio/ptt/sticker/location
  maps to its kind (ptt is VOICE; missing is chat); any other word is OTHER with the word as
  `details`. The text is `content` for chat and OTHER, `caption` (else `content`) for the rest.
  `media_url` is `url` (http(s) only) for files and stickers, `file_name` its last path segment
  (ITD's sample URL ends in the file's name), `mime_type` is `mimetype`. A location's details are
  "lat,lng location_name". `sendAt` (else `createdAt`) is epoch ms, or seconds when below 10^11.
  Texts are cut to 65536 characters, names to 128.
- **Groups.** `senderType` "group" (or a `senderPhone` ending in @g.us) is read as Waboxapp does
  it: `senderPhone` is the group's id and `senderName` the group's name; nobody says which member
  wrote. So `chat` is "<id>@g.us", `group_name` is `senderName`, and `sender` is empty (an
  answer to such a chat is refused by `split_phone` in `itd.py`: ITD sends to phone numbers only).
- **Status push.** `{"sent_at","status","uuid"}`. `status` is a word, read as
  `statusWhatsappByKey`'s (an unknown FAIL-ish word is FAILED with the word as `reason`; any
  other unknown word is SENT when `sent_at` is there, else QUEUED), or, as the seed's type column
  says, an int: read as WhatsApp's ack levels (-1 failed, 0 queued, 1 sent, 2 delivered, 3 read,
  4 played = read; an unknown level is SENT), digits in a string too. A missing uuid or status
  is InvalidRequestError.
"""

from __future__ import annotations

import json
import logging
import math
import posixpath
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from bot.gateways import fields
from bot.gateways.base import (
    Delivery,
    DeliveryUpdate,
    Event,
    Inbound,
    InvalidRequestError,
    MessageKind,
    digits,
)
from bot.gateways.itd_replies import parse_delivery

log = logging.getLogger(__name__)

# `messageType` of a received record (the seed's appendix) → kind; any other word is OTHER.
_MESSAGE_KINDS: dict[str, MessageKind] = {
    "chat": MessageKind.TEXT,
    "image": MessageKind.IMAGE,
    "video": MessageKind.VIDEO,
    "document": MessageKind.DOCUMENT,
    "audio": MessageKind.AUDIO,
    "ptt": MessageKind.VOICE,
    "sticker": MessageKind.STICKER,
    "location": MessageKind.LOCATION,
}

# An int `status` in a status push: WhatsApp's ack levels [H] (the seed types it int, shows words).
_ACK_LEVELS: dict[int, Delivery] = {
    -1: Delivery.FAILED,
    0: Delivery.QUEUED,
    1: Delivery.SENT,
    2: Delivery.DELIVERED,
    3: Delivery.READ,
    4: Delivery.READ,  # played (a voice note)
}

MAX_PUSHED_RECORDS = 100  # records in one push body, when it is a list
MAX_ID = 128  # the seed's `key` is at most 100 characters
MAX_TEXT = 65536  # WhatsApp's own limit for a text
MAX_NAME = 128


def parse_push(hook: str, body: Any) -> list[Event]:
    """One POST to an ITD hook → events; InvalidRequestError for anything ITD would not send.

    `body` is the decoded JSON (str and bytes are decoded here). See the module docstring.
    """
    if hook not in ("incoming", "status"):
        raise InvalidRequestError(f"ITD has no {str(hook)[:40]!r} hook")
    if isinstance(body, str | bytes | bytearray):
        try:
            body = json.loads(body)
        except (ValueError, RecursionError):
            raise InvalidRequestError("ITD push: the body is not JSON") from None
    records = body if isinstance(body, list) else [body]
    if len(records) > MAX_PUSHED_RECORDS:
        raise InvalidRequestError(f"ITD push: {len(records)} records in one body")
    if not all(isinstance(record, dict) for record in records):
        raise InvalidRequestError("ITD push: the body is not a JSON object")
    parse = parse_incoming if hook == "incoming" else parse_status
    return [parse(record) for record in records]


def parse_incoming(record: dict[str, Any]) -> Inbound:
    """One received record (gateways.md B.3) → Inbound; see the module docstring."""
    message_id = (
        fields.text(record.get("uuid")).strip() or fields.text(record.get("whatsappKey")).strip()
    )
    if not message_id or len(message_id) > MAX_ID:
        raise InvalidRequestError("ITD push: a received record without a usable uuid")
    phone = fields.text(record.get("senderPhone"))[:200].strip()
    name = _name(record.get("senderName"))
    group_name: str | None = None
    is_group = fields.text(record.get("senderType")).strip().lower() == "group"
    if is_group or phone.lower().endswith("@g.us"):
        group_id = re.sub(r"[^0-9-]", "", phone.split("@", 1)[0]).strip("-")
        if not group_id or len(group_id) > 64:
            raise InvalidRequestError("ITD push: a group record without a usable group id")
        chat, sender, group_name, name = f"{group_id}@g.us", "", name, None
    else:
        chat = sender = digits(phone)
        if not 0 < len(sender) <= 15:
            raise InvalidRequestError("ITD push: a received record without a usable senderPhone")
    word = fields.text(record.get("messageType")).strip().lower()[:40] or "chat"
    kind = _MESSAGE_KINDS.get(word, MessageKind.OTHER)
    content = fields.text(record.get("content"))[:MAX_TEXT]
    caption = fields.text(record.get("caption"))[:MAX_TEXT]
    text = content if kind in (MessageKind.TEXT, MessageKind.OTHER) else caption or content
    media_url = file_name = None
    if kind.has_file or kind is MessageKind.STICKER:
        media_url = fields.web_url(record.get("url"))
        file_name = _url_file_name(media_url) if media_url else None
    details = ""
    if kind is MessageKind.LOCATION:
        lat = _coordinate(record.get("lat"), 90.0)
        lng = _coordinate(record.get("lng"), 180.0)
        place = _name(record.get("location_name")) or ""
        details = f"{lat},{lng} {place}".strip() if lat and lng else place
    elif kind is MessageKind.OTHER:
        details = re.sub(r"[^\w.-]", "", word)
    direction = record.get("direction")
    return Inbound(
        id=message_id,
        chat=chat,
        sender=sender,
        sender_name=name,
        group_name=group_name,
        kind=kind,
        text=text,
        media_url=media_url,
        file_name=file_name,
        mime_type=_mime(record.get("mimetype")),
        sent_at=_epoch(record.get("sendAt")) or _epoch(record.get("createdAt")),
        from_me=direction in (1, "1") and not isinstance(direction, bool),
        details=details,
    )


def parse_status(record: dict[str, Any]) -> DeliveryUpdate:
    """One status push `{"sent_at","status","uuid"}` → DeliveryUpdate (see the docstring)."""
    key = fields.text(record.get("uuid")).strip()
    if not key or len(key) > MAX_ID:
        raise InvalidRequestError("ITD push: a status without a usable uuid")
    status = record.get("status")
    if isinstance(status, bool) or not isinstance(status, int | str) or status == "":
        raise InvalidRequestError("ITD push: a status push without a status")
    if isinstance(status, str) and re.fullmatch(r"\s*-?\d{1,3}\s*", status):
        status = int(status)
    if isinstance(status, int):
        delivery = _ACK_LEVELS.get(status)
        if delivery is None:
            log.info("ITD: unknown numeric message status; taken as sent")
            delivery = Delivery.SENT
        reason = str(status) if delivery is Delivery.FAILED else ""
        return DeliveryUpdate(message_id=key, delivery=delivery, reason=reason)
    word = " ".join(status[:80].split())
    delivery = parse_delivery({"status": word, "sent_at": fields.text(record.get("sent_at"))[:40]})
    reason = word[:40] if delivery is Delivery.FAILED else ""
    return DeliveryUpdate(message_id=key, delivery=delivery, reason=reason)


def _name(value: object) -> str | None:
    """One line of at most 128 characters, or None."""
    name = " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", fields.text(value)[: MAX_NAME * 4]).split())
    return name[:MAX_NAME] or None


def _url_file_name(url: str) -> str | None:
    name = posixpath.basename(unquote(urlsplit(url).path))
    name = re.sub(r"[\x00-\x1f\x7f/\\]", "", name).strip()[:MAX_NAME]
    return name or None


def _mime(value: object) -> str | None:
    mime = fields.text(value)[:200].split(";", 1)[0].strip().lower()
    return mime if re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", mime) else None


def _coordinate(value: object, limit: float) -> str | None:
    """A latitude/longitude (string or number) within ±`limit`, as text; None if unreadable."""
    text = fields.text(value).strip()[:40]
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number) or abs(number) > limit:
        return None
    return repr(number)


def _epoch(value: object) -> datetime | None:
    """Epoch milliseconds (or seconds, below 10^11) → UTC datetime; None if unreadable."""
    text = fields.text(value).strip()[:40]
    try:
        stamp = float(text)
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
