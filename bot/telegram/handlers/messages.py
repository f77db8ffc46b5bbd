"""Everything that is not a command: an answer to a forwarded WhatsApp message (a plain reply,
with text or a file), the credentials the bot asked for, and a hint for anything else; commands
the bot does not know; buttons nobody handles any more."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot.services.conversations import reply_target
from bot.services.sender import Draft
from bot.telegram.files import has_unsupported_media
from bot.telegram.handlers.common import (
    PRIVATE,
    App,
    Context,
    lang_of_context,
    reply,
    typed,
    user_of,
)
from bot.telegram.handlers.connect import ConnectCommands
from bot.telegram.handlers.send import SendCommands
from bot.telegram.texts import t


class Messages:
    """Registered last: it takes whatever the other features did not."""

    def __init__(self, connect: ConnectCommands, send: SendCommands) -> None:
        self.connect = connect
        self.send = send

    def register(self, app: App) -> None:
        app.add_handler(MessageHandler(PRIVATE & filters.COMMAND, self.unknown_command))
        app.add_handler(MessageHandler(PRIVATE, self.message))
        app.add_handler(CallbackQueryHandler(self.stale_button))

    async def message(self, update: Update, context: Context) -> None:
        message, lang = update.effective_message, lang_of_context(context)
        if message is None:
            return
        if message.text and await self.connect.answer_credentials(update, context):
            return
        answered = message.reply_to_message
        target = (
            await reply_target(user_of(context).id, answered.message_id)
            if answered is not None
            else None
        )
        if target is None:
            await reply(update, t(lang, "plain_text" if message.text else "not_text"))
            return
        draft = Draft(
            target.recipient,
            typed(message.text or message.caption or ""),
            recipient_name=target.recipient_name,
            quoted_id=target.quoted_id,
        )
        if message.text is not None:
            await self.send.queue(update, context, draft, target.chat)
        elif has_unsupported_media(message):
            await reply(update, t(lang, "file_kind_unsupported"))
        else:
            await self.send.queue_attachment(update, context, draft, target.chat)

    async def unknown_command(self, update: Update, context: Context) -> None:
        message = update.effective_message
        command = (message.text or "").split(maxsplit=1)[0] if message else ""
        await reply(update, t(lang_of_context(context), "unknown_command", command=command[:64]))

    async def stale_button(self, update: Update, context: Context) -> None:
        if update.callback_query is not None:
            await update.callback_query.answer()
