"""Topics in a person's private chat with the bot (the services' TopicView), and sending into one.

Telegram's answers become the services' exceptions here, and nowhere else:

- a topic the person deleted is not announced to bots. A send into it fails with `message thread
  not found` (also what every send into a topic gets while Threaded Mode is off), an edit with
  `TOPIC_ID_INVALID`, and `TOPIC_DELETED` was reported too: all three are `TopicGone`, matched in
  any case (python-telegram-bot capitalises them). During a server bug (tdlib/telegram-bot-api
  #854) the message landed outside the topic without an error: a message that comes back without
  the topic it was sent to is deleted again (the stray copy) and is `TopicGone` too;
- a topic call Telegram refuses (`the chat is not a forum`: the owner switched Threaded Mode off;
  `BOT_FORUM_CREATE_FORBIDDEN`, a server fault) is `TopicsOff`: the message goes flat this time;
- a person who blocked the bot is `UserUnreachable`; a flood wait is `UiUnavailable` (held).

Every call goes through the Application's one Bot, so it counts against the same rate limit as
every other send.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable
from typing import TypeVar

from telegram import Bot, ReactionTypeEmoji, ReplyParameters
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.gateways.base import GatewayError
from bot.services.ports import Note, TopicGone, TopicsOff, UiUnavailable, UserUnreachable
from bot.services.topics import title_of
from bot.storage.models import (
    Conversation,
    IncomingMessage,
    MessageStatus,
    OutgoingMessage,
    WhatsAppChat,
)
from bot.telegram import keyboards
from bot.telegram.inbox import clean_name
from bot.telegram.texts import Html, t
from bot.telegram.views import chat_label, is_gone, post, reach, status_text

log = logging.getLogger(__name__)
T = TypeVar("T")

# A message written in a topic: its progress as the bot's reaction on it.
REACTIONS = {
    MessageStatus.QUEUED: "✍",  # held back by pacing (shown only when the wait is long)
    MessageStatus.SENDING: "✍",
    MessageStatus.SENT: "👍",  # the gateway took it
    MessageStatus.DELIVERED: "👌",
    MessageStatus.READ: "👀",
}
RECENT_CHARS = 200  # of each message repeated in a header


async def _topic_call(call: Awaitable[T]) -> T:
    try:
        return await call
    except Forbidden as exc:
        raise UserUnreachable(str(exc)) from None
    except BadRequest as exc:
        if is_gone(exc):
            raise TopicGone(exc.message) from None
        raise TopicsOff(exc.message) from None
    except RetryAfter as exc:
        raise UiUnavailable(str(exc)) from None
    except TelegramError as exc:  # a server fault (5xx, network): flat this time
        raise TopicsOff(str(exc)) from None


class TelegramTopics:
    """Implements TopicView on a python-telegram-bot `Bot`."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def create(self, user_id: int, title: str) -> int:
        topic = await _topic_call(self.bot.create_forum_topic(user_id, title))
        return topic.message_thread_id

    async def rename(self, user_id: int, thread: int, title: str) -> None:
        try:
            await _topic_call(self.bot.edit_forum_topic(user_id, thread, name=title))
        except TopicsOff as exc:
            if "not_modified" not in str(exc).lower():  # TOPIC_NOT_MODIFIED: it has that name
                raise

    async def header(
        self,
        user_id: int,
        lang: str,
        thread: int,
        conversation: Conversation,
        line: WhatsAppChat,
        recent: list[IncomingMessage],
    ) -> None:
        text = t(
            lang,
            "topic_header",
            name=title_of(conversation, None),
            line=chat_label(lang, line),
        )
        if recent:
            lines = "\n".join(f"• {html.escape(_recent(lang, m))}" for m in recent)
            text += t(lang, "topic_header_recent", lines=Html(lines))
        await self._say(user_id, thread, text)

    async def note(self, user_id: int, lang: str, thread: int, note: Note, name: str = "") -> None:
        await self._say(user_id, thread, t(lang, f"topic_note_{note}", name=clean_name(name)))

    async def echo(self, user_id: int, lang: str, thread: int, message: OutgoingMessage) -> None:
        if message.file_id:
            text = t(lang, "topic_echo_file", name=message.file_name or "", text=message.text)
        elif message.media_url:
            text = t(lang, "topic_echo_link", url=message.media_url, text=message.text)
        else:
            text = t(lang, "topic_echo", text=message.text)
        await self._say(user_id, thread, text[:4096])

    async def progress(
        self, message: OutgoingMessage, lang: str, error: GatewayError | None, gateway: str
    ) -> None:
        chat_id = message.source_chat_id
        target = message.ui_message_id or message.source_message_id
        waits = message.waiting_told and not message.status.is_final  # for the gateway: words
        emoji = None if waits else REACTIONS.get(message.status)
        if emoji is not None:
            try:
                await reach(
                    self.bot.set_message_reaction(chat_id, target, ReactionTypeEmoji(emoji))
                )
            except BadRequest as exc:  # the person deleted their message: nothing to mark
                log.info("topics: no reaction on message %s (%s)", target, exc.message)
            return
        text, again = status_text(message, lang, error, gateway)
        markup = keyboards.send_again_topic(lang, message.id) if again else None
        # A reply to the person's message lands in its topic (no thread id needed).
        reply = ReplyParameters(target, allow_sending_without_reply=True)
        await reach(
            self.bot.send_message(chat_id, text, reply_markup=markup, reply_parameters=reply)
        )

    async def _say(self, user_id: int, thread: int, text: str) -> None:
        send = self.bot.send_message(user_id, text, message_thread_id=thread)
        try:
            await post(self.bot, user_id, thread, send)
        except BadRequest as exc:  # our own words refused: a bug to log, not a reason to stop
            log.error("topics: a line in topic %s was refused: %s", thread, exc.message)


def _recent(lang: str, message: IncomingMessage) -> str:
    text = " ".join(message.text.split()) or (
        t(lang, "topic_recent_file") if message.kind.has_file else f"({message.kind})"
    )
    return text if len(text) <= RECENT_CHARS else text[: RECENT_CHARS - 1] + "…"
