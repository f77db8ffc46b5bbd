"""What every feature's handlers share: the gate each update passes first, usage errors and the
error handler, and small helpers for reading commands and replying.

The gate (group -1): private chats only, ALLOWED_USER_IDS enforced, the user registered with
their language. Edited messages, channel posts and group chatter are ignored on purpose: an edit
must not send a WhatsApp message a second time.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from telegram import CallbackQuery, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ContextTypes,
    TypeHandler,
    filters,
)

from bot.config import Settings
from bot.metrics import UPDATES
from bot.services.chats import ensure_user
from bot.services.phones import PhoneError
from bot.storage.models import User
from bot.telegram import keyboards
from bot.telegram.commands import BY_NAME
from bot.telegram.texts import Html, lang_of, t

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE
App = Application[Any, Any, Any, Any, Any, Any]
# New messages in a private chat: what every command and message handler listens to.
PRIVATE = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE


class UsageError(Exception):
    """A command was called wrongly; `problem` is already a sentence in the user's language."""

    def __init__(self, command: str, problem: str) -> None:
        super().__init__(problem)
        self.command = command
        self.problem = problem


class Gate:
    """The first and the last word on every update: who may talk to the bot, and what happens
    when a handler fails (a usage line for a wrong call, a reference id for anything else)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def register(self, app: App) -> None:
        app.add_handler(TypeHandler(Update, self.gate), group=-1)
        app.add_error_handler(self.on_error)

    async def gate(self, update: Update, context: Context) -> None:
        UPDATES.labels(_kind(update)).inc()
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None or update.edited_message or update.channel_post:
            raise ApplicationHandlerStop
        lang = lang_of("ru" if (user.language_code or "").startswith("ru") else "en")
        if chat.type != ChatType.PRIVATE:
            message = update.effective_message
            if message is not None and message.text and message.text.startswith("/"):
                await message.reply_text(t(lang, "private_only", bot=context.bot.username))
            raise ApplicationHandlerStop
        if not self.settings.is_allowed(user.id):
            if update.callback_query:
                await answer(update.callback_query)
            await context.bot.send_message(chat.id, t(lang, "not_allowed", user_id=user.id))
            raise ApplicationHandlerStop
        context.user_data["user"] = await ensure_user(  # type: ignore[index]
            user.id, user.language_code, user.first_name, user.username
        )

    async def on_error(self, update: object, context: Context) -> None:
        if isinstance(context.error, UsageError) and isinstance(update, Update):
            lang = lang_of_context(context)
            command = BY_NAME[context.error.command]
            text = t(
                lang,
                "usage_error",
                problem=Html(context.error.problem),  # built by t(): already escaped
                usage_label=t(lang, "help_usage"),
                usage=command.usage,
                example_label=t(lang, "help_example"),
                example=command.example,
            )
            await reply(update, text)
            return
        ref = uuid.uuid4().hex[:8]
        log.error("update failed (ref %s)", ref, exc_info=context.error)
        if isinstance(update, Update) and update.effective_chat is not None:
            try:
                await context.bot.send_message(
                    update.effective_chat.id, t(lang_of_context(context), "internal_error", ref=ref)
                )
            except Exception:  # the reply is a courtesy; the log line above is what counts
                log.warning("could not tell the user about error %s", ref)


def _kind(update: Update) -> str:
    """`message`, `callback_query`, …: the update's one filled field (a bounded label)."""
    for kind in ("message", "callback_query", "edited_message", "channel_post", "my_chat_member"):
        if getattr(update, kind, None) is not None:
            return kind
    return "other"


def user_of(context: Context) -> User:
    user: User = context.user_data["user"]  # type: ignore[index]  # set by Gate.gate
    return user


def lang_of_context(context: Context) -> str:
    user = (context.user_data or {}).get("user")
    return user.language if isinstance(user, User) else "en"


async def reply(update: Update, text: str, markup: Any = None) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text(text, reply_markup=markup, do_quote=False)


async def edit_or_send(message: Any, text: str) -> None:
    try:
        await message.edit_text(text)
    except Exception:
        await message.reply_text(text, do_quote=False)


async def try_delete(message: Message) -> None:
    try:
        await message.delete()
    except Exception:
        log.info("could not delete a message carrying credentials")


def after_command(text: str) -> str:
    """`/send@bot +7… hi` → `+7… hi` (everything after the command word, lines kept)."""
    parts = text.split(maxsplit=1)
    if len(parts) < 2:
        return ""
    return typed(text[text.index(parts[0]) + len(parts[0]) :].lstrip(" \t"))


def typed(text: str) -> str:
    """Text as it is kept and sent: without NUL, which no keyboard types, WhatsApp drops and
    PostgreSQL cannot store."""
    return text.replace("\x00", "")


def phone_problem(lang: str, exc: PhoneError, region: str) -> str:
    if exc.reason == "empty":
        return t(lang, "phone_missing")
    token = exc.options[0] if exc.options else ""
    if exc.reason == "characters":
        return t(lang, "phone_characters", raw=token[:40])
    if exc.reason == "ambiguous" and len(exc.options) >= 3:
        return t(lang, "phone_ambiguous", raw=token[:40], a=exc.options[1], b=exc.options[2])
    return t(lang, "phone_invalid", raw=token[:40], region=region)


async def answer(query: CallbackQuery) -> None:
    """Stop the button's spinner. Telegram refuses an answer after 15 s ("query is too old"),
    e.g. for a press handled again after its replica died: the press itself still counts."""
    try:
        await query.answer()
    except BadRequest as exc:
        log.info("a button press was not answered: %s", exc.message)


def button_handler(actions: set[str], callback: Any) -> CallbackQueryHandler[Any, Any]:
    """A CallbackQueryHandler for the buttons whose callback data starts with one of `actions`."""
    return CallbackQueryHandler(
        callback, pattern=lambda data: isinstance(data, str) and data.partition(":")[0] in actions
    )


async def take_press(update: Update) -> tuple[keyboards.Press, Message] | None:
    """Answer the button tap (the spinner stops) and read it; None when it is not ours."""
    query = update.callback_query
    if query is None:
        return None
    await answer(query)
    press = keyboards.parse(query.data)
    message = query.message
    if press is None or not isinstance(message, Message):
        return None
    return press, message
