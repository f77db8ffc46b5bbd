"""The outbox: every accepted /send is a database row first, and delivery runs from that row.

Rules (what makes "nothing lost, nothing sent twice" hold):
- `accept` stores the message keyed by the Telegram message it came from, so the same update
  delivered twice (the bot died before acknowledging it) is one row, hence one WhatsApp message.
- The worker claims a due row with a conditional update (queued → sending), so no two workers or
  replicas deliver the same row.
- Retried: errors where the gateway surely did not act (connection refused, 5xx, 429), with
  exponential backoff and jitter, up to SEND_MAX_ATTEMPTS; then `failed`, and the user is told.
- Ambiguous outcome (the request left, no answer came; or the replica died mid-call, found as
  a `sending` row whose lease ran out): never retried silently. The row becomes `failed` with the reason
  "uncertain", and the user gets a button to send it again if it did not arrive. A duplicate
  WhatsApp message is worse than a visible question: gateways take no idempotency key.
- Pacing (anti-ban): per line at most SEND_RATE_PER_MINUTE, spread evenly (later messages wait
  their slot), and at most SEND_DAILY_CAP per 24 h (refused in words).
- Files a person sent to the bot are fetched from Telegram when their turn comes (the row keeps
  Telegram's file id, never a file URL: that one carries the bot token), then given to the
  gateway as bytes, or as a short-lived link the bot serves (ITD fetches files by URL).
- Ticks: the gateway's delivery news moves a sent row forward only (sent → delivered → read, or
  failed with the gateway's reason), and the confirmation in Telegram is edited to match.
- One Bot API call per message in the common case (each counts against Telegram's 30 a second):
  the confirmation is sent once the gateway took the message (or it failed), and only edited
  after that. It is sent earlier only when pacing holds the message back, or at its first retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from bot.gateways.base import (
    Delivery,
    DeliveryUpdate,
    ErrorKind,
    Gateway,
    GatewayError,
    Line,
    LineState,
    NetworkError,
    OutgoingFile,
    SentMessage,
)
from bot.logs import mask_phone
from bot.metrics import MESSAGES
from bot.services.leases import Leases
from bot.services.lines import Lines
from bot.services.media_links import MediaLinks
from bot.services.ports import (
    FileSource,
    FileTooBig,
    LinkView,
    SendView,
    UiUnavailable,
    UserUnreachable,
)
from bot.storage.models import MessageStatus, OutgoingMessage, User, WhatsAppChat

log = logging.getLogger(__name__)

UNCERTAIN = "uncertain"  # the error text for an ambiguous outcome
TOO_BIG = "too_big"  # Telegram would not hand over the file (over its 20 MB download limit)
NO_PUBLIC_URL = "no_public_url"  # the gateway fetches files by URL, and PUBLIC_URL is not set
# Ticks move a sent message forward only; a failure report is believed only before delivery.
_TICKS = {
    Delivery.SENT: MessageStatus.SENT,
    Delivery.DELIVERED: MessageStatus.DELIVERED,
    Delivery.READ: MessageStatus.READ,
    Delivery.FAILED: MessageStatus.FAILED,
}
_RANK = {MessageStatus.SENT: 1, MessageStatus.DELIVERED: 2, MessageStatus.READ: 3}
# A crashed handler's row is picked up by the worker after this grace, not lost.
ACCEPT_GRACE = timedelta(seconds=10)
BATCH = 50  # rows the worker claims in one pass


class NoActiveChat(Exception):
    """The user has no linked chat to send through."""


class ChatNotReady(Exception):
    def __init__(self, chat: WhatsAppChat) -> None:
        super().__init__(chat.state)
        self.chat = chat


class DailyCapReached(Exception):
    def __init__(self, cap: int) -> None:
        super().__init__(cap)
        self.cap = cap


@dataclass(frozen=True)
class TelegramFile:
    """A file a person sent to the bot, as Telegram identifies it."""

    file_id: str
    name: str  # with an extension
    mime: str


@dataclass(frozen=True)
class Draft:
    """What a person asked to send."""

    recipient: str  # international digits, or a group id (…@g.us) when answering a group
    text: str = ""  # the message, or the caption of the file or link
    recipient_name: str | None = None  # shown in confirmations (a group's name)
    media_url: str | None = None  # /sendfile, /sendlink
    media_is_link: bool = False
    file: TelegramFile | None = None
    quoted_id: str | None = None  # the incoming message this answers


@dataclass(frozen=True)
class Accepted:
    message: OutgoingMessage
    new: bool  # False: the same Telegram message was accepted before
    wait: float = 0.0  # seconds until the line's pacing lets the next message out


class SendService:
    def __init__(
        self,
        lines: Lines,
        view: SendView,
        link_view: LinkView,
        files: FileSource,
        media_links: MediaLinks,
        leases: Leases,
        *,
        rate_per_minute: int,
        daily_cap: int,
        max_attempts: int,
        backoff: float = 2.0,
        tick: float = 1.0,
    ) -> None:
        self.lines = lines
        self.view = view
        self.link_view = link_view
        self.files = files
        self.media_links = media_links
        self.leases = leases
        self.spacing = timedelta(seconds=60 / rate_per_minute)
        self.daily_cap = daily_cap
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.tick = tick
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        # Messages whose first confirmation is being sent, by id (see `_finish`).
        self._confirming: dict[int, asyncio.Event] = {}

    async def active_chat(self, user: User) -> WhatsAppChat:
        chat = (
            await WhatsAppChat.get_or_none(id=user.active_chat_id, owner_id=user.id)
            if user.active_chat_id
            else None
        )
        if chat is None:
            raise NoActiveChat
        if chat.state is not LineState.AUTHORIZED:
            raise ChatNotReady(chat)
        return chat

    async def accept(
        self,
        user: User,
        draft: Draft,
        source_chat_id: int,
        source_message_id: int,
        chat: WhatsAppChat | None = None,
    ) -> Accepted:
        """Store the message (before anything else) and give it a delivery slot. It goes out
        through `chat` (an answer goes back the way the message came), else the active chat."""
        existing = await OutgoingMessage.get_or_none(
            source_chat_id=source_chat_id, source_message_id=source_message_id
        )
        if existing is not None:
            return Accepted(existing, new=False)
        if chat is None:
            chat = await self.active_chat(user)
        elif chat.state is not LineState.AUTHORIZED:
            raise ChatNotReady(chat)
        since = _now() - timedelta(days=1)
        used = (
            await OutgoingMessage.filter(chat_id=chat.id, created_at__gte=since)
            .exclude(status=MessageStatus.FAILED)
            .count()
        )
        if used >= self.daily_cap:
            raise DailyCapReached(self.daily_cap)
        file = draft.file
        try:
            message = await OutgoingMessage.create(
                chat_id=chat.id,
                recipient=draft.recipient,
                recipient_name=draft.recipient_name,
                text=draft.text,
                media_url=draft.media_url,
                media_is_link=draft.media_is_link,
                file_id=file.file_id if file else None,
                file_name=file.name if file else None,
                file_mime=file.mime if file else None,
                quoted_id=draft.quoted_id,
                next_attempt_at=_now() + ACCEPT_GRACE,
                source_chat_id=source_chat_id,
                source_message_id=source_message_id,
            )
        except IntegrityError:  # the twin update won the race
            twin = await OutgoingMessage.get(
                source_chat_id=source_chat_id, source_message_id=source_message_id
            )
            return Accepted(twin, new=False)
        log.info("outbox: message %s to %s accepted", message.id, mask_phone(draft.recipient))
        due = chat.next_send_at
        wait = (due - _now()).total_seconds() if due is not None else 0.0
        return Accepted(message, new=True, wait=max(0.0, wait))

    async def release(self, message: OutgoingMessage, ui_message_id: int | None) -> datetime:
        """Schedule the message at its pacing slot and wake the worker. `ui_message_id`: its
        confirmation, when one is on screen already (else it is sent once the gateway answered)."""
        # One transaction, the line's row locked (PostgreSQL): two replicas releasing messages of
        # one line at once give them different slots. Also one commit for the two writes.
        async with in_transaction():
            chat = await WhatsAppChat.select_for_update().get(id=message.chat_id)  # type: ignore[attr-defined]
            slot = max(_now(), chat.next_send_at or _now())
            chat.next_send_at = slot + self.spacing
            await chat.save(update_fields=["next_send_at"])
            await OutgoingMessage.filter(id=message.id, status=MessageStatus.QUEUED).update(
                next_attempt_at=slot, ui_message_id=ui_message_id
            )
        message.next_attempt_at, message.ui_message_id = slot, ui_message_id
        self._wake.set()
        return slot

    async def send_again(self, user: User, message_id: int) -> OutgoingMessage | None:
        """The user asked to resend a failed message (their own only)."""
        old = await OutgoingMessage.get_or_none(id=message_id, chat__owner_id=user.id)
        if old is None:
            return None
        # Conditional: of two taps on "Send again", only one re-queues the message.
        requeued = await OutgoingMessage.filter(id=old.id, status=MessageStatus.FAILED).update(
            status=MessageStatus.QUEUED, error=None, attempts=0
        )
        if not requeued:
            return None
        old.status, old.error, old.attempts = MessageStatus.QUEUED, None, 0
        await self.release(old, old.ui_message_id)
        return old

    # --- the worker

    async def start(self) -> None:
        await self._recover()
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        tasks = [t for t in (self._worker, *self._inflight) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _recover(self) -> None:
        """Rows left `sending` by a replica that died mid-call (their lease ran out): the gateway
        may have sent them. Tell, never guess; of two replicas finding one, one tells."""
        stale = Q(lease_until__isnull=True) | Q(lease_until__lt=_now())
        for message in await OutgoingMessage.filter(stale, status=MessageStatus.SENDING):
            taken = await OutgoingMessage.filter(
                stale, id=message.id, status=MessageStatus.SENDING
            ).update(status=MessageStatus.FAILED, error=UNCERTAIN, lease_holder=None)
            if taken:
                await self._finish(message, MessageStatus.FAILED, error=UNCERTAIN)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_recovery = loop.time() + self.leases.seconds / 3
        while True:
            self._wake.clear()  # before the pass: a wake-up during it triggers the next one
            try:
                if loop.time() >= next_recovery:  # another replica may have died mid-call
                    await self._recover()
                    next_recovery = loop.time() + self.leases.seconds / 3
                due = (
                    await OutgoingMessage.filter(
                        status=MessageStatus.QUEUED, next_attempt_at__lte=_now()
                    )
                    .order_by("next_attempt_at", "id")
                    .limit(BATCH)
                )
                claimed = await self._claim(due)
                chats = await self._lines_of(claimed)
                for message in claimed:
                    chat = chats[message.chat_id]  # type: ignore[attr-defined]
                    task = asyncio.create_task(self._deliver(message, chat))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                if len(due) == BATCH:  # more may be due: the next pass at once, not in a tick
                    self._wake.set()
            except Exception:  # the loop must outlive a database hiccup
                log.exception("outbox: worker pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.tick)

    async def _claim(self, due: list[OutgoingMessage]) -> list[OutgoingMessage]:
        """The rows of `due` this replica now sends: one conditional update for the batch (a
        row another replica took meanwhile is not queued any more), then which rows it took."""
        if not due:
            return []
        ids = [message.id for message in due]
        await OutgoingMessage.filter(id__in=ids, status=MessageStatus.QUEUED).update(
            status=MessageStatus.SENDING,
            attempts=F("attempts") + 1,
            lease_holder=self.leases.holder,
            lease_until=self.leases.until,
        )
        # Ours and sending: claimed just now (no row of ours was queued but already sending).
        mine = await OutgoingMessage.filter(
            id__in=ids, status=MessageStatus.SENDING, lease_holder=self.leases.holder
        ).values("id")
        taken = {int(row["id"]) for row in mine}
        claimed = [message for message in due if message.id in taken]
        for message in claimed:
            message.attempts += 1
        return claimed

    @staticmethod
    async def _lines_of(messages: list[OutgoingMessage]) -> dict[int, WhatsAppChat]:
        """The lines (with owners) of a batch, in one query."""
        if not messages:
            return {}
        ids = {message.chat_id for message in messages}  # type: ignore[attr-defined]
        return {
            chat.id: chat for chat in await WhatsAppChat.filter(id__in=ids).select_related("owner")
        }

    async def _deliver(self, message: OutgoingMessage, chat: WhatsAppChat) -> None:
        if chat.state is not LineState.AUTHORIZED:
            await self._finish(message, MessageStatus.FAILED, error=f"line {chat.state}")
            return
        gateway, line = await self.lines.for_member(chat, message.source_chat_id)
        if message.file_id and gateway.files_by_url and not self.media_links.enabled:
            await self._finish(message, MessageStatus.FAILED, error=NO_PUBLIC_URL)
            return
        try:
            sent = await self._call_gateway(message, gateway, line)
        except GatewayError as exc:
            await self._failed_attempt(message, chat, exc)
            return
        except FileTooBig:
            await self._finish(message, MessageStatus.FAILED, error=TOO_BIG)
            return
        except UiUnavailable:  # Telegram did not hand over the file: the gateway saw nothing
            await self._retry_later(message, None)
            return
        message.gateway_message_id = (sent.message_id or "")[:255] or None
        await self._finish(message, MessageStatus.SENT, chat=chat)

    async def _call_gateway(
        self, message: OutgoingMessage, gateway: Gateway, line: Line
    ) -> SentMessage:
        caption = message.text or None
        if message.file_id:
            data = await self.files.fetch(message.file_id)
            name, mime = (
                message.file_name or "file.bin",
                message.file_mime or "application/octet-stream",
            )
            url = await self.media_links.create(data, mime, name) if gateway.files_by_url else None
            file = OutgoingFile(data, name, mime, url)
            return await gateway.send_file(
                line, message.recipient, file, caption=caption, quoted=message.quoted_id
            )
        if message.media_url and message.media_is_link:
            return await gateway.send_link(
                line, message.recipient, message.media_url, caption=caption
            )
        if message.media_url:
            return await gateway.send_media(
                line, message.recipient, message.media_url, caption=caption
            )
        return await gateway.send_text(
            line, message.recipient, message.text, quoted=message.quoted_id
        )

    async def _failed_attempt(
        self, message: OutgoingMessage, chat: WhatsAppChat, exc: GatewayError
    ) -> None:
        log.info(
            "outbox: message %s attempt %d: %s (%s)",
            message.id,
            message.attempts,
            exc.kind,
            exc.detail,
        )
        if isinstance(exc, NetworkError) and exc.request_sent:
            await self._finish(message, MessageStatus.FAILED, error=UNCERTAIN, exc=exc)
            return
        if exc.line_lost:
            await mark_lost(chat, exc.detail or exc.kind)
            await self._finish(message, MessageStatus.FAILED, error=str(exc.kind), exc=exc)
            owner = await User.get(id=chat.owner_id)  # type: ignore[attr-defined]
            await self._tell(self.link_view.line_lost(chat, owner.language))
            return
        if exc.retriable or exc.kind is ErrorKind.NETWORK:
            await self._retry_later(message, exc)
            return
        await self._finish(message, MessageStatus.FAILED, error=str(exc.kind), exc=exc)

    async def _retry_later(self, message: OutgoingMessage, exc: GatewayError | None) -> None:
        """Back to the queue with backoff, when repeating is safe; failed after the last try."""
        if message.attempts >= self.max_attempts:
            error = str(exc.kind) if exc else str(ErrorKind.NETWORK)
            await self._finish(message, MessageStatus.FAILED, error=error, exc=exc)
            return
        if message.ui_message_id is None:
            # The first retry: say it is on its way. Before the row is queued again, so the next
            # attempt sees this confirmation and edits it instead of sending another.
            message.status = MessageStatus.QUEUED
            await self._notify(message, exc)
        retry_after = exc.retry_after if exc else None
        delay = max(retry_after or 0.0, self.backoff * 2 ** (message.attempts - 1))
        delay *= 0.75 + random.random() / 2
        await OutgoingMessage.filter(id=message.id, status=MessageStatus.SENDING).update(
            status=MessageStatus.QUEUED, next_attempt_at=_now() + timedelta(seconds=delay)
        )

    # --- ticks

    async def delivery_update(self, chat_ids: Collection[int], update: DeliveryUpdate) -> None:
        """The gateway's news about a message sent through one of `chat_ids`. The confirmation
        is edited before the row is saved: UiUnavailable leaves the news to be told again."""
        status = _TICKS.get(update.delivery)
        message = await OutgoingMessage.filter(
            chat_id__in=list(chat_ids), gateway_message_id=update.message_id[:255]
        ).first()
        if message is None or status is None:
            return
        if (pending := self._confirming.get(message.id)) is not None:
            await pending.wait()  # its first confirmation is on its way: this news edits it
            await message.refresh_from_db(fields=["ui_message_id"])
        current = _RANK.get(message.status, 0)
        forward = (
            _RANK.get(status, 0) > current if status is not MessageStatus.FAILED else current == 1
        )
        if not forward:
            return
        message.status = status
        if status is MessageStatus.FAILED:
            message.error = (update.reason or "failed")[:255]
        chat = await WhatsAppChat.get(id=message.chat_id).prefetch_related("owner")  # type: ignore[attr-defined]
        author = await _author(message, chat)
        if author is not None and not author.blocked_bot:
            with contextlib.suppress(UserUnreachable):
                await self._confirm(message, author.language, None)
        await message.save(update_fields=["status", "error", "updated_at"])

    async def _finish(
        self,
        message: OutgoingMessage,
        status: MessageStatus,
        *,
        error: str | None = None,
        exc: GatewayError | None = None,
        chat: WhatsAppChat | None = None,
    ) -> None:
        """The outcome, stored, then told (`chat`: the message's line with its owner, if at
        hand)."""
        message.status, message.error = status, error
        if message.ui_message_id is None:
            # Set before the gateway's id is stored: its ticks cannot find the row earlier, and
            # they wait for the confirmation instead of sending a second one.
            self._confirming[message.id] = asyncio.Event()
        try:
            await message.save(
                update_fields=["status", "error", "gateway_message_id", "updated_at"]
            )
            MESSAGES.labels(str(status)).inc()
            log.info("outbox: message %s %s%s", message.id, status, f" ({error})" if error else "")
            await self._notify(message, exc, chat)
        finally:
            if (pending := self._confirming.pop(message.id, None)) is not None:
                pending.set()

    async def _notify(
        self, message: OutgoingMessage, exc: GatewayError | None, chat: WhatsAppChat | None = None
    ) -> None:
        """Tell whoever sent it the message's status (unless they blocked the bot)."""
        if chat is None:
            chat = await WhatsAppChat.get(id=message.chat_id).select_related("owner")  # type: ignore[attr-defined]
        author = await _author(message, chat)
        if author is not None and not author.blocked_bot:
            await self._tell(self._confirm(message, author.language, exc))

    async def _confirm(self, message: OutgoingMessage, lang: str, exc: GatewayError | None) -> None:
        """Show the status; a confirmation sent just now is kept as the message's own: later news
        edits it, and a reply to it answers the recipient."""
        shown = await self.view.update(message, lang, exc)
        if shown is not None and shown != message.ui_message_id:
            message.ui_message_id = shown
            await OutgoingMessage.filter(id=message.id).update(ui_message_id=shown)

    @staticmethod
    async def _tell(notice: Awaitable[None]) -> None:
        # The message state is already stored; a person who blocked the bot just is not told.
        try:
            await notice
        except UserUnreachable:
            log.info("outbox: the user cannot be reached; status kept in the database")
        except UiUnavailable:
            log.info("outbox: Telegram is unavailable; status kept in the database")


async def mark_lost(chat: WhatsAppChat, reason: str) -> None:
    """The gateway no longer knows the line (wiped, wrong token, unlinked on the phone)."""
    chat.state, chat.lost_reason = LineState.LOGGED_OUT, reason[:255]
    await chat.save(update_fields=["state", "lost_reason", "updated_at"])


async def _author(message: OutgoingMessage, chat: WhatsAppChat) -> User | None:
    """Who sent the message: the line's owner, or on a team desk one of its members."""
    if message.source_chat_id == chat.owner.id:
        return chat.owner
    return await User.get_or_none(id=message.source_chat_id)


def _now() -> datetime:
    return datetime.now(UTC)
