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
from bot.services.bulk_report import ReportRow
from bot.storage.models import (
    Bulk,
    BulkState,
    Conversation,
    DeskArea,
    DeskContact,
    IncomingMessage,
    OutgoingMessage,
    WhatsAppChat,
)


class UserUnreachable(Exception):
    """Telegram refuses to deliver to this user (403: blocked the bot, deactivated)."""


class UiUnavailable(Exception):
    """Telegram does not answer right now (network, 5xx, flood wait): try again later."""


class Undeliverable(Exception):
    """Telegram refuses this one message for good, even in its plainest form: skip it."""


class FileTooBig(Exception):
    """Telegram will not hand the bot a file this large (its 20 MB download limit)."""


class TopicGone(Exception):
    """The topic is no more (the person deleted it; Telegram said so, or put the message outside
    it): the conversation needs a new one."""


class TopicsOff(Exception):
    """Telegram refuses topics in this chat right now (the owner turned Threaded Mode off, or a
    server fault): deliver flat this time, try topics again next time."""


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
        thread: int | None = None,
    ) -> int:
        """Show an incoming WhatsApp message; returns the Telegram message id. `file` is the
        downloaded media (None for text, or when it could not be had: `problem` says why).
        `thread`: in that topic (TopicGone when it is no more)."""
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


class Note(enum.StrEnum):
    """A line the bot leaves in a conversation's topic when the conversation moves on."""

    MOVED = "moved"  # the person made another topic its topic (bound it)
    HANDED = "handed"  # a desk customer now answered by another member (`name`)
    QUEUED = "queued"  # a desk customer back in an area's queue (`name`)
    CLOSED = "closed"  # a desk conversation closed


class TopicView(Protocol):
    """Topics in a person's private chat with the bot (threaded mode). Every method may raise
    UserUnreachable and UiUnavailable; those that address a topic, TopicGone."""

    async def create(self, user_id: int, title: str) -> int:
        """A new topic; its thread id. TopicsOff when Telegram refuses topics now."""
        ...

    async def rename(self, user_id: int, thread: int, title: str) -> None:
        """TopicsOff as `create`; an unchanged title is no error."""
        ...

    async def header(
        self,
        user_id: int,
        lang: str,
        thread: int,
        conversation: Conversation,
        line: WhatsAppChat,
        recent: list[IncomingMessage],
    ) -> None:
        """The first message of a new topic (it shows the topic in the client): who, on which
        line, how to answer, and `recent` messages of the conversation (a desk's Take)."""
        ...

    async def note(
        self, user_id: int, lang: str, thread: int, note: Note, name: str = ""
    ) -> None: ...

    async def echo(self, user_id: int, lang: str, thread: int, message: OutgoingMessage) -> None:
        """What the person sent to the conversation from outside its topic (/send)."""
        ...

    async def progress(
        self, message: OutgoingMessage, lang: str, error: GatewayError | None, gateway: str
    ) -> None:
        """Show the status of a message written in a topic: a reaction on the person's message
        (`ui_message_id`, else `source_message_id`) while all goes well, a reply in words (with
        Send again) when it failed or may not have gone out, or waits for the gateway."""
        ...


class FileSource(Protocol):
    async def fetch(self, file_id: str) -> bytes:
        """The bytes of a file a person sent to the bot (FileTooBig, UiUnavailable)."""
        ...


@dataclass(frozen=True)
class BulkFigures:
    """Where a bulk send's recipients are (`bot.services.bulk.figures_of`)."""

    total: int = 0
    held: int = 0  # waiting for the bulk to release them
    queued: int = 0  # released, waiting for the line's pacing slot (or a retry)
    sending: int = 0
    sent: int = 0  # the gateway took them (sent, delivered or read)
    delivered: int = 0  # delivered or read, where the gateway reports ticks
    read: int = 0
    failed: tuple[tuple[str, int], ...] = ()  # (stored error, count), most first
    unknown: int = 0  # in flight when the gateway or the bot went away: not known, not resent
    stopped: int = 0  # not sent: the bulk was stopped
    waiting_gateway: int = 0  # released rows that wait for the gateway to come back

    @property
    def left(self) -> int:
        return self.held + self.queued + self.sending

    @property
    def failed_count(self) -> int:
        return sum(count for _, count in self.failed)

    @property
    def done(self) -> int:
        return self.total - self.left


@dataclass(frozen=True)
class BulkProgress:
    """What a bulk's progress message shows now (and, once it ended, its summary)."""

    state: BulkState
    figures: BulkFigures
    pause_reason: str | None = None  # see `Bulk.pause_reason`
    # The rows left at the line's pace, in seconds as shown: whole minutes, or 0 (under one).
    eta_seconds: int = 0
    cap: int = 0  # SEND_DAILY_CAP
    cap_until: datetime | None = None  # the daily cap holds the bulk until then
    gateway: str = ""  # the gateway's title (a reason may name it)


class BulkView(Protocol):
    """A bulk send's one progress message in the owner's chat (`Bulk.progress_message_id`),
    and its report. The runner calls it no more often than `edit_every` seconds, except to
    answer a press (the state changed) and for the summary."""

    edit_every: float

    async def show(self, bulk: Bulk, lang: str, progress: BulkProgress) -> int | None:
        """Edit the progress message to show `progress` (`bulk.chat` is its line); when it has
        none or it cannot be edited, send one: returns the id of a message sent, else None."""
        ...

    async def report(self, bulk: Bulk, lang: str, rows: list[ReportRow]) -> None:
        """The CSV report as a document, after the summary: one row per recipient."""
        ...
