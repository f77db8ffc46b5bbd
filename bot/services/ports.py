"""What the services need from a user interface (the Telegram layer implements these).

Services call these to tell the person what happened; they never see Telegram types. A view
raises `UserUnreachable` when the person cannot be reached (they blocked the bot), so that the
services stop working for them instead of retrying into a wall, and `UiUnavailable` when Telegram
itself does not answer (an outage), so that what was to be shown is held and tried again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.gateways.base import Download, GatewayError
from bot.storage.models import DeskArea, DeskContact, IncomingMessage, OutgoingMessage, WhatsAppChat


class UserUnreachable(Exception):
    """Telegram refuses to deliver to this user (403: blocked the bot, deactivated)."""


class UiUnavailable(Exception):
    """Telegram does not answer right now (network, 5xx, flood wait): try again later."""


class Undeliverable(Exception):
    """Telegram refuses this one message for good, even in its plainest form: skip it."""


class FileTooBig(Exception):
    """Telegram will not hand the bot a file this large (its 20 MB download limit)."""


class Outcome(enum.StrEnum):
    EXPIRED = "expired"  # nobody scanned before CONNECT_TIMEOUT
    CANCELLED = "cancelled"  # the user pressed Cancel or sent /cancel
    FAILED = "failed"  # the gateway said no (the error tells why)
    REFUSED = "refused"  # WhatsApp banned or restricted the number


@dataclass
class Ui:
    """The message that shows one connect attempt (a text first, the QR photo later)."""

    chat_id: int
    message_id: int
    is_photo: bool = False


class ConnectView(Protocol):
    async def begin(self, ui_chat_id: int, lang: str) -> Ui: ...
    async def show_qr(self, ui: Ui, lang: str, png: bytes, valid_until: datetime) -> Ui: ...
    async def connected(self, ui: Ui, lang: str, chat: WhatsAppChat) -> None: ...
    async def ended(
        self, ui: Ui, lang: str, outcome: Outcome, error: GatewayError | None
    ) -> None: ...


class QueueView(Protocol):
    """The connect queue's one message per person in line: a photo from the start (Telegram
    cannot turn a text into a photo), its caption the place in line, later edited into the QR."""

    async def waiting(self, ui_chat_id: int, lang: str, place: int, wait: float) -> int:
        """Show the place in line and the estimated wait (seconds); the photo's message id."""
        ...

    async def moved(
        self, ui_chat_id: int, message_id: int, lang: str, place: int, wait: float, within: float
    ) -> None:
        """The line moved: the caption tells the new place. Not sent at all unless Telegram's
        budget lets it go out within `within` seconds (later, the QR may be there already)."""
        ...

    async def left(self, ui_chat_id: int, message_id: int | None, lang: str) -> None:
        """The person left the line (Cancel) before their turn."""
        ...

    async def forget(self, ui_chat_id: int, message_id: int) -> None:
        """A photo that arrived after its turn came (the attempt shows itself): removed."""
        ...

    def room(self) -> int:
        """How many queue messages may be handed to Telegram now: about what its budget takes
        in a second, less whatever already waits for it."""
        ...

    def behind(self) -> float:
        """Seconds of connect-flow messages (QRs) waiting for Telegram's budget."""
        ...


class SendView(Protocol):
    async def update(
        self,
        message: OutgoingMessage,
        lang: str,
        error: GatewayError | None,
        gateway: str,
        wait: float = 0.0,
    ) -> int | None:
        """Show the message's status: edit its confirmation (`ui_message_id`), or send one when
        it has none (or it cannot be edited); returns the id of a message sent, else None.
        `gateway` is the gateway's title (a message waiting for it names it); `wait`, the
        seconds until a queued message goes out (pacing)."""
        ...


class LinkView(Protocol):
    async def line_lost(self, chat: WhatsAppChat, lang: str) -> None: ...


@dataclass(frozen=True)
class DeskButtons:
    """The buttons under a team-inbox card: Take (and Area… when the desk has areas) while the
    customer waits, Transfer and Close for the member who owns them."""

    contact_id: int
    queued: bool
    areas: bool


class InboxView(Protocol):
    async def forward(
        self,
        user_id: int,
        lang: str,
        message: IncomingMessage,
        file: Download | None,
        problem: str,
        buttons: DeskButtons | None = None,
    ) -> int:
        """Show an incoming WhatsApp message; returns the Telegram message id. `file` is the
        downloaded media (None for text, or when it could not be had: `problem` says why)."""
        ...


class DeskView(Protocol):
    async def taken(self, user_id: int, message_id: int, lang: str, taker: str) -> None:
        """A queue card of someone else's: now it says who took the customer."""
        ...

    async def owned(self, user_id: int, message_id: int, lang: str, contact_id: int) -> None:
        """The taker's own card: Transfer and Close instead of Take."""
        ...

    async def waiting(
        self,
        user_id: int,
        lang: str,
        contact: DeskContact,
        area: DeskArea | None,
        buttons: DeskButtons,
    ) -> int:
        """A queue card without a message: the customer waits (in `area`)."""
        ...

    async def handed(self, user_id: int, lang: str, contact: DeskContact, by: str) -> int:
        """The customer was transferred to this member by `by`."""
        ...


class FileSource(Protocol):
    async def fetch(self, file_id: str) -> bytes:
        """The bytes of a file a person sent to the bot (FileTooBig, UiUnavailable)."""
        ...
