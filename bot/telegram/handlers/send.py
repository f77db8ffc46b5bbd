"""Sending: /send, /sendfile, /sendlink, a photo or file with the caption `/send PHONE [text]`, and
the "Send again" button. Every send becomes an outbox row first (`SendService.accept`), and the
confirmation it gets is the message later edited with ✓ / ✓✓ (see `views.py`)."""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import urlsplit

from telegram import Message, Update
from telegram.ext import CommandHandler, MessageHandler, filters

from bot.services.conversations import best_name, find_by_name, split_name
from bot.services.phones import PhoneError, pretty, split_recipient
from bot.services.sender import (
    ChatNotReady,
    DailyCapReached,
    Draft,
    NoActiveChat,
    SendService,
)
from bot.services.topics import TopicService
from bot.storage.models import Conversation, Origin, WhatsAppChat
from bot.telegram import keyboards
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
from bot.telegram.views import chat_label, contact_label, recipient_label

CHOICES = 8  # contacts offered when several match a name
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
        app.add_handler(button_handler({"again", "to"}, self.button))

    async def send(self, update: Update, context: Context) -> None:
        message, lang = update.effective_message, lang_of_context(context)
        if message is None or message.text is None:
            return
        rest = after_command(message.text)
        named = split_name(rest)
        if named is not None:
            name, text = named
            await self._send_to_name(update, context, name, self._text(lang, text, message))
            return
        try:
            phone, text = split_recipient(rest, self.region)
        except PhoneError as exc:
            raise UsageError("send", phone_problem(lang, exc, self.region)) from None
        await self.queue(update, context, Draft(phone.digits, self._text(lang, text, message)))

    @staticmethod
    def _text(lang: str, text: str, message: Message) -> str:
        """The text to send: the command's, else that of the message it replies to."""
        if not text and message.reply_to_message is not None:
            replied = message.reply_to_message
            text = typed(replied.text or replied.caption or "").strip()
            if not text:
                raise UsageError("send", t(lang, "reply_no_text"))
        if not text:
            raise UsageError("send", t(lang, "text_missing"))
        return text

    async def _send_to_name(self, update: Update, context: Context, name: str, text: str) -> None:
        """/send NAME TEXT: one contact by that name gets it; several → buttons to pick from (the
        question is a reply to the command, where the chosen button finds the text again)."""
        message, user, lang = update.effective_message, user_of(context), lang_of_context(context)
        found = await find_by_name(user.id, name)
        if message is None:
            return
        if not found:
            await reply(update, t(lang, "send_name_none", name=name))
            return
        if len(found) == 1:
            await self._queue_to(update, context, found[0], text)
            return
        lines = len({c.chat_id for c in found}) > 1  # type: ignore[attr-defined]
        choices = [(c.id, await self._choice(lang, c, lines)) for c in found[:CHOICES]]
        await message.reply_text(
            t(lang, "send_name_many", name=name),
            reply_markup=keyboards.recipients(choices),
            do_quote=True,
        )

    @staticmethod
    async def _choice(lang: str, conversation: Conversation, with_line: bool) -> str:
        label = contact_label(lang, conversation)
        if not with_line:
            return label
        await conversation.fetch_related("chat")
        return f"{label} · {conversation.chat.account_name or pretty(conversation.chat.account_phone or '')}"

    async def _queue_to(
        self, update: Update, context: Context, conversation: Conversation, text: str
    ) -> None:
        chat = await WhatsAppChat.get(id=conversation.chat_id)  # type: ignore[attr-defined]
        draft = Draft(
            conversation.peer,
            text,
            recipient_name=best_name(conversation),
            conversation_id=conversation.id,
        )
        await self.queue(update, context, draft, chat)

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
        if press.action == "to":
            await self._picked(update, context, press.ids[0], message)
            return
        user, lang = user_of(context), lang_of_context(context)
        again = await self.sender.send_again(user, int(press.arg))
        if again is None:
            await context.bot.send_message(message.chat.id, t(lang, "send_again_none"))
            return
        label = recipient_label(again.recipient, again.recipient_name)
        await edit_or_send(message, t(lang, "send_queued", phone=label))

    async def _picked(
        self, update: Update, context: Context, conversation_id: int, question: Message
    ) -> None:
        """A contact chosen among several of that name: the text comes from the /send command
        the question answers. The question is the outbox row's source: a second tap sends
        nothing more."""
        user, lang = user_of(context), lang_of_context(context)
        conversation = await Conversation.get_or_none(id=conversation_id, user_id=user.id)
        command = question.reply_to_message
        named = split_name(after_command(command.text or "")) if command is not None else None
        if conversation is None or named is None or not named[1]:
            await edit_or_send(question, t(lang, "send_name_lost"))
            return
        await edit_or_send(
            question, t(lang, "send_name_picked", name=contact_label(lang, conversation))
        )
        await self._queue_to(update, context, conversation, named[1])


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
