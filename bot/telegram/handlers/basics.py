"""/start and /help: the greeting, and every command with its usage and example (from the one
table in `commands.py`)."""

from __future__ import annotations

import html

from telegram import Update
from telegram.ext import CommandHandler

from bot.telegram.commands import COMMANDS
from bot.telegram.handlers.common import PRIVATE, App, Context, lang_of_context, reply
from bot.telegram.texts import t


class Basics:
    def register(self, app: App) -> None:
        app.add_handler(CommandHandler("start", self.start, filters=PRIVATE))
        app.add_handler(CommandHandler("help", self.help, filters=PRIVATE))

    async def start(self, update: Update, context: Context) -> None:
        await reply(update, t(lang_of_context(context), "start"))

    async def help(self, update: Update, context: Context) -> None:
        lang = lang_of_context(context)
        lines = [t(lang, "help_head"), ""]
        for command in COMMANDS:
            if command.in_menu:
                entry = f"<code>{html.escape(command.usage)}</code> — {html.escape(command.about(lang))}"
                if command.example != command.usage:
                    entry += f"\n   {t(lang, 'help_example')}: <code>{html.escape(command.example)}</code>"
                lines.append(entry)
        lines += ["", t(lang, "help_tail")]
        await reply(update, "\n".join(lines))
