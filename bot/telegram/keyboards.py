"""Inline keyboards and their callback data. Callback data carries ids only; every handler checks
that the id belongs to the person who pressed (see `ChatService.get`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.storage.models import BulkState, WhatsAppChat
from bot.telegram.texts import t


@dataclass(frozen=True)
class Press:
    action: str  # see ACTIONS
    arg: str = ""

    @property
    def ids(self) -> list[int]:
        """`12:34` → [12, 34] (the ids the button carries)."""
        return [int(part) for part in self.arg.split(":") if part]


ACTIONS = {"cancel", "connect", "use", "disc", "disc!", "keep", "again", "mute", "unmute", "to"}
WITH_ID = {"use", "disc", "disc!", "again", "mute", "unmute", "to"}  # the argument is a row id
# Team inbox: Take, Area… (choose), Transfer… (choose), to a member, to an area, Close, and
# the owner's Remove under /desk members. Arguments: contact id, then a user or area id.
_ROW = "[0-9]{1,9}"  # a row id (the database's integers)
_USER = "[0-9]{1,15}"  # a Telegram user id
DESK_ARGS = {
    "dk": _ROW,
    "da": _ROW,
    "dt": _ROW,
    "dc": _ROW,
    "drm": _USER,
    "dtm": f"{_ROW}:{_USER}",
    "dta": f"{_ROW}:{_ROW}",
}
ACTIONS |= DESK_ARGS.keys()
# Bulk sends: Start and Cancel (the preview, or the prompt for a list), Pause, Resume, Stop (asks),
# Yes stop, No go on, Send again to the unknown; the argument is the bulk's id. "bn": a new one.
BULK_ACTIONS = {"bgo", "bx", "bp", "br", "bs", "bs!", "bk", "ba"}
ACTIONS |= BULK_ACTIONS | {"bn"}
WITH_ID |= BULK_ACTIONS


def parse(data: str | None) -> Press | None:
    """Callback data from Telegram (untrusted): `action` or `action:arg`; None when malformed."""
    if not data or len(data) > 64:
        return None
    action, _, arg = data.partition(":")
    if action not in ACTIONS:
        return None
    if action in WITH_ID and not re.fullmatch(_ROW, arg):
        return None
    if action in DESK_ARGS and not re.fullmatch(DESK_ARGS[action], arg):
        return None
    return Press(action, arg)


def _one(text: str, data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(text, callback_data=data)]])


def cancel(lang: str) -> InlineKeyboardMarkup:
    return _one(t(lang, "btn_cancel"), "cancel")


def new_qr(lang: str) -> InlineKeyboardMarkup:
    return _one(t(lang, "btn_new_qr"), "connect")


def retry_connect(lang: str) -> InlineKeyboardMarkup:
    return _one(t(lang, "btn_retry"), "connect")


def connect_again(lang: str, gateway: str) -> InlineKeyboardMarkup:
    return _one(t(lang, "btn_connect"), f"connect:{gateway}")


def send_again(lang: str, message_id: int) -> InlineKeyboardMarkup:
    return _one(t(lang, "btn_send_again"), f"again:{message_id}")


def recipients(choices: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    """/send NAME with several matches: one button per conversation (id, label)."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label[:60], callback_data=f"to:{cid}")] for cid, label in choices]
    )


def gateways(titles: dict[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(title, callback_data=f"connect:{name}")]
            for name, title in titles.items()
        ]
    )


def chats(lang: str, rows: list[tuple[WhatsAppChat, str]]) -> InlineKeyboardMarkup:
    """One row per chat: make it active, and mute or unmute its incoming messages."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(label[:60], callback_data=f"use:{chat.id}"),
                InlineKeyboardButton(
                    t(lang, "btn_unmute" if chat.muted else "btn_mute"),
                    callback_data=f"{'unmute' if chat.muted else 'mute'}:{chat.id}",
                ),
            ]
            for chat, label in rows
        ]
    )


def confirm_disconnect(lang: str, chat_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t(lang, "btn_yes_disconnect"), callback_data=f"disc!:{chat_id}"
                ),
                InlineKeyboardButton(t(lang, "btn_no"), callback_data="keep"),
            ]
        ]
    )


def desk_card(lang: str, contact_id: int, queued: bool, areas: bool) -> InlineKeyboardMarkup:
    """Take (and Area…) while the customer waits; Transfer and Close for their owner."""
    if queued:
        row = [InlineKeyboardButton(t(lang, "btn_take"), callback_data=f"dk:{contact_id}")]
        if areas:
            row.append(InlineKeyboardButton(t(lang, "btn_area"), callback_data=f"da:{contact_id}"))
    else:
        row = [
            InlineKeyboardButton(t(lang, "btn_transfer"), callback_data=f"dt:{contact_id}"),
            InlineKeyboardButton(t(lang, "btn_close"), callback_data=f"dc:{contact_id}"),
        ]
    return InlineKeyboardMarkup([row])


def desk_targets(
    lang: str, contact_id: int, members: list[tuple[int, str]], areas: list[tuple[int, str]]
) -> InlineKeyboardMarkup:
    """Transfer… / Area…: one button per member (👤) and per area (📥)."""
    rows = [
        [InlineKeyboardButton(f"👤 {name}"[:60], callback_data=f"dtm:{contact_id}:{user_id}")]
        for user_id, name in members
    ]
    rows += [
        [InlineKeyboardButton(f"📥 {name}"[:60], callback_data=f"dta:{contact_id}:{area_id}")]
        for area_id, name in areas
    ]
    return InlineKeyboardMarkup(rows)


def desk_members(lang: str, members: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t(lang, "btn_remove", name=name)[:60], callback_data=f"drm:{uid}"
                )
            ]
            for uid, name in members
        ]
    )


def bulk_prompt(lang: str, bulk_id: int) -> InlineKeyboardMarkup:
    return _one(t(lang, "btn_bulk_cancel"), f"bx:{bulk_id}")


def bulk_preview(lang: str, bulk_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(lang, "btn_bulk_start"), callback_data=f"bgo:{bulk_id}"),
                InlineKeyboardButton(t(lang, "btn_bulk_cancel"), callback_data=f"bx:{bulk_id}"),
            ]
        ]
    )


def bulk_controls(lang: str, bulk_id: int, state: BulkState) -> list[InlineKeyboardButton]:
    """A running bulk's buttons: Pause or Resume, and Stop; while Stop asks, Yes and No."""
    if state is BulkState.ASKING:
        return [
            InlineKeyboardButton(t(lang, "btn_bulk_stop_yes"), callback_data=f"bs!:{bulk_id}"),
            InlineKeyboardButton(t(lang, "btn_bulk_stop_no"), callback_data=f"bk:{bulk_id}"),
        ]
    if state is BulkState.PAUSED:
        first = InlineKeyboardButton(t(lang, "btn_bulk_resume"), callback_data=f"br:{bulk_id}")
    else:
        first = InlineKeyboardButton(t(lang, "btn_bulk_pause"), callback_data=f"bp:{bulk_id}")
    return [first, InlineKeyboardButton(t(lang, "btn_bulk_stop"), callback_data=f"bs:{bulk_id}")]


def bulk_progress(lang: str, bulk_id: int, state: BulkState) -> InlineKeyboardMarkup | None:
    if not state.is_active:
        return None
    return InlineKeyboardMarkup([bulk_controls(lang, bulk_id, state)])


def bulk_again(lang: str, bulk_id: int, unknown: int) -> InlineKeyboardMarkup:
    return _one(t(lang, "btn_bulk_again", count=unknown), f"ba:{bulk_id}")


def bulk_list(lang: str, rows: list[tuple[int, int, BulkState]]) -> InlineKeyboardMarkup:
    """/bulk while bulks run: each bulk's buttons (`rows`: its id, its number in the list and
    its state), and a new bulk send."""
    keyboard = []
    for bulk_id, number, state in rows:
        keyboard.append(
            [
                InlineKeyboardButton(
                    t(lang, "btn_bulk_item", number=number, action=button.text)[:60],
                    callback_data=button.callback_data,
                )
                for button in bulk_controls(lang, bulk_id, state)
            ]
        )
    keyboard.append([InlineKeyboardButton(t(lang, "btn_bulk_new"), callback_data="bn")])
    return InlineKeyboardMarkup(keyboard)


# Threads: Send again under a failed message written in a topic (a new outbox row), and the
# choice of a conversation for a topic the person made (the conversation's row id).
TOPIC_ACTIONS = {"tagain", "tbind"}
ACTIONS |= TOPIC_ACTIONS
WITH_ID |= TOPIC_ACTIONS


def send_again_topic(lang: str, message_id: int) -> InlineKeyboardMarkup:
    return _one(t(lang, "btn_send_again"), f"tagain:{message_id}")


def topic_choices(choices: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    """One button per conversation that could be the topic's."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label[:60], callback_data=f"tbind:{cid}")] for cid, label in choices]
    )
