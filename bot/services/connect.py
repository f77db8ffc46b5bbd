"""The /connect flow: get a line, start it, show each QR as it rotates, report the linked account.

Each attempt is an asyncio task; its progress lives in the `WhatsAppChat` row (state, deadline,
the Telegram message that shows it), so after a restart `resume_all` picks up every attempt that
was running and the person still gets their name and phone. One attempt per user at a time,
guarded by a conditional update on `User.connecting`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.gateways.base import Enrolment, Gateway, GatewayError, Line, LineState, LineStatus
from bot.logs import mask_phone
from bot.services.lines import Lines
from bot.services.ports import ConnectView, Outcome, Stage, Ui, UserUnreachable
from bot.services.qr_image import qr_png
from bot.storage.models import User, WhatsAppChat

log = logging.getLogger(__name__)


class AlreadyConnecting(Exception):
    """The user has an attempt running; they can use it or /cancel it."""


class ConnectService:
    def __init__(
        self, lines: Lines, view: ConnectView, *, poll_interval: float, timeout: float
    ) -> None:
        self.lines = lines
        self.view = view
        self.poll_interval = poll_interval
        self.timeout = timeout
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._unsaved: dict[int, tuple[Ui, str]] = {}
        self._orphans: set[asyncio.Task[None]] = set()

    async def start(
        self,
        user: User,
        ui_chat_id: int,
        gateway: str | None = None,
        credentials: dict[str, str] | None = None,
    ) -> None:
        """Begin an attempt in the background; raises AlreadyConnecting."""
        taken = await User.filter(id=user.id, connecting=False).update(connecting=True)
        if not taken:
            raise AlreadyConnecting
        driver = self.lines.gateway(gateway)
        self._spawn(user.id, self._attempt(user, ui_chat_id, driver, credentials))

    async def expect_credentials(self, user: User, gateway: str | None) -> None:
        """The user's next plain message holds `gateway`'s credentials (None: it no longer
        does). Kept in the database: a restart in between must not leave a token in the chat."""
        await User.filter(id=user.id).update(awaiting_credentials=gateway)
        user.awaiting_credentials = gateway

    async def take_expected_credentials(self, user: User) -> str | None:
        """The gateway whose credentials were asked for, once: the question is used up."""
        gateway = user.awaiting_credentials
        if gateway is None:
            return None
        await self.expect_credentials(user, None)
        return gateway

    async def cancel(self, user_id: int) -> bool:
        """Stop the user's running attempt; False when there was none."""
        task = self._tasks.pop(user_id, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        chat = await self._connecting_chat(user_id)
        unsaved = self._unsaved.pop(user_id, None)
        if chat is None and task is None:
            await self._unlock(user_id)
            return False
        if chat is not None:
            user = await User.get(id=user_id)
            await self._end(chat, user.language, Outcome.CANCELLED, None)
        elif unsaved is not None:  # cancelled while the gateway was handing out the line
            ui, lang = unsaved
            with contextlib.suppress(UserUnreachable):
                await self.view.ended(ui, lang, Outcome.CANCELLED, None)
        await self._unlock(user_id)
        return True

    async def pairing_code(self, user_id: int, phone: str) -> str | None:
        """A code to link by phone number instead of the QR; None when no attempt is running."""
        chat = await self._connecting_chat(user_id)
        if chat is None:
            return None
        gateway, line = self.lines.of(chat)
        return await gateway.pairing_code(line, phone)

    async def resume_all(self) -> int:
        """After a restart: continue every attempt that was running, release stale locks."""
        chats = await WhatsAppChat.filter(
            state__in=[s for s in LineState if s.is_connecting], connect_deadline__not_isnull=True
        ).prefetch_related("owner")
        resumed = {chat.owner.id for chat in chats}
        await User.filter(connecting=True).exclude(id__in=list(resumed)).update(connecting=False)
        for chat in chats:
            await User.filter(id=chat.owner.id).update(connecting=True)
            self._spawn(chat.owner.id, self._watch(chat, chat.owner.language))
        if chats:
            log.info("resumed %d connect attempt(s)", len(chats))
        return len(chats)

    async def shutdown(self) -> None:
        """Stop the tasks without ending the attempts: they resume on the next start."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def running(self, user_id: int) -> bool:
        return user_id in self._tasks

    def _spawn(self, user_id: int, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._guard(user_id, coro))
        self._tasks[user_id] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._tasks.get(user_id) is done:
                del self._tasks[user_id]
            if not done.cancelled() and done.exception() is not None:
                log.error("connect task failed", exc_info=done.exception())

        task.add_done_callback(forget)

    async def _guard(self, user_id: int, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except UserUnreachable:
            # They blocked the bot: stop polling and give the line back, no retries into a wall.
            log.info("connect: user %s cannot be reached; attempt abandoned", user_id)
            await User.filter(id=user_id).update(blocked_bot=True, connecting=False)
            chat = await self._connecting_chat(user_id)
            if chat is not None:
                await self._set(chat, state=LineState.RELEASED, connect_deadline=None)
                await self._release(chat)

    async def _attempt(
        self, user: User, ui_chat_id: int, gateway: Gateway, credentials: dict[str, str] | None
    ) -> None:
        lang = user.language
        ui = await self.view.begin(ui_chat_id, lang)
        self._unsaved[user.id] = (ui, lang)  # until the chat row exists, /cancel needs this
        # Shielded: a /cancel now must not lose a line the gateway already handed out.
        acquiring = asyncio.ensure_future(gateway.acquire(credentials))
        try:
            line = await asyncio.shield(acquiring)
        except asyncio.CancelledError:
            acquiring.add_done_callback(lambda done: self._give_back(gateway, done))
            raise
        except GatewayError as exc:
            self._unsaved.pop(user.id, None)
            log.info("connect: %s gave no line: %s", gateway.name, exc.detail)
            await self._unlock(user.id)
            await self.view.ended(ui, lang, Outcome.FAILED, exc)
            return
        if gateway.enrolment is not Enrolment.OPERATOR:
            # The gateway recycles instances: an older chat of ours on the same one was wiped.
            # (An operator's line is shared on purpose: every chat on it stays.)
            await (
                WhatsAppChat.filter(gateway=gateway.name, instance_id=line.instance_id)
                .exclude(state=LineState.RELEASED)
                .update(
                    state=LineState.LOGGED_OUT,
                    lost_reason="the gateway gave the line to someone else",
                )
            )
        chat = await WhatsAppChat.create(
            owner_id=user.id,
            gateway=gateway.name,
            instance_id=line.instance_id,
            token_secret=self.lines.seal(line),
            options=line.options,
            state=LineState.PROVISIONING,
            connect_deadline=_now() + timedelta(seconds=self.timeout),
            ui_chat_id=ui.chat_id,
            ui_message_id=ui.message_id,
        )
        self._unsaved.pop(user.id, None)
        log.info(
            "connect: user %s got %s line %s (chat %s)",
            user.id,
            gateway.name,
            line.instance_id,
            chat.id,
        )
        await self._watch(chat, lang)

    async def _watch(self, chat: WhatsAppChat, lang: str) -> None:
        gateway, line = self.lines.of(chat)
        ui = Ui(chat.ui_chat_id or 0, chat.ui_message_id or 0, chat.ui_is_photo)
        if chat.state is LineState.PROVISIONING:
            await self.view.progress(ui, lang, Stage.STARTING)
            try:
                await gateway.start(line)
            except GatewayError as exc:
                if not exc.retriable:
                    await self._end(chat, lang, Outcome.FAILED, exc)
                    return
            await self._set(chat, state=LineState.STARTING)
        deadline = chat.connect_deadline or _now()
        while _now() < deadline:
            try:
                status = await gateway.status(line)
            except GatewayError as exc:
                if not (exc.retriable or exc.kind == "network"):
                    await self._end(chat, lang, Outcome.FAILED, exc)
                    return
                log.info("connect: status of chat %s failed (%s); polling on", chat.id, exc.kind)
            else:
                if status.state is LineState.AUTHORIZED:
                    await self._linked(chat, lang, gateway, line, ui)
                    return
                if status.state in (LineState.BLOCKED, LineState.RESTRICTED):
                    await self._end(chat, lang, Outcome.REFUSED, None, final_state=status.state)
                    return
                ui = await self._show(chat, lang, status, ui)
            await asyncio.sleep(self.poll_interval)
        await self._end(chat, lang, Outcome.EXPIRED, None)

    async def _show(self, chat: WhatsAppChat, lang: str, status: LineStatus, ui: Ui) -> Ui:
        if status.state.value != chat.state.value:
            await self._set(chat, state=status.state, state_raw=status.raw[:64])
        if status.qr is None or status.qr.fingerprint == chat.qr_fingerprint:
            return ui
        first, later = self.lines.gateway(chat.gateway).qr_lifetimes
        valid_until = _now() + timedelta(seconds=first if chat.qr_count == 0 else later)
        ui = await self.view.show_qr(ui, lang, qr_png(status.qr), valid_until)
        await self._set(
            chat,
            qr_fingerprint=status.qr.fingerprint,
            qr_count=chat.qr_count + 1,
            ui_message_id=ui.message_id,
            ui_is_photo=ui.is_photo,
        )
        return ui

    async def _linked(
        self, chat: WhatsAppChat, lang: str, gateway: Gateway, line: Line, ui: Ui
    ) -> None:
        account = None
        for _ in range(3):
            try:
                account = await gateway.account(line)
                break
            except GatewayError as exc:
                log.info("connect: account of chat %s failed (%s)", chat.id, exc.kind)
                await asyncio.sleep(self.poll_interval)
        await self._set(
            chat,
            state=LineState.AUTHORIZED,
            state_raw="",
            account_name=account.name if account else None,
            account_phone=account.phone if account else None,
            linked_at=_now(),
            connect_deadline=None,
        )
        await User.filter(id=chat.owner_id).update(active_chat_id=chat.id, connecting=False)  # type: ignore[attr-defined]
        log.info("connect: chat %s linked as %s", chat.id, mask_phone(chat.account_phone))
        await self.view.connected(ui, lang, chat)

    async def _end(
        self,
        chat: WhatsAppChat,
        lang: str,
        outcome: Outcome,
        error: GatewayError | None,
        final_state: LineState = LineState.RELEASED,
    ) -> None:
        await self._set(chat, state=final_state, connect_deadline=None)
        await self._unlock(chat.owner_id)  # type: ignore[attr-defined]
        if final_state is LineState.RELEASED:
            await self._release(chat)
        ui = Ui(chat.ui_chat_id or 0, chat.ui_message_id or 0, chat.ui_is_photo)
        log.info("connect: chat %s ended: %s", chat.id, outcome)
        await self.view.ended(ui, lang, outcome, error)

    def _give_back(self, gateway: Gateway, acquiring: asyncio.Future[Line]) -> None:
        """A line acquired for an attempt that was cancelled meanwhile goes back to the gateway."""
        if acquiring.cancelled() or acquiring.exception() is not None:
            return
        task = asyncio.create_task(self._release_line(gateway, acquiring.result()))
        self._orphans.add(task)
        task.add_done_callback(self._orphans.discard)

    async def _release_line(self, gateway: Gateway, line: Line) -> None:
        try:
            await gateway.release(line)
        except GatewayError as exc:
            log.info(
                "connect: release of %s line %s failed (%s)",
                gateway.name,
                line.instance_id,
                exc.kind,
            )

    async def _release(self, chat: WhatsAppChat) -> None:
        gateway, line = self.lines.of(chat)
        await self._release_line(gateway, line)

    async def _connecting_chat(self, user_id: int) -> WhatsAppChat | None:
        return (
            await WhatsAppChat.filter(
                owner_id=user_id,
                state__in=[s for s in LineState if s.is_connecting],
                connect_deadline__not_isnull=True,
            )
            .order_by("-id")
            .first()
        )

    @staticmethod
    async def _unlock(user_id: int) -> None:
        await User.filter(id=user_id).update(connecting=False)

    @staticmethod
    async def _set(chat: WhatsAppChat, **values: object) -> None:
        for key, value in values.items():
            setattr(chat, key, value)
        await chat.save(update_fields=[*values, "updated_at"])


def _now() -> datetime:
    return datetime.now(UTC)
