"""A user's WhatsApp chats: who they are, which one is active, its live status, disconnecting,
and the background check that notices a lost link without waiting for the next /send."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from bot.gateways.base import Delivery, GatewayError, LineState, LineStatus
from bot.services.leases import Leases
from bot.services.lines import Lines
from bot.services.ports import LinkView, UserUnreachable
from bot.services.sender import mark_lost
from bot.storage.models import MessageStatus, OutgoingMessage, User, WhatsAppChat

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveStatus:
    chat: WhatsAppChat
    status: LineStatus | None  # None when the gateway did not answer
    error: GatewayError | None
    details: dict[str, str]
    last_delivery: tuple[str, str] | None = None  # (recipient, the gateway's delivery status)


@dataclass(frozen=True)
class Usage:
    users: int
    chats_by_state: dict[str, int]
    messages_by_status: dict[str, int]


async def ensure_user(
    user_id: int,
    language_code: str | None,
    first_name: str | None = None,
    username: str | None = None,
) -> User:
    """Create or refresh the user: language and name from Telegram, and they are talking to us
    again (so they are no longer taken for someone who blocked the bot)."""
    lang = "ru" if (language_code or "").lower().startswith(("ru", "uk", "be", "kk")) else "en"
    first_name = " ".join((first_name or "").replace("\x00", "").split())[:64] or None
    username = (username or "")[:32] or None
    fresh = {"language": lang, "first_name": first_name, "username": username}
    user, created = await User.get_or_create(id=user_id, defaults=fresh)
    if not created and (
        user.blocked_bot or (user.language, user.first_name, user.username) != tuple(fresh.values())
    ):
        user.language, user.first_name, user.username, user.blocked_bot = (
            lang,
            first_name,
            username,
            False,
        )
        await user.save(update_fields=["language", "first_name", "username", "blocked_bot"])
    return user


class ChatService:
    def __init__(
        self, lines: Lines, view: LinkView, leases: Leases, *, check_interval: float
    ) -> None:
        self.lines = lines
        self.view = view
        self.leases = leases
        self.check_interval = check_interval
        self._checker: asyncio.Task[None] | None = None

    async def list(self, user: User) -> list[WhatsAppChat]:
        """The user's chats worth showing: linked ones, lost ones, and one being connected."""
        return (
            await WhatsAppChat.filter(owner_id=user.id)
            .exclude(state=LineState.RELEASED)
            .order_by("-linked_at", "-id")
        )

    async def get(self, user: User, chat_id: int) -> WhatsAppChat | None:
        """Only ever the user's own chat, whatever id they send."""
        return await WhatsAppChat.get_or_none(id=chat_id, owner_id=user.id)

    async def activate(self, user: User, chat_id: int) -> WhatsAppChat | None:
        chat = await self.get(user, chat_id)
        if chat is None or chat.state is LineState.RELEASED:
            return None
        user.active_chat_id = chat.id
        await user.save(update_fields=["active_chat_id"])
        return chat

    async def active(self, user: User) -> WhatsAppChat | None:
        if user.active_chat_id is None:
            return None
        return await WhatsAppChat.get_or_none(id=user.active_chat_id, owner_id=user.id)

    async def live_status(self, chat: WhatsAppChat) -> LiveStatus:
        gateway, line = self.lines.of(chat)
        try:
            status = await gateway.status(line)
            details = await gateway.details(line)
            last_delivery = await self._last_delivery(chat)
        except GatewayError as exc:
            if exc.line_lost and chat.state is not LineState.LOGGED_OUT:
                await mark_lost(chat, exc.detail or exc.kind)
            return LiveStatus(chat, None, exc, {})
        if chat.state is LineState.AUTHORIZED and status.state is not LineState.AUTHORIZED:
            chat.state, chat.state_raw = _after_linked(status.state), status.raw[:64]
            await chat.save(update_fields=["state", "state_raw", "updated_at"])
        elif chat.state.is_live and status.state is LineState.AUTHORIZED:
            chat.state = LineState.AUTHORIZED
            await chat.save(update_fields=["state", "updated_at"])
        return LiveStatus(chat, status, None, details, last_delivery)

    async def _last_delivery(self, chat: WhatsAppChat) -> tuple[str, str] | None:
        """The gateway's word on the last message sent (for gateways that report it)."""
        last = (
            await OutgoingMessage.filter(chat_id=chat.id, gateway_message_id__not_isnull=True)
            .order_by("-id")
            .first()
        )
        if last is None or last.gateway_message_id is None:
            return None
        gateway, line = self.lines.of(chat)
        try:
            delivery = await gateway.delivery(line, last.gateway_message_id)
        except GatewayError:
            # A nicety for /status: an unknown message id must not mark the line lost.
            return None
        # Only forward: a gateway's "queued" must never put a sent row back into the outbox.
        forward = {Delivery.DELIVERED: MessageStatus.DELIVERED, Delivery.READ: MessageStatus.READ}
        if delivery in forward and last.status in (MessageStatus.SENT, MessageStatus.DELIVERED):
            last.status = forward[delivery]
            await last.save(update_fields=["status", "updated_at"])
        return last.recipient, delivery.value

    async def disconnect(self, user: User, chat_id: int) -> WhatsAppChat | None:
        """Log out at the gateway (best effort) and forget the chat."""
        chat = await self.get(user, chat_id)
        if chat is None or chat.state is LineState.RELEASED:
            return None
        gateway, line = self.lines.of(chat)
        for call in (gateway.logout, gateway.release):
            try:
                await call(line)
            except GatewayError as exc:
                log.info("disconnect: %s of chat %s failed (%s)", call.__name__, chat.id, exc.kind)
        chat.state, chat.connect_deadline = LineState.RELEASED, None
        await chat.save(update_fields=["state", "connect_deadline", "updated_at"])
        await OutgoingMessage.filter(chat_id=chat.id, status=MessageStatus.QUEUED).update(
            status=MessageStatus.FAILED, error="disconnected"
        )
        if user.active_chat_id == chat.id:
            user.active_chat_id = None
            await user.save(update_fields=["active_chat_id"])
        return chat

    async def control(self, chat: WhatsAppChat, action: str) -> None:
        """`pause`, `resume` or `reboot` the line at its gateway (UnsupportedError if it can't)."""
        gateway, line = self.lines.of(chat)
        await getattr(gateway, action)(line)
        if action == "pause":
            chat.state = LineState.SLEEPING
        elif action == "resume":
            chat.state = LineState.AUTHORIZED
        await chat.save(update_fields=["state", "updated_at"])

    async def usage(self) -> Usage:
        chats: dict[str, int] = {}
        for state in LineState:
            if count := await WhatsAppChat.filter(state=state).count():
                chats[state.value] = count
        messages: dict[str, int] = {}
        for status in MessageStatus:
            if count := await OutgoingMessage.filter(status=status).count():
                messages[status.value] = count
        return Usage(await User.all().count(), chats, messages)

    # --- background link check

    def start(self) -> None:
        self._checker = asyncio.create_task(self._check_forever())

    async def stop(self) -> None:
        if self._checker is not None:
            self._checker.cancel()
            await asyncio.gather(self._checker, return_exceptions=True)

    async def check_links(self) -> int:
        """Look at every linked chat once; returns how many were found lost."""
        lost = 0
        for chat in await WhatsAppChat.filter(state=LineState.AUTHORIZED).prefetch_related("owner"):
            result = await self.live_status(chat)
            gone = (
                result.error is not None and result.error.line_lost
            ) or chat.state is LineState.LOGGED_OUT
            if gone:
                lost += 1
                log.info("link check: chat %s is lost", chat.id)
                if not chat.owner.blocked_bot:
                    with contextlib.suppress(UserUnreachable):
                        await self.view.line_lost(chat, chat.owner.language)
        return lost

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval)
            try:
                if await self.leases.claim("link-check"):  # one replica checks, not each
                    await self.check_links()
            except Exception:
                log.exception("link check failed")


def _after_linked(state: LineState) -> LineState:
    """A linked line that shows a QR again was unlinked on the phone; a restart is passing."""
    if state in (LineState.AWAITING_QR, LineState.PROVISIONING, LineState.LOGGED_OUT):
        return LineState.LOGGED_OUT
    if state in (LineState.STARTING, LineState.UNKNOWN):
        return LineState.AUTHORIZED
    return state
