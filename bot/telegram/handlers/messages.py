"""Everything that is not a command: an answer to a forwarded WhatsApp message (a plain reply,
with text or a file), the credentials the bot asked for, a bulk send's list or text (what
/bulk asked for), and a hint for anything else; commands
the bot does not know; buttons nobody handles any more."""

from __future__ import annotations

import asyncio

from telegram import Message, Update
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot.services.desk import Answer, DeskService
from bot.services.reply_targets import ReplyTarget, reply_target
from bot.services.sender import Draft
from bot.services.topics import TopicService
from bot.storage.models import User
from bot.telegram.files import has_unsupported_media
from bot.telegram.handlers.bulk import BulkCommands
from bot.telegram.handlers.common import (
    PRIVATE,
    App,
    Context,
    answer,
    lang_of_context,
    reply,
    typed,
    user_of,
)
from bot.telegram.handlers.connect import ConnectCommands
from bot.telegram.handlers.send import SendCommands
from bot.telegram.texts import t

STORE_WAIT = 1.0  # seconds a reply waits for the id of the message it answers to be stored
STORE_WAIT_TRIES = 5


class Messages:
    """Registered last: it takes whatever the other features did not."""

    def __init__(
        self,
        connect: ConnectCommands,
        send: SendCommands,
        desk: DeskService,
        bulk: BulkCommands,
        topics: TopicService | None = None,
    ) -> None:
        self.connect = connect
        self.send = send
        self.desk = desk
        self.bulk = bulk
        self.topics = topics  # threads: how to write to someone is said differently

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
        if await self.bulk.take_input(update, context):  # a bulk send's list or text
            return
        user = user_of(context)
        text = typed(message.text or message.caption or "")
        found = await self._answered(user, message.reply_to_message)
        target: ReplyTarget | None
        if isinstance(found, Answer):  # a team desk's card: only the customer's owner answers
            if found.refusal is not None:
                key = f"desk_answer_{found.refusal}" if found.refusal != "gone" else "desk_gone"
                await reply(update, t(lang, key, name=found.owner_name))
                return
            assert found.contact is not None and found.chat is not None
            signed = f"{text}\n{found.signature}" if found.signature and text else text
            target = ReplyTarget(
                found.chat, found.contact.contact, found.contact.name, found.quoted_id
            )
        else:
            target, signed = found, text
        if target is None:
            if self.topics is not None and self.topics.enabled:
                await reply(update, t(lang, "plain_text_threads"))
            else:
                await reply(update, t(lang, "plain_text" if message.text else "not_text"))
            return
        draft = Draft(
            target.recipient,
            signed,
            recipient_name=target.recipient_name,
            quoted_id=target.quoted_id,
        )
        if message.text is not None:
            await self.send.queue(update, context, draft, target.chat)
        elif has_unsupported_media(message):
            await reply(update, t(lang, "file_kind_unsupported"))
        else:
            await self.send.queue_attachment(update, context, draft, target.chat)

    async def _answered(self, user: User, answered: Message | None) -> Answer | ReplyTarget | None:
        """What the replied-to message is: a desk card, a forwarded message or a confirmation
        (None: none of them). Telegram shows a message a moment before the bot has stored its
        id, so a reply to one of the bot's messages not known yet is looked up again for up to
        a second."""
        if answered is None:
            return None
        for _ in range(STORE_WAIT_TRIES):
            found = await self.desk.answer(user, answered.message_id) or await reply_target(
                user.id, answered.message_id
            )
            if found is not None or not (answered.from_user and answered.from_user.is_bot):
                return found
            await asyncio.sleep(STORE_WAIT / STORE_WAIT_TRIES)
        return None

    async def unknown_command(self, update: Update, context: Context) -> None:
        message = update.effective_message
        command = (message.text or "").split(maxsplit=1)[0] if message else ""
        await reply(update, t(lang_of_context(context), "unknown_command", command=command[:64]))

    async def stale_button(self, update: Update, context: Context) -> None:
        if update.callback_query is not None:
            await answer(update.callback_query)
