"""The gateway interface every driver implements, its normalised states, and its error tree.

Errors (what a caller catches; `kind` is the taxonomy that decides retries):

    GatewayError                      kind            retried?
     ├── AuthError                    auth            no   wrong/expired token, instance wiped
     ├── NotFoundError                not_found       no   instance or message unknown
     ├── NotReadyError                not_ready       no   line not linked / still starting
     ├── InvalidRequestError          invalid_request no   the gateway refused our input
     ├── QuotaError                   quota           no   no credits, no free lines, plan limit
     ├── UnsupportedError             unsupported     no   the gateway documents no such operation
     ├── RateLimitedError             rate_limited    yes  (after `retry_after`)
     ├── UpstreamError                upstream        yes  5xx, HTML error pages, malformed bodies
     │    └── BreakerOpenError        upstream        yes  refused here: the gateway failed often
     └── NetworkError                 network         yes  only if `request_sent` is False

`outage` marks the errors that prove the gateway did not act on the call because it was down or
overloaded (connection refused, 5xx, 429, the breaker's own refusal): a send that met one is
retried for as long as SEND_RETRY_FOR allows, not for a number of attempts.

`unsupported` is ours, beyond the eight kinds of api/gateways.md: "this gateway cannot" deserves
its own sentence (whinmovilla has no send endpoint), not "the gateway refused your input".
Users never see these texts: `bot.telegram.texts` turns each kind into one sentence.

Two-way messaging: a gateway either is polled (`Reception.POLL`: `receive` with a cursor, then
`acknowledge`), or pushes to the bot's HTTP server (`Reception.PUSH`: `parse_push`), or documents
no way at all (`Reception.NONE`). Either way the bot gets `Event`s: an `Inbound` message, a
`DeliveryUpdate` (the ticks of a message we sent) or a `StateChange` of the line.
"""

from __future__ import annotations

import enum
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar


class LineState(enum.StrEnum):
    """Normalised state of a linked WhatsApp line (api/gateways.md, section E.1)."""

    PROVISIONING = "provisioning"  # the gateway handed us an instance; not started yet
    STARTING = "starting"  # waking up / loading; no QR yet
    AWAITING_QR = "awaiting_qr"  # a QR (or pairing code) is waiting to be scanned
    AUTHORIZED = "authorized"  # linked: messages can be sent
    SLEEPING = "sleeping"  # paused (on purpose, or the phone is off)
    RESTRICTED = "restricted"  # sending suspended: spam flag, credits or quota
    BLOCKED = "blocked"  # the number is banned: terminal
    LOGGED_OUT = "logged_out"  # unlinked on the phone, or the gateway forgot the instance
    RELEASED = "released"  # we gave the instance back (disconnect, cancel, expiry)
    UNKNOWN = "unknown"  # the gateway gave something we cannot map

    @property
    def is_connecting(self) -> bool:
        return self in (LineState.PROVISIONING, LineState.STARTING, LineState.AWAITING_QR)

    @property
    def is_live(self) -> bool:
        """Still held by us at the gateway (worth a background check)."""
        return self in (LineState.AUTHORIZED, LineState.SLEEPING, LineState.RESTRICTED)


class ErrorKind(enum.StrEnum):
    AUTH = "auth"
    NOT_READY = "not_ready"
    RATE_LIMITED = "rate_limited"
    QUOTA = "quota"
    INVALID_REQUEST = "invalid_request"
    NOT_FOUND = "not_found"
    UPSTREAM = "upstream"
    NETWORK = "network"
    UNSUPPORTED = "unsupported"


class GatewayError(Exception):
    """A gateway call failed; `detail` is for logs (never contains a token)."""

    kind: ClassVar[ErrorKind] = ErrorKind.UPSTREAM

    def __init__(self, detail: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(detail or self.kind.value)
        self.detail = detail
        self.retry_after = retry_after

    @property
    def retriable(self) -> bool:
        return self.kind in (ErrorKind.RATE_LIMITED, ErrorKind.UPSTREAM)

    @property
    def line_lost(self) -> bool:
        """The gateway no longer knows this line: the user has to connect again."""
        return self.kind in (ErrorKind.AUTH, ErrorKind.NOT_FOUND)

    @property
    def outage(self) -> bool:
        """The gateway was down or overloaded and surely did not act on the call."""
        return False


class AuthError(GatewayError):
    kind = ErrorKind.AUTH


class NotFoundError(GatewayError):
    kind = ErrorKind.NOT_FOUND


class NotReadyError(GatewayError):
    kind = ErrorKind.NOT_READY


class InvalidRequestError(GatewayError):
    kind = ErrorKind.INVALID_REQUEST


class QuotaError(GatewayError):
    kind = ErrorKind.QUOTA


class NoFreeLinesError(QuotaError):
    """The gateway has no spare instance right now (wapp.im `No free chats`)."""


class UnsupportedError(GatewayError):
    kind = ErrorKind.UNSUPPORTED


class MediaTooLargeError(InvalidRequestError):
    """A file to download is over the size the caller can take (Telegram's upload limit)."""


class UnsafeUrlError(InvalidRequestError):
    """A media URL points at a private, loopback or link-local address off the gateway's origin
    (or at something that is not http(s)): it is never fetched."""


class RateLimitedError(GatewayError):
    kind = ErrorKind.RATE_LIMITED

    @property
    def outage(self) -> bool:
        return True


class UpstreamError(GatewayError):
    """A bad answer: a 5xx (`outage`: the gateway is down), or a body it should not send."""

    kind = ErrorKind.UPSTREAM

    def __init__(
        self, detail: str = "", *, retry_after: float | None = None, outage: bool = False
    ) -> None:
        super().__init__(detail, retry_after=retry_after)
        self._outage = outage

    @property
    def outage(self) -> bool:
        return self._outage


class BreakerOpenError(UpstreamError):
    """Refused without a request: the gateway failed too often just now, and calls pause until
    `retry_after` seconds from now. Not an attempt at all."""

    @property
    def outage(self) -> bool:
        return True


class NetworkError(GatewayError):
    """No answer. `request_sent` says whether the gateway may have acted anyway."""

    kind = ErrorKind.NETWORK

    def __init__(self, detail: str = "", *, request_sent: bool) -> None:
        super().__init__(detail)
        self.request_sent = request_sent

    @property
    def retriable(self) -> bool:
        return True

    @property
    def outage(self) -> bool:
        return not self.request_sent


@dataclass(frozen=True)
class Line:
    """How to reach one instance at its gateway. `token` is a secret; `options` is gateway-specific."""

    instance_id: str
    token: str = field(repr=False)
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Qr:
    """A QR to show: its text `content` when known (we render it ourselves), else the gateway's image."""

    content: str | None = None
    image: bytes | None = None

    @property
    def fingerprint(self) -> str:
        import hashlib

        raw = self.content.encode() if self.content is not None else (self.image or b"")
        return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class LineStatus:
    state: LineState
    qr: Qr | None = None
    raw: str = ""  # the gateway's own word for the state, shown in /status


def digits(value: object) -> str:
    """The ASCII digits of `value` ("+7 (987) 274-50-52" → "79872745052"; never "²" or "٣")."""
    return "".join(re.findall(r"[0-9]", str(value or "")))


@dataclass(frozen=True)
class Account:
    """The linked account, tidied here once for every driver: a one-line display name of at most
    128 characters, and the phone as international digits (E.164: at most 15), or None."""

    name: str | None
    phone: str | None

    def __post_init__(self) -> None:
        name = " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", self.name or "").split())[:128]
        phone = digits(self.phone)
        object.__setattr__(self, "name", name or None)
        object.__setattr__(self, "phone", phone if 0 < len(phone) <= 15 else None)


@dataclass(frozen=True)
class SentMessage:
    message_id: str | None


class Delivery(enum.StrEnum):
    """What a gateway says about one sent message."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class MessageKind(enum.StrEnum):
    """What an incoming WhatsApp message carries; decides how Telegram shows it."""

    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    DOCUMENT = "document"
    VOICE = "voice"  # a push-to-talk voice note
    AUDIO = "audio"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACT = "contact"  # a contact card (vCard)
    CALL = "call"
    OTHER = "other"  # anything else (poll, reaction, …): shown as a line that says what it was

    @property
    def has_file(self) -> bool:
        """A file Telegram can show as the matching kind (downloaded, then uploaded)."""
        return self in (
            MessageKind.IMAGE,
            MessageKind.VIDEO,
            MessageKind.DOCUMENT,
            MessageKind.VOICE,
            MessageKind.AUDIO,
        )


@dataclass(frozen=True)
class Inbound:
    """One WhatsApp message that reached a line."""

    id: str  # the gateway's message id: the de-duplication key
    chat: str  # where an answer goes: the contact's digits, or a group id ending in "@g.us"
    sender: str  # the author's digits (in a group, the member who wrote)
    sender_name: str | None = None  # push name or contact name, when the gateway knows it
    group_name: str | None = None  # the group's name, for group messages
    kind: MessageKind = MessageKind.TEXT
    text: str = ""  # the text, or the caption of a file
    media_url: str | None = None  # where the file can be downloaded (gateway or public storage)
    file_name: str | None = None
    mime_type: str | None = None
    sent_at: datetime | None = None  # when WhatsApp had it (UTC); older than the link: skipped
    from_me: bool = False  # written by the account itself (on the phone): never forwarded
    details: str = ""  # LOCATION "lat,lng name", CONTACT's name, OTHER's gateway type word

    @property
    def is_group(self) -> bool:
        return self.chat.endswith("@g.us")


@dataclass(frozen=True)
class DeliveryUpdate:
    """The gateway's news about a message we sent (the ticks)."""

    message_id: str  # the id `send_*` returned
    delivery: Delivery
    reason: str = ""  # the gateway's word for a failure: failed, noAccount, yellowCard, …


@dataclass(frozen=True)
class StateChange:
    """The line's state moved (Green-API `stateInstanceChanged`)."""

    state: LineState
    raw: str = ""
    at: datetime | None = None  # when it happened (UTC): older than the link, it is old news


Event = Inbound | DeliveryUpdate | StateChange


@dataclass(frozen=True)
class Received:
    """One poll's worth of events, in the order they happened."""

    events: tuple[Event, ...] = ()
    cursor: str | None = None  # where the next poll starts; kept once every event is handled
    ack: str | None = None  # given to `acknowledge` once every event is handled (Green receiptId)


class Reception(enum.StrEnum):
    """How incoming messages reach the bot."""

    POLL = "poll"  # the bot asks, one line at a time (`receive`, then `acknowledge`)
    PUSH = "push"  # the gateway POSTs to the bot's HTTP server (`parse_push`)
    NONE = "none"  # the gateway documents no way


@dataclass(frozen=True)
class OutgoingFile:
    """A file a person sent to the bot, on its way to WhatsApp."""

    data: bytes = field(repr=False)
    name: str  # with an extension: gateways pick the message type from it
    mime: str
    url: str | None = None  # where the bot serves the same bytes (for `files_by_url` gateways)


@dataclass(frozen=True)
class Download:
    data: bytes = field(repr=False)
    mime: str | None = None
    name: str | None = None


class Enrolment(enum.StrEnum):
    """How a person gets a line on this gateway."""

    SPARE = "spare"  # the gateway hands out a line, then a QR (wapp.im, whinmovilla)
    CREDENTIALS = "credentials"  # the person brings their own instance id + token (Green-API)
    OPERATOR = "operator"  # the bot's operator configured one managed line (ITD)


class Gateway(ABC):
    """One WhatsApp gateway. Drivers translate its HTTP API into these calls and states."""

    name: ClassVar[str]
    title: ClassVar[str]  # shown to people: "wapp.im", "Green-API"
    enrolment: ClassVar[Enrolment] = Enrolment.SPARE
    # Names of what a CREDENTIALS gateway needs from the person, in the order they type them;
    # a trailing "?" marks an optional one (the dict handed to `acquire` has the bare names).
    credentials: ClassVar[tuple[str, ...]] = ()
    # First QR lifetime, then each rotation (seconds), used to tell the user until when it is valid.
    qr_lifetimes: ClassVar[tuple[float, float]] = (60.0, 20.0)
    reception: ClassVar[Reception] = Reception.NONE
    # The gateway fetches files from a URL (ITD): `send_file` needs `OutgoingFile.url`.
    files_by_url: ClassVar[bool] = False
    # Sends name the team member answering (HCI operators): `Line.options["operator_id"]`.
    sends_as_operator: ClassVar[bool] = False
    # Linked by the bot's admins only, and not offered in /connect's menu (HCI's shared line).
    admin_only: ClassVar[bool] = False

    @abstractmethod
    async def acquire(self, credentials: dict[str, str] | None = None) -> Line:
        """Get a line to link: a spare instance, a free slot, or the person's own credentials
        (checked against the gateway; InvalidRequestError/AuthError when they are wrong)."""

    @abstractmethod
    async def start(self, line: Line) -> None:
        """Wake the line up so that it produces a QR."""

    @abstractmethod
    async def status(self, line: Line) -> LineStatus:
        """The line's current state, with the QR when one is showing."""

    @abstractmethod
    async def account(self, line: Line) -> Account:
        """Name and phone of the linked WhatsApp account."""

    @abstractmethod
    async def send_text(
        self, line: Line, phone: str, text: str, *, quoted: str | None = None
    ) -> SentMessage:
        """Send `text` to `phone`: international digits, or a group id (`…@g.us`, from an
        `Inbound.chat`). `quoted` is the id of an incoming message to quote, where the gateway
        can (others ignore it)."""

    @abstractmethod
    async def logout(self, line: Line) -> None:
        """Unlink WhatsApp from the line."""

    @abstractmethod
    async def release(self, line: Line) -> None:
        """Give the line back to the gateway (best effort)."""

    # Optional operations: a gateway that lacks one raises UnsupportedError, and the bot says so.

    async def send_media(
        self,
        line: Line,
        phone: str,
        url: str,
        *,
        caption: str | None = None,
        filename: str | None = None,
    ) -> SentMessage:
        """Send a file/image by URL."""
        raise UnsupportedError(f"{self.title} cannot send files")

    async def send_file(
        self,
        line: Line,
        phone: str,
        file: OutgoingFile,
        *,
        caption: str | None = None,
        quoted: str | None = None,
    ) -> SentMessage:
        """Send a file's bytes (a photo, voice note, … a person gave the bot)."""
        raise UnsupportedError(f"{self.title} cannot send files")

    async def send_link(
        self, line: Line, phone: str, url: str, *, caption: str | None = None
    ) -> SentMessage:
        """Send a web page's address; WhatsApp shows its preview. Most gateways have no link
        type: a text that carries the address is how they do it (Green-API previews by default)."""
        return await self.send_text(line, phone, f"{caption}\n{url}" if caption else url)

    async def delivery(self, line: Line, message_id: str) -> Delivery:
        """Delivery status of a message sent earlier."""
        raise UnsupportedError(f"{self.title} does not report delivery")

    async def pairing_code(self, line: Line, phone: str) -> str:
        """A code to type in WhatsApp → Linked devices → Link with phone number (instead of the QR)."""
        raise UnsupportedError(f"{self.title} has no pairing codes")

    async def reboot(self, line: Line) -> None:
        raise UnsupportedError(f"{self.title} cannot reboot a line")

    async def pause(self, line: Line) -> None:
        """Put a linked line to sleep (no sending, no receiving)."""
        raise UnsupportedError(f"{self.title} cannot pause a line")

    async def resume(self, line: Line) -> None:
        raise UnsupportedError(f"{self.title} cannot resume a line")

    # Incoming messages (see `reception`).

    async def receive(self, line: Line, cursor: str | None) -> Received:
        """POLL gateways: the events since `cursor` (None: the first poll of this line)."""
        raise UnsupportedError(f"{self.title} is not polled for messages")

    async def acknowledge(self, line: Line, ack: str) -> None:  # noqa: B027  # optional hook
        """POLL gateways: the events of `Received.ack` are handled (shown, or skipped on purpose)."""

    async def receive_problem(self, line: Line) -> str | None:
        """Why this line cannot receive now, as a short key (Green-API "webhook_url"), or None."""
        return None

    def parse_push(self, hook: str, body: Any) -> list[Event]:
        """PUSH gateways: the events in one POST to the hook named `hook` ("incoming",
        "status"). InvalidRequestError when the body is not what the gateway sends."""
        raise UnsupportedError(f"{self.title} does not push")

    async def download(self, line: Line, url: str, *, max_bytes: int) -> Download:
        """The file of an incoming message. MediaTooLargeError over `max_bytes`; UnsafeUrlError
        for a URL off the gateway's origin that points at a private address."""
        raise UnsupportedError(f"{self.title} cannot download files")

    async def details(self, line: Line) -> dict[str, str]:
        """Extra facts for /status (e.g. ITD credits), as label → value."""
        return {}

    async def aclose(self) -> None:  # noqa: B027  # optional hook: drivers with clients override it
        """Close HTTP clients."""
