"""/admin: usage figures, for the ids in ADMIN_USER_IDS only."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from bot.config import Settings
from bot.services.chats import ChatService
from bot.services.topics import TopicService
from bot.telegram.handlers.common import PRIVATE, App, Context, lang_of_context, reply, user_of
from bot.telegram.texts import t


class AdminCommands:
    def __init__(
        self, settings: Settings, chats: ChatService, topics: TopicService | None = None
    ) -> None:
        self.settings = settings
        self.chats = chats
        self.topics = topics

    def register(self, app: App) -> None:
        app.add_handler(CommandHandler("admin", self.admin, filters=PRIVATE))

    async def admin(self, update: Update, context: Context) -> None:
        user, lang = user_of(context), lang_of_context(context)
        if not self.settings.is_admin(user.id):
            await reply(update, t(lang, "admin_only"))
            return
        usage = await self.chats.usage()
        text = t(
            lang,
            "admin",
            users=usage.users,
            chats=_counts(usage.chats_by_state),
            messages=_counts(usage.messages_by_status),
        )
        await reply(update, f"{text}\n{self._threads(lang, context)}")

    def _threads(self, lang: str, context: Context) -> str:
        """Whether threads are on, and why not."""
        if self.topics is not None and self.topics.enabled:
            return t(lang, "admin_threads_on")
        mode = "on" if context.bot.bot.has_topics_enabled else "off"
        return t(lang, "admin_threads_off", setting=self.settings.threads, mode=mode)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items()) or "0"
