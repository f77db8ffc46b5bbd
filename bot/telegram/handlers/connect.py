"""/connect (with its gateway choice and, for Green-API, the person's credentials), /cancel and
/code. The waiting (for the QR, for the scan) happens in ConnectService's background task."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from datetime import UTC, datetime

from telegram import Message, Update
from telegram.ext import CommandHandler

from bot.gateways.base import Enrolment, Gateway, GatewayError
from bot.services.admission import LimitReached
from bot.services.connect import AlreadyConnecting, ConnectService
from bot.services.phones import PhoneError, split_recipient
from bot.storage.models import User
from bot.telegram import keyboards
from bot.telegram.handlers.common import (
    PRIVATE,
    App,
    Context,
    UsageError,
    after_command,
    button_handler,
    lang_of_context,
    phone_problem,
    reply,
    take_press,
    try_delete,
    user_of,
)
from bot.telegram.texts import explain_error, t


class ConnectCommands:
    def __init__(
        self, connect: ConnectService, default_region: str, is_admin: Callable[[int], bool]
    ) -> None:
        self.connect = connect
        self.default_region = default_region
        self.is_admin = is_admin  # admin-only gateways (HCI's shared line) are for them alone

    def register(self, app: App) -> None:
        app.add_handler(CommandHandler("connect", self.connect_command, filters=PRIVATE))
        app.add_handler(CommandHandler("cancel", self.cancel, filters=PRIVATE))
        app.add_handler(CommandHandler("code", self.code, filters=PRIVATE))
        app.add_handler(button_handler({"cancel", "connect"}, self.button))

    async def connect_command(self, update: Update, context: Context) -> None:
        args = list(context.args or [])
        message = update.effective_message
        lines = self.connect.lines
        gateway: str | None = None
        if args:
            gateway = args.pop(0).lower()
            if gateway not in lines.gateways:
                names = ", ".join(lines.gateways)
                problem = t(
                    lang_of_context(context), "unknown_gateway", name=gateway[:40], names=names
                )
                raise UsageError("connect", problem)
        elif len(lines.gateways) > 1:
            titles = {name: driver.title for name, driver in lines.gateways.items()}
            text = t(lang_of_context(context), "choose_gateway")
            await reply(update, text, keyboards.gateways(titles))
            return
        driver = self.connect.lines.gateway(gateway)
        credentials = None
        if driver.enrolment is Enrolment.CREDENTIALS:
            if not args:
                await self._ask_credentials(user_of(context), driver, context)
                return
            credentials = await _take_credentials(message, driver, args)
        if message is not None:
            await self._start(user_of(context), message.chat_id, gateway, credentials, context)

    async def answer_credentials(self, update: Update, context: Context) -> bool:
        """The person's plain message answers our question for credentials: connect with them.
        False when no question was pending (the message is something else)."""
        pending = await self.connect.take_expected_credentials(user_of(context))
        message = update.effective_message
        if pending not in self.connect.lines.gateways or message is None or not message.text:
            return False
        driver = self.connect.lines.gateway(pending)
        credentials = await _take_credentials(message, driver, message.text.split())
        await self._start(user_of(context), message.chat_id, driver.name, credentials, context)
        return True

    async def cancel(self, update: Update, context: Context) -> None:
        user = user_of(context)
        asked = await self.connect.take_expected_credentials(user)
        if not await self.connect.cancel(user.id) and asked is None:
            await reply(update, t(lang_of_context(context), "cancel_none"))

    async def code(self, update: Update, context: Context) -> None:
        message, lang = update.effective_message, lang_of_context(context)
        try:
            phone, _ = split_recipient(
                after_command(message.text if message and message.text else ""),
                self.default_region,
            )
        except PhoneError as exc:
            raise UsageError("code", phone_problem(lang, exc, self.default_region)) from None
        try:
            code = await self.connect.pairing_code(user_of(context).id, phone.digits)
        except GatewayError as exc:
            await reply(update, t(lang, "control_failed", reason=explain_error(lang, exc)))
            return
        await reply(update, t(lang, "code", code=code) if code else t(lang, "code_none"))

    async def button(self, update: Update, context: Context) -> None:
        taken = await take_press(update)
        if taken is None:
            return
        press, message = taken
        user, lang, chat_id = user_of(context), lang_of_context(context), message.chat.id
        if press.action == "cancel":
            if not await self.connect.cancel(user.id):
                await context.bot.send_message(chat_id, t(lang, "cancel_none"))
            return
        gateway = press.arg or None
        if gateway is not None and gateway not in self._offered(user):
            return
        driver = self.connect.lines.gateway(gateway)
        if driver.enrolment is Enrolment.CREDENTIALS:
            names = " ".join(n.rstrip("?") for n in driver.credentials)
            await context.bot.send_message(
                chat_id, f"<code>/connect {driver.name} {html.escape(names)}</code>"
            )
            return
        await self._start(user, chat_id, gateway, None, context)

    def _offered(self, user: User) -> dict[str, Gateway]:
        """The gateways this person may link (the menu and `/connect NAME`)."""
        return {
            name: driver
            for name, driver in self.connect.lines.gateways.items()
            if not driver.admin_only or self.is_admin(user.id)
        }

    async def _ask_credentials(self, user: User, driver: Gateway, context: Context) -> None:
        """The next plain message of this user holds the credentials (see `answer_credentials`)."""
        await self.connect.expect_credentials(user, driver.name)
        text = t(
            user.language, "ask_credentials", gateway=driver.title, usage=_credential_usage(driver)
        )
        await context.bot.send_message(user.id, text)

    async def _start(
        self,
        user: User,
        chat_id: int,
        gateway: str | None,
        credentials: dict[str, str] | None,
        context: Context,
    ) -> None:
        lang = user.language
        try:
            await self.connect.start(user, chat_id, gateway, credentials)
        except AlreadyConnecting as exc:
            if exc.place is None:
                text = t(lang, "connect_running")
            else:
                text = t(lang, "connect_in_line", place=exc.place)
            await context.bot.send_message(chat_id, text)
        except LimitReached as exc:
            await context.bot.send_message(chat_id, _refusal(lang, exc))


def _refusal(lang: str, refused: LimitReached) -> str:
    """Fair use said no: which limit, and for the hourly one when to try again."""
    if refused.limit == "lines" or refused.retry_at is None:
        return t(lang, "connect_limit_lines", max=refused.allowed)
    minutes = max(1, math.ceil((refused.retry_at - datetime.now(UTC)).total_seconds() / 60))
    at = refused.retry_at.astimezone(UTC).strftime("%H:%M")
    return t(lang, "connect_limit_hourly", max=refused.allowed, minutes=minutes, at=at)


def _credential_usage(driver: Gateway) -> str:
    return " ".join(n if not n.endswith("?") else f"[{n.rstrip('?')}]" for n in driver.credentials)


async def _take_credentials(
    message: Message | None, driver: Gateway, args: list[str]
) -> dict[str, str]:
    """Credentials typed by the person; the message carrying the token is deleted at once."""
    if message is not None:
        await try_delete(message)
    names = driver.credentials
    required = [name for name in names if not name.endswith("?")]
    if not len(required) <= len(args) <= len(names):
        raise UsageError("connect", f"/connect {driver.name} {_credential_usage(driver)}")
    return {name.rstrip("?"): value for name, value in zip(names, args, strict=False)}
