"""The team inbox in Telegram: /desk (on, off, invite, members, area, queue, mine, signature,
operator), the invite deep link (`/start desk-<token>`), and the card buttons: Take, Area…,
Transfer…, Close, and the owner's Remove."""

from __future__ import annotations

import html
import re

from telegram import Update
from telegram.ext import CommandHandler, filters

from bot.config import Settings
from bot.gateways.base import GatewayError
from bot.services.desk import DeskError, DeskService, Took, display_name
from bot.services.hci_desk import HciDesks
from bot.storage.models import DeskContact, User
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
from bot.telegram.texts import Html, explain_error, t
from bot.telegram.views import chat_label, recipient_label

MAX_OPERATOR_ID = 32  # HciOperator.operator_id
INVITE = filters.Regex(re.compile(r"^/start(@\w+)?\s+desk-[A-Za-z0-9_-]{1,64}\s*$"))


class DeskCommands:
    def __init__(self, desk: DeskService, hci: HciDesks | None, settings: Settings) -> None:
        self.desk = desk
        self.hci = hci
        self.settings = settings

    def register(self, app: App) -> None:
        app.add_handler(CommandHandler("start", self.join, filters=PRIVATE & INVITE))
        app.add_handler(CommandHandler("desk", self.command, filters=PRIVATE))
        app.add_handler(button_handler({"dk", "da", "dt", "dc", "dtm", "dta", "drm"}, self.button))

    async def join(self, update: Update, context: Context) -> None:
        user, lang = user_of(context), lang_of_context(context)
        token = (context.args or [""])[0].removeprefix("desk-")
        try:
            desk = await self.desk.join(user, token)
        except DeskError as exc:
            await reply(update, t(lang, f"desk_{exc.reason}", **exc.values))
            return
        await desk.fetch_related("chat__owner")
        await reply(update, t(lang, "desk_joined", chat=chat_label(lang, desk.chat)))
        owner = desk.chat.owner
        if owner.id != user.id:
            await context.bot.send_message(
                owner.id, t(owner.language, "desk_member_joined", name=display_name(user))
            )

    async def command(self, update: Update, context: Context) -> None:
        user, lang = user_of(context), lang_of_context(context)
        args = list(context.args or [])
        verb = args[0].lower() if args else ""
        rest = args[1:]
        try:
            text, markup = await self._do(user, lang, verb, rest, context)
        except DeskError as exc:
            text, markup = t(lang, f"desk_{exc.reason}", **exc.values), None
        except GatewayError as exc:
            text, markup = t(lang, "desk_hci_failed", reason=explain_error(lang, exc)), None
        await reply(update, text, markup)

    async def _do(
        self, user: User, lang: str, verb: str, rest: list[str], context: Context
    ) -> tuple[str, object]:
        if verb == "on":
            desk = await self.desk.enable(user)
            await desk.fetch_related("chat")
            return t(lang, "desk_on", chat=chat_label(lang, desk.chat)), None
        if verb == "off":
            desk = await self.desk.disable(user)
            await desk.fetch_related("chat")
            return t(lang, "desk_off", chat=chat_label(lang, desk.chat)), None
        if verb == "invite":
            token = await self.desk.invite(user)
            link = f"https://t.me/{context.bot.username}?start=desk-{token}"
            return t(lang, "desk_invite", link=link), None
        if verb == "members":
            return await self._members(user, lang)
        if verb == "area" and len(rest) >= 2 and rest[0].lower() in ("add", "join", "leave"):
            name = " ".join(rest[1:])[:64]
            if rest[0].lower() == "add":
                area = await self.desk.add_area(user, name)
                return t(lang, "desk_area_added", name=area.name), None
            joined = rest[0].lower() == "join"
            area = await self.desk.join_area(user, name, joined)
            return t(lang, "desk_area_joined" if joined else "desk_area_left", name=area.name), None
        if verb == "queue":
            waiting = await self.desk.queue(user)
            if not waiting:
                return t(lang, "desk_queue_none"), None
            return t(lang, "desk_queue", lines=_contact_lines(lang, waiting)), None
        if verb == "mine":
            mine = await self.desk.mine(user)
            if not mine:
                return t(lang, "desk_mine_none"), None
            return t(lang, "desk_mine", lines=_contact_lines(lang, mine)), None
        if verb == "signature" and rest and rest[0].lower() in ("on", "off"):
            on = rest[0].lower() == "on"
            await self.desk.set_signature(user, on)
            name = user.first_name or display_name(user)
            return (
                t(lang, "desk_signature", name=name) if on else t(lang, "desk_signature_off")
            ), None
        if verb == "operator" and len(rest) == 2 and self.hci is not None:
            return await self._operator(user, lang, rest[0], rest[1])
        return t(lang, "desk_usage"), None

    async def _members(self, user: User, lang: str) -> tuple[str, object]:
        desk, _ = await self.desk.member_desk(user)
        members = await self.desk.members(desk)
        await desk.fetch_related("chat")
        lines = "\n".join(f"• {html.escape(display_name(m.user))}" for m in members)
        text = t(lang, "desk_members", members=Html(lines))
        if desk.chat.owner_id != user.id:  # type: ignore[attr-defined]
            return text, None
        others = [(m.user.id, display_name(m.user)) for m in members if m.user.id != user.id]
        return text, keyboards.desk_members(lang, others) if others else None

    async def _operator(self, user: User, lang: str, who: str, value: str) -> tuple[str, object]:
        if not self.settings.is_admin(user.id) or self.hci is None:
            return t(lang, "desk_admin_only"), None
        target = await self.hci.find_user(who)
        if target is None:
            return t(lang, "desk_operator_unknown_user", who=who), None
        if value.lower() == "off":
            if not await self.hci.unmap(target):
                return t(lang, "desk_operator_not_mapped", name=display_name(target)), None
            return t(lang, "desk_operator_off", name=display_name(target)), None
        if len(value) > MAX_OPERATOR_ID:
            return t(lang, "desk_operator_too_long", most=MAX_OPERATOR_ID), None
        linked = await self.hci.map(target, value)
        text = "desk_operator_set" if linked else "desk_operator_set_later"
        return t(lang, text, name=display_name(target), operator=value), None

    async def button(self, update: Update, context: Context) -> None:
        taken = await take_press(update)
        if taken is None:
            return
        press, message = taken
        user, lang, query = user_of(context), lang_of_context(context), update.callback_query
        ids = press.ids
        try:
            if press.action == "dk":
                result = await self.desk.take(user, ids[0])
                if result.outcome is Took.OTHER:
                    text = t(lang, "desk_taken", name=result.owner_name)
                    await edit_or_send(message, text)
                elif result.outcome is Took.GONE:
                    await context.bot.send_message(user.id, t(lang, "desk_gone"))
                return
            if press.action in ("dt", "da"):
                members, areas = await self.desk.targets(
                    user, ids[0], with_members=press.action == "dt"
                )
                markup = keyboards.desk_targets(lang, ids[0], members, areas)
                await context.bot.send_message(user.id, t(lang, "desk_choose"), reply_markup=markup)
                return
            if press.action == "dtm":
                to = await self.desk.transfer_to_member(user, ids[0], ids[1])
                text = t(lang, "desk_transferred", name=display_name(to))
            elif press.action == "dta":
                area = await self.desk.transfer_to_area(user, ids[0], ids[1])
                text = t(lang, "desk_moved", area=area.name)
            elif press.action == "dc":
                await self.desk.close(user, ids[0])
                text = t(lang, "desk_closed")
            else:  # drm: the owner removes a member
                gone = await self.desk.remove(user, ids[0])
                text = (
                    t(lang, "desk_removed", name=display_name(gone))
                    if gone
                    else t(lang, "desk_gone")
                )
        except DeskError as exc:
            text = t(lang, f"desk_{exc.reason}", **exc.values)
        except GatewayError as exc:
            text = t(lang, "desk_hci_failed", reason=explain_error(lang, exc))
        if query is not None and press.action in ("dtm", "dta"):
            await edit_or_send(message, text)
        else:
            await context.bot.send_message(user.id, text)


def _contact_lines(lang: str, contacts: list[DeskContact]) -> Html:
    lines = [
        f"• {html.escape(c.name or t(lang, 'unnamed'))} · {html.escape(recipient_label(c.contact, c.name))}"
        for c in contacts
    ]
    return Html("\n".join(lines))
