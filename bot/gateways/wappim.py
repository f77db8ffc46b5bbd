"""wapp.im v3 driver (api/wappim.md): spare chats handed out by the gateway, QR via `status?full=1`.

Every request carries `X-Tasktest-Token`; instance methods are `instance{ID}/{method}?token=…`, so
the instance token travels in the query string and is registered with the log redactor.

Two-way messaging follows chat-api, which wapp.im copies; no wapp.im caller of these methods was
found, so each choice below is a hypothesis ([H]):

- `receive` polls `messages` (section 8). The first poll of a line sends no `lastMessageNumber`
  (chat-api reads that as 0: from the oldest message it keeps); the caller skips what predates the
  link by `sent_at`. Every later poll passes the previous reply's `lastMessageNumber` back as it
  is (as text); chat-api does not say whether that bound is inclusive, so a message may come
  twice and the caller de-duplicates by `Inbound.id`. A reply without a usable
  `lastMessageNumber` falls back to the highest `messageNumber` in it, else keeps the cursor.
- `send_text` and `send_file` address a group (`…@g.us`) as `chatId`, anyone else as `phone`,
  and quote with `quotedMsgId`.
- `send_file` POSTs `sendFile` as JSON (a form would percent-encode the base64 and grow it):
  `body` is a data URI `data:<mime>;base64,…` of the bytes, with `filename` and `caption`.
- `download` fetches a message's file with `MediaFetcher`, trusting the API's own origin only;
  no gateway header or token is sent with it.
"""

from __future__ import annotations

import base64
import logging
import re
from datetime import UTC, datetime
from typing import Any

from bot.gateways.base import (
    Account,
    AuthError,
    Download,
    Gateway,
    GatewayError,
    Inbound,
    InvalidRequestError,
    Line,
    LineState,
    LineStatus,
    MessageKind,
    NoFreeLinesError,
    NotFoundError,
    NotReadyError,
    OutgoingFile,
    Received,
    Reception,
    SentMessage,
    UpstreamError,
    digits,
)
from bot.gateways.http import GatewayHttp, json_body, sent_body
from bot.gateways.media import MediaFetcher
from bot.gateways.qr import qr_from_text
from bot.logs import secrets

log = logging.getLogger(__name__)

# accountStatus (chat-api) and state (WA-Web socket) values → normalised state.
_STATES: dict[str, LineState] = {
    "init": LineState.PROVISIONING,
    "loading": LineState.STARTING,
    "opening": LineState.STARTING,
    "pairing": LineState.STARTING,
    "got qr code": LineState.AWAITING_QR,
    "unpaired": LineState.AWAITING_QR,
    "unpaired_idle": LineState.AWAITING_QR,
    "authenticated": LineState.AUTHORIZED,
    "connected": LineState.AUTHORIZED,
    "not_paid": LineState.RESTRICTED,
    "tos_block": LineState.BLOCKED,
    "smb_tos_block": LineState.BLOCKED,
}


# chat-api message `type` (section 8) → what the message carries.
_KINDS: dict[str, MessageKind] = {
    "chat": MessageKind.TEXT,
    "image": MessageKind.IMAGE,
    "video": MessageKind.VIDEO,
    "document": MessageKind.DOCUMENT,
    "ptt": MessageKind.VOICE,
    "audio": MessageKind.AUDIO,
    "sticker": MessageKind.STICKER,
    "location": MessageKind.LOCATION,
    "vcard": MessageKind.CONTACT,
    "call_log": MessageKind.CALL,
}
# Kinds whose `body` is the file's URL.
_MEDIA = frozenset(
    {
        MessageKind.IMAGE,
        MessageKind.VIDEO,
        MessageKind.DOCUMENT,
        MessageKind.VOICE,
        MessageKind.AUDIO,
        MessageKind.STICKER,
    }
)
# Lengths that fit the inbox's columns: whatever a gateway sends, a message is stored.
_MAX_ID, _MAX_CHAT, _MAX_SENDER, _MAX_NAME, _MAX_DETAILS = 255, 64, 32, 128, 255


def parse_state(body: dict[str, Any]) -> tuple[LineState, str]:
    """Map a status reply; `accountStatus` wins over `state`, either may be missing."""
    for key in ("accountStatus", "state"):
        raw = body.get(key)
        if isinstance(raw, str) and raw.strip():
            state = _STATES.get(raw.strip().lower())
            if state is not None:
                return state, raw
    raw = str(body.get("accountStatus") or body.get("state") or "")
    return LineState.UNKNOWN, raw


def parse_spare(body: Any) -> Line:
    """Both the 3-field (2021) and the 17-field (2022+) spare replies; only `id`/`token` matter."""
    if not isinstance(body, dict):
        raise UpstreamError("wapp.im: spare reply is not an object")
    _raise_error_fields(body)
    instance_id, token = body.get("id"), body.get("token") or body.get("chat_token")
    if instance_id in (None, "") or not isinstance(token, str) or not token:
        raise UpstreamError("wapp.im: spare reply without id/token")
    return Line(instance_id=str(instance_id), token=token)


def parse_account(body: Any) -> Account:
    if not isinstance(body, dict):
        raise UpstreamError("wapp.im: me reply is not an object")
    name = body.get("name") or body.get("pushname") or None
    phone = digits(body.get("number"))
    if not phone:
        # `id` is "<digits>@c.us" when known, and the literal "undefined" before that.
        phone = digits(str(body.get("id") or "").split("@", 1)[0])
    return Account(name=str(name) if name else None, phone=phone or None)


def parse_sent(body: Any) -> SentMessage:
    if not isinstance(body, dict):
        raise UpstreamError("wapp.im: sendMessage reply is not an object")
    _raise_error_fields(body)
    sent = body.get("sent")
    if sent is True or (isinstance(sent, str) and sent.strip().lower() == "true"):
        message_id = body.get("id")
        return SentMessage(message_id=str(message_id) if message_id else None)
    raise InvalidRequestError(f"wapp.im: not sent: {body.get('message') or body!r}"[:200])


def parse_messages(body: Any) -> tuple[list[Inbound], str | None]:
    """A `messages` reply → its messages, oldest first, and the cursor of the next poll (None
    when the reply has none). Unusable entries are skipped (see `parse_message`); odd field
    types never raise."""
    if not isinstance(body, dict):
        raise UpstreamError("wapp.im: messages reply is not an object")
    entries = body.get("messages")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise UpstreamError("wapp.im: messages reply without a list of messages")
    messages: list[Inbound] = []
    for entry in entries:
        message = parse_message(entry)
        if message is not None:
            messages.append(message)
    return messages, _cursor(body, entries)


def parse_message(entry: Any) -> Inbound | None:
    """One chat-api message object, or None when it is not an object, has no id or no chat, or
    comes from a Status or channel feed. Skips are logged without a word of the message: even
    its id names the chat's phone."""
    if not isinstance(entry, dict):
        log.info("wapp.im: skipped a message entry that is not an object")
        return None
    message_id = _text(entry.get("id")).strip()[:_MAX_ID]
    if not message_id:
        log.info("wapp.im: skipped a message without an id")
        return None
    chat_id = _text(entry.get("chatId")).strip()
    if chat_id.endswith(("@broadcast", "@newsletter")):
        # WhatsApp Status updates (status@broadcast) and channels: nobody wrote to the account.
        log.info("wapp.im: skipped a message of a status or channel feed")
        return None
    author = _local_digits(entry.get("author"))
    if chat_id.endswith("@g.us"):
        group = chat_id.removesuffix("@g.us")[: _MAX_CHAT - len("@g.us")]
        chat = f"{group}@g.us" if group else ""
    else:
        chat = (_local_digits(chat_id) or author)[:_MAX_CHAT]
    if not chat:
        log.info("wapp.im: skipped a message without a chat")
        return None
    word = entry.get("type")
    if word is None:
        kind = MessageKind.TEXT
    else:
        kind = _KINDS.get(_text(word).strip().lower(), MessageKind.OTHER)
    body, caption = _text(entry.get("body")), _text(entry.get("caption"))
    details = ""
    if kind is MessageKind.LOCATION:
        details = " ".join(filter(None, [_coordinates(body), _one_line(caption)]))
    elif kind is MessageKind.CONTACT:
        details = _vcard_name(body)
    elif kind is MessageKind.OTHER:
        details = _one_line(_text(word))
    text = body if kind is MessageKind.TEXT else caption if kind in _MEDIA else ""
    return Inbound(
        id=message_id,
        chat=chat,
        sender=(author or _local_digits(chat_id))[:_MAX_SENDER],
        sender_name=_one_line(entry.get("senderName"))[:_MAX_NAME] or None,
        group_name=(_one_line(entry.get("chatName"))[:_MAX_NAME] or None)
        if chat.endswith("@g.us")
        else None,
        kind=kind,
        text=text,
        media_url=(body.strip() or None) if kind in _MEDIA else None,
        sent_at=_time(entry.get("time")),
        from_me=_flag(entry.get("fromMe")),
        details=details[:_MAX_DETAILS],
    )


def _cursor(body: dict[str, Any], entries: list[Any]) -> str | None:
    """`lastMessageNumber` as it came (a number, or a string of one); else the highest
    `messageNumber` of the entries; else None."""
    numbers = [e.get("messageNumber") for e in entries if isinstance(e, dict)]
    counted = [n for n in numbers if isinstance(n, int) and not isinstance(n, bool)]
    for value in (body.get("lastMessageNumber"), max(counted, default=None)):
        text = _text(value).strip()
        if re.fullmatch(r"[0-9]{1,32}", text):
            return text
    return None


def _text(value: Any) -> str:
    """A field that should be text: numbers are written out, anything else is empty."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _one_line(value: Any) -> str:
    return " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", _text(value)).split())


def _local_digits(value: Any) -> str:
    """`79001234567@c.us` → `79001234567`."""
    return digits(_text(value).split("@", 1)[0])


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return value is True or (isinstance(value, int) and value == 1)


def _time(value: Any) -> datetime | None:
    """Unix seconds (a number or a string of one) → UTC, or None."""
    try:
        seconds = float(value) if isinstance(value, int | float | str) else None
    except ValueError:
        return None
    if seconds is None or isinstance(value, bool) or not 0 < seconds < 1e11:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def _coordinates(body: str) -> str:
    """`55.7558;37.6173` or `55.7558,37.6173` → `55.7558,37.6173`; "" when not coordinates."""
    parts = re.split(r"\s*[;,]\s*", body.strip())
    if len(parts) != 2:
        return ""
    try:
        lat, lng = float(parts[0]), float(parts[1])
    except ValueError:
        return ""
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):  # also refuses nan
        return ""
    return f"{parts[0]},{parts[1]}"


def _vcard_name(body: str) -> str:
    """The `FN:` line of a vCard ("" without one), unescaped."""
    match = re.search(r"^FN(?:;[^:\r\n]*)?:(.*)$", body, re.M | re.I)
    if match is None:
        return ""
    return _one_line(re.sub(r"\\([,;:\\])", r"\1", match[1]))[:_MAX_NAME]


def data_uri(file: OutgoingFile) -> str:
    """The file as `data:<mime>;base64,…` (an unusable MIME type becomes octet-stream)."""
    mime = file.mime.strip().lower()
    if not re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", mime):
        mime = "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(file.data).decode()}"


def _recipient(phone: str) -> dict[str, str]:
    """A group id goes as `chatId`, digits as `phone`."""
    return {"chatId": phone} if phone.endswith("@g.us") else {"phone": phone}


def _raise_error_fields(body: dict[str, Any]) -> None:
    """wapp.im reports some failures as `error_code`/`error_text` inside an HTTP 200."""
    if body.get("error_code") in (None, 0, "", "0") and not body.get("error_text"):
        return  # absent, or an empty placeholder in a successful reply
    text = str(body.get("error_text") or body.get("error_code"))
    if "no free chats" in text.lower():
        raise NoFreeLinesError(text)
    if "token" in text.lower():
        raise AuthError(f"wapp.im: {text}")
    raise InvalidRequestError(f"wapp.im: {text}")


class WappimGateway(Gateway):
    name = "wappim"
    title = "wapp.im"
    reception = Reception.POLL

    def __init__(
        self,
        http: GatewayHttp,
        *,
        crm: str,
        domain: str,
        media: MediaFetcher | None = None,
    ) -> None:
        self.http = http
        self.crm = crm
        self.domain = domain
        self.media = media or MediaFetcher()
        # Where the gateway serves files itself: trusted even on a private address.
        self.origin = str(http.client.base_url)

    async def acquire(self, credentials: dict[str, str] | None = None) -> Line:
        response = await self.http.request(
            "GET",
            "chat/spare",
            params={"crm": self.crm, "domain": self.domain, "md": 0},
            idempotent=False,
        )
        self._raise_http(response.status_code, response)
        line = parse_spare(json_body(response, "wapp.im"))
        secrets.add(line.token)
        return line

    async def start(self, line: Line) -> None:
        await self._call(line, "status", {"full": 1})

    async def status(self, line: Line) -> LineStatus:
        body = await self._call(line, "status", {"full": 1})
        if not isinstance(body, dict):
            raise UpstreamError("wapp.im: status reply is not an object")
        state, raw = parse_state(body)
        if state is not LineState.AWAITING_QR:
            return LineStatus(state=state, raw=raw)
        qr_code = body.get("qrCode")
        qr = qr_from_text(qr_code) if isinstance(qr_code, str) else None
        if qr is None:
            # Some replies carry no image; the `qr_code` method serves it as an HTML <img>.
            response = await self._get(line, "qr_code")
            qr = qr_from_text(response.text)
        return LineStatus(state=state, qr=qr, raw=raw)

    async def account(self, line: Line) -> Account:
        return parse_account(await self._call(line, "me"))

    async def send_text(
        self, line: Line, phone: str, text: str, *, quoted: str | None = None
    ) -> SentMessage:
        fields = {**_recipient(phone), "body": text}
        if quoted:
            fields["quotedMsgId"] = quoted
        secrets.add(line.token)
        response = await self.http.request(
            "POST",
            f"instance{line.instance_id}/sendMessage",
            params={"token": line.token},
            data=fields,
            idempotent=False,
        )
        self._raise_http(response.status_code, response)
        return parse_sent(sent_body(response, "wapp.im"))

    async def send_file(
        self,
        line: Line,
        phone: str,
        file: OutgoingFile,
        *,
        caption: str | None = None,
        quoted: str | None = None,
    ) -> SentMessage:
        payload = {**_recipient(phone), "body": data_uri(file), "filename": file.name}
        if caption:
            payload["caption"] = caption
        if quoted:
            payload["quotedMsgId"] = quoted
        secrets.add(line.token)
        response = await self.http.request(
            "POST",
            f"instance{line.instance_id}/sendFile",
            params={"token": line.token},
            json=payload,
            idempotent=False,
        )
        self._raise_http(response.status_code, response)
        return parse_sent(sent_body(response, "wapp.im"))

    async def receive(self, line: Line, cursor: str | None) -> Received:
        params = {} if cursor is None else {"lastMessageNumber": cursor}
        messages, last = parse_messages(await self._call(line, "messages", params))
        return Received(events=tuple(messages), cursor=last if last is not None else cursor)

    async def download(self, line: Line, url: str, *, max_bytes: int) -> Download:
        return await self.media.fetch(url, trusted=[self.origin], max_bytes=max_bytes)

    async def logout(self, line: Line) -> None:
        await self._call(line, "logout")

    async def release(self, line: Line) -> None:
        await self._call(line, "removeChat")

    async def aclose(self) -> None:
        try:
            await self.http.aclose()
        finally:
            await self.media.aclose()

    async def _call(self, line: Line, method: str, params: dict[str, Any] | None = None) -> Any:
        response = await self._get(line, method, params)
        body = json_body(response, "wapp.im")
        if isinstance(body, dict):
            _raise_error_fields(body)
        return body

    async def _get(self, line: Line, method: str, params: dict[str, Any] | None = None) -> Any:
        secrets.add(line.token)
        response = await self.http.request(
            "GET",
            f"instance{line.instance_id}/{method}",
            params={**(params or {}), "token": line.token},
            idempotent=True,
        )
        self._raise_http(response.status_code, response)
        return response

    @staticmethod
    def _raise_http(status: int, response: Any) -> None:
        if status < 400:
            return
        try:
            detail = str(response.json().get("error") or response.json().get("error_text") or "")
        except (ValueError, AttributeError):
            detail = response.text[:80]
        error: type[GatewayError]
        if status in (401, 403):
            error = AuthError
        elif status == 404:
            error = NotFoundError
        elif status == 409:
            error = NotReadyError
        else:
            error = InvalidRequestError
        raise error(f"wapp.im: HTTP {status}: {detail}")
