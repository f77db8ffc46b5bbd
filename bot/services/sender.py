"""The outbox: every accepted /send is a database row first, and delivery runs from that row.

Rules (what makes "nothing lost, nothing sent twice" hold):
- `accept` stores the message keyed by the Telegram message it came from, so the same update
  delivered twice (the bot died before acknowledging it) is one row, hence one WhatsApp message.
- The worker claims a due row with a conditional update (queued → sending), so no two workers or
  replicas deliver the same row.
- Retried: errors where the gateway surely did not act (connection refused, 5xx, 429), with
  exponential backoff and jitter, up to SEND_MAX_ATTEMPTS; then `failed`, and the user is told.
- Ambiguous outcome (the request left, no answer came; or the bot died mid-call, found as a
  `sending` row at start): never retried silently. The row becomes `failed` with the reason
  "uncertain", and the user gets a button to send it again if it did not arrive. A duplicate
  WhatsApp message is worse than a visible question: gateways take no idempotency key.
- Pacing (anti-ban): per line at most SEND_RATE_PER_MINUTE, spread evenly (later messages wait
  their slot), and at most SEND_DAILY_CAP per 24 h (refused in words).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from bot.gateways.base import ErrorKind, GatewayError, LineState, NetworkError
from bot.logs import mask_phone
from bot.services.lines import Lines
from bot.services.ports import LinkView, SendView, UserUnreachable
from bot.storage.models import MessageStatus, OutgoingMessage, User, WhatsAppChat

log = logging.getLogger(__name__)

UNCERTAIN = "uncertain"  # the error text for an ambiguous outcome
# A crashed handler's row is picked up by the worker after this grace, not lost.
ACCEPT_GRACE = timedelta(seconds=10)


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
class Accepted:
    message: OutgoingMessage
    new: bool  # False: the same Telegram message was accepted before


class SendService:
    def __init__(
        self,
        lines: Lines,
        view: SendView,
        link_view: LinkView,
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
        self.spacing = timedelta(seconds=60 / rate_per_minute)
        self.daily_cap = daily_cap
        self.max_attempts = max_attempts
        self.backoff = backoff
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
        recipient: str,
        text: str,
        source_chat_id: int,
        source_message_id: int,
        media_url: str | None = None,
        media_is_link: bool = False,
    ) -> Accepted:
        """Store the message (before anything else) and give it a delivery slot."""
        existing = await OutgoingMessage.get_or_none(
            source_chat_id=source_chat_id, source_message_id=source_message_id
        )
        if existing is not None:
            return Accepted(existing, new=False)
        chat = await self.active_chat(user)
        since = _now() - timedelta(days=1)
        used = (
            await OutgoingMessage.filter(chat_id=chat.id, created_at__gte=since)
            .exclude(status=MessageStatus.FAILED)
            .count()
        )
        if used >= self.daily_cap:
            raise DailyCapReached(self.daily_cap)
        try:
            message = await OutgoingMessage.create(
                chat_id=chat.id,
                recipient=recipient,
                text=text,
                media_url=media_url,
                media_is_link=media_is_link,
                next_attempt_at=_now() + ACCEPT_GRACE,
                source_chat_id=source_chat_id,
                source_message_id=source_message_id,
            )
        except IntegrityError:  # the twin update won the race
            twin = await OutgoingMessage.get(
                source_chat_id=source_chat_id, source_message_id=source_message_id
            )
            return Accepted(twin, new=False)
        log.info("outbox: message %s to %s accepted", message.id, mask_phone(recipient))
        return Accepted(message, new=True)

    async def release(self, message: OutgoingMessage, ui_message_id: int | None) -> datetime:
        """The confirmation is on screen: schedule the message at its pacing slot and wake the worker."""
        chat = await WhatsAppChat.get(id=message.chat_id)  # type: ignore[attr-defined]
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
        """Rows left `sending` by a crash: the gateway may have sent them. Tell, never guess."""
        for message in await OutgoingMessage.filter(status=MessageStatus.SENDING):
            await self._finish(message, MessageStatus.FAILED, error=UNCERTAIN)

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before the pass: a wake-up during it triggers the next one
            try:
                for message in (
                    await OutgoingMessage.filter(
                        status=MessageStatus.QUEUED, next_attempt_at__lte=_now()
                    )
                    .order_by("next_attempt_at", "id")
                    .limit(50)
                ):
                    if await self._claim(message):
                        task = asyncio.create_task(self._deliver(message))
                        self._inflight.add(task)
                        task.add_done_callback(self._inflight.discard)
            except Exception:  # the loop must outlive a database hiccup
                log.exception("outbox: worker pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.tick)

    async def _claim(self, message: OutgoingMessage) -> bool:
        claimed = await OutgoingMessage.filter(id=message.id, status=MessageStatus.QUEUED).update(
            status=MessageStatus.SENDING, attempts=F("attempts") + 1
        )
        message.attempts += 1
        return bool(claimed)

    async def _deliver(self, message: OutgoingMessage) -> None:
        chat = await WhatsAppChat.get(id=message.chat_id)  # type: ignore[attr-defined]
        if chat.state is not LineState.AUTHORIZED:
            await self._finish(message, MessageStatus.FAILED, error=f"line {chat.state}")
            return
        gateway, line = self.lines.of(chat)
        try:
            if message.media_url and message.media_is_link:
                sent = await gateway.send_link(
                    line, message.recipient, message.media_url, caption=message.text or None
                )
            elif message.media_url:
                sent = await gateway.send_media(
                    line, message.recipient, message.media_url, caption=message.text or None
                )
            else:
                sent = await gateway.send_text(line, message.recipient, message.text)
        except GatewayError as exc:
            await self._failed_attempt(message, chat, exc)
            return
        message.gateway_message_id = (sent.message_id or "")[:255] or None
        await self._finish(message, MessageStatus.SENT)

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
        if (
            exc.retriable or exc.kind is ErrorKind.NETWORK
        ) and message.attempts < self.max_attempts:
            delay = max(exc.retry_after or 0.0, self.backoff * 2 ** (message.attempts - 1))
            delay *= 0.75 + random.random() / 2
            await OutgoingMessage.filter(id=message.id, status=MessageStatus.SENDING).update(
                status=MessageStatus.QUEUED, next_attempt_at=_now() + timedelta(seconds=delay)
            )
            return
        await self._finish(message, MessageStatus.FAILED, error=str(exc.kind), exc=exc)

    async def _finish(
        self,
        message: OutgoingMessage,
        status: MessageStatus,
        *,
        error: str | None = None,
        exc: GatewayError | None = None,
    ) -> None:
        message.status, message.error = status, error
        await message.save(update_fields=["status", "error", "gateway_message_id", "updated_at"])
        log.info("outbox: message %s %s%s", message.id, status, f" ({error})" if error else "")
        chat = await WhatsAppChat.get(id=message.chat_id).prefetch_related("owner")  # type: ignore[attr-defined]
        if not chat.owner.blocked_bot:
            await self._tell(self.view.update(message, chat.owner.language, exc))

    @staticmethod
    async def _tell(notice: Awaitable[None]) -> None:
        # The message state is already stored; a person who blocked the bot just is not told.
        try:
            await notice
        except UserUnreachable:
            log.info("outbox: the user cannot be reached; status kept in the database")


async def mark_lost(chat: WhatsAppChat, reason: str) -> None:
    """The gateway no longer knows the line (wiped, wrong token, unlinked on the phone)."""
    chat.state, chat.lost_reason = LineState.LOGGED_OUT, reason[:255]
    await chat.save(update_fields=["state", "lost_reason", "updated_at"])


def _now() -> datetime:
    return datetime.now(UTC)
