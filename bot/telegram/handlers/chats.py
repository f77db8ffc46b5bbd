"""A person's WhatsApp chats: /chats (pick the active one, mute one), /status, /disconnect,
/sleep, /resume, /reboot, /mute and /unmute."""

from __future__ import annotations

import html

from telegram import Update
from telegram.ext import CommandHandler

from bot.gateways.base import GatewayError
from bot.services.chats import ChatService
from bot.services.incoming import IncomingService
from bot.services.phones import pretty
from bot.storage.models import WhatsAppChat
from bot.telegram import keyboards
from bot.telegram.handlers.common import (
    PRIVATE,
    App,
    Context,
    button_handler,
    edit_or_send,
    lang_of_context,
    reply,
    take_press,
    user_of,
)
from bot.telegram.texts import STATE_HELP, STATE_NAMES, Html, explain_error, raw, t
from bot.telegram.views import chat_label

CONTROLS = {"sleep": "pause", "resume": "resume", "reboot": "reboot"}


class ChatCommands:
    def __init__(self, chats: ChatService, incoming: IncomingService) -> None:
        self.chats = chats
        self.incoming = incoming

    def register(self, app: App) -> None:
        for name, callback in (
            ("chats", self.list_chats),
            ("status", self.status),
            ("disconnect", self.disconnect),
            ("sleep", self.control),
            ("resume", self.control),
            ("reboot", self.control),
            ("mute", self.mute),
            ("unmute", self.mute),
        ):
            app.add_handler(CommandHandler(name, callback, filters=PRIVATE))
        app.add_handler(
            button_handler({"use", "disc", "disc!", "keep", "mute", "unmute"}, self.button)
        )

    async def list_chats(self, update: Update, context: Context) -> None:
        user, lang = user_of(context), lang_of_context(context)
        chats = await self.chats.list(user)
        if not chats:
            await reply(update, t(lang, "chats_none"))
            return
        lines, rows = [t(lang, "chats_head"), ""], []
        for chat in chats:
            star = "★" if chat.id == user.active_chat_id else "•"
            line = t(
                lang,
                "chat_line",
                star=star,
                name=chat.account_name or t(lang, "unnamed"),
                phone=pretty(chat.account_phone) if chat.account_phone else "",
                state=raw(lang, STATE_NAMES, chat.state),
                gateway=self._title(chat),
            )
            lines.append(line + (" · 🔕" if chat.muted else ""))
            rows.append((chat, f"{star} {chat_label(lang, chat)}"))
        await reply(update, "\n".join(lines), keyboards.chats(lang, rows))

    async def status(self, update: Update, context: Context) -> None:
        user, lang = user_of(context), lang_of_context(context)
        chat = await self.chats.active(user)
        if chat is None:
            await reply(update, t(lang, "status_none"))
            return
        live = await self.chats.live_status(chat)
        label = chat_label(lang, chat)
        if live.status is None:
            reason = explain_error(lang, live.error)
            state = raw(lang, STATE_NAMES, chat.state)
            await reply(
                update, t(lang, "status_unreachable", chat=label, state=state, reason=reason)
            )
            return
        facts = dict(live.details)
        if live.last_delivery is not None:
            recipient, delivery = live.last_delivery
            facts[t(lang, "last_message", phone=pretty(recipient), status="").rstrip(": ")] = (
                delivery
            )
        extra = "".join(f"\n{k}: {v}" for k, v in facts.items())
        text = t(
            lang,
            "status",
            chat=label,
            gateway=self._title(chat),
            state=raw(lang, STATE_NAMES, chat.state),
            raw=Html(f" <i>({html.escape(live.status.raw)})</i>" if live.status.raw else ""),
            explain=Html(
                html.escape(raw(lang, STATE_HELP, chat.state)) + html.escape(extra, quote=False)
            ),
        )
        await reply(update, f"{text}\n{await self._incoming_line(lang, chat)}")

    async def _incoming_line(self, lang: str, chat: WhatsAppChat) -> str:
        problem = await self.incoming.problem(chat)
        if problem is not None:
            return t(lang, "incoming_off", reason=t(lang, f"incoming_{problem}"))
        return t(lang, "incoming_muted" if chat.muted else "incoming_on")

    async def disconnect(self, update: Update, context: Context) -> None:
        user, lang = user_of(context), lang_of_context(context)
        chat = await self.chats.active(user)
        if chat is None:
            await reply(update, t(lang, "disconnect_none"))
            return
        await reply(
            update,
            t(lang, "disconnect_confirm", chat=chat_label(lang, chat)),
            keyboards.confirm_disconnect(lang, chat.id),
        )

    async def control(self, update: Update, context: Context) -> None:
        """/sleep, /resume, /reboot: the line at its gateway (where the gateway can)."""
        user, lang = user_of(context), lang_of_context(context)
        command = _command(update)
        chat = await self.chats.active(user)
        if chat is None:
            await reply(update, t(lang, "status_none"))
            return
        try:
            await self.chats.control(chat, CONTROLS[command])
        except GatewayError as exc:
            await reply(update, t(lang, "control_failed", reason=explain_error(lang, exc)))
            return
        label = chat_label(lang, chat)
        await reply(update, t(lang, "control_done", action=f"/{command}", chat=label))

    async def mute(self, update: Update, context: Context) -> None:
        """/mute, /unmute: forwarding of the active chat's incoming messages off or on."""
        user, lang = user_of(context), lang_of_context(context)
        chat = await self.chats.active(user)
        if chat is None:
            await reply(update, t(lang, "status_none"))
            return
        muted = _command(update) == "mute"
        await self.incoming.mute(chat, muted)
        await reply(
            update, t(lang, "mute_done" if muted else "unmute_done", chat=chat_label(lang, chat))
        )

    async def button(self, update: Update, context: Context) -> None:
        taken = await take_press(update)
        if taken is None:
            return
        press, message = taken
        user, lang, chat_id = user_of(context), lang_of_context(context), message.chat.id
        if press.action == "keep":
            await edit_or_send(message, t(lang, "disconnect_kept"))
            return
        if press.action == "disc!":
            gone = await self.chats.disconnect(user, int(press.arg))
            text = (
                t(lang, "disconnect_done", chat=chat_label(lang, gone))
                if gone
                else t(lang, "chat_gone")
            )
            await edit_or_send(message, text)
            return
        chat = await self.chats.get(user, int(press.arg))
        if press.action == "use":
            chat = await self.chats.activate(user, int(press.arg))
            text = (
                t(lang, "chat_activated", chat=chat_label(lang, chat))
                if chat
                else t(lang, "chat_gone")
            )
        elif chat is None:
            text = t(lang, "chat_gone")
        elif press.action == "disc":
            await context.bot.send_message(
                chat_id,
                t(lang, "disconnect_confirm", chat=chat_label(lang, chat)),
                reply_markup=keyboards.confirm_disconnect(lang, chat.id),
            )
            return
        else:  # mute / unmute
            muted = press.action == "mute"
            await self.incoming.mute(chat, muted)
            text = t(lang, "mute_done" if muted else "unmute_done", chat=chat_label(lang, chat))
        await context.bot.send_message(chat_id, text)

    def _title(self, chat: WhatsAppChat) -> str:
        gateway = self.chats.lines.gateways.get(chat.gateway)
        return gateway.title if gateway else chat.gateway


def _command(update: Update) -> str:
    """`/mute@bot` → `mute`."""
    text = update.effective_message.text if update.effective_message else ""
    return (text or "/").split(maxsplit=1)[0][1:].split("@", 1)[0].lower()
