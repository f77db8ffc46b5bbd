"""How an incoming WhatsApp message looks in Telegram (the services' InboxView).

One Telegram message per WhatsApp message: a sender line (name and phone; in a group, the group
and the author), then the text exactly as written (HTML-escaped, so `<b>` or `*_[` show as typed).
Files arrive as the matching kind (photo, video, document, voice, audio) with the caption; a text
too long for one Telegram message arrives as a .txt document; kinds Telegram has no match for
(location, contact card, sticker, call, …) arrive as a line that says what it was.

When Telegram refuses a message (a file it cannot take, formatting it does not parse), the same
message is tried in a plainer form: as a document, then as text; only when even that is refused
is it `Undeliverable`. Network trouble is `UiUnavailable` (the service holds the message and tries
again); a person who blocked the bot is `UserUnreachable`.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable

from telegram import Bot, InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.gateways.base import Download, MessageKind
from bot.services.phones import pretty
from bot.services.ports import DeskButtons, Undeliverable
from bot.storage.models import IncomingMessage
from bot.telegram import keyboards
from bot.telegram.texts import t
from bot.telegram.views import post

log = logging.getLogger(__name__)

MAX_TEXT = 4096  # Telegram's limit for one message (UTF-16 code units, after entity parsing)
MAX_CAPTION = 1024
MAX_PHOTO = 10 * 1024 * 1024  # larger images go as documents
# Bidirectional overrides and isolates: in a name they could reorder the sender line.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class TelegramInbox:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def forward(
        self,
        user_id: int,
        lang: str,
        message: IncomingMessage,
        file: Download | None,
        problem: str,
        buttons: DeskButtons | None = None,
        thread: int | None = None,
    ) -> int:
        header = sender_line(lang, message)
        markup = (
            keyboards.desk_card(lang, buttons.contact_id, buttons.queued, buttons.areas)
            if buttons
            else None
        )
        if message.kind.has_file and file is not None:
            return await self._file(user_id, lang, message, header, file, markup, thread)
        body = _body(lang, message, problem)
        return await self._text(user_id, lang, header, body, message.text, markup, thread)

    async def _text(
        self,
        user_id: int,
        lang: str,
        header: str,
        body: str,
        full: str,
        markup: InlineKeyboardMarkup | None = None,
        thread: int | None = None,
    ) -> int:
        text = f"{header}\n{body}"
        if _length(_plain(text)) <= MAX_TEXT:
            return await self._plainer(
                user_id,
                thread,
                lambda: self.bot.send_message(
                    user_id,
                    text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                    message_thread_id=thread,
                ),
                lambda: self.bot.send_message(
                    user_id,
                    _plain(text),
                    parse_mode=None,
                    reply_markup=markup,
                    message_thread_id=thread,
                ),
            )
        # Too long for one message: the whole text as a file, the sender line as its caption.
        caption = f"{header}\n{t(lang, 'inbox_long', size=len(full))}"
        data = full.encode("utf-8")
        return await self._plainer(
            user_id,
            thread,
            lambda: self.bot.send_document(
                user_id,
                data,
                filename="message.txt",
                caption=caption,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                message_thread_id=thread,
            ),
            lambda: self.bot.send_document(
                user_id,
                data,
                filename="message.txt",
                caption=_plain(caption),
                parse_mode=None,
                reply_markup=markup,
                message_thread_id=thread,
            ),
        )

    async def _file(
        self,
        user_id: int,
        lang: str,
        message: IncomingMessage,
        header: str,
        file: Download,
        markup: InlineKeyboardMarkup | None,
        thread: int | None,
    ) -> int:
        caption = _caption(lang, header, message.text)
        name = _file_name(message, file)
        kind = message.kind
        if kind is MessageKind.IMAGE and len(file.data) > MAX_PHOTO:
            kind = MessageKind.DOCUMENT
        senders: dict[MessageKind, Callable[..., Awaitable[Message]]] = {
            MessageKind.IMAGE: self.bot.send_photo,
            MessageKind.VIDEO: self.bot.send_video,
            MessageKind.VOICE: self.bot.send_voice,
            MessageKind.AUDIO: self.bot.send_audio,
        }
        # The matching kind first; if Telegram refuses it, as a document; then in words.
        for send in dict.fromkeys(
            [senders.get(kind, self.bot.send_document), self.bot.send_document]
        ):
            try:
                sent = await post(
                    self.bot,
                    user_id,
                    thread,
                    send(
                        user_id,
                        file.data,
                        filename=name,
                        caption=caption,
                        parse_mode=ParseMode.HTML,
                        reply_markup=markup,
                        message_thread_id=thread,
                    ),
                )
                return sent.message_id
            except BadRequest as exc:
                log.info("inbox: a %s was refused (%s)", kind, exc.message)
        body = _file_problem(lang, message, "refused")
        return await self._text(user_id, lang, header, body, message.text, markup, thread)

    async def _plainer(
        self,
        user_id: int,
        thread: int | None,
        formatted: Callable[[], Awaitable[Message]],
        plain: Callable[[], Awaitable[Message]],
    ) -> int:
        """Send with HTML; if Telegram refuses it, once more as plain text. In a topic that is
        no more: TopicGone (see `topics.post`)."""
        try:
            return (await post(self.bot, user_id, thread, formatted())).message_id
        except BadRequest as exc:
            log.info("inbox: refused with formatting (%s); sending plain", exc.message)
        try:
            return (await post(self.bot, user_id, thread, plain())).message_id
        except BadRequest as exc:
            raise Undeliverable(exc.message) from None


def sender_line(lang: str, message: IncomingMessage) -> str:
    name = clean_name(message.sender_name) or t(lang, "unnamed")
    phone = pretty(message.sender) if message.sender else t(lang, "no_phone")
    if message.group_name or message.conversation.endswith("@g.us"):
        group = clean_name(message.group_name) or "WhatsApp"
        return t(lang, "inbox_from_group", group=group, name=name, phone=phone)
    return t(lang, "inbox_from", name=name, phone=phone)


def clean_name(name: str | None) -> str:
    """A name as shown on the sender line: one line, no direction overrides, at most 64 chars."""
    return " ".join(_CONTROL.sub(" ", _BIDI.sub("", name or "")).split())[:64]


def _body(lang: str, message: IncomingMessage, problem: str) -> str:
    text = html.escape(message.text, quote=False)
    kind = message.kind
    if kind.has_file:
        return _file_problem(lang, message, problem)
    if kind is MessageKind.TEXT:
        return text if message.text else t(lang, "inbox_empty")
    line = t(lang, f"inbox_{kind}", details=message.details or "?")
    return f"{line}\n{text}" if message.text else line


def _file_problem(lang: str, message: IncomingMessage, problem: str) -> str:
    line = t(
        lang,
        "inbox_file_problem",
        kind=t(lang, f"kind_{message.kind}"),
        reason=t(lang, f"media_{problem or 'unavailable'}"),
    )
    return f"{line}\n{html.escape(message.text, quote=False)}" if message.text else line


def _caption(lang: str, header: str, text: str) -> str:
    """The sender line and the file's caption, cut to Telegram's 1024 characters."""
    room = MAX_CAPTION - _length(_plain(header)) - 1
    if _length(text) > room:
        note = t(lang, "inbox_cut", size=len(text))
        text = _cut(text, room - _length(_plain(note)) - 1) + note
    escaped = html.escape(text, quote=False)
    return f"{header}\n{escaped}" if text else header


def _file_name(message: IncomingMessage, file: Download) -> str:
    name = clean_name(message.file_name or file.name).replace("/", "_")
    if name:
        return name
    defaults = {
        MessageKind.IMAGE: "photo.jpg",
        MessageKind.VIDEO: "video.mp4",
        MessageKind.VOICE: "voice.ogg",
        MessageKind.AUDIO: "audio.mp3",
    }
    return defaults.get(message.kind, "file.bin")


def _plain(html_text: str) -> str:
    """What Telegram shows of an HTML text (tags gone, entities decoded): for measuring."""
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


def _length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, units: int) -> str:
    """The longest start of `text` within `units` UTF-16 code units."""
    out, used = [], 0
    for ch in text:
        used += _length(ch)
        if used > units:
            break
        out.append(ch)
    return "".join(out)
