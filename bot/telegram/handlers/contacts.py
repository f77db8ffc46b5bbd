"""The address book: /contacts (everyone the person wrote with, newest first, filtered by a name
or digits) and /name (the name the person wants for a contact: it wins over WhatsApp's)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from bot.services.conversations import contacts, conversation_of, set_name, with_peer
from bot.services.phones import PhoneError, split_recipient
from bot.services.topics import TopicService
from bot.storage.models import Conversation, User, WhatsAppChat
from bot.telegram.handlers.common import (
    PRIVATE,
    App,
    Context,
    UsageError,
    after_command,
    lang_of_context,
    phone_problem,
    reply,
    user_of,
)
from bot.telegram.texts import t
from bot.telegram.views import chat_label, contact_label

SHOWN = 40  # contacts listed in one answer (a Telegram message holds 4096 characters)


class ContactCommands:
    def __init__(self, default_region: str, topics: TopicService) -> None:
        self.region = default_region
        self.topics = topics  # a contact's topic takes the name the person gives

    def register(self, app: App) -> None:
        app.add_handler(CommandHandler("contacts", self.list_contacts, filters=PRIVATE))
        app.add_handler(CommandHandler("name", self.name, filters=PRIVATE))

    async def list_contacts(self, update: Update, context: Context) -> None:
        user, lang = user_of(context), lang_of_context(context)
        message = update.effective_message
        text = " ".join(after_command(message.text or "").split())[:64] if message else ""
        found = await contacts(user.id, text)
        if not found:
            await reply(
                update, t(lang, "contacts_none_found" if text else "contacts_none", text=text)
            )
            return
        several_lines = len({c.chat_id for c in found}) > 1  # type: ignore[attr-defined]
        head = (
            t(lang, "contacts_head_found", text=text, count=len(found))
            if text
            else t(lang, "contacts_head", count=len(found))
        )
        lines = [head, *(self._line(lang, c, several_lines) for c in found[:SHOWN])]
        if len(found) > SHOWN:
            lines.append(t(lang, "contacts_more", more=len(found) - SHOWN))
        await reply(update, "\n".join(lines))

    @staticmethod
    def _line(lang: str, conversation: Conversation, with_line: bool) -> str:
        line = f" · {chat_label(lang, conversation.chat)}" if with_line else ""
        at = conversation.last_at.strftime("%d.%m %H:%M UTC") if conversation.last_at else "—"
        return t(lang, "contact_line", label=contact_label(lang, conversation), line=line, at=at)

    async def name(self, update: Update, context: Context) -> None:
        """`/name NEW NAME` in a contact's topic, or `/name PHONE NEW NAME` anywhere."""
        user, lang, message = user_of(context), lang_of_context(context), update.effective_message
        if message is None or message.text is None:
            return
        rest = after_command(message.text)
        topic = message.message_thread_id if message.is_topic_message else None
        in_topic = await self.topics.conversation_in(user.id, topic) if topic else None
        named = [in_topic] if in_topic else []
        if named:
            name = rest
        else:
            phone, name = self._phone_and_name(lang, rest)
            named = await with_peer(user.id, phone) or await self._new(user, phone)
            if not named:
                await reply(update, t(lang, "send_no_chat"))
                return
        name = " ".join(name.split())[:128]
        if not name:
            raise UsageError("name", t(lang, "name_missing"))
        for conversation in named:
            await set_name(conversation, name)
            await self.topics.refresh_title(conversation)
        await reply(update, t(lang, "name_done", label=contact_label(lang, named[0])))

    def _phone_and_name(self, lang: str, rest: str) -> tuple[str, str]:
        words = rest.split()
        if not words or not any(ch.isdigit() for ch in words[0]):
            raise UsageError("name", t(lang, "name_where"))
        try:
            phone, name = split_recipient(rest, self.region)
        except PhoneError as exc:
            raise UsageError("name", phone_problem(lang, exc, self.region)) from None
        return phone.digits, name

    @staticmethod
    async def _new(user: User, peer: str) -> list[Conversation]:
        """A contact the person names before anything happened with them: on their active line."""
        chat = (
            await WhatsAppChat.get_or_none(id=user.active_chat_id, owner_id=user.id)
            if user.active_chat_id
            else None
        )
        return [await conversation_of(user.id, chat.id, peer)] if chat else []
