"""The outbox: every accepted /send is a database row first, and delivery runs from that row.

Rules (what makes "nothing lost, nothing sent twice" hold):
- `accept` stores the message keyed by the Telegram message it came from, so the same update
  delivered twice (the bot died before acknowledging it) is one row, hence one WhatsApp message.
- The worker claims due rows with a conditional update (queued → sending), so no two workers or
  replicas deliver the same row; and it takes each row's line slot first (`pacing.py`): a line
  sends one message per slot, whatever waited longest first, the person's own messages before a
  bulk send's. Messages to one recipient go out in the order they were written: a row waits
  while an older one to the same recipient on the same line is not done (`outbox_queue.py`).
- Retried (`retry_policy.py`): an outage (connection refused, 5xx, 429, the breaker's refusal)
  for up to SEND_RETRY_FOR, the person told once that it waits for the gateway; other errors
  worth repeating up to SEND_MAX_ATTEMPTS; then `failed`, in words, with Send again.
- Ambiguous outcome (the request left, no answer came; or the replica died mid-call, found as
  a `sending` row whose lease ran out): never retried silently. The row becomes `failed` with the
  reason "uncertain", and the user gets a button to send it again if it did not arrive. A
  duplicate WhatsApp message is worse than a visible question: gateways take no idempotency key.
- At most SEND_DAILY_CAP messages per line in 24 h (refused in words). A bulk send's rows wait
  HELD until their bulk releases them (`bulk_runner.py`), and count from then.
- Files a person sent to the bot are fetched from Telegram when their turn comes (the row keeps
  Telegram's file id, never a file URL: that one carries the bot token), then given to the
  gateway as bytes, or as a short-lived link the bot serves (ITD fetches files by URL).
- Ticks: the gateway's delivery news moves a sent row forward only (sent → delivered → read, or
  failed with the gateway's reason), and the confirmation is edited to match (`confirmations.py`:
  one confirmation per message, also across replicas).
- One Bot API call per message in the common case (each counts against Telegram's 30 a second):
  the confirmation is sent once the gateway took the message (or it failed), and only edited
  after that. It is sent earlier only when pacing holds the message back, or when it waits for
  the gateway to come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q

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
from bot.services.confirmations import Confirmations
from bot.services.conversations import conversation_of
from bot.services.leases import Leases
from bot.services.lines import Lines
from bot.services.media_links import MediaLinks
from bot.services.outbox_queue import BATCH, OutboxQueue, used_today
from bot.services.pacing import Pacing
from bot.services.ports import FileSource, FileTooBig, LinkView, UiUnavailable, UserUnreachable
from bot.services.retry_policy import RetryPolicy
from bot.storage.models import MessageStatus, Origin, OutgoingMessage, User, WhatsAppChat

log = logging.getLogger(__name__)

UNCERTAIN = "uncertain"  # the error text for an ambiguous outcome
GATEWAY_DOWN = "gateway_down"  # the gateway stayed down for SEND_RETRY_FOR
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
UNDONE = (MessageStatus.QUEUED, MessageStatus.SENDING)


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
    origin: Origin = Origin.COMMAND  # where it was written: decides how its progress is shown
    conversation_id: int | None = None  # its conversation (None: found or made by `accept`)


@dataclass(frozen=True)
class Accepted:
    message: OutgoingMessage
    new: bool  # False: the same Telegram message was accepted before
    wait: float = 0.0  # seconds until the line's pacing lets the next message out
    gateway: str = ""  # the gateway's title, for a message that waits for it (`waiting_told`)


class SendService:
    def __init__(
        self,
        lines: Lines,
        confirmations: Confirmations,
        link_view: LinkView,
        files: FileSource,
        media_links: MediaLinks,
        leases: Leases,
        *,
        pacing: Pacing,
        retry: RetryPolicy,
        daily_cap: int,
        tick: float = 1.0,
    ) -> None:
        self.lines = lines
        self.confirmations = confirmations
        self.link_view = link_view
        self.files = files
        self.media_links = media_links
        self.leases = leases
        self.pacing = pacing
        self.queue = OutboxQueue(pacing, leases)
        self.retry = retry
        self.daily_cap = daily_cap
        self.tick = tick
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()

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
        """Store the message (before anything else). It goes out through `chat` (an answer goes
        back the way the message came), else the active chat, once `release`d."""
        existing = await OutgoingMessage.get_or_none(
            source_chat_id=source_chat_id, source_message_id=source_message_id
        )
        if existing is not None:
            return Accepted(existing, new=False)
        if chat is None:
            chat = await self.active_chat(user)
        elif chat.state is not LineState.AUTHORIZED:
            raise ChatNotReady(chat)
        if await used_today(chat.id) >= self.daily_cap:
            raise DailyCapReached(self.daily_cap)
        file = draft.file
        conversation_id = draft.conversation_id
        if conversation_id is None:  # the address book learns whom the person writes to
            conversation_id = (await conversation_of(user.id, chat.id, draft.recipient)).id
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
                origin=draft.origin,
                conversation_id=conversation_id,
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
        # Behind a message to the same person that waits for the gateway, it waits too, and says
        # so from the start. Read after the row is written: a message being told right now (see
        # `_tell_waiting`, which writes before it reads) either sees this row or is seen here.
        if (
            await OutgoingMessage.filter(
                chat_id=chat.id, recipient=draft.recipient, status__in=UNDONE, waiting_told=True
            )
            .exclude(id=message.id)
            .exists()
        ):
            await OutgoingMessage.filter(id=message.id).update(waiting_told=True)
            message.waiting_told = True
        ahead = (
            await OutgoingMessage.filter(chat_id=chat.id, status__in=UNDONE, id__lt=message.id)
            .exclude(origin=Origin.BULK)
            .count()
        )
        title = self.lines.gateway(chat.gateway).title
        return Accepted(message, new=True, wait=self.pacing.wait(chat, ahead), gateway=title)

    def wake(self) -> None:
        """A pass of the worker now: rows were released (a bulk send's)."""
        self._wake.set()

    async def acknowledge(self, message: OutgoingMessage, wait: float) -> None:
        """Confirm an accepted message before it goes out: it waits for the gateway, or for its
        pacing slot (`wait` seconds). UiUnavailable and UserUnreachable propagate."""
        await self.confirmations.show(message, wait=wait)

    async def release(self, message: OutgoingMessage) -> None:
        """Let the worker send the message now (pacing permitting)."""
        await OutgoingMessage.filter(id=message.id, status=MessageStatus.QUEUED).update(
            next_attempt_at=_now()
        )
        self._wake.set()

    async def send_again(self, user: User, message_id: int) -> OutgoingMessage | None:
        """The user asked to resend a failed message (their own only)."""
        old = await OutgoingMessage.get_or_none(id=message_id, chat__owner_id=user.id)
        if old is None:
            return None
        # Conditional: of two taps on "Send again", only one re-queues the message.
        requeued = await OutgoingMessage.filter(id=old.id, status=MessageStatus.FAILED).update(
            status=MessageStatus.QUEUED,
            error=None,
            attempts=0,
            waiting_told=False,
            created_at=_now(),  # SEND_RETRY_FOR counts from here again
        )
        if not requeued:
            return None
        old.status, old.error, old.attempts = MessageStatus.QUEUED, None, 0
        await self.release(old)
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
        may have sent them. Tell, never guess; of two replicas finding one, one tells. Also the
        confirmations whose replica died before showing them."""
        stale = Q(lease_until__isnull=True) | Q(lease_until__lt=_now())
        for message in await OutgoingMessage.filter(stale, status=MessageStatus.SENDING):
            taken = await OutgoingMessage.filter(
                stale, id=message.id, status=MessageStatus.SENDING
            ).update(status=MessageStatus.FAILED, error=UNCERTAIN, lease_holder=None)
            if taken:
                await self._finish(message, MessageStatus.FAILED, error=UNCERTAIN)
        for message in await OutgoingMessage.filter(self.confirmations.missing()).limit(BATCH):
            await self._tell(self.confirmations.show(message))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_recovery = loop.time() + self.leases.seconds / 3
        while True:
            self._wake.clear()  # before the pass: a wake-up during it triggers the next one
            try:
                if loop.time() >= next_recovery:  # another replica may have died mid-call
                    await self._recover()
                    next_recovery = loop.time() + self.leases.seconds / 3
                claimed, more = await self.queue.claim_due(self._wake_at)
                chats = await self._lines_of(claimed)
                for message in claimed:
                    chat = chats[message.chat_id]  # type: ignore[attr-defined]
                    task = asyncio.create_task(self._deliver(message, chat))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                if more:  # more may be due: the next pass at once, not in a tick
                    self._wake.set()
            except Exception:  # the loop must outlive a database hiccup
                log.exception("outbox: worker pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.tick)

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
        try:
            await self._attempt(message, chat)
        finally:
            self._wake.set()  # the line's next message (to this recipient) may go now

    async def _attempt(self, message: OutgoingMessage, chat: WhatsAppChat) -> None:
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
            await self._retry_later(message, chat, None)
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
        if exc.retriable:
            await self._retry_later(message, chat, exc)
            return
        await self._finish(message, MessageStatus.FAILED, error=str(exc.kind), exc=exc)

    async def _retry_later(
        self, message: OutgoingMessage, chat: WhatsAppChat, exc: GatewayError | None
    ) -> None:
        """Back to the queue when repeating is safe (see `retry_policy.py`); failed when the
        policy says it is time. A message that waits for the gateway says so, once."""
        retry = self.retry.next_try(exc, message.attempts, message.created_at, _now())
        if retry is None:
            outage = exc is not None and exc.outage
            error = GATEWAY_DOWN if outage else str(exc.kind if exc else ErrorKind.NETWORK)
            await self._finish(message, MessageStatus.FAILED, error=error, exc=exc, chat=chat)
            return
        if retry.outage and exc is not None and not message.waiting_told:
            await self._tell_waiting(message, chat, exc)
        await OutgoingMessage.filter(id=message.id, status=MessageStatus.SENDING).update(
            status=MessageStatus.QUEUED,
            next_attempt_at=retry.at,
            attempts=F("attempts") if retry.counted else F("attempts") - 1,
        )
        self._wake_at(retry.at)

    async def _tell_waiting(
        self, message: OutgoingMessage, chat: WhatsAppChat, exc: GatewayError
    ) -> None:
        """The message, and the ones to the same person queued behind it, wait for the gateway:
        each confirmation says so, once. Told while the row is still ours (sending), so that no
        worker sends any of them meanwhile (the others wait behind it)."""
        await OutgoingMessage.filter(id=message.id).update(waiting_told=True)
        behind = (
            await OutgoingMessage.filter(
                chat_id=chat.id,
                recipient=message.recipient,
                status=MessageStatus.QUEUED,
                waiting_told=False,
            )
            .exclude(id=message.id)
            .exclude(origin=Origin.BULK)
        )
        await OutgoingMessage.filter(id__in=[m.id for m in behind]).update(waiting_told=True)
        message.status = MessageStatus.QUEUED
        for waiting in (message, *behind):
            waiting.waiting_told = True
            await self._tell(self.confirmations.show(waiting, exc, chat))

    def _wake_at(self, when: datetime) -> None:
        """A pass when `when` comes (sooner than the next tick would be)."""
        delay = (when - _now()).total_seconds()
        if delay < self.tick:
            asyncio.get_running_loop().call_later(max(delay, 0.0), self._wake.set)

    # --- ticks

    async def delivery_update(self, chat_ids: Collection[int], update: DeliveryUpdate) -> None:
        """The gateway's news about a message sent through one of `chat_ids`. UiUnavailable
        propagates: news Telegram did not show is told again when the gateway repeats it."""
        status = _TICKS.get(update.delivery)
        message = await OutgoingMessage.filter(
            chat_id__in=list(chat_ids), gateway_message_id=update.message_id[:255]
        ).first()
        if message is None or status is None:
            return
        current = _RANK.get(message.status, 0)
        forward = (
            _RANK.get(status, 0) > current if status is not MessageStatus.FAILED else current == 1
        )
        if forward:
            message.status = status
            if status is MessageStatus.FAILED:
                message.error = (update.reason or "failed")[:255]
            # Stored before it is shown: a replica sending the first confirmation right now
            # reads it once its confirmation is out (see `confirmations.py`).
            await message.save(update_fields=["status", "error", "updated_at"])
        with contextlib.suppress(UserUnreachable):
            await self.confirmations.show(message)

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
        await message.save(update_fields=["status", "error", "gateway_message_id", "updated_at"])
        MESSAGES.labels(str(status)).inc()
        log.info("outbox: message %s %s%s", message.id, status, f" ({error})" if error else "")
        await self._tell(self.confirmations.show(message, exc, chat))

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


def _now() -> datetime:
    return datetime.now(UTC)
