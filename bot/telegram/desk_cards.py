"""How the team inbox's cards change in Telegram (the services' DeskView): a card someone else
took says who; the taker's gets Transfer and Close; a customer moved back to a queue, or handed to
a member, gets a card of its own."""

from __future__ import annotations

import contextlib

from telegram import Bot
from telegram.error import BadRequest

from bot.services.ports import DeskButtons
from bot.storage.models import DeskArea, DeskContact
from bot.telegram import keyboards
from bot.telegram.inbox import clean_name
from bot.telegram.texts import t
from bot.telegram.views import reach, recipient_label


class TelegramDeskView:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def taken(self, user_id: int, message_id: int, lang: str, taker: str) -> None:
        text = t(lang, "desk_taken", name=taker)
        try:  # the customer's words leave the other members' screens with the buttons
            await reach(self.bot.edit_message_text(text, chat_id=user_id, message_id=message_id))
        except BadRequest:  # a photo, a file…: its caption says it instead
            with contextlib.suppress(BadRequest):
                await reach(
                    self.bot.edit_message_caption(
                        chat_id=user_id, message_id=message_id, caption=text
                    )
                )

    async def owned(self, user_id: int, message_id: int, lang: str, contact_id: int) -> None:
        markup = keyboards.desk_card(lang, contact_id, queued=False, areas=False)
        with contextlib.suppress(BadRequest):
            await reach(
                self.bot.edit_message_reply_markup(
                    chat_id=user_id, message_id=message_id, reply_markup=markup
                )
            )

    async def waiting(
        self,
        user_id: int,
        lang: str,
        contact: DeskContact,
        area: DeskArea | None,
        buttons: DeskButtons,
    ) -> int:
        where = t(lang, "desk_in_area", area=area.name) if area else ""
        text = t(lang, "desk_waiting", name=_name(lang, contact), phone=_phone(contact), area=where)
        markup = keyboards.desk_card(lang, contact.id, buttons.queued, buttons.areas)
        sent = await reach(self.bot.send_message(user_id, text, reply_markup=markup))
        return sent.message_id

    async def handed(self, user_id: int, lang: str, contact: DeskContact, by: str) -> int:
        text = t(lang, "desk_handed", by=by, name=_name(lang, contact), phone=_phone(contact))
        markup = keyboards.desk_card(lang, contact.id, queued=False, areas=False)
        sent = await reach(self.bot.send_message(user_id, text, reply_markup=markup))
        return sent.message_id


def _name(lang: str, contact: DeskContact) -> str:
    return clean_name(contact.name) or t(lang, "unnamed")


def _phone(contact: DeskContact) -> str:
    return recipient_label(contact.contact, contact.name)
