"""Sending: /send, /sendfile, /sendlink, a photo or file with the caption `/send PHONE [text]`, and
the "Send again" button. Every send becomes an outbox row first (`SendService.accept`), and the
confirmation it gets is the message later edited with ✓ / ✓✓ (see `views.py`)."""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import urlsplit

from telegram import Update
from telegram.ext import CommandHandler, MessageHandler, filters

from bot.services.phones import PhoneError, split_recipient
from bot.services.sender import (
    ChatNotReady,
    DailyCapReached,
    Draft,
    NoActiveChat,
    SendService,
)
from bot.services.topics import TopicService
from bot.storage.models import Origin, WhatsAppChat
from bot.telegram.files import attachment
from bot.telegram.handlers.common import (
    PRIVATE,
    App,
    Context,
    UsageError,
    after_command,
    button_handler,
    edit_or_send,
    lang_of_context,
    phone_problem,
    reply,
    take_press,
    typed,
    user_of,
)
from bot.telegram.texts import STATE_NAMES, raw, t
from bot.telegram.views import chat_label, recipient_label

# A file whose caption is a /send command (Telegram does not treat captions as commands).
SEND_CAPTION = filters.CaptionRegex(re.compile(r"^/send(@\w+)?(\s|$)", re.IGNORECASE))


class SendCommands:
    def __init__(
        self, sender: SendService, default_region: str, topics: TopicService | None = None
    ) -> None:
        self.sender = sender
        self.region = default_region
        self.topics = topics  # threads: what is sent from outside a topic is echoed in it

    def register(self, app: App) -> None:
        app.add_handler(CommandHandler("send", self.send, filters=PRIVATE))
        app.add_handler(CommandHandler("sendfile", self.send_file, filters=PRIVATE))
        app.add_handler(CommandHandler("sendlink", self.send_link, filters=PRIVATE))
        app.add_handler(MessageHandler(PRIVATE & SEND_CAPTION, self.send_attachment))
        app.add_handler(button_handler({"again"}, self.button))

    async def send(self, update: Update, context: Context) -> None:
        message, lang = update.effective_message, lang_of_context(context)
        if message is None or message.text is None:
            return
        reply_to = message.reply_to_message
        try:
            phone, text = split_recipient(after_command(message.text), self.region)
        except PhoneError as exc:
            raise UsageError("send", phone_problem(lang, exc, self.region)) from None
        if not text and reply_to is not None:
            text = typed(reply_to.text or reply_to.caption or "").strip()
            if not text:
                raise UsageError("send", t(lang, "reply_no_text"))
        if not text:
            raise UsageError("send", t(lang, "text_missing"))
        await self.queue(update, context, Draft(phone.digits, text))

    async def send_attachment(self, update: Update, context: Context) -> None:
        """A photo, video, file, voice note or audio with the caption `/send PHONE [text]`."""
        message, lang = update.effective_message, lang_of_context(context)
        if message is None or message.caption is None:
            return
        try:
            phone, caption = split_recipient(after_command(message.caption), self.region)
        except PhoneError as exc:
            raise UsageError("send", phone_problem(lang, exc, self.region)) from None
        await self.queue_attachment(update, context, Draft(phone.digits, caption))

    async def queue_attachment(
        self, update: Update, context: Context, draft: Draft, chat: WhatsAppChat | None = None
    ) -> None:
        """Queue the message's file with `draft`'s recipient and caption; say so when the file
        is too big for Telegram to hand over, or of a kind no gateway takes."""
        message, lang = update.effective_message, lang_of_context(context)
        found = attachment(message) if message is not None else None
        if found is None:
            await reply(update, t(lang, "file_kind_unsupported"))
            return
        if found.too_big:
            await reply(update, t(lang, "file_too_big"))
            return
        await self.queue(update, context, replace(draft, file=found.file), chat)

    async def send_file(self, update: Update, context: Context) -> None:
        await self._send_address(update, context, "sendfile")

    async def send_link(self, update: Update, context: Context) -> None:
        await self._send_address(update, context, "sendlink")

    async def _send_address(self, update: Update, context: Context, command: str) -> None:
        """/sendfile and /sendlink: PHONE URL [caption], the URL a file or a web page."""
        message, lang = update.effective_message, lang_of_context(context)
        if message is None or message.text is None:
            return
        try:
            phone, rest = split_recipient(after_command(message.text), self.region)
        except PhoneError as exc:
            raise UsageError(command, phone_problem(lang, exc, self.region)) from None
        if not rest:
            raise UsageError(command, t(lang, "url_missing"))
        url, caption = _file_args(rest)
        if not _is_web_url(url):
            raise UsageError(command, t(lang, "url_invalid", raw=url[:60]))
        draft = Draft(phone.digits, caption, media_url=url, media_is_link=command == "sendlink")
        await self.queue(update, context, draft)

    async def queue(
        self, update: Update, context: Context, draft: Draft, chat: WhatsAppChat | None = None
    ) -> None:
        """Accept the draft into the outbox (through `chat`, else the active chat), show the
        confirmation, and release the message to its pacing slot."""
        message, user, lang = update.effective_message, user_of(context), lang_of_context(context)
        if message is None:
            return
        try:
            accepted = await self.sender.accept(
                user, draft, message.chat_id, message.message_id, chat
            )
        except NoActiveChat:
            await reply(update, t(lang, "send_no_chat"))
            return
        except ChatNotReady as exc:
            state = raw(lang, STATE_NAMES, exc.chat.state)
            await reply(
                update, t(lang, "send_not_ready", chat=chat_label(lang, exc.chat), state=state)
            )
            return
        except DailyCapReached as exc:
            await reply(update, t(lang, "send_daily_cap", cap=exc.cap))
            return
        queued = accepted.message
        if not accepted.new and (queued.ui_message_id is not None or queued.status.is_final):
            return  # the same Telegram message again (redelivered update): already handled
        # The confirmation ("✓ Sent", or why not) comes once the gateway answered: one Bot API
        # call a message. Said now only when it waits for the gateway, or pacing holds it back.
        if queued.waiting_told or accepted.wait >= 2:
            await self.sender.acknowledge(queued, accepted.wait)
        await self.sender.release(queued)
        if self.topics is not None and accepted.new and draft.origin is Origin.COMMAND:
            await self.topics.echo(user, queued, message.message_thread_id)

    async def button(self, update: Update, context: Context) -> None:
        taken = await take_press(update)
        if taken is None:
            return
        press, message = taken
        user, lang = user_of(context), lang_of_context(context)
        again = await self.sender.send_again(user, int(press.arg))
        if again is None:
            await context.bot.send_message(message.chat.id, t(lang, "send_again_none"))
            return
        label = recipient_label(again.recipient, again.recipient_name)
        await edit_or_send(message, t(lang, "send_queued", phone=label))


def _file_args(rest: str) -> tuple[str, str]:
    """`https://x/a.pdf Caption…` → the URL and the caption (which may start on the next line)."""
    url, *caption = rest.split(maxsplit=1)  # the caption keeps its own lines
    return url, caption[0].strip() if caption else ""


def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. "http://[" (a broken IPv6 host)
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and url.isprintable()
        and len(url) <= 2048
    )
