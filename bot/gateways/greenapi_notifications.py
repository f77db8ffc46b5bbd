"""Green-API's notifications (api/gateways.md A.9), read into events: `parse_notification`.

The driver (`greenapi.py`) long-polls `receiveNotification` and hands each notification's `body`
here. What Green sends is typed loosely, and an odd shape must not block the queue: so nothing
here raises, a body of the wrong shape gives no events (and is still acknowledged), and every
field is cut to a sane length. Ids are read as Green writes them (A.0): `<digits>@c.us` for a
person, `GROUP_ID` for a group.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot.gateways.base import (
    Delivery,
    DeliveryUpdate,
    Event,
    Inbound,
    LineState,
    MessageKind,
    StateChange,
    digits,
)
from bot.gateways.greenapi_replies import DELIVERIES, STATES

# A group chat id: `<digits>-<digits>@g.us` (older groups) or `<18 digits>@g.us` (A.0).
GROUP_ID = re.compile(r"[0-9]{1,30}(?:-[0-9]{1,30})?@g\.us")
# Caps on what one notification can carry into the bot (WhatsApp's own text limit is 65536).
_MAX_TEXT = 65536
_MAX_NAME = 128
_MAX_URL = 4096


def parse_notification(body: Any) -> list[Event]:
    """One notification's `body` (A.9) → its events, in order. Never raises: what Green sends is
    typed loosely and an odd shape must not block the queue, so it gives no events (and the caller
    acknowledges it all the same). Types the bot has no use for (deviceInfo, quotaExceeded,
    statusInstanceChanged, …) give no events either.

    Messages the account wrote itself (`outgoingMessageReceived` on the phone,
    `outgoingAPIMessageReceived` through the API) come back as `Inbound` with `from_me=True`,
    which the caller never forwards. An incoming call gives one CALL line at its `offer`; the
    call's outcome that follows is dropped.
    """
    if not isinstance(body, dict):
        return []
    kind = body.get("typeWebhook")
    if kind == "incomingMessageReceived":
        return _listed(_inbound(body, from_me=False))
    if kind in ("outgoingMessageReceived", "outgoingAPIMessageReceived"):
        return _listed(_inbound(body, from_me=True))
    if kind == "outgoingMessageStatus":
        return _listed(_delivery_update(body))
    if kind == "stateInstanceChanged":
        raw = _text(body.get("stateInstance"), _MAX_NAME).strip()
        if not raw:
            return []
        state = STATES.get(raw.lower(), LineState.UNKNOWN)
        return [StateChange(state=state, raw=raw, at=_when(body.get("timestamp")))]
    if kind == "incomingCall":
        return _listed(_call_event(body))
    return []


_FILE_KINDS: dict[str, MessageKind] = {
    "imageMessage": MessageKind.IMAGE,
    "videoMessage": MessageKind.VIDEO,
    "documentMessage": MessageKind.DOCUMENT,
    "audioMessage": MessageKind.AUDIO,  # VOICE when it is a push-to-talk note
    "stickerMessage": MessageKind.STICKER,
}


def _listed(event: Event | None) -> list[Event]:
    return [] if event is None else [event]


def _inbound(body: dict[Any, Any], *, from_me: bool) -> Inbound | None:
    message_id = _text(body.get("idMessage"), _MAX_NAME).strip()
    sender_data = _object(body.get("senderData"))
    message = _object(body.get("messageData"))
    raw_chat = _text(sender_data.get("chatId"), _MAX_NAME).strip()
    sender = _person(sender_data.get("sender"))
    if GROUP_ID.fullmatch(raw_chat):
        chat, group_name = raw_chat, _name(sender_data.get("chatName"))
    else:
        # A personal chat; an `@lid` or broadcast id is no number to answer, so the sender's is.
        chat, group_name = _person(raw_chat) or sender, None
        sender = sender or chat
    if not message_id or not chat:
        return None
    name = _name(sender_data.get("senderContactName")) or _name(sender_data.get("senderName"))
    inbound = Inbound(
        id=message_id,
        chat=chat,
        sender=sender,
        sender_name=name,
        group_name=group_name,
        sent_at=_when(body.get("timestamp")),
        from_me=from_me,
    )
    return _with_content(inbound, message)


def _with_content(inbound: Inbound, message: dict[Any, Any]) -> Inbound:
    """Fill kind, text and file fields from `messageData` by its `typeMessage`."""
    type_message = _text(message.get("typeMessage"), _MAX_NAME).strip()
    if type_message == "textMessage":
        text = _object(message.get("textMessageData")).get("textMessage")
        return replace(inbound, kind=MessageKind.TEXT, text=_text(text))
    if type_message in ("extendedTextMessage", "quotedMessage"):
        text = _object(message.get("extendedTextMessageData")).get("text")
        return replace(inbound, kind=MessageKind.TEXT, text=_text(text))
    if type_message in _FILE_KINDS:
        data = _object(message.get("fileMessageData"))
        mime = _text(data.get("mimeType"), _MAX_NAME).strip().lower() or None
        kind = _FILE_KINDS[type_message]
        if kind is MessageKind.AUDIO and (mime or "").startswith("audio/ogg"):
            kind = MessageKind.VOICE  # WhatsApp records push-to-talk notes as Ogg Opus
        url = _text(data.get("downloadUrl"), _MAX_URL).strip()
        return replace(
            inbound,
            kind=kind,
            text=_text(data.get("caption")),
            media_url=url or None,
            file_name=_name(data.get("fileName")),
            mime_type=mime,
        )
    if type_message == "locationMessage":
        data = _object(message.get("locationMessageData"))
        return replace(inbound, kind=MessageKind.LOCATION, details=_location(data))
    if type_message == "contactMessage":
        data = _object(message.get("contactMessageData"))
        return replace(
            inbound, kind=MessageKind.CONTACT, details=_name(data.get("displayName")) or ""
        )
    return replace(inbound, kind=MessageKind.OTHER, details=type_message or "unknown")


def _delivery_update(body: dict[Any, Any]) -> DeliveryUpdate | None:
    message_id = _text(body.get("idMessage"), _MAX_NAME).strip()
    raw = _text(body.get("status"), _MAX_NAME).strip()
    delivery = DELIVERIES.get(raw.lower())
    if not message_id or delivery is None:
        return None
    reason = raw if delivery is Delivery.FAILED else ""
    return DeliveryUpdate(message_id=message_id, delivery=delivery, reason=reason)


def _call_event(body: dict[Any, Any]) -> Inbound | None:
    if _text(body.get("status"), _MAX_NAME).strip() not in ("offer", ""):
        return None  # pickUp / hangUp / missed / declined: how the call ended, already shown
    message_id = _text(body.get("idMessage"), _MAX_NAME).strip()
    caller = _person(body.get("from"))
    if not message_id or not caller:
        return None
    return Inbound(
        id=message_id,
        chat=caller,
        sender=caller,
        kind=MessageKind.CALL,
        sent_at=_when(body.get("timestamp")),
    )


def _object(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any, limit: int = _MAX_TEXT) -> str:
    """A string field, cut to `limit`; anything that is not a string counts as absent."""
    return value[:limit] if isinstance(value, str) else ""


def _name(value: Any) -> str | None:
    """A one-line name of at most 128 characters, or None."""
    name = " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", _text(value, 4 * _MAX_NAME)).split())
    return name[:_MAX_NAME] or None


def _person(value: Any) -> str:
    """`79001234567@c.us`, `79001234567:3@c.us`, `…@s.whatsapp.net` → the digits (A.0);
    ids of other kinds (`@lid`, `@g.us`, `status@broadcast`) → ""."""
    text = _text(value, _MAX_NAME).strip()
    local, _, domain = text.partition("@")
    if domain.lower() not in ("", "c.us", "s.whatsapp.net"):
        return ""
    number = digits(local.split(":", 1)[0])
    return number if len(number) <= 15 else ""


def _when(value: Any) -> datetime | None:
    """Unix seconds → an aware UTC datetime; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or not 0 < value < 10**11:
        return None
    return datetime.fromtimestamp(value, tz=UTC)


def _location(data: dict[Any, Any]) -> str:
    """`lat,lng name` (the name, else the address, when there is one)."""
    lat, lng = data.get("latitude"), data.get("longitude")
    numbers = [
        v
        for v in (lat, lng)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    ]
    name = _name(data.get("nameLocation")) or _name(data.get("address")) or ""
    if len(numbers) != 2 or abs(numbers[0]) > 90 or abs(numbers[1]) > 180:
        return name
    point = ",".join(f"{v:.6f}".rstrip("0").rstrip(".") for v in numbers)
    return f"{point} {name}".strip()
