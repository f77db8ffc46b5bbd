"""Bulk sends: /bulk asks for the list, then the text; the preview with Start and Cancel; Pause,
Resume and Stop (which asks once) on the progress message; /bulk while bulks run lists them with
their buttons (and a button for a new one). The person's next message after a question is its
answer (`take_input`, called by `messages.py` before anything else looks at a plain message),
also as a reply to the question; a reply to another message (an answer to a WhatsApp message)
is never taken for one. Everything else
is `bot/services/bulk.py` (the steps, the presses) and `bulk_view.py` (how it looks)."""

from __future__ import annotations

import html

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError
from telegram.ext import CommandHandler

from bot.services.bulk import BulkService, LineBusy, MissingFields
from bot.services.bulk_list import MAX_BYTES, ListRefusal, RecipientList
from bot.services.ports import BulkProgress, FileSource, FileTooBig, UiUnavailable
from bot.services.sender import ChatNotReady, NoActiveChat
from bot.storage.models import Bulk, BulkState, User
from bot.telegram import keyboards
from bot.telegram.bulk_view import preview_text, problem_lines, progress_line
from bot.telegram.files import attachment
from bot.telegram.handlers.common import (
    PRIVATE,
    App,
    Context,
    after_command,
    button_handler,
    lang_of_context,
    reply,
    take_press,
    typed,
    user_of,
)
from bot.telegram.texts import STATE_NAMES, Html, raw, t
from bot.telegram.views import chat_label

BUTTONS = keyboards.BULK_ACTIONS | {"bn"}


class BulkCommands:
    def __init__(self, bulks: BulkService, files: FileSource) -> None:
        self.bulks = bulks
        self.files = files

    def register(self, app: App) -> None:
        app.add_handler(CommandHandler("bulk", self.bulk, filters=PRIVATE))
        app.add_handler(button_handler(BUTTONS, self.button))

    async def bulk(self, update: Update, context: Context) -> None:
        """/bulk: the bulks that run (with their buttons), or a new one. `/bulk new` always
        starts one; `/bulk` followed by lines takes them as the list at once."""
        message, user = update.effective_message, user_of(context)
        if message is None:
            return
        pasted = after_command(message.text or "")
        if not pasted:
            running = await self.bulks.overview(user)
            if running:
                await self._list_running(message, lang_of_context(context), running)
                return
        bulk = await self._begin(update, context)
        if bulk is not None and pasted and pasted.strip().lower() != "new":
            await self._take_list(message, context, bulk, pasted, None)

    async def take_input(self, update: Update, context: Context) -> bool:
        """The person's message answers the bulk's question (its list, or its text); False when
        no bulk is waiting for one, or the message answers something else (a reply)."""
        message = update.effective_message
        if message is None:
            return False
        bulk = await self.bulks.waiting_input(user_of(context).id)
        if bulk is None:
            return False
        answered = message.reply_to_message
        if answered is not None and answered.message_id != bulk.progress_message_id:
            return False  # an answer to a WhatsApp message, not to the bulk's question
        if bulk.state is BulkState.LIST:
            await self._list_message(message, context, bulk)
        else:
            await self._text_message(message, context, bulk)
        return True

    # --- the steps

    async def _begin(self, update: Update, context: Context) -> Bulk | None:
        user, lang = user_of(context), lang_of_context(context)
        try:
            bulk = await self.bulks.begin(user)
        except NoActiveChat:
            await reply(update, t(lang, "send_no_chat"))
            return None
        except ChatNotReady as exc:
            state = raw(lang, STATE_NAMES, exc.chat.state)
            await reply(
                update, t(lang, "send_not_ready", chat=chat_label(lang, exc.chat), state=state)
            )
            return None
        except LineBusy:
            await reply(update, t(lang, "bulk_busy"))
            return None
        text = t(
            lang,
            "bulk_ask_list",
            chat=chat_label(lang, bulk.chat),
            limit=self.bulks.max_recipients,
        )
        message = update.effective_message
        if message is not None:
            asked = await message.reply_text(
                text, reply_markup=keyboards.bulk_prompt(lang, bulk.id), do_quote=False
            )
            await self.bulks.shown(bulk, asked.message_id)
        return bulk

    async def _list_message(self, message: Message, context: Context, bulk: Bulk) -> None:
        lang = lang_of_context(context)
        document = message.document
        if document is not None:
            if document.file_size is not None and document.file_size > MAX_BYTES:
                # Refused unread: a 10 MB file is never downloaded.
                await self._refused(message, lang, RecipientList(), ListRefusal.TOO_BIG, bulk)
                return
            try:
                data = await self.files.fetch(document.file_id)
            except FileTooBig:
                await self._refused(message, lang, RecipientList(), ListRefusal.TOO_BIG, bulk)
                return
            except UiUnavailable:
                await message.reply_text(t(lang, "bulk_list_kind"), do_quote=False)
                return
            await self._take_list(message, context, bulk, data, document.file_name)
        elif message.text:
            await self._take_list(message, context, bulk, typed(message.text), None)
        else:
            await message.reply_text(
                t(lang, "bulk_list_kind"),
                reply_markup=keyboards.bulk_prompt(lang, bulk.id),
                do_quote=False,
            )

    async def _take_list(
        self,
        message: Message,
        context: Context,
        bulk: Bulk,
        data: bytes | str,
        file_name: str | None,
    ) -> None:
        lang = lang_of_context(context)
        found = await self.bulks.take_list(bulk, data, file_name)
        if found.refusal is not None:
            await self._refused(message, lang, found, found.refusal.reason, bulk)
            return
        names = ", ".join(f"<code>{{{html.escape(name)}}}</code>" for name in found.field_names)
        fields = (
            t(lang, "bulk_fields_named", names=Html(names))
            if names
            else t(lang, "bulk_fields_none")
        )
        text = t(lang, "bulk_ask_text", count=len(found.recipients), fields=Html(fields))
        asked = await message.reply_text(
            text, reply_markup=keyboards.bulk_prompt(lang, bulk.id), do_quote=False
        )
        await self.bulks.shown(bulk, asked.message_id)

    async def _refused(
        self,
        message: Message,
        lang: str,
        found: RecipientList,
        reason: ListRefusal,
        bulk: Bulk,
    ) -> None:
        """A list that cannot be sent, in words (with its unreadable lines when that is why);
        the bulk still waits for a list."""
        refusal = found.refusal
        count, limit = (refusal.count, refusal.limit) if refusal else (0, MAX_BYTES)
        if reason is ListRefusal.TOO_BIG:
            limit = limit // 2**20
        lines = []
        if found.problems or found.duplicates or found.opted_out:
            shown = found.problems[:10]
            lines += problem_lines(lang, shown, len(found.problems), self.bulks.region)
            if found.duplicates:
                lines.append(t(lang, "bulk_duplicates", count=len(found.duplicates)))
            if found.opted_out:
                lines.append(t(lang, "bulk_opted_out", count=len(found.opted_out)))
            lines.append("")
        lines.append(t(lang, f"bulk_refused_{reason.value}", count=count, limit=limit))
        lines.append(t(lang, "bulk_list_again"))
        await message.reply_text(
            "\n".join(lines), reply_markup=keyboards.bulk_prompt(lang, bulk.id), do_quote=False
        )

    async def _text_message(self, message: Message, context: Context, bulk: Bulk) -> None:
        lang = lang_of_context(context)
        file = None
        if message.text is not None:
            text = typed(message.text)
        else:
            found = attachment(message)
            if found is None:
                await message.reply_text(t(lang, "bulk_text_kind"), do_quote=False)
                return
            if found.too_big:
                await message.reply_text(t(lang, "file_too_big"), do_quote=False)
                return
            text, file = typed(message.caption or ""), found.file
        try:
            preview = await self.bulks.take_text(bulk, text, file)
        except MissingFields as exc:
            missing = ", ".join(f"{{{name}}}" for name in exc.missing)
            names = ", ".join(f"{{{name}}}" for name in exc.names) or "—"
            words = t(lang, "bulk_missing_fields", fields=missing, names=names)
            await message.reply_text(
                f"{words}\n{t(lang, 'bulk_text_again')}",
                reply_markup=keyboards.bulk_prompt(lang, bulk.id),
                do_quote=False,
            )
            return
        shown = await message.reply_text(
            preview_text(lang, preview),
            reply_markup=keyboards.bulk_preview(lang, bulk.id),
            do_quote=False,
        )
        await self.bulks.shown(bulk, shown.message_id)

    # --- the buttons

    async def button(self, update: Update, context: Context) -> None:
        taken = await take_press(update)
        if taken is None:
            return
        press, message = taken
        user, lang = user_of(context), lang_of_context(context)
        if press.action == "bn":
            await self._begin(update, context)
            return
        bulk_id = int(press.arg)
        try:
            await self._press(press.action, bulk_id, user, lang, message)
        except LineBusy:
            await message.reply_text(t(lang, "bulk_busy"), do_quote=False)
        except ChatNotReady as exc:
            state = raw(lang, STATE_NAMES, exc.chat.state)
            text = t(lang, "send_not_ready", chat=chat_label(lang, exc.chat), state=state)
            await message.reply_text(text, do_quote=False)
        if press.action in ("bp", "br", "bs", "bs!", "bk"):
            await self._refresh_list(message, user, lang, bulk_id)

    async def _press(
        self, action: str, bulk_id: int, user: User, lang: str, message: Message
    ) -> None:
        if action == "bgo":
            # The preview becomes the progress message (the runner edits it at once). Pressed
            # twice, it starts once; a preview cancelled or too old says so.
            if await self.bulks.start(user, bulk_id) is None and not await _started(user, bulk_id):
                await _edit(message, t(lang, "bulk_gone"))
        elif action == "bx":
            if await self.bulks.cancel(user, bulk_id):
                await _edit(message, t(lang, "bulk_cancelled"))
        elif action == "bp":
            await self.bulks.pause(user, bulk_id)
        elif action == "br":
            await self.bulks.resume(user, bulk_id)
        elif action == "bs":
            await self.bulks.ask_stop(user, bulk_id)
        elif action == "bk":
            await self.bulks.keep(user, bulk_id)
        elif action == "bs!":
            await self.bulks.stop(user, bulk_id)
        elif action == "ba" and await self.bulks.send_again_unknown(user, bulk_id) is None:
            await message.reply_text(t(lang, "bulk_again_none"), do_quote=False)

    async def _refresh_list(self, message: Message, user: User, lang: str, bulk_id: int) -> None:
        """A press on the /bulk list (not on a progress message): the list shows the news."""
        bulk = await Bulk.get_or_none(id=bulk_id, owner_id=user.id)
        if bulk is None or bulk.progress_message_id == message.message_id:
            return  # the progress message itself: its runner answers the press
        running = await self.bulks.overview(user)
        if running:
            text, markup = _running_list(lang, running)
            await _edit(message, text, markup)
        else:
            await _edit(message, t(lang, "bulk_running_head") + "\n—")

    async def _list_running(
        self, message: Message, lang: str, running: list[tuple[Bulk, BulkProgress]]
    ) -> None:
        text, markup = _running_list(lang, running)
        await message.reply_text(text, reply_markup=markup, do_quote=False)


def _running_list(
    lang: str, running: list[tuple[Bulk, BulkProgress]]
) -> tuple[str, InlineKeyboardMarkup]:
    """/bulk while bulks run: each with its line, its state and its progress line."""
    lines = [t(lang, "bulk_running_head")]
    rows = []
    for number, (bulk, progress) in enumerate(running, 1):
        state = t(lang, f"bulk_state_{bulk.state.value}")
        chat = chat_label(lang, bulk.chat)
        lines += ["", t(lang, "bulk_running_item", number=number, chat=chat, state=state)]
        lines.append(progress_line(lang, progress))
        rows.append((bulk.id, number, bulk.state))
    return "\n".join(lines), keyboards.bulk_list(lang, rows)


async def _started(user: User, bulk_id: int) -> bool:
    bulk = await Bulk.get_or_none(id=bulk_id, owner_id=user.id)
    return bulk is not None and not bulk.state.is_draft


async def _edit(message: Message, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramError:  # deleted, or too old to edit: say it in a new message
        await message.reply_text(text, reply_markup=markup, do_quote=False)
