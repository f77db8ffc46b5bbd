"""How the services' reports reach a person: the connect message (progress text → QR photo,
replaced in place as the QR rotates), send confirmations edited as the status moves (✓ sent,
✓✓ delivered, read), and lost links.

Telegram cannot turn a text message into a photo, so when the first QR arrives the progress text
is replaced by the photo (sent, then the text deleted); every later QR edits the photo's media.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TypeVar

from telegram import Bot, InlineKeyboardMarkup, InputMediaPhoto, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.gateways.base import ErrorKind, GatewayError
from bot.services.conversations import best_name
from bot.services.phones import pretty
from bot.services.ports import Outcome, TopicGone, Ui, UiUnavailable, UserUnreachable
from bot.services.sender import GATEWAY_DOWN, NO_PUBLIC_URL, TOO_BIG, UNCERTAIN
from bot.storage.models import Conversation, MessageStatus, OutgoingMessage, WhatsAppChat
from bot.telegram import keyboards
from bot.telegram.rate_limiter import Lane, lane
from bot.telegram.texts import ERRORS, explain_error, t

log = logging.getLogger(__name__)
T = TypeVar("T")


# Failures the gateway reports after the message was sent (ticks): each has its own sentence.
TICK_FAILURES = frozenset({"failed", "noAccount", "notInGroup", "yellowCard"})


def chat_label(lang: str, chat: WhatsAppChat) -> str:
    name = chat.account_name or t(lang, "unnamed")
    phone = pretty(chat.account_phone) if chat.account_phone else t(lang, "no_phone")
    return f"{name}, {phone}"


def recipient_label(recipient: str, name: str | None = None) -> str:
    """`+7 987 274-50-52`, or a group's name (a group id means nothing to people)."""
    if recipient.endswith("@g.us"):
        return name or "WhatsApp group"
    return pretty(recipient)


def contact_label(lang: str, conversation: Conversation) -> str:
    """`Ivan Petrov · +7 900 123-45-67`, a group `👥 Family`; a phone alone while unnamed."""
    name = best_name(conversation)
    if conversation.peer.endswith("@g.us"):
        return f"👥 {name or t(lang, 'unnamed')}"
    phone = pretty(conversation.peer)
    return f"{name} · {phone}" if name else phone


class TelegramViews:
    """Implements ConnectView, SendView and LinkView on a python-telegram-bot `Bot`."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    # --- connect

    # The message before the QR, and the QR: in the rate limiter's connect lane (a QR expires).

    async def begin(self, ui_chat_id: int, lang: str) -> Ui:
        with lane(Lane.CONNECT):
            message = await reach(
                self.bot.send_message(
                    ui_chat_id, t(lang, "connect_acquiring"), reply_markup=keyboards.cancel(lang)
                )
            )
        return Ui(ui_chat_id, message.message_id)

    async def show_qr(self, ui: Ui, lang: str, png: bytes, valid_until: datetime) -> Ui:
        with lane(Lane.CONNECT):
            return await self._show_qr(ui, lang, png, valid_until)

    async def _show_qr(self, ui: Ui, lang: str, png: bytes, valid_until: datetime) -> Ui:
        seconds = max(1, round((valid_until - datetime.now(UTC)).total_seconds()))
        caption = t(lang, "connect_qr", until=valid_until.strftime("%H:%M:%S"), seconds=seconds)
        if ui.is_photo:
            media = InputMediaPhoto(
                png, caption=caption, parse_mode=ParseMode.HTML, filename="qr.png"
            )
            try:
                await reach(
                    self.bot.edit_message_media(
                        media,
                        chat_id=ui.chat_id,
                        message_id=ui.message_id,
                        reply_markup=keyboards.cancel(lang),
                    )
                )
                return ui
            except BadRequest as exc:
                if "not modified" in exc.message.lower():
                    return ui
                log.info("QR photo could not be edited (%s); sending a new one", exc.message)
        photo = await reach(
            self.bot.send_photo(
                ui.chat_id,
                png,
                caption=caption,
                filename="qr.png",
                parse_mode=ParseMode.HTML,
                reply_markup=keyboards.cancel(lang),
            )
        )
        if not ui.is_photo:
            await self._delete(ui)
        return Ui(ui.chat_id, photo.message_id, is_photo=True)

    async def connected(self, ui: Ui, lang: str, chat: WhatsAppChat) -> None:
        # The QR is spent: remove it, and announce the result as a new message (it notifies).
        await self._delete(ui)
        name = chat.account_name or t(lang, "unnamed")
        phone = pretty(chat.account_phone) if chat.account_phone else t(lang, "no_phone")
        await reach(
            self.bot.send_message(ui.chat_id, t(lang, "connect_done", name=name, phone=phone))
        )

    async def ended(self, ui: Ui, lang: str, outcome: Outcome, error: GatewayError | None) -> None:
        if outcome is Outcome.EXPIRED:
            text, markup = t(lang, "connect_expired"), keyboards.new_qr(lang)
        elif outcome is Outcome.CANCELLED:
            text, markup = t(lang, "connect_cancelled"), None
        elif outcome is Outcome.REFUSED:
            text, markup = t(lang, "connect_blocked"), None
        else:
            text, markup = (
                t(lang, "connect_failed", reason=explain_error(lang, error)),
                keyboards.retry_connect(lang),
            )
        if ui.is_photo and outcome is Outcome.EXPIRED:
            # The caption says it expired; the old picture stays, clearly marked, with a button.
            with contextlib.suppress(BadRequest):
                await reach(
                    self.bot.edit_message_caption(
                        chat_id=ui.chat_id,
                        message_id=ui.message_id,
                        caption=text,
                        reply_markup=markup,
                    )
                )
                return
        if ui.is_photo:
            await self._delete(ui)
            await reach(self.bot.send_message(ui.chat_id, text, reply_markup=markup))
            return
        await self._edit_text(ui, text, markup)

    # --- send

    async def update(
        self,
        message: OutgoingMessage,
        lang: str,
        error: GatewayError | None,
        gateway: str,
        wait: float = 0.0,
    ) -> int | None:
        text, again = status_text(message, lang, error, gateway, wait)
        markup = keyboards.send_again(lang, message.id) if again else None
        ui = Ui(message.source_chat_id, message.ui_message_id or 0)
        if message.ui_message_id:
            return await self._edit_text(ui, text, markup, reply_to=message.source_message_id)
        sent = await self._send(ui.chat_id, text, markup, reply_to=message.source_message_id)
        return sent.message_id

    # --- links

    async def line_lost(self, chat: WhatsAppChat, lang: str) -> None:
        text = t(lang, "line_lost", chat=chat_label(lang, chat), reason=t(lang, "lost_reason"))
        await self._send(chat.owner_id, text, keyboards.connect_again(lang, chat.gateway))  # type: ignore[attr-defined]

    # --- helpers

    async def _send(
        self,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
        reply_to: int | None = None,
    ) -> Message:
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        return await reach(
            self.bot.send_message(chat_id, text, reply_markup=markup, reply_parameters=reply)
        )

    async def _edit_text(
        self, ui: Ui, text: str, markup: InlineKeyboardMarkup | None, reply_to: int | None = None
    ) -> int | None:
        """Edit the message; the id of a new message when it had to say it in one instead."""
        try:
            await reach(
                self.bot.edit_message_text(
                    text, chat_id=ui.chat_id, message_id=ui.message_id, reply_markup=markup
                )
            )
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return None
            # Deleted by the person, or not a text message: say it in a new message instead.
            return (await self._send(ui.chat_id, text, markup, reply_to)).message_id
        return None

    async def _delete(self, ui: Ui) -> None:
        with contextlib.suppress(BadRequest):
            await reach(self.bot.delete_message(ui.chat_id, ui.message_id))


async def reach(call: Awaitable[T]) -> T:
    """Turn "the person blocked the bot" into the services' UserUnreachable, and Telegram's own
    trouble (network, 5xx, flood wait) into UiUnavailable; a BadRequest stays for the caller."""
    try:
        return await call
    except Forbidden as exc:
        raise UserUnreachable(str(exc)) from None
    except BadRequest:
        raise
    except TelegramError as exc:
        raise UiUnavailable(str(exc)) from None


def status_text(
    message: OutgoingMessage, lang: str, error: GatewayError | None, gateway: str, wait: float = 0.0
) -> tuple[str, bool]:
    """What a message's confirmation says, and whether it offers Send again."""
    phone = recipient_label(message.recipient, message.recipient_name)
    ticks = {
        MessageStatus.SENT: "send_sent",
        MessageStatus.DELIVERED: "send_delivered",
        MessageStatus.READ: "send_read",
    }
    if message.status in (MessageStatus.QUEUED, MessageStatus.SENDING) and message.waiting_told:
        return t(lang, "send_waiting", phone=phone, gateway=gateway), False
    if message.status in (MessageStatus.QUEUED, MessageStatus.SENDING) and wait >= 2:
        return t(lang, "send_queued_later", phone=phone, seconds=round(wait)), False
    if message.status in (MessageStatus.QUEUED, MessageStatus.SENDING):
        return t(lang, "send_queued", phone=phone), False
    if message.status in ticks:
        return t(lang, ticks[message.status], phone=phone), False
    if message.error in TICK_FAILURES:
        reason = t(lang, f"reason_{message.error}")
        return t(lang, "send_undelivered", phone=phone, reason=reason), False
    if message.error == UNCERTAIN:
        return t(lang, "send_uncertain", phone=phone), True
    reason = _send_reason(lang, message, error, gateway)
    again = error is None or error.retriable or message.error == GATEWAY_DOWN
    return t(lang, "send_failed", phone=phone, reason=reason), again


# What Telegram answers about a topic that is no more (compared in lower case; see topics.py).
GONE = ("message thread not found", "topic_id_invalid", "topic_deleted")


def is_gone(exc: BadRequest) -> bool:
    """Telegram's way of saying that a topic is no more."""
    text = exc.message.lower()
    return any(words in text for words in GONE)


async def post(bot: Bot, chat_id: int, thread: int | None, call: Awaitable[Message]) -> Message:
    """A send with `message_thread_id=thread`, as `reach`, and TopicGone when the topic is no
    more, including a message Telegram put outside it (then deleted again: the stray copy)."""
    try:
        message = await reach(call)
    except BadRequest as exc:
        if thread is not None and is_gone(exc):
            raise TopicGone(exc.message) from None
        raise
    if thread is not None and message.message_thread_id != thread:
        log.warning("topics: a message meant for topic %s landed outside it; deleted", thread)
        with contextlib.suppress(TelegramError):
            await bot.delete_message(chat_id, message.message_id)
        raise TopicGone("the message landed outside the topic")
    return message


def _send_reason(
    lang: str, message: OutgoingMessage, error: GatewayError | None, gateway: str
) -> str:
    if message.error == GATEWAY_DOWN:
        return t(lang, "reason_gateway_down", gateway=gateway)
    if error is not None:
        return explain_error(lang, error)
    kinds = {kind.value: kind for kind in ErrorKind}
    if message.error in kinds:
        return ERRORS[kinds[message.error]]["ru" if lang == "ru" else "en"]
    if message.error in (TOO_BIG, NO_PUBLIC_URL):
        return t(lang, f"reason_{message.error}")
    return t(lang, "reason_line_gone")
