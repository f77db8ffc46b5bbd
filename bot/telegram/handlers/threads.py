"""Threads in Telegram (a topic per WhatsApp conversation): what the person writes in a topic goes
to that conversation (text or a file, no command or reply needed; a reply quotes the WhatsApp
message where the gateway can), /mute and /unmute in a topic (that conversation only), the one
question in a topic the bot does not know and the answer that binds it (a phone number, or a
contact's name: several matches are buttons), a topic the person renamed, and Send again under a
failed topic message. All of it only while threaded mode is on; commands work anywhere."""

from __future__ import annotations

from telegram import Message, Update
from telegram.ext import CommandHandler, MessageHandler, filters

from bot.gateways.base import LineState
from bot.services.conversations import best_name, conversation_of, find_by_name
from bot.services.desk import DeskService
from bot.services.phones import PhoneError, parse_phone, pretty
from bot.services.reply_targets import reply_target
from bot.services.sender import ChatNotReady, DailyCapReached, Draft
from bot.services.topics import TopicService
from bot.storage.models import Conversation, Origin, User, WhatsAppChat
from bot.telegram import keyboards
from bot.telegram.files import attachment, has_unsupported_media
from bot.telegram.handlers.common import (
    PRIVATE,
    App,
    Context,
    button_handler,
    edit_or_send,
    lang_of_context,
    reply,
    take_press,
    typed,
    user_of,
)
from bot.telegram.handlers.connect import ConnectCommands
from bot.telegram.handlers.send import SEND_CAPTION, SendCommands
from bot.telegram.texts import STATE_NAMES, raw, t
from bot.telegram.views import chat_label

MAX_CHOICES = 8  # buttons offered when several contacts match a name
MAX_ANSWER = 64  # characters of a name or number read as the answer to the question


class ThreadsOn(filters.MessageFilter):
    """Passes while threaded mode is on (decided at start: `TopicService.decide`)."""

    def __init__(self, topics: TopicService) -> None:
        super().__init__(name="ThreadsOn")
        self.topics = topics

    def filter(self, message: Message) -> bool:
        return self.topics.enabled


class ThreadCommands:
    """Registered before the other features that read plain messages and /mute (`app.py`)."""

    def __init__(
        self,
        topics: TopicService,
        send: SendCommands,
        desk: DeskService,
        connect: ConnectCommands,
        default_region: str,
    ) -> None:
        self.topics = topics
        self.send = send
        self.desk = desk
        self.connect = connect
        self.region = default_region

    def register(self, app: App) -> None:
        in_topic = PRIVATE & filters.IS_TOPIC_MESSAGE & ThreadsOn(self.topics)
        app.add_handler(CommandHandler(["mute", "unmute"], self.mute, filters=in_topic))
        created = in_topic & filters.StatusUpdate.FORUM_TOPIC_CREATED
        app.add_handler(MessageHandler(created, self.created))
        app.add_handler(
            MessageHandler(in_topic & filters.StatusUpdate.FORUM_TOPIC_EDITED, self.renamed)
        )
        app.add_handler(MessageHandler(in_topic & ~filters.COMMAND & ~SEND_CAPTION, self.message))
        app.add_handler(button_handler(keyboards.TOPIC_ACTIONS, self.button))

    # --- a message in a topic

    async def message(self, update: Update, context: Context) -> None:
        message, user, lang = update.effective_message, user_of(context), lang_of_context(context)
        if message is None or message.message_thread_id is None:
            return
        if message.text and await self.connect.answer_credentials(update, context):
            return  # the credentials /connect asked for, typed in a topic: never sent on
        conversation = await self.topics.conversation_in(user.id, message.message_thread_id)
        if conversation is None:
            await self._unknown(update, context, message)
            return
        chat = conversation.chat
        if chat.state is not LineState.AUTHORIZED:
            state = raw(lang, STATE_NAMES, chat.state)
            await reply(
                update, t(lang, "topic_line_not_ready", chat=chat_label(lang, chat), state=state)
            )
            return
        text = typed(message.text or message.caption or "")
        if message.text is None and attachment(message) is None:
            if has_unsupported_media(message):
                await reply(update, t(lang, "file_kind_unsupported"))
            return  # a service message (a pin…): nothing to send
        draft = await self._draft(update, context, user, conversation, chat, text)
        if draft is None:
            return
        if message.text is not None:
            await self.send.queue(update, context, draft, chat)
        else:
            await self.send.queue_attachment(update, context, draft, chat)

    async def _draft(
        self,
        update: Update,
        context: Context,
        user: User,
        conversation: Conversation,
        chat: WhatsAppChat,
        text: str,
    ) -> Draft | None:
        """The outbox draft for a message in the conversation's topic: on a team desk only the
        customer's owner answers (signed when they asked to be); a reply quotes the WhatsApp
        message it answers. None when refused (and said so)."""
        message, lang = update.effective_message, lang_of_context(context)
        assert message is not None
        answered = message.reply_to_message
        found = await self.desk.answer(user, answered.message_id) if answered else None
        found = found or await self.desk.answer_in(user, chat, conversation.peer)
        quoted, signature = None, None
        if found is not None:
            if found.refusal is not None:
                key = f"desk_answer_{found.refusal}" if found.refusal != "gone" else "desk_gone"
                await reply(update, t(lang, key, name=found.owner_name))
                return None
            quoted, signature = found.quoted_id, found.signature
        if answered is not None and quoted is None:
            target = await reply_target(user.id, answered.message_id)
            if target is not None and (target.chat.id, target.recipient) == (
                chat.id,
                conversation.peer,
            ):
                quoted = target.quoted_id
        return Draft(
            conversation.peer,
            f"{text}\n{signature}" if signature and text else text,
            recipient_name=best_name(conversation),
            quoted_id=quoted,
            origin=Origin.TOPIC,
            conversation_id=conversation.id,
        )

    # --- topics the bot does not know

    async def created(self, update: Update, context: Context) -> None:
        """The person made a topic: whom is it for?"""
        message, user = update.effective_message, user_of(context)
        if message is None or message.message_thread_id is None:
            return
        if await self.topics.conversation_in(user.id, message.message_thread_id) is None:
            await reply(update, t(lang_of_context(context), "topic_question"))

    async def _unknown(self, update: Update, context: Context, message: Message) -> None:
        """A message in a topic the bot does not know: the answer to the question (a phone
        number, or a contact's name) binds the topic; anything else gets the question."""
        user, lang = user_of(context), lang_of_context(context)
        answer = " ".join((message.text or "").split())
        if not answer or len(answer) > MAX_ANSWER:
            await reply(update, t(lang, "topic_question"))
            return
        found = await self._by_phone(user, answer)
        matches = [found] if found is not None else await find_by_name(user.id, answer)
        if not matches:
            await reply(update, t(lang, "topic_question_none", text=answer))
        elif len(matches) == 1:
            await self._bind(update, context, message.message_thread_id or 0, matches[0])
        else:
            choices = [(c.id, await self._label(lang, c)) for c in matches[:MAX_CHOICES]]
            markup = keyboards.topic_choices(choices)
            await reply(update, t(lang, "topic_question_which", text=answer), markup)

    async def _by_phone(self, user: User, text: str) -> Conversation | None:
        """The conversation with the number `text` on the person's active line (made now)."""
        try:
            phone = parse_phone(text, self.region)
        except PhoneError:
            return None
        if user.active_chat_id is None:
            return None
        chat = await WhatsAppChat.get_or_none(id=user.active_chat_id, owner_id=user.id)
        if chat is None:
            return None
        return await conversation_of(user.id, chat.id, phone.digits)

    async def _bind(
        self, update: Update, context: Context, thread: int, conversation: Conversation
    ) -> None:
        user, lang = user_of(context), lang_of_context(context)
        await self.topics.bind(user, thread, conversation)
        text = t(
            lang,
            "topic_bound",
            name=self._name(conversation),
            line=await self._line(lang, conversation),
        )
        if update.callback_query is not None and isinstance(update.callback_query.message, Message):
            await edit_or_send(update.callback_query.message, text)
        else:
            await reply(update, text)

    async def _label(self, lang: str, conversation: Conversation) -> str:
        return f"{self._name(conversation)} · {await self._line(lang, conversation)}"

    @staticmethod
    def _name(conversation: Conversation) -> str:
        name = best_name(conversation)
        if conversation.peer.endswith("@g.us"):
            return f"👥 {name or 'WhatsApp'}"
        phone = pretty(conversation.peer)
        return f"{name} ({phone})" if name else phone

    @staticmethod
    async def _line(lang: str, conversation: Conversation) -> str:
        chat = await WhatsAppChat.get(id=conversation.chat_id)  # type: ignore[attr-defined]
        return chat_label(lang, chat)

    async def renamed(self, update: Update, context: Context) -> None:
        """The person renamed the topic: the bot never renames it again."""
        message, user = update.effective_message, user_of(context)
        if (
            message is None
            or message.message_thread_id is None
            or message.forum_topic_edited is None
        ):
            return
        if message.forum_topic_edited.name:  # None: only the icon changed
            await self.topics.named_by_person(
                user.id, message.message_thread_id, message.forum_topic_edited.name
            )

    # --- /mute, /unmute in a topic

    async def mute(self, update: Update, context: Context) -> None:
        message, user, lang = update.effective_message, user_of(context), lang_of_context(context)
        if message is None or message.message_thread_id is None:
            return
        conversation = await self.topics.conversation_in(user.id, message.message_thread_id)
        if conversation is None:
            await reply(update, t(lang, "topic_question"))
            return
        muted = (message.text or "").split(maxsplit=1)[0][1:].split("@", 1)[0].lower() == "mute"
        await self.topics.mute(conversation, muted)
        key = "topic_mute_done" if muted else "topic_unmute_done"
        await reply(update, t(lang, key, name=self._name(conversation)))

    # --- buttons

    async def button(self, update: Update, context: Context) -> None:
        taken = await take_press(update)
        if taken is None:
            return
        press, message = taken
        user, lang = user_of(context), lang_of_context(context)
        if press.action == "tbind":
            conversation = await Conversation.get_or_none(id=int(press.arg), user_id=user.id)
            if conversation is None or message.message_thread_id is None:
                await reply(update, t(lang, "topic_bind_gone"))
                return
            await self._bind(update, context, message.message_thread_id, conversation)
            return
        try:  # tagain: a failed topic message, sent again as a new outbox row
            again = await self.topics.send_again(
                user, int(press.arg), message.chat.id, message.message_id
            )
        except ChatNotReady as exc:
            state = raw(lang, STATE_NAMES, exc.chat.state)
            text = t(lang, "topic_line_not_ready", chat=chat_label(lang, exc.chat), state=state)
            await context.bot.send_message(
                message.chat.id, text, message_thread_id=message.message_thread_id
            )
            return
        except DailyCapReached as exc:
            text = t(lang, "send_daily_cap", cap=exc.cap)
            await context.bot.send_message(
                message.chat.id, text, message_thread_id=message.message_thread_id
            )
            return
        await edit_or_send(
            message, t(lang, "topic_send_again_done" if again else "send_again_none")
        )
