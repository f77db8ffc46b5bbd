"""Telegram handlers: parse, validate, call one service, reply. Nothing here waits for a gateway
for long: connecting and delivering run in the services' background tasks.

Every update first passes `gate` (group -1): private chats only, ALLOWED_USER_IDS enforced, the
user registered with their language. Edited messages, channel posts and group chatter are ignored
on purpose: an edit must not send a WhatsApp message a second time.
"""

from __future__ import annotations

import html
import logging
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.config import Settings
from bot.gateways.base import Enrolment, Gateway, GatewayError
from bot.services.chats import ChatService, ensure_user
from bot.services.connect import AlreadyConnecting, ConnectService
from bot.services.phones import PhoneError, pretty, split_recipient
from bot.services.sender import ChatNotReady, DailyCapReached, NoActiveChat, SendService
from bot.storage.models import User
from bot.telegram import keyboards
from bot.telegram.commands import BY_NAME, COMMANDS
from bot.telegram.texts import STATE_HELP, STATE_NAMES, Html, explain_error, lang_of, raw, t
from bot.telegram.views import TelegramViews, chat_label

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE


class UsageError(Exception):
    """A command was called wrongly; `problem` is already a sentence in the user's language."""

    def __init__(self, command: str, problem: str) -> None:
        super().__init__(problem)
        self.command = command
        self.problem = problem


class Handlers:
    def __init__(
        self,
        settings: Settings,
        connect: ConnectService,
        sender: SendService,
        chats: ChatService,
        views: TelegramViews,
    ) -> None:
        self.settings = settings
        self.connect = connect
        self.sender = sender
        self.chats = chats
        self.views = views

    def register(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        new_messages = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE
        app.add_handler(TypeHandler(Update, self.gate), group=-1)
        commands = {
            "start": self.start,
            "help": self.help,
            "connect": self.connect_command,
            "cancel": self.cancel,
            "send": self.send,
            "sendfile": self.send_file,
            "sendlink": self.send_link,
            "code": self.code,
            "sleep": self.sleep,
            "resume": self.resume,
            "reboot": self.reboot,
            "chats": self.list_chats,
            "status": self.status,
            "disconnect": self.disconnect,
            "admin": self.admin,
        }
        for name, callback in commands.items():
            app.add_handler(CommandHandler(name, callback, filters=new_messages))
        app.add_handler(CallbackQueryHandler(self.button))
        app.add_handler(MessageHandler(new_messages & filters.COMMAND, self.unknown_command))
        app.add_handler(MessageHandler(new_messages & filters.TEXT, self.plain_text))
        app.add_handler(MessageHandler(new_messages, self.not_text))
        app.add_error_handler(self.on_error)

    # --- gate

    async def gate(self, update: Update, context: Context) -> None:
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
                await update.callback_query.answer()
            await context.bot.send_message(chat.id, t(lang, "not_allowed", user_id=user.id))
            raise ApplicationHandlerStop
        context.user_data["user"] = await ensure_user(user.id, user.language_code)  # type: ignore[index]

    # --- commands

    async def start(self, update: Update, context: Context) -> None:
        await _reply(update, t(_lang(context), "start"))

    async def help(self, update: Update, context: Context) -> None:
        lang = _lang(context)
        lines = [t(lang, "help_head"), ""]
        for command in COMMANDS:
            if command.in_menu:
                entry = f"<code>{html.escape(command.usage)}</code> — {html.escape(command.about(lang))}"
                if command.example != command.usage:
                    entry += f"\n   {t(lang, 'help_example')}: <code>{html.escape(command.example)}</code>"
                lines.append(entry)
        lines += ["", t(lang, "help_tail")]
        await _reply(update, "\n".join(lines))

    async def connect_command(self, update: Update, context: Context) -> None:
        args = list(context.args or [])
        message = update.effective_message
        gateway: str | None = None
        if args:
            gateway = args.pop(0).lower()
            if gateway not in self.connect.lines.gateways:
                names = ", ".join(self.connect.lines.gateways)
                raise UsageError(
                    "connect", t(_lang(context), "unknown_gateway", name=gateway[:40], names=names)
                )
        elif len(self.connect.lines.gateways) > 1:
            titles = {name: driver.title for name, driver in self.connect.lines.gateways.items()}
            await _reply(update, t(_lang(context), "choose_gateway"), keyboards.gateways(titles))
            return
        driver = self.connect.lines.gateway(gateway)
        credentials = None
        if driver.enrolment is Enrolment.CREDENTIALS:
            if not args:
                await self._ask_credentials(_user(context), driver)
                return
            credentials = await _take_credentials(update, driver, args)
        if message is not None:
            await self._start_connect(_user(context), message.chat_id, gateway, credentials)

    async def _ask_credentials(self, user: User, driver: Gateway) -> None:
        """The next plain message of this user holds the credentials (see `plain_text`)."""
        await self.connect.expect_credentials(user, driver.name)
        text = t(
            user.language, "ask_credentials", gateway=driver.title, usage=_credential_usage(driver)
        )
        await self.views.bot.send_message(user.id, text)

    async def _start_connect(
        self,
        user: User,
        chat_id: int,
        gateway: str | None,
        credentials: dict[str, str] | None = None,
    ) -> None:
        try:
            await self.connect.start(user, chat_id, gateway, credentials)
        except AlreadyConnecting:
            await self.views.bot.send_message(chat_id, t(user.language, "connect_running"))

    async def cancel(self, update: Update, context: Context) -> None:
        asked = await self.connect.take_expected_credentials(_user(context))
        if not await self.connect.cancel(_user(context).id) and asked is None:
            await _reply(update, t(_lang(context), "cancel_none"))

    async def send(self, update: Update, context: Context) -> None:
        message, lang = update.effective_message, _lang(context)
        if message is None or message.text is None:
            return
        rest = _after_command(message.text)
        reply = message.reply_to_message
        try:
            phone, text = split_recipient(rest, self.settings.default_region)
        except PhoneError as exc:
            raise UsageError(
                "send", _phone_problem(lang, exc, self.settings.default_region)
            ) from None
        if not text and reply is not None:
            text = _typed(reply.text or reply.caption or "").strip()
            if not text:
                raise UsageError("send", t(lang, "reply_no_text"))
        if not text:
            raise UsageError("send", t(lang, "text_missing"))
        await self._queue(update, context, phone.digits, text)

    async def send_file(self, update: Update, context: Context) -> None:
        await self._send_address(update, context, "sendfile")

    async def send_link(self, update: Update, context: Context) -> None:
        await self._send_address(update, context, "sendlink")

    async def _send_address(self, update: Update, context: Context, command: str) -> None:
        """/sendfile and /sendlink: PHONE URL [caption], the URL a file or a web page."""
        message, lang = update.effective_message, _lang(context)
        if message is None or message.text is None:
            return
        try:
            phone, rest = split_recipient(
                _after_command(message.text), self.settings.default_region
            )
        except PhoneError as exc:
            raise UsageError(
                command, _phone_problem(lang, exc, self.settings.default_region)
            ) from None
        if not rest:
            raise UsageError(command, t(lang, "url_missing"))
        url, caption = _file_args(rest)
        if not _is_web_url(url):
            raise UsageError(command, t(lang, "url_invalid", raw=url[:60]))
        await self._queue(
            update,
            context,
            phone.digits,
            caption,
            media_url=url,
            media_is_link=command == "sendlink",
        )

    async def _queue(
        self,
        update: Update,
        context: Context,
        recipient: str,
        text: str,
        media_url: str | None = None,
        media_is_link: bool = False,
    ) -> None:
        message, user, lang = update.effective_message, _user(context), _lang(context)
        if message is None:
            return
        try:
            accepted = await self.sender.accept(
                user,
                recipient,
                text,
                message.chat_id,
                message.message_id,
                media_url=media_url,
                media_is_link=media_is_link,
            )
        except NoActiveChat:
            await _reply(update, t(lang, "send_no_chat"))
            return
        except ChatNotReady as exc:
            state = raw(lang, STATE_NAMES, exc.chat.state)
            await _reply(
                update, t(lang, "send_not_ready", chat=chat_label(lang, exc.chat), state=state)
            )
            return
        except DailyCapReached as exc:
            await _reply(update, t(lang, "send_daily_cap", cap=exc.cap))
            return
        queued = accepted.message
        if not accepted.new and (queued.ui_message_id is not None or queued.status.is_final):
            return  # the same Telegram message again (redelivered update): already handled
        ui_id = await self.views.queued(message.chat_id, message.message_id, lang, queued.recipient)
        slot = await self.sender.release(queued, ui_id)
        wait = (slot - datetime.now(UTC)).total_seconds()
        if wait >= 2:
            await self.views.queued_later(
                message.chat_id, ui_id, lang, queued.recipient, round(wait)
            )

    async def code(self, update: Update, context: Context) -> None:
        message, lang = update.effective_message, _lang(context)
        try:
            phone, _ = split_recipient(
                _after_command(message.text if message and message.text else ""),
                self.settings.default_region,
            )
        except PhoneError as exc:
            raise UsageError(
                "code", _phone_problem(lang, exc, self.settings.default_region)
            ) from None
        try:
            code = await self.connect.pairing_code(_user(context).id, phone.digits)
        except GatewayError as exc:
            await _reply(update, t(lang, "control_failed", reason=explain_error(lang, exc)))
            return
        await _reply(update, t(lang, "code", code=code) if code else t(lang, "code_none"))

    async def sleep(self, update: Update, context: Context) -> None:
        await self._control(update, context, "pause", "/sleep")

    async def resume(self, update: Update, context: Context) -> None:
        await self._control(update, context, "resume", "/resume")

    async def reboot(self, update: Update, context: Context) -> None:
        await self._control(update, context, "reboot", "/reboot")

    async def _control(self, update: Update, context: Context, action: str, label: str) -> None:
        user, lang = _user(context), _lang(context)
        chat = await self.chats.active(user)
        if chat is None:
            await _reply(update, t(lang, "status_none"))
            return
        try:
            await self.chats.control(chat, action)
        except GatewayError as exc:
            await _reply(update, t(lang, "control_failed", reason=explain_error(lang, exc)))
            return
        await _reply(update, t(lang, "control_done", action=label, chat=chat_label(lang, chat)))

    async def list_chats(self, update: Update, context: Context) -> None:
        user, lang = _user(context), _lang(context)
        chats = await self.chats.list(user)
        if not chats:
            await _reply(update, t(lang, "chats_none"))
            return
        lines, rows = [t(lang, "chats_head"), ""], []
        for chat in chats:
            star = "★" if chat.id == user.active_chat_id else "•"
            gateway = (
                self.connect.lines.gateways[chat.gateway].title
                if chat.gateway in self.connect.lines.gateways
                else chat.gateway
            )
            line = t(
                lang,
                "chat_line",
                star=star,
                name=chat.account_name or t(lang, "unnamed"),
                phone=pretty(chat.account_phone) if chat.account_phone else "",
                state=raw(lang, STATE_NAMES, chat.state),
                gateway=gateway,
            )
            lines.append(line)
            rows.append((chat, f"{star} {chat_label(lang, chat)}"))
        await _reply(update, "\n".join(lines), keyboards.chats(rows))

    async def status(self, update: Update, context: Context) -> None:
        user, lang = _user(context), _lang(context)
        chat = await self.chats.active(user)
        if chat is None:
            await _reply(update, t(lang, "status_none"))
            return
        live = await self.chats.live_status(chat)
        label = chat_label(lang, chat)
        if live.status is None:
            reason = explain_error(lang, live.error)
            state = raw(lang, STATE_NAMES, chat.state)
            await _reply(
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
        gateway = self.connect.lines.gateways[chat.gateway].title
        text = t(
            lang,
            "status",
            chat=label,
            gateway=gateway,
            state=raw(lang, STATE_NAMES, chat.state),
            raw=Html(f" <i>({html.escape(live.status.raw)})</i>" if live.status.raw else ""),
            explain=Html(
                html.escape(raw(lang, STATE_HELP, chat.state)) + html.escape(extra, quote=False)
            ),
        )
        await _reply(update, text)

    async def disconnect(self, update: Update, context: Context) -> None:
        user, lang = _user(context), _lang(context)
        chat = await self.chats.active(user)
        if chat is None:
            await _reply(update, t(lang, "disconnect_none"))
            return
        await _reply(
            update,
            t(lang, "disconnect_confirm", chat=chat_label(lang, chat)),
            keyboards.confirm_disconnect(lang, chat.id),
        )

    async def admin(self, update: Update, context: Context) -> None:
        user, lang = _user(context), _lang(context)
        if not self.settings.is_admin(user.id):
            await _reply(update, t(lang, "admin_only"))
            return
        usage = await self.chats.usage()
        await _reply(
            update,
            t(
                lang,
                "admin",
                users=usage.users,
                chats=_counts(usage.chats_by_state),
                messages=_counts(usage.messages_by_status),
            ),
        )

    async def unknown_command(self, update: Update, context: Context) -> None:
        message = update.effective_message
        command = (message.text or "").split(maxsplit=1)[0] if message else ""
        await _reply(update, t(_lang(context), "unknown_command", command=command[:64]))

    async def plain_text(self, update: Update, context: Context) -> None:
        pending = await self.connect.take_expected_credentials(_user(context))
        message = update.effective_message
        if pending in self.connect.lines.gateways and message is not None and message.text:
            driver = self.connect.lines.gateway(pending)
            credentials = await _take_credentials(update, driver, message.text.split())
            await self._start_connect(_user(context), message.chat_id, driver.name, credentials)
            return
        await _reply(update, t(_lang(context), "plain_text"))

    async def not_text(self, update: Update, context: Context) -> None:
        await _reply(update, t(_lang(context), "not_text"))

    # --- buttons

    async def button(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None:
            return
        await query.answer()
        press = keyboards.parse(query.data)
        message = query.message
        if press is None or message is None:
            return
        user, lang, chat_id = _user(context), _lang(context), message.chat.id
        if press.action == "cancel":
            if not await self.connect.cancel(user.id):
                await context.bot.send_message(chat_id, t(lang, "cancel_none"))
        elif press.action == "connect":
            gateway = press.arg or None
            if gateway is not None and gateway not in self.connect.lines.gateways:
                return
            if self.connect.lines.gateway(gateway).enrolment is Enrolment.CREDENTIALS:
                driver = self.connect.lines.gateway(gateway)
                names = " ".join(n.rstrip("?") for n in driver.credentials)
                await context.bot.send_message(
                    chat_id, f"<code>/connect {driver.name} {html.escape(names)}</code>"
                )
                return
            await self._start_connect(user, chat_id, gateway)
        elif press.action == "use":
            chat = await self.chats.activate(user, int(press.arg))
            text = (
                t(lang, "chat_activated", chat=chat_label(lang, chat))
                if chat
                else t(lang, "chat_gone")
            )
            await context.bot.send_message(chat_id, text)
        elif press.action == "disc":
            chat = await self.chats.get(user, int(press.arg))
            if chat is not None:
                await context.bot.send_message(
                    chat_id,
                    t(lang, "disconnect_confirm", chat=chat_label(lang, chat)),
                    reply_markup=keyboards.confirm_disconnect(lang, chat.id),
                )
        elif press.action == "disc!":
            chat = await self.chats.disconnect(user, int(press.arg))
            text = (
                t(lang, "disconnect_done", chat=chat_label(lang, chat))
                if chat
                else t(lang, "chat_gone")
            )
            await _edit_or_send(query.message, text)
        elif press.action == "keep":
            await _edit_or_send(query.message, t(lang, "disconnect_kept"))
        elif press.action == "again":
            again = await self.sender.send_again(user, int(press.arg))
            if again is None:
                await context.bot.send_message(chat_id, t(lang, "send_again_none"))
            else:
                await _edit_or_send(
                    query.message, t(lang, "send_queued", phone=pretty(again.recipient))
                )

    # --- errors

    async def on_error(self, update: object, context: Context) -> None:
        if isinstance(context.error, UsageError) and isinstance(update, Update):
            lang = _lang(context)
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
            await _reply(update, text)
            return
        ref = uuid.uuid4().hex[:8]
        log.error("update failed (ref %s)", ref, exc_info=context.error)
        if isinstance(update, Update) and update.effective_chat is not None:
            try:
                await context.bot.send_message(
                    update.effective_chat.id, t(_lang(context), "internal_error", ref=ref)
                )
            except Exception:  # the reply is a courtesy; the log line above is what counts
                log.warning("could not tell the user about error %s", ref)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items()) or "0"


def _credential_usage(driver: Gateway) -> str:
    return " ".join(n if not n.endswith("?") else f"[{n.rstrip('?')}]" for n in driver.credentials)


async def _take_credentials(update: Update, driver: Gateway, args: list[str]) -> dict[str, str]:
    """Credentials typed by the person; the message carrying the token is deleted at once."""
    if update.effective_message is not None:
        await _try_delete(update.effective_message)
    names = driver.credentials
    required = [name for name in names if not name.endswith("?")]
    if not len(required) <= len(args) <= len(names):
        raise UsageError("connect", f"/connect {driver.name} {_credential_usage(driver)}")
    return {name.rstrip("?"): value for name, value in zip(names, args, strict=False)}


def _user(context: Context) -> User:
    user: User = context.user_data["user"]  # type: ignore[index]  # set by Handlers.gate
    return user


def _lang(context: Context) -> str:
    user = (context.user_data or {}).get("user")
    return user.language if isinstance(user, User) else "en"


async def _reply(update: Update, text: str, markup: Any = None) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text(text, reply_markup=markup, do_quote=False)


async def _edit_or_send(message: Any, text: str) -> None:
    try:
        await message.edit_text(text)
    except Exception:
        await message.reply_text(text, do_quote=False)


async def _try_delete(message: Message) -> None:
    try:
        await message.delete()
    except Exception:
        log.info("could not delete a message carrying credentials")


def _after_command(text: str) -> str:
    """`/send@bot +7… hi` → `+7… hi` (everything after the command word, lines kept)."""
    parts = text.split(maxsplit=1)
    if len(parts) < 2:
        return ""
    return _typed(text[text.index(parts[0]) + len(parts[0]) :].lstrip(" \t"))


def _typed(text: str) -> str:
    """Text as it is kept and sent: without NUL, which no keyboard types, WhatsApp drops and
    PostgreSQL cannot store."""
    return text.replace("\x00", "")


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


def _phone_problem(lang: str, exc: PhoneError, region: str) -> str:
    if exc.reason == "empty":
        return t(lang, "phone_missing")
    token = exc.options[0] if exc.options else ""
    if exc.reason == "characters":
        return t(lang, "phone_characters", raw=token[:40])
    if exc.reason == "ambiguous" and len(exc.options) >= 3:
        return t(lang, "phone_ambiguous", raw=token[:40], a=exc.options[1], b=exc.options[2])
    return t(lang, "phone_invalid", raw=token[:40], region=region)
