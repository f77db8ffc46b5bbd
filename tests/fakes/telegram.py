"""A fake Telegram Bot API server for end-to-end tests with the real python-telegram-bot.

Point PTB at it with ``Bot(token, base_url=fake.api_url, base_file_url=fake.file_url)`` (or the
same two options on ``ApplicationBuilder``).  The fake speaks HTTP exactly like
``api.telegram.org`` does for the methods a chat bot uses, so PTB's own request encoding,
``de_json`` parsing and error mapping (``BadRequest``, ``Forbidden``, ``RetryAfter`` …) are all
exercised for real.

The test drives it from the pytest thread:

* a person acts with :meth:`FakeTelegram.send_text`, ``send_photo`` / ``send_document`` /
  ``send_voice`` / ``send_audio`` / ``send_video``, :meth:`FakeTelegram.press` or
  :meth:`FakeTelegram.send_update` (these queue an ``Update`` that ``getUpdates`` delivers, or
  the webhook while one is set; the bot can ``getFile`` and download what a person sent);
* the bot's output is inspected with :meth:`FakeTelegram.messages`,
  :meth:`FakeTelegram.messages_of_kind`, :meth:`FakeTelegram.last`,
  :meth:`FakeTelegram.wait_message`, :attr:`FakeTelegram.calls` …; every :class:`FakeMessage`
  has a ``kind`` ("text", "photo", "document", "video", "voice", "audio") and its media bytes;
* faults are injected with :meth:`FakeTelegram.fail_next`, :meth:`FakeTelegram.set_delay`,
  :meth:`FakeTelegram.drop_connection_next`, :meth:`FakeTelegram.block`,
  :meth:`FakeTelegram.set_down` (an outage of the whole API) and
  :meth:`FakeTelegram.redeliver` (the webhook sends a confirmed update again).

Webhook mode: after ``setWebhook`` the fake POSTs every queued update (of the allowed types) to
the URL from its own loop, as Telegram does: the JSON ``Update`` with ``Content-Type:
application/json`` and, when a ``secret_token`` was set, the header
``X-Telegram-Bot-Api-Secret-Token``.  A 2xx answer confirms the update; any other status, a
refused or dropped connection, or no answer within :attr:`FakeTelegram.webhook_timeout` is
reported by ``getWebhookInfo`` (``last_error_message`` "Wrong response from the webhook: 500
Internal Server Error", "Connection refused", "Read timeout expired") and the update is sent
again after :attr:`FakeTelegram.webhook_retry_seconds` (Telegram backs off up to a minute or two
and keeps trying for a day; tests want speed).  An update answered too late was possibly handled
anyway and comes again, so a bot must be idempotent.  Every attempt is in
:attr:`FakeTelegram.webhook_deliveries`.  ``getUpdates`` answers 409 Conflict while a webhook is
set (a held one ends with "terminated by setWebhook request"); ``deleteWebhook`` stops the
pushes and the pending updates wait for ``getUpdates``; ``set_down`` pauses the pushes.
Deliberate differences: updates go out one at a time, oldest first (Telegram keeps one queue per
chat and up to ``max_connections`` requests in flight, which is stored and reported only); the
fake reaches loopback only, so it accepts ``http://`` or ``https://`` URLs on 127.0.0.1,
localhost or [::1] on any port (Telegram requires HTTPS on ports 80, 88, 443 or 8443, refuses
reserved addresses such as 127.0.0.1 and checks the certificate; the fake does not verify it), and
answers any other host the way Telegram answers one it cannot resolve; ``ip_address`` is stored
and reported but not used to connect; a ``method`` in the webhook's answer is not executed; a
webhook answering 410 is never closed; ``setWebhook`` is not limited to one call a second.

Behaviour follows the real Bot API where it matters to a bot: updates stay queued until a later
``getUpdates`` confirms them with ``offset``; ``getUpdates`` long-polls; ``parse_mode`` text is
parsed (and rejected) the way Telegram does and stored as plain text plus entities; editing a
message without ``reply_markup`` removes its keyboard; unchanged edits answer "message is not
modified"; the error descriptions are Telegram's.  The size limits are the real ones and are class
attributes a test may lower (``monkeypatch.setattr(FakeTelegram, "max_upload", 4096)``):
``max_upload`` (50 MB: a bigger request answers 413 "Request Entity Too Large"), ``max_photo``
(10 MB per sendPhoto upload) and ``max_download`` (20 MB: a bigger file's ``getFile`` answers
"file is too big"; the size a person's file claims can be set without sending that many bytes).

Topics in private chats (Bot API 9.3-10.0, "threaded mode"; after the team's research notes
telegram-topics.md, the error texts as telegram-bot-api's Client.cpp and TDLib write them):

* the mode is the owner's switch, ``FakeTelegram(threaded=True)`` or :meth:`set_threaded` at run
  time (off by default); getMe reports ``has_topics_enabled`` and
  ``allows_users_to_create_topics`` (both false while it is off);
* the bot: ``createForumTopic`` (TDLib's name cleaning, cut to 128 characters; the six icon
  colours), ``editForumTopic``, ``deleteForumTopic`` (the topic and all its messages),
  ``unpinAllForumTopicMessages`` (checks the topic; pins aren't modelled), and
  ``closeForumTopic``/``reopenForumTopic``, which private chats refuse; ``message_thread_id`` on
  sendMessage/sendPhoto/sendDocument/sendVideo/sendVoice/sendAudio, checked like the Bot API
  (junk or <= 0 ignored; an unknown or deleted topic, or threaded mode off: "message thread not
  found"), on sendChatAction never checked (tdlib/telegram-bot-api#732); a reply without
  message_thread_id to a topic message lands in that topic, a reply across topics arrives as
  ``external_reply``; the message keeps its topic through edits (``FakeMessage.thread_id``);
  ``setMessageReaction`` with Telegram's emoji list, recorded per message
  (:meth:`reactions`);
* the user: ``send_text(..., thread=…)`` (and every ``send_*``), :meth:`create_topic`
  (``forum_topic_created``), :meth:`rename_topic` (``forum_topic_edited``),
  :meth:`delete_topic` (no update, as in reality); observed with :meth:`topics`,
  :meth:`wait_topic`, ``messages(..., thread=…)`` and ``wait_message(..., thread=…)`` (thread 0
  = outside every topic);
* thread ids come from the user's side of the chat (a counter from ``USER_SIDE_FIRST_ID``), so
  they differ from the message_id of the ``forum_topic_created`` message, as in reality;
* server bugs to switch on: :meth:`set_deleted_topic_bug` (#854: a send to a deleted topic lands
  in the main chat without error and without message_thread_id) and :meth:`set_topic_outage`
  (#847: every send into a topic fails, createForumTopic answers BOT_FORUM_CREATE_FORBIDDEN).

Not covered: forum supergroups (a thread id in a group is ignored, as in a non-forum group) and
the General topic, getForumTopicIconStickers (custom emoji icon ids are stored, not checked),
sendMediaGroup/copyMessage/forwardMessage and sendMessageDraft (the fake has none), pins,
the 60-second topic cache of the real server (a just-deleted topic may still pass; see the
#854 switch instead), ``message_reaction`` updates (the user reacting), the rate limits.

Threading: the server runs on its own loop/thread (``BackgroundServer``).  All state is guarded
by one re-entrant lock, so the public methods may be called from any thread; the getters return
snapshots (copies), never live objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import io
import ipaddress
import itertools
import json
import os
import re
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from PIL import Image, UnidentifiedImageError

from tests.fakes.server import BackgroundServer

T = TypeVar("T")
JSON = dict[str, Any]

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
BLOCKED = "Forbidden: bot was blocked by the user"
# api.telegram.org's front end refuses a too big request before the Bot API reads it (HTTP 413).
REQUEST_TOO_LARGE = "Request Entity Too Large"
FILE_TOO_BIG = "Bad Request: file is too big"  # getFile of a file over 20 MB
MAX_TEXT = 4096
MAX_CAPTION = 1024
MB = 1024 * 1024

# Topics in private chats (telegram-bot-api Client.cpp, TDLib ForumTopicManager.cpp; see the
# "Topics" section of the module docstring).
THREAD_NOT_FOUND = "Bad Request: message thread not found"
NOT_A_FORUM = "Bad Request: the chat is not a forum"
NOT_A_SUPERGROUP_FORUM = "Bad Request: the chat is not a supergroup forum"
TOPIC_ID_INVALID = "Bad Request: TOPIC_ID_INVALID"
TOPIC_NOT_MODIFIED = "Bad Request: TOPIC_NOT_MODIFIED"
# What createForumTopic answered during the Bot API 10.0 regression (tdlib/telegram-bot-api#847).
BOT_FORUM_CREATE_FORBIDDEN = "Bad Request: BOT_FORUM_CREATE_FORBIDDEN"
MAX_TOPIC_NAME = 128
# The six icon colours Telegram offers; an omitted (0) colour comes back as the first.
TOPIC_ICON_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)
# The fake allocates thread ids from the user's side of the private chat (its own counter, one
# step per message of the chat, from here) so that they never equal the message_id the bot sees
# for the forum_topic_created message: the bot must use message_thread_id, never message_id.
USER_SIDE_FIRST_ID = 100_001
# The emoji a bot may react with (Bot API "ReactionTypeEmoji", 10.1).  Compared without U+FE0F,
# so python-telegram-bot's ReactionEmoji spellings ("❤️‍🔥" with VS16) are accepted too.
REACTION_EMOJI = frozenset([
    "❤", "👍", "👎", "🔥", "🥰", "👏", "😁", "🤔", "🤯", "😱", "🤬", "😢", "🎉", "🤩", "🤮", "💩",
    "🙏", "👌", "🕊", "🤡", "🥱", "🥴", "😍", "🐳", "❤\u200d🔥", "🌚", "🌭", "💯", "🤣", "⚡", "🍌",
    "🏆", "💔", "🤨", "😐", "🍓", "🍾", "💋", "🖕", "😈", "😴", "😭", "🤓", "👻", "👨\u200d💻", "👀",
    "🎃", "🙈", "😇", "😨", "🤝", "✍", "🤗", "🫡", "🎅", "🎄", "☃", "💅", "🤪", "🗿", "🆒", "💘",
    "🙉", "🦄", "😘", "💊", "🙊", "😎", "👾", "🤷\u200d♂", "🤷", "🤷\u200d♀", "😡",
])  # fmt: skip

# What a message is, as FakeMessage.kind; every kind but "text" is also the Message field
# holding the media object (a PhotoSize list for "photo").
MessageKind = Literal["text", "photo", "document", "video", "voice", "audio"]
# How often a held request re-checks for a gone client / shutdown (aiohttp does not cancel
# handlers when the client disconnects).
_POLL_SLICE = 0.2


# --------------------------------------------------------------------------- public records


@dataclass
class Upload:
    """A file part of a multipart request."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Call:
    """One HTTP request the bot made.

    ``params`` are decoded (ints, bools and JSON fields as Python values); ``status`` is the HTTP
    status answered (0 = no answer: connection dropped or client gone); ``at`` is
    ``time.monotonic()`` when the request arrived.
    """

    method: str
    params: dict[str, Any]
    status: int
    at: float
    description: str | None = None
    result: Any = None
    files: dict[str, Upload] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST of an update to the webhook.

    ``status`` is the HTTP status the webhook answered (0 = no answer: connection refused or
    dropped, or ``webhook_timeout`` passed); ``error`` is what ``getWebhookInfo`` reports as
    ``last_error_message`` for this attempt (None when it confirmed the update, i.e. answered
    2xx); ``at`` is ``time.monotonic()`` when the attempt started.
    """

    update_id: int
    status: int
    error: str | None
    at: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299


@dataclass
class FakeMessage:
    """A message the bot sent (state as of the snapshot).

    ``kind`` says what it is; ``data`` holds the bytes of its media whatever the kind (``photo``
    and ``document`` also hold them for those two kinds), ``file_name``/``mime_type`` what the
    message's media object says.  ``text``/``caption`` are the plain text Telegram stores
    (``parse_mode`` markup removed, formatting moved into ``entities``); ``raw`` is what the bot
    sent.  ``history[0]`` is the original content and every edit appends a snapshot.
    ``thread_id`` is the private-chat topic the message landed in (None: the main chat).
    """

    message_id: int
    chat_id: int
    text: str | None = None
    caption: str | None = None
    photo: bytes | None = None
    photos: list[bytes] = field(default_factory=list)
    reply_markup: JSON | None = None
    parse_mode: str | None = None
    entities: list[JSON] = field(default_factory=list)
    deleted: bool = False
    edits: int = 0
    reply_to_message_id: int | None = None
    history: list[JSON] = field(default_factory=list)
    raw: str | None = None
    document: bytes | None = None
    document_name: str | None = None
    date: int = 0
    edit_date: int | None = None
    file_id: str | None = None
    # The Bot API media object (a PhotoSize list for photos), for rendering.
    media_json: JSON | list[JSON] | None = field(default=None, repr=False)
    kind: MessageKind = "text"
    data: bytes | None = field(default=None, repr=False)
    file_name: str | None = None
    mime_type: str | None = None
    thread_id: int | None = None

    @property
    def content(self) -> str:
        """Text or caption, whichever the message has ('' if none)."""
        return self.text if self.text is not None else (self.caption or "")

    @property
    def buttons(self) -> list[tuple[str, str | None]]:
        """All keyboard buttons, flattened: (text, callback_data or url or None)."""
        markup = self.reply_markup or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        result: list[tuple[str, str | None]] = []
        for row in rows:
            for button in row:
                if isinstance(button, str):
                    result.append((button, None))
                    continue
                value = button.get("callback_data", button.get("url"))
                result.append((str(button.get("text", "")), value))
        return result

    def button_data(self, label: str) -> str:
        """callback_data (or url) of the first button whose text contains `label` (any case)."""
        for text, value in self.buttons:
            if label.lower() in text.lower() and value is not None:
                return value
        raise AssertionError(f"no button {label!r} in message {self.message_id}: {self.buttons}")


@dataclass
class FakeTopic:
    """A topic of a user's private chat with the bot (threaded mode).

    ``thread_id`` is its message_thread_id; ``created_by`` says who made it ("bot" through
    createForumTopic, "user" through :meth:`FakeTelegram.create_topic`); ``names`` is every name
    it had, oldest first (``name`` is the current one); ``deleted_by`` says who deleted it.
    ``service_message_id`` is the bot-side message_id of its forum_topic_created message, which
    is not the thread id.
    """

    thread_id: int
    chat_id: int
    name: str
    icon_color: int
    created_by: Literal["bot", "user"]
    service_message_id: int
    icon_custom_emoji_id: str | None = None
    is_name_implicit: bool = False
    names: list[str] = field(default_factory=list)
    deleted_by: Literal["bot", "user"] | None = None

    @property
    def deleted(self) -> bool:
        return self.deleted_by is not None


class ApiError(Exception):
    """An error answer of the Bot API (becomes ``{"ok": false, ...}``)."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


class _ClientGone(Exception):
    """The client closed the connection while its request was held."""


# --------------------------------------------------------------------------- text formatting


class EntityParseError(Exception):
    pass


def utf16_len(text: str) -> int:
    """Telegram measures entity offsets/lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(src: str, index: int) -> int:
    return len(src[:index].encode())


class _Builder:
    """Accumulates output text while tracking its UTF-16 length."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.pos += utf16_len(text)

    def text(self) -> str:
        return "".join(self.parts)


@dataclass
class _Open:
    tag: str
    start: int  # UTF-16 offset in the output
    begin: int  # index in the source, for error messages
    arg: str = ""
    expandable: bool = False


_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _is_ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _decode_html_entity(src: str, i: int) -> tuple[str, int] | None:
    """Decode the character reference starting at ``src[i] == '&'`` like tdlib does.

    Only &lt; &gt; &amp; &quot; and numeric references are known; anything else stays literal.
    The trailing ';' is optional.  Returns (character, index after it) or None.
    """
    n = len(src)
    j = i + 1
    if j < n and src[j] == "#":
        j += 1
        hexadecimal = j < n and src[j] == "x"
        if hexadecimal:
            j += 1
        start = j
        digits = "0123456789abcdefABCDEF" if hexadecimal else "0123456789"
        while j < n and src[j] in digits:
            j += 1
        code = int(src[start:j], 16 if hexadecimal else 10) if j > start else 0
        if code == 0 or code >= 0x10FFFF or 0xD800 <= code <= 0xDFFF or j - i >= 10:
            return None
        char = chr(code)
    else:
        while j < n and src[j].isascii() and src[j].isalpha():
            j += 1
        named = _HTML_NAMED.get(src[i + 1 : j])
        if named is None:
            return None
        char = named
    if j < n and src[j] == ";":
        j += 1
    return char, j


def parse_html(src: str) -> tuple[str, list[JSON]]:
    """Telegram's HTML parse_mode: returns (plain text, entities) or raises EntityParseError."""
    out = _Builder()
    stack: list[_Open] = []
    entities: list[JSON] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "&":
            decoded = _decode_html_entity(src, i)
            if decoded is not None:
                out.add(decoded[0])
                i = decoded[1]
            else:
                out.add(c)
                i += 1
            continue
        if c != "<":
            j = i + 1
            while j < n and src[j] not in "<&":
                j += 1
            out.add(src[i:j])
            i = j
            continue
        begin = i
        if i + 1 < n and src[i + 1] == "/":
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {_byte_offset(src, i)}")
            i += 2
            start = i
            while i < n and (_is_ascii_alnum(src[i]) or src[i] in "_-"):
                i += 1
            end_name = src[start:i].lower()
            while i < n and src[i].isspace():
                i += 1
            if i >= n or src[i] != ">":
                raise EntityParseError(
                    f"Unclosed end tag at byte offset {_byte_offset(src, begin)}"
                )
            opened = stack[-1]
            if end_name and end_name != opened.tag:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(src, begin)}, "
                    f'expected "</{opened.tag}>", found "</{end_name}>"'
                )
            stack.pop()
            _close_html_entity(opened, out.pos, stack, entities)
            i += 1
            continue
        i += 1
        start = i
        while i < n and not src[i].isspace() and src[i] != ">":
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(src, begin)}")
        tag = src[start:i].lower()
        if tag not in _HTML_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{tag}" at byte offset {_byte_offset(src, begin)}'
            )
        opened = _Open(tag, out.pos, begin)
        i = _parse_html_attributes(src, i, opened)
        if tag == "span" and opened.arg != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(src, begin)}'
            )
        stack.append(opened)
        i += 1  # the '>'
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return out.text(), entities


def _parse_html_attributes(src: str, i: int, opened: _Open) -> int:
    """Parse attributes from ``src[i]`` up to the closing '>'; returns the index of the '>'."""
    n = len(src)
    tag = opened.tag
    where = f"at byte offset {_byte_offset(src, opened.begin)}"
    while True:
        while i < n and src[i].isspace():
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag {where}")
        if src[i] == ">":
            return i
        attr_start = i
        while i < n and not src[i].isspace() and src[i] not in "=>":
            i += 1
        attr = src[attr_start:i].lower()
        if not attr:
            raise EntityParseError(f'Empty attribute name in the tag "{tag}" {where}')
        while i < n and src[i].isspace():
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag {where}")
        if src[i] != "=":
            if tag == "blockquote" and attr == "expandable":
                opened.expandable = True
                continue
            raise EntityParseError(
                f'Expected equal sign in declaration of an attribute of the tag "{tag}" {where}'
            )
        i += 1
        while i < n and src[i].isspace():
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag {where}")
        if src[i] not in "'\"":
            value_start = i
            while i < n and (_is_ascii_alnum(src[i]) or src[i] in ".-"):
                i += 1
            value = src[value_start:i].lower()
            if i >= n or (not src[i].isspace() and src[i] != ">"):
                raise EntityParseError(
                    f"Unexpected end of name token at byte offset {_byte_offset(src, value_start)}"
                )
        else:
            quote = src[i]
            i += 1
            parts: list[str] = []
            while i < n and src[i] != quote:
                decoded = _decode_html_entity(src, i) if src[i] == "&" else None
                if decoded is not None:
                    parts.append(decoded[0])
                    i = decoded[1]
                else:
                    parts.append(src[i])
                    i += 1
            if i >= n:
                raise EntityParseError(f"Unclosed start tag {where}")
            i += 1
            value = "".join(parts)
        if (
            (tag == "a" and attr == "href")
            or (tag == "span" and attr == "class")
            or (tag == "tg-emoji" and attr == "emoji-id")
        ):
            opened.arg = value
        elif tag == "code" and attr == "class" and value.startswith("language-"):
            opened.arg = value.removeprefix("language-")


def _close_html_entity(opened: _Open, end: int, stack: list[_Open], out: list[JSON]) -> None:
    kind = _HTML_TAGS[opened.tag]
    # <pre><code class="language-x"> is one pre entity with a language.
    parent = stack[-1] if stack else None
    if (
        kind == "code"
        and opened.arg
        and parent
        and (parent.tag, parent.start) == ("pre", opened.start)
    ):
        parent.arg = opened.arg
        return
    length = end - opened.start
    if length <= 0:
        return
    entity: JSON = {"type": kind, "offset": opened.start, "length": length}
    if kind == "text_link":
        if not opened.arg:
            return
        entity["url"] = opened.arg
    elif kind == "pre" and opened.arg:
        entity["language"] = opened.arg
    elif kind == "custom_emoji":
        if not opened.arg:
            return
        entity["custom_emoji_id"] = opened.arg
    elif kind == "blockquote" and opened.expandable:
        entity["type"] = "expandable_blockquote"
    out.append(entity)


_MDV2_RESERVED = "_*[]()~`>#+-=|{}.!"
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


def parse_markdown_v2(src: str) -> tuple[str, list[JSON]]:
    """Telegram's MarkdownV2 (reserved characters must be escaped), close to tdlib's parser."""
    out = _Builder()
    stack: list[_Open] = []
    entities: list[JSON] = []
    quote_start: int | None = None  # open blockquote ('>' lines)
    i, n = 0, len(src)

    def reserved_error(ch: str) -> EntityParseError:
        return EntityParseError(
            f"Character '{ch}' is reserved and must be escaped with the preceding '\\'"
        )

    while i < n:
        c = src[i]
        nxt = src[i + 1] if i + 1 < n else ""
        if c == "\\" and nxt and 0 < ord(nxt) <= 126:
            out.add(nxt)
            i += 2
            continue
        top = stack[-1].tag if stack else None
        if top in ("code", "pre") and c != "`":
            out.add(c)
            i += 1
            continue
        if c == "\n" and quote_start is not None and nxt != ">":
            entities.append(
                {"type": "blockquote", "offset": quote_start, "length": out.pos - quote_start}
            )
            quote_start = None
        if c == ">" and (i == 0 or src[i - 1] == "\n") and top is None:
            if quote_start is None:
                quote_start = out.pos
            i += 1
            continue
        if c not in _MDV2_RESERVED:
            out.add(c)
            i += 1
            continue
        ends = {
            "bold": c == "*",
            "italic": c == "_" and nxt != "_",
            "underline": c == "_" and nxt == "_",
            "strikethrough": c == "~",
            "spoiler": c == "|" and nxt == "|",
            "code": c == "`",
            "pre": src.startswith("```", i),
            "text_link": c == "]",
            "custom_emoji": c == "]",
        }
        if top is not None and ends[top]:
            opened = stack.pop()
            entity: JSON = {"type": top, "offset": opened.start, "length": out.pos - opened.start}
            if top in ("text_link", "custom_emoji"):
                i += 1
                url = ""
                if i < n and src[i] == "(":
                    url_begin = i
                    i += 1
                    chars: list[str] = []
                    while i < n and src[i] != ")":
                        if src[i] == "\\" and i + 1 < n and 0 < ord(src[i + 1]) <= 126:
                            i += 1
                        chars.append(src[i])
                        i += 1
                    if i >= n:
                        raise EntityParseError(
                            f"Can't find end of a URL at byte offset {_byte_offset(src, url_begin)}"
                        )
                    i += 1
                    url = "".join(chars)
                if top == "custom_emoji":
                    match = re.fullmatch(r"tg://emoji\?id=(\d+)", url)
                    if match is None:
                        raise EntityParseError("Custom emoji entity must contain a tg://emoji URL")
                    entity["custom_emoji_id"] = match.group(1)
                elif not url:
                    continue  # "[text]" without a URL is just text
                else:
                    entity["url"] = url
            else:
                i += {"pre": 3, "underline": 2, "spoiler": 2}.get(top, 1)
            if opened.arg:
                entity["language"] = opened.arg
            if entity["length"] > 0:
                entities.append(entity)
            continue
        begin = i
        arg = ""
        if c == "_":
            kind = "underline" if nxt == "_" else "italic"
            i += 2 if nxt == "_" else 1
        elif c == "*":
            kind, i = "bold", i + 1
        elif c == "~":
            kind, i = "strikethrough", i + 1
        elif c == "|" and nxt == "|":
            kind, i = "spoiler", i + 2
        elif c == "[":
            kind, i = "text_link", i + 1
        elif c == "!" and nxt == "[":
            kind, i = "custom_emoji", i + 2
        elif c == "`" and src.startswith("```", i):
            kind, i = "pre", i + 3
            language_end = i
            while language_end < n and not src[language_end].isspace() and src[language_end] != "`":
                language_end += 1
            if language_end > i and language_end < n and src[language_end] != "`":
                arg = src[i:language_end]
                i = language_end
            if i < n and src[i] in "\r\n":
                i += 1
        elif c == "`":
            kind, i = "code", i + 1
        else:
            raise reserved_error(c)
        stack.append(_Open(kind, out.pos, begin, arg))
    if stack:
        opened = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_MDV2_NAMES[opened.tag]} entity at byte offset "
            f"{_byte_offset(src, opened.begin)}"
        )
    if quote_start is not None:
        entities.append(
            {"type": "blockquote", "offset": quote_start, "length": out.pos - quote_start}
        )
    entities = [e for e in entities if e["length"] > 0]
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return out.text(), entities


def parse_markdown(src: str) -> tuple[str, list[JSON]]:
    """Legacy Markdown: *bold* _italic_ `code` ```pre``` [text](url), no nesting."""
    out = _Builder()
    entities: list[JSON] = []
    i, n = 0, len(src)
    closing = {"*": "*", "_": "_", "`": "`", "[": "]"}
    kinds = {"*": "bold", "_": "italic", "`": "code", "[": "text_link"}
    while i < n:
        c = src[i]
        if c == "\\" and i + 1 < n and src[i + 1] in "_*`[":
            out.add(src[i + 1])
            i += 2
            continue
        if c not in closing:
            out.add(c)
            i += 1
            continue
        begin = i
        if src.startswith("```", i):
            end = src.find("```", i + 3)
            if end < 0:
                raise EntityParseError(
                    f"Can't find end of the entity starting at byte offset {_byte_offset(src, begin)}"
                )
            inner = src[i + 3 : end]
            start = out.pos
            out.add(inner)
            if inner:
                entities.append({"type": "pre", "offset": start, "length": out.pos - start})
            i = end + 3
            continue
        end = src.find(closing[c], i + 1)
        if end < 0:
            raise EntityParseError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(src, begin)}"
            )
        inner = src[i + 1 : end]
        start = out.pos
        out.add(inner)
        i = end + 1
        entity: JSON = {"type": kinds[c], "offset": start, "length": out.pos - start}
        if c == "[":
            if i < n and src[i] == "(":
                url_end = src.find(")", i)
                if url_end < 0:
                    url_end = n
                entity["url"] = src[i + 1 : url_end]
                i = url_end + 1
            else:
                continue
        if entity["length"] > 0:
            entities.append(entity)
    return out.text(), entities


def _trim(text: str, entities: list[JSON]) -> tuple[str, list[JSON]]:
    """Telegram strips leading/trailing whitespace of texts and captions, moving entities."""
    left = text[: len(text) - len(text.lstrip())]
    result = text.strip()
    shift, total = utf16_len(left), utf16_len(result)
    trimmed: list[JSON] = []
    for entity in entities:
        start = max(int(entity["offset"]) - shift, 0)
        end = min(int(entity["offset"]) + int(entity["length"]) - shift, total)
        if end > start:
            trimmed.append({**entity, "offset": start, "length": end - start})
    return result, trimmed


def format_text(raw: str, parse_mode: str | None, entities: Any) -> tuple[str, list[JSON]]:
    """Apply parse_mode (or explicit entities) like the Bot API; raises ApiError on bad markup."""
    mode = (parse_mode or "").lower()
    try:
        if mode == "html":
            text, parsed = parse_html(raw)
        elif mode == "markdownv2":
            text, parsed = parse_markdown_v2(raw)
        elif mode == "markdown":
            text, parsed = parse_markdown(raw)
        elif mode:
            raise bad_request(f"unsupported parse_mode {parse_mode!r}")
        else:
            text = raw
            if entities is not None and not isinstance(entities, list):
                raise bad_request("can't parse entities JSON object")
            parsed = [dict(e) for e in entities or [] if isinstance(e, dict)]
    except EntityParseError as exc:
        raise bad_request(f"can't parse entities: {exc}") from None
    return _trim(text, parsed)


# --------------------------------------------------------------------------- request params

# Form fields are strings; these names carry other types (PTB json-dumps non-str values).
_INT_PARAMS = frozenset(
    [
        "chat_id",
        "message_id",
        "reply_to_message_id",
        "offset",
        "limit",
        "message_thread_id",
        "from_chat_id",
        "user_id",
        "cache_time",
        "max_connections",
        "width",
        "height",
        "duration",
    ]
)
_FLOAT_PARAMS = frozenset({"timeout"})
_BOOL_PARAMS = frozenset(
    [
        "show_alert",
        "disable_notification",
        "protect_content",
        "disable_web_page_preview",
        "drop_pending_updates",
        "allow_sending_without_reply",
        "has_spoiler",
        "show_caption_above_media",
        "disable_content_type_detection",
        "allow_paid_broadcast",
        "for_channels",
    ]
)
_JSON_PARAMS = frozenset(
    [
        "reply_markup",
        "entities",
        "caption_entities",
        "media",
        "commands",
        "scope",
        "reply_parameters",
        "link_preview_options",
        "allowed_updates",
        "message_ids",
        "menu_button",
    ]
)


def _coerce(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value  # JSON bodies are already typed
    if name in _JSON_PARAMS:
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name} JSON object") from None
    if name in _INT_PARAMS and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    if name in _FLOAT_PARAMS:
        try:
            return float(value)
        except ValueError:
            return value
    if name in _BOOL_PARAMS and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    return value


class Params:
    """Typed access to a request's parameters, with Telegram's errors for bad values."""

    def __init__(self, values: dict[str, Any], files: dict[str, Upload]) -> None:
        self.values = values
        self.files = files

    def has(self, name: str) -> bool:
        return self.values.get(name) is not None

    def get_str(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        if isinstance(value, dict | list):
            raise bad_request(f'field "{name}" must be of type String')
        return default if value is None else str(value)

    def get_int(self, name: str, default: int | None = None) -> int | None:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise bad_request(f"invalid {name} specified")
        try:
            return int(value)
        except ValueError:
            raise bad_request(f"invalid {name} specified") from None

    def get_float(self, name: str, default: float = 0.0) -> float:
        value = self.values.get(name)
        if value is None:
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def get_bool(self, name: str) -> bool:
        value = self.values.get(name)
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def get_json(self, name: str) -> Any:
        return self.values.get(name)


# --------------------------------------------------------------------------- faults


@dataclass
class _Fault:
    status: int
    description: str
    parameters: JSON | None
    times: int


def _outage_error(status: int) -> ApiError:
    """What every request answers while the API is down (set_down)."""
    retry_after = 1 if status == 429 else None
    parameters = {"retry_after": retry_after} if retry_after is not None else None
    return ApiError(status, _default_description(status, retry_after), parameters)


def _default_description(status: int, retry_after: int | None) -> str:
    if status == 429:
        return f"Too Many Requests: retry after {retry_after}"
    if status == 400:
        return "Bad Request"
    if status == 413:
        return REQUEST_TOO_LARGE  # Python 3.13 calls it "Content Too Large"; Telegram does not
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# --------------------------------------------------------------------------- the fake


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    kind: MessageKind
    size: int  # what Telegram says the size is (a test may claim more than len(data))
    # The Bot API object sent with this file_id (a PhotoSize list for photos), so a file sent
    # again by file_id shows the same file_name, duration …
    media: JSON | list[JSON] | None = None


@dataclass(frozen=True)
class _Webhook:
    """What setWebhook stored (the allowed update types are shared with getUpdates)."""

    url: str
    secret_token: str  # "" = no X-Telegram-Bot-Api-Secret-Token header
    max_connections: int
    ip_address: str


@dataclass(frozen=True)
class _Push:
    """One update to POST, with the webhook generation it was taken under."""

    generation: int
    url: str
    secret_token: str
    update: JSON


# Telegram's file_ids start with the file's type; file_paths are "<folder>/file_<n>.<ext>".
_FILE_ID_PREFIXES: dict[str, str] = {
    "photo": "AgAC",
    "document": "BQAC",
    "video": "BAAC",
    "voice": "AwAC",
    "audio": "CQAC",
}
_FILE_FOLDERS: dict[str, tuple[str, str]] = {
    "photo": ("photos", ".jpg"),
    "document": ("documents", ""),
    "video": ("videos", ".mp4"),
    "voice": ("voice", ".oga"),
    "audio": ("music", ".mp3"),
}
# The mime_type Telegram reports when the upload's own type says nothing.
_DEFAULT_MIME_TYPES = {"video": "video/mp4", "voice": "audio/ogg", "audio": "audio/mpeg"}


_CHAT_ACTIONS = frozenset(
    [
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    ]
)
_DEFAULT_UPDATE_TYPES = frozenset(
    [
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    ]
)
# Webhooks (the wording is telegram-bot-api's, Client.cpp / WebhookActor.cpp).
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
TERMINATED_BY_SET_WEBHOOK = "Conflict: terminated by setWebhook request"
_WEBHOOK_HOSTS = frozenset(["127.0.0.1", "localhost", "::1"])  # all the fake can reach
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]*")
_DEFAULT_MAX_CONNECTIONS = 40
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_LEADING_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")


class FakeTelegram:
    """A Bot API server with one bot (``token``), scriptable from tests.

    Single use: ``start()`` once, ``stop()`` once (also usable as a context manager).
    ``wait_for``/``wait_message`` block the calling thread: from an async test whose event loop
    also runs the bot, call them via ``await asyncio.to_thread(fake.wait_message, ...)``.

    ``strict_chats=True`` makes sending to a chat nobody ever wrote from answer
    "Bad Request: chat not found" like the real API; by default such chats are created on
    first use (convenient when a test seeds the database directly).

    ``threaded=True`` is the owner's "Threaded Mode" in @BotFather: topics in private chats
    (off by default, as for a new bot); ``users_can_create_topics`` is the second switch there
    (users may create and delete topics).  Both can be flipped later with :meth:`set_threaded`.
    """

    # The real limits; lower them on the class or an instance to test them with small files.
    max_upload = 50 * MB  # a request carrying more file bytes answers 413
    max_photo = 10 * MB  # a bigger sendPhoto upload is refused
    max_download = 20 * MB  # getFile refuses a bigger file ("file is too big")
    # Webhook pushes, short for tests (Telegram waits about a minute for an answer, retries at
    # once and then after 2, 4, 8 … up to 60-120 s).
    webhook_timeout = 5.0  # seconds without an answer before the attempt counts as failed
    webhook_retry_seconds = 0.1  # pause before sending a failed update again

    def __init__(
        self,
        token: str = "123456:TEST-token-abcdefghijklmnopqrstuvwxyz",
        bot_username: str = "pocket_test_bot",
        *,
        strict_chats: bool = False,
        threaded: bool = False,
        users_can_create_topics: bool = True,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456
        self.strict_chats = strict_chats
        self.bot_user: JSON = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_username.removesuffix("_bot").replace("_", " ").title() or "Bot",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._server = BackgroundServer(app)
        self.api_url = f"{self._server.url}/bot"
        self.file_url = f"{self._server.url}/file/bot"

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._version = 0  # bumped on every state change, for wait_for
        self._poll_event = asyncio.Event()  # wakes held getUpdates (set on the server loop)
        self._poll_generation = 0
        self._closing = False
        self._started = False

        self._calls: list[Call] = []
        self._internal_errors: list[str] = []
        self._updates: list[JSON] = []
        self._update_ids = itertools.count(1)
        self._allowed_updates: frozenset[str] = _DEFAULT_UPDATE_TYPES
        self._chats: dict[int, JSON] = {}
        self._users: dict[int, JSON] = {}
        self._next_message_id: dict[int, int] = {}
        self._bot_messages: dict[int, dict[int, FakeMessage]] = {}
        self._user_messages: dict[tuple[int, int], JSON] = {}
        self._deleted_user_messages: set[tuple[int, int]] = set()
        self._files: dict[str, _StoredFile] = {}
        self._file_paths: dict[str, _StoredFile] = {}
        self._file_counter = itertools.count(1)
        self._callbacks: dict[str, JSON] = {}
        self._callback_counter = itertools.count(1)
        self._callback_answers: list[JSON] = []
        self._commands: dict[tuple[str, str | None], list[JSON]] = {}
        self._blocked: set[int] = set()
        self._faults: dict[str, list[_Fault]] = {}
        self._delays: dict[str, float] = {}
        self._drops: dict[str, int] = {}
        self._down: int | None = None  # the HTTP status of an outage (set_down), None when up
        self._webhook: _Webhook | None = None
        self._webhook_generation = 0  # bumped when the webhook is set, changed or deleted
        self._webhook_error: tuple[int, str] | None = None  # (unix date, message) of the last
        self._webhook_deliveries: list[WebhookDelivery] = []
        self._webhook_confirmed: dict[int, JSON] = {}  # update_id -> update the webhook took
        self._webhook_event = asyncio.Event()  # wakes the pusher (set on the server loop)
        self._pusher: asyncio.Task[None] | None = None  # created by the first setWebhook
        self.descriptions: dict[str | None, str] = {}
        self.short_descriptions: dict[str | None, str] = {}
        self.names: dict[str | None, str] = {}
        self.menu_buttons: dict[int | None, JSON] = {}
        # Topics in private chats.
        self._threaded = threaded
        self._users_can_create_topics = users_can_create_topics
        self._deleted_topic_bug = False  # tdlib/telegram-bot-api#854, see set_deleted_topic_bug
        self._topic_outage = False  # tdlib/telegram-bot-api#847, see set_topic_outage
        self._topics: dict[int, dict[int, FakeTopic]] = {}  # chat_id -> thread_id -> topic
        self._topic_service_messages: set[tuple[int, int]] = set()  # can't be deleted
        self._user_side_ids: dict[int, int] = {}  # chat_id -> last id of the user's side
        self._reactions: dict[tuple[int, int], list[str]] = {}  # (chat, message) -> history

        self._methods: dict[str, Callable[[web.Request, Params], Any]] = {
            name.removeprefix("_m_").replace("_", "").lower(): getattr(self, name)
            for name in dir(self)
            if name.startswith("_m_")
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._server.start()
        self._started = True

    def stop(self) -> None:
        """Stop the server (held getUpdates end at once, webhook pushes stop) and close its
        loop."""
        with self._lock:
            self._closing = True
        if not self._started:
            return
        self._started = False
        self._wake_pollers()
        self._server.run(self._stop_pusher())
        self._server.stop()
        # BackgroundServer leaves its loop open; close it so no ResourceWarning leaks at GC.
        if not self._server.loop.is_running() and not self._server.loop.is_closed():
            self._server.loop.close()

    def __enter__(self) -> FakeTelegram:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ a person does something

    def send_text(
        self,
        user_id: int,
        text: str,
        *,
        language_code: str | None = "en",
        reply_to: int | None = None,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Test",
        thread: int | None = None,
    ) -> int:
        """The user writes `text`; returns the new message_id.

        `thread` writes it in that topic of the private chat (threaded mode; the update carries
        ``message_thread_id`` and ``is_topic_message``); every ``send_*`` takes it too.
        """
        message: JSON = {"text": text}
        entities = _command_entities(text)
        if entities:
            message["entities"] = entities
        return self._user_message(
            user_id, message, language_code, reply_to, chat_id, chat_type, first_name, thread
        )

    # The media a person sends: the bot can getFile (and download) each file.  `file_size`
    # claims a size other than len(data) (e.g. 25 MB, to meet the 20 MB getFile limit without
    # shipping 25 MB); `reply_to` quotes a message of the chat, the bot's or the person's.

    def send_photo(
        self,
        user_id: int,
        data: bytes,
        *,
        caption: str | None = None,
        file_size: int | None = None,
        language_code: str | None = "en",
        reply_to: int | None = None,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Test",
        thread: int | None = None,
    ) -> int:
        """The user sends a photo (an image PIL can read); returns the message_id.

        The update carries a thumbnail and the full size (``photo[-1]``, whose ``file_size``
        is `file_size` if given).
        """
        with self._lock:
            sizes = self._store_photo(data, file_size)
        message = self._with_caption({"photo": sizes}, caption)
        return self._user_message(
            user_id, message, language_code, reply_to, chat_id, chat_type, first_name, thread
        )

    def send_document(
        self,
        user_id: int,
        data: bytes,
        filename: str,
        *,
        mime_type: str = "application/octet-stream",
        caption: str | None = None,
        file_size: int | None = None,
        language_code: str | None = "en",
        reply_to: int | None = None,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Test",
        thread: int | None = None,
    ) -> int:
        """The user sends a file; returns the message_id."""
        document = self._user_file("document", data, file_size, filename, mime_type, {})
        message = self._with_caption({"document": document}, caption)
        return self._user_message(
            user_id, message, language_code, reply_to, chat_id, chat_type, first_name, thread
        )

    def send_voice(
        self,
        user_id: int,
        data: bytes,
        *,
        duration: int = 0,
        mime_type: str = "audio/ogg",
        caption: str | None = None,
        file_size: int | None = None,
        language_code: str | None = "en",
        reply_to: int | None = None,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Test",
        thread: int | None = None,
    ) -> int:
        """The user records a voice note (Telegram has no file name for those); returns the
        message_id."""
        voice = self._user_file("voice", data, file_size, None, mime_type, {"duration": duration})
        message = self._with_caption({"voice": voice}, caption)
        return self._user_message(
            user_id, message, language_code, reply_to, chat_id, chat_type, first_name, thread
        )

    def send_audio(
        self,
        user_id: int,
        data: bytes,
        *,
        filename: str | None = "audio.mp3",
        title: str | None = None,
        performer: str | None = None,
        duration: int = 0,
        mime_type: str = "audio/mpeg",
        caption: str | None = None,
        file_size: int | None = None,
        language_code: str | None = "en",
        reply_to: int | None = None,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Test",
        thread: int | None = None,
    ) -> int:
        """The user sends a music file; returns the message_id."""
        extra: JSON = {"duration": duration}
        if performer is not None:
            extra["performer"] = performer
        if title is not None:
            extra["title"] = title
        audio = self._user_file("audio", data, file_size, filename, mime_type, extra)
        message = self._with_caption({"audio": audio}, caption)
        return self._user_message(
            user_id, message, language_code, reply_to, chat_id, chat_type, first_name, thread
        )

    def send_video(
        self,
        user_id: int,
        data: bytes,
        *,
        filename: str | None = "video.mp4",
        width: int = 640,
        height: int = 360,
        duration: int = 0,
        mime_type: str = "video/mp4",
        caption: str | None = None,
        file_size: int | None = None,
        language_code: str | None = "en",
        reply_to: int | None = None,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Test",
        thread: int | None = None,
    ) -> int:
        """The user sends a video; returns the message_id."""
        extra: JSON = {"width": width, "height": height, "duration": duration}
        video = self._user_file("video", data, file_size, filename, mime_type, extra)
        message = self._with_caption({"video": video}, caption)
        return self._user_message(
            user_id, message, language_code, reply_to, chat_id, chat_type, first_name, thread
        )

    def _user_file(
        self,
        kind: MessageKind,
        data: bytes,
        file_size: int | None,
        filename: str | None,
        mime_type: str,
        extra: JSON,
    ) -> JSON:
        """Store a file a person sends; returns its Bot API object (document, voice …)."""
        with self._lock:
            stored = self._store_file(data, kind, filename, file_size)
            media: JSON = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
            media.update(extra)
            if filename is not None:
                media["file_name"] = filename
            media["mime_type"] = mime_type
            media["file_size"] = stored.size
            stored.media = copy.deepcopy(media)
            return media

    @staticmethod
    def _with_caption(message: JSON, caption: str | None) -> JSON:
        if caption is not None:
            message["caption"] = caption
            entities = _command_entities(caption)
            if entities:
                message["caption_entities"] = entities
        return message

    def send_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update (without update_id); returns the assigned update_id."""
        with self._lock:
            update = copy.deepcopy(update)
            message = update.get("message")
            if isinstance(message, dict):
                chat_id = (message.get("chat") or {}).get("id")
                mid = message.get("message_id")
                if isinstance(chat_id, int) and isinstance(mid, int):
                    self._chats.setdefault(chat_id, dict(message["chat"]))
                    self._user_messages[(chat_id, mid)] = message
                    counter = self._next_message_id.get(chat_id, 1)
                    self._next_message_id[chat_id] = max(counter, mid + 1)
            query = update.get("callback_query")
            if isinstance(query, dict) and "id" in query:
                user_id = (query.get("from") or {}).get("id")
                self._callbacks[str(query["id"])] = {"user_id": user_id, "answered": False}
            return self._enqueue(update)

    def press(
        self,
        user_id: int,
        message_id: int,
        data: str,
        *,
        language_code: str | None = "en",
        chat_id: int | None = None,
        must_exist: bool = True,
    ) -> str:
        """The user taps an inline button with callback `data`; returns the callback query id.

        With `must_exist` (default) the message must be a live bot message that currently has
        a button with that data, as a real user could not press anything else.
        """
        chat = user_id if chat_id is None else chat_id
        with self._lock:
            msg = self._bot_messages.get(chat, {}).get(message_id)
            if msg is None or msg.deleted:
                raise AssertionError(f"no live bot message {message_id} in chat {chat}")
            if must_exist and data not in [value for _, value in msg.buttons]:
                raise AssertionError(
                    f"message {message_id} has no button with data {data!r}: {msg.buttons}"
                )
            query_id = str(4_000_000_000_000_000 + next(self._callback_counter))
            user = self._user(user_id, None, language_code)
            self._callbacks[query_id] = {"user_id": user_id, "answered": False}
            query = {
                "id": query_id,
                "from": user,
                "message": self._message_json(msg),
                "chat_instance": str(-4_000_000_000 - chat),
                "data": data,
            }
            self._enqueue({"callback_query": query})
            return query_id

    def press_button(
        self,
        user_id: int,
        message_id: int,
        label: str,
        *,
        language_code: str | None = "en",
        chat_id: int | None = None,
    ) -> str:
        """Press the first button whose text contains `label` (any case)."""
        chat = user_id if chat_id is None else chat_id
        with self._lock:
            msg = self._bot_messages.get(chat, {}).get(message_id)
            if msg is None:
                raise AssertionError(f"no bot message {message_id} in chat {chat}")
            data = msg.button_data(label)
        return self.press(user_id, message_id, data, language_code=language_code, chat_id=chat_id)

    def block(self, user_id: int) -> None:
        """From now on the user has blocked the bot: sending/editing there answers 403."""
        with self._lock:
            self._blocked.add(user_id)
            self._changed()

    def unblock(self, user_id: int) -> None:
        with self._lock:
            self._blocked.discard(user_id)
            self._changed()

    # ------------------------------------------------------------------ topics (threaded mode)

    def set_threaded(self, enabled: bool, *, users_can_create_topics: bool | None = None) -> None:
        """The owner switches Threaded Mode in @BotFather (and, if given, whether users may
        create and delete topics).  getMe reports it at once.  Switched off, every send with a
        message_thread_id answers "message thread not found" and createForumTopic "the chat is
        not a forum"; the topics are kept and work again when it is switched back on."""
        with self._lock:
            self._threaded = enabled
            if users_can_create_topics is not None:
                self._users_can_create_topics = users_can_create_topics
            self._changed()

    @property
    def threaded(self) -> bool:
        with self._lock:
            return self._threaded

    def set_deleted_topic_bug(self, enabled: bool = True) -> None:
        """tdlib/telegram-bot-api#854 (May 2026): a send to a deleted topic is put in the main
        chat without any error, and the returned message has no message_thread_id.  While
        enabled, the fake does the same instead of answering "message thread not found"."""
        with self._lock:
            self._deleted_topic_bug = enabled
            self._changed()

    def set_topic_outage(self, broken: bool = True) -> None:
        """tdlib/telegram-bot-api#847 (the Bot API 10.0 rollout): while broken, every send with a
        message_thread_id in a private chat answers "message thread not found" (live topics
        too) and createForumTopic answers BOT_FORUM_CREATE_FORBIDDEN; sends without a thread and
        the updates (which keep their thread ids) work."""
        with self._lock:
            self._topic_outage = broken
            self._changed()

    def create_topic(
        self,
        user_id: int,
        name: str,
        *,
        icon_color: int = TOPIC_ICON_COLORS[0],
        implicit: bool = False,
    ) -> int:
        """The user creates a topic in their chat with the bot; returns its thread id.

        The bot gets the ``forum_topic_created`` service message in the new thread.  `implicit`
        is a topic the user did not name (the client names it after the first message, and
        ``is_name_implicit`` asks the bot to rename it).  Needs threaded mode and
        ``users_can_create_topics`` (an AssertionError otherwise, as the client has no button).
        """
        with self._lock:
            if not self._threaded:
                raise AssertionError("threaded mode is off: the user can't create topics")
            if not self._users_can_create_topics:
                raise AssertionError("the bot doesn't allow users to create topics")
            clean = _clean_topic_name(name)
            if not clean:
                raise ValueError(f"a topic name must be non-empty: {name!r}")
            if icon_color not in TOPIC_ICON_COLORS:
                raise ValueError(f"a client offers only the colours {TOPIC_ICON_COLORS}")
            self._chat_json(user_id, "private", None)
            service_id, thread = self._new_message_ids(user_id)
            topic = FakeTopic(
                thread, user_id, clean, icon_color, "user", service_id,
                is_name_implicit=implicit, names=[clean],
            )  # fmt: skip
            self._topics.setdefault(user_id, {})[thread] = topic
            created: JSON = {"name": clean, "icon_color": icon_color}
            if implicit:
                created["is_name_implicit"] = True
            self._service_message(user_id, thread, {"forum_topic_created": created}, service_id)
            self._topic_service_messages.add((user_id, service_id))
            return thread

    def rename_topic(self, user_id: int, thread: int, name: str) -> int:
        """The user renames a topic: the bot gets a ``forum_topic_edited`` service message in
        it; returns that message's id."""
        with self._lock:
            topic = self._user_topic(user_id, thread)
            clean = _clean_topic_name(name)
            if not clean:
                raise ValueError(f"a topic name must be non-empty: {name!r}")
            topic.name = clean
            topic.names.append(clean)
            topic.is_name_implicit = False
            return self._service_message(user_id, thread, {"forum_topic_edited": {"name": clean}})

    def delete_topic(self, user_id: int, thread: int) -> None:
        """The user deletes a topic with all its messages.  The bot is told nothing (the Bot
        API has no such update): it finds out when a send there fails."""
        with self._lock:
            topic = self._user_topic(user_id, thread)
            if not self._users_can_create_topics:
                raise AssertionError("the bot doesn't allow users to delete topics")
            self._delete_topic(topic, "user")

    # ------------------------------------------------------------------ what the bot did

    def messages(self, chat_id: int, *, thread: int | None = None) -> list[FakeMessage]:
        """Snapshots of the messages the bot sent to the chat, in order (deleted ones flagged).

        `thread` keeps those in one topic; ``thread=0`` those outside every topic.
        """
        with self._lock:
            msgs = sorted(self._bot_messages.get(chat_id, {}).values(), key=lambda m: m.message_id)
            if thread is not None:
                msgs = [m for m in msgs if (m.thread_id or 0) == thread]
            return copy.deepcopy(msgs)

    def messages_of_kind(
        self, chat_id: int, kind: MessageKind, *, thread: int | None = None
    ) -> list[FakeMessage]:
        """The bot's messages in the chat that are now of `kind` ("voice" …), as `messages`."""
        return [m for m in self.messages(chat_id, thread=thread) if m.kind == kind]

    def last(self, chat_id: int, *, thread: int | None = None) -> FakeMessage | None:
        """The bot's newest non-deleted message in the chat (in `thread`, as `messages`)."""
        live = [m for m in self.messages(chat_id, thread=thread) if not m.deleted]
        return live[-1] if live else None

    def topics(self, user_id: int) -> dict[int, FakeTopic]:
        """The topics of the user's chat with the bot by thread id, deleted ones included."""
        with self._lock:
            return copy.deepcopy(self._topics.get(user_id, {}))

    def wait_topic(self, user_id: int, name: str, *, timeout: float = 10.0) -> FakeTopic:
        """The first live topic of the user whose name contains `name` (any case), waiting for
        the bot to create (or rename) one."""

        def find() -> FakeTopic | None:
            for topic in self.topics(user_id).values():
                if not topic.deleted and name.lower() in topic.name.lower():
                    return topic
            return None

        try:
            return self.wait_for(find, timeout)
        except AssertionError as exc:
            names = {t: (x.name, x.deleted_by) for t, x in self.topics(user_id).items()}
            raise AssertionError(f"no topic {name!r} for {user_id} in {names}\n{exc}") from None

    def reactions(self, chat_id: int, message_id: int) -> list[str]:
        """Every reaction the bot set on the message, oldest first ("" = it removed its
        reaction); the last one is the current one."""
        with self._lock:
            return list(self._reactions.get((chat_id, message_id), []))

    def reaction(self, chat_id: int, message_id: int) -> str | None:
        """The bot's current reaction on the message (None: none)."""
        history = self.reactions(chat_id, message_id)
        return (history[-1] or None) if history else None

    def message(self, chat_id: int, message_id: int) -> FakeMessage:
        with self._lock:
            msg = self._bot_messages.get(chat_id, {}).get(message_id)
            if msg is None:
                raise AssertionError(f"no bot message {message_id} in chat {chat_id}")
            return copy.deepcopy(msg)

    @property
    def calls(self) -> list[Call]:
        """Every request so far (a copy), in order of completion."""
        with self._lock:
            return list(self._calls)

    def calls_of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if c.method.lower() == method.lower()]

    @property
    def commands(self) -> dict[str | None, list[JSON]]:
        """setMyCommands for the default scope, by language_code (None = all languages)."""
        with self._lock:
            return {
                lang: copy.deepcopy(cmds)
                for (scope, lang), cmds in self._commands.items()
                if scope == "default"
            }

    def commands_for(
        self, scope: JSON | None = None, language_code: str | None = None
    ) -> list[JSON]:
        with self._lock:
            return copy.deepcopy(self._commands.get((_scope_key(scope), language_code), []))

    @property
    def callback_answers(self) -> list[JSON]:
        with self._lock:
            return copy.deepcopy(self._callback_answers)

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by the bot."""
        with self._lock:
            return copy.deepcopy(self._updates)

    @property
    def webhook_url(self) -> str | None:
        """The URL setWebhook set, None without a webhook."""
        with self._lock:
            return self._webhook.url if self._webhook else None

    @property
    def webhook_secret(self) -> str | None:
        """The secret_token of the webhook (sent as X-Telegram-Bot-Api-Secret-Token), None
        without a webhook or when it has none."""
        with self._lock:
            return (self._webhook.secret_token or None) if self._webhook else None

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Every POST to a webhook so far, oldest first (failed attempts included)."""
        with self._lock:
            return list(self._webhook_deliveries)

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of exceptions inside the fake (answered as 400); should stay empty."""
        with self._lock:
            return list(self._internal_errors)

    def wait_for(self, predicate: Callable[[], T | bool | None], timeout: float = 10.0) -> T:
        """Re-evaluate `predicate` on every state change (and every 50 ms) until truthy."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                seen = self._version
            value = predicate()
            if value:
                return value  # type: ignore[return-value]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting\n{self.dump()}")
            with self._cond:
                if self._version == seen:
                    self._cond.wait(min(0.05, remaining))

    def wait_message(
        self,
        chat_id: int,
        contains: str | None = None,
        *,
        photo: bool | None = None,
        kind: MessageKind | None = None,
        timeout: float = 10.0,
        after: int = 0,
        thread: int | None = None,
    ) -> FakeMessage:
        """First bot message in the chat with message_id > `after` whose text/caption contains
        `contains` (any case), whose photo-ness is `photo` and whose kind is `kind` ("voice" …),
        in topic `thread` if given (0: outside every topic).

        Any version of a message counts (the original or any edit), deleted ones too, so the
        result does not depend on how fast the bot edits; the returned snapshot is current.
        """
        needle = contains.lower() if contains is not None else None

        def matches(snapshot: JSON) -> bool:
            content = snapshot["text"] if snapshot["text"] is not None else snapshot["caption"]
            if needle is not None and needle not in (content or "").lower():
                return False
            if kind is not None and snapshot["kind"] != kind:
                return False
            return photo is None or snapshot["has_photo"] == photo

        def find() -> FakeMessage | None:
            for msg in self.messages(chat_id, thread=thread):
                if msg.message_id > after and any(matches(s) for s in msg.history):
                    return msg
            return None

        try:
            return self.wait_for(find, timeout)
        except AssertionError as exc:
            wanted = f"contains={contains!r} photo={photo} kind={kind} after={after}"
            if thread is not None:
                wanted += f" thread={thread}"
            raise AssertionError(f"no bot message in chat {chat_id} with {wanted}\n{exc}") from None

    def dump(self, calls: int = 30) -> str:
        """Recent calls and bot messages, for failure messages."""
        with self._lock:
            lines = [f"last {calls} calls:"]
            for c in self._calls[-calls:]:
                params = {k: v for k, v in c.params.items() if k != "token"}
                text = json.dumps(params, ensure_ascii=False, default=str)
                lines.append(f"  {c.method} -> {c.status} {c.description or ''} {text[:300]}")
            for chat_id, msgs in self._bot_messages.items():
                lines.append(f"bot messages in chat {chat_id}:")
                for m in sorted(msgs.values(), key=lambda m: m.message_id)[-8:]:
                    flags = (" [deleted]" if m.deleted else "") + (
                        f" [{m.kind}]" if m.kind != "text" else ""
                    )
                    if m.thread_id is not None:
                        flags += f" [topic {m.thread_id}]"
                    lines.append(f"  #{m.message_id}{flags} {m.content[:200]!r} {m.buttons}")
            for chat_id, topics in self._topics.items():
                listed = ", ".join(
                    f"{t.thread_id} {t.name!r} by {t.created_by}"
                    + (f" (deleted by {t.deleted_by})" if t.deleted_by else "")
                    for t in topics.values()
                )
                lines.append(f"topics in chat {chat_id}: {listed}")
            if self._down is not None:
                lines.append(f"the API is down (every request answers {self._down})")
            if self._webhook is not None:
                secret = " (with a secret token)" if self._webhook.secret_token else ""
                lines.append(f"webhook {self._webhook.url}{secret}, {len(self._updates)} pending")
            for d in self._webhook_deliveries[-5:]:
                lines.append(f"  webhook POST update {d.update_id} -> {d.status} {d.error or ''}")
            if self._internal_errors:
                lines.append("internal errors:\n" + "\n".join(self._internal_errors[-3:]))
            return "\n".join(lines)

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` calls of `method` answer an error (429 defaults to retry_after=1)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        fault = _Fault(
            status, description or _default_description(status, retry_after), parameters, times
        )
        with self._lock:
            self._faults.setdefault(method.lower(), []).append(fault)

    def set_delay(self, method: str, seconds: float) -> None:
        """Hold every call of `method` for `seconds` before handling it (0 removes)."""
        with self._lock:
            if seconds > 0:
                self._delays[method.lower()] = seconds
            else:
                self._delays.pop(method.lower(), None)

    def drop_connection_next(self, method: str, times: int = 1) -> None:
        """Close the connection without an answer for the next `times` calls of `method`."""
        with self._lock:
            self._drops[method.lower()] = self._drops.get(method.lower(), 0) + times

    def set_down(self, down: bool, status: int = 502) -> None:
        """An outage of the whole Bot API: while `down`, every request (getUpdates, file
        downloads, unknown methods included) answers HTTP `status` with Telegram's error body
        for it, e.g. ``{"ok": false, "error_code": 502, "description": "Bad Gateway"}``, is
        recorded in `calls` with that status, and changes nothing.  A held getUpdates ends with
        that answer at once, and no update is pushed to a webhook (one already on its way
        finishes).  ``set_down(False)`` restores service; no queued update is lost.  PTB raises
        ``NetworkError`` for 5xx answers.
        """
        if status < 400:
            raise ValueError(f"an outage answers an error status, not {status}")
        with self._lock:
            self._down = status if down else None
            self._changed()
        self._wake_pollers()

    def redeliver(self, update_id: int) -> None:
        """The webhook gets update `update_id` again, though it already confirmed it.

        Telegram does this when the answer came too late or the connection broke before it
        arrived: the bot may have handled the update and must not act twice.  (A webhook slower
        than ``webhook_timeout`` gets its update again the same way, without this call.)  The
        update goes back into the queue in update_id order and counts as pending until the
        webhook confirms it again.
        """
        with self._lock:
            update = self._webhook_confirmed.get(update_id)
            if update is None:
                raise ValueError(f"update {update_id} was never confirmed by a webhook")
            if all(u["update_id"] != update_id for u in self._updates):
                later = [i for i, u in enumerate(self._updates) if u["update_id"] > update_id]
                self._updates.insert(later[0] if later else len(self._updates), update)
                self._changed()
        self._wake_pollers()

    # ------------------------------------------------------------------ state helpers (locked)

    def _changed(self) -> None:
        self._version += 1
        self._cond.notify_all()

    def _wake_pollers(self) -> None:
        """Held getUpdates and the webhook pusher look at the queue again."""
        loop = self._server.loop
        if not loop.is_closed():
            loop.call_soon_threadsafe(self._poll_event.set)
            loop.call_soon_threadsafe(self._webhook_event.set)

    def _enqueue(self, update: JSON) -> int:
        with self._lock:
            update_id = next(self._update_ids)
            self._updates.append({"update_id": update_id, **update})
            self._changed()
        self._wake_pollers()
        return update_id

    def _user(self, user_id: int, first_name: str | None, language_code: str | None) -> JSON:
        user = self._users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": "Test"}
        if first_name is not None:
            user["first_name"] = first_name
        if language_code is not None:
            user["language_code"] = language_code
        else:
            user.pop("language_code", None)
        self._users[user_id] = user
        return dict(user)

    def _chat_json(self, chat_id: int, chat_type: str, first_name: str | None) -> JSON:
        chat = self._chats.get(chat_id)
        if chat is None:
            if chat_type == "private":
                chat = {"id": chat_id, "type": "private", "first_name": first_name or "Test"}
            else:
                chat = {"id": chat_id, "type": chat_type, "title": "Test chat"}
            self._chats[chat_id] = chat
        return dict(chat)

    def _new_message_id(self, chat_id: int) -> int:
        return self._new_message_ids(chat_id)[0]

    def _new_message_ids(self, chat_id: int) -> tuple[int, int]:
        """(bot-side message_id, user-side id) of a new message of the chat.

        A private chat has one id space per side; the bot sees only its own, and topics are
        numbered in the user's (see USER_SIDE_FIRST_ID).
        """
        mid = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = mid + 1
        user_side = self._user_side_ids.get(chat_id, USER_SIDE_FIRST_ID - 1) + 1
        self._user_side_ids[chat_id] = user_side
        return mid, user_side

    def _user_message(
        self,
        user_id: int,
        content: JSON,
        language_code: str | None,
        reply_to: int | None,
        chat_id: int | None,
        chat_type: str,
        first_name: str,
        thread: int | None = None,
    ) -> int:
        chat = user_id if chat_id is None else chat_id
        with self._lock:
            if thread is not None:
                if chat != user_id or chat_type != "private":
                    raise AssertionError("the fake has topics in private chats only")
                self._user_topic(chat, thread)
            user = self._user(user_id, first_name, language_code)
            message: JSON = {
                "message_id": self._new_message_id(chat),
                "from": user,
                "chat": self._chat_json(chat, chat_type, first_name),
                "date": int(time.time()),
                **content,
            }
            if reply_to is not None:
                if self._any_message_json(chat, reply_to) is None:
                    raise AssertionError(f"no message {reply_to} in chat {chat} to reply to")
                # A reply typed outside the topics to a topic message goes into that topic.
                thread = self._landing_thread(
                    chat, 0 if thread is None else thread, thread, reply_to
                )
            if thread is not None:
                message["message_thread_id"] = thread
                message["is_topic_message"] = True
            if reply_to is not None:
                message.update(self._reply_fields(chat, reply_to, thread))
            self._user_messages[(chat, message["message_id"])] = message
            self._enqueue({"message": message})
            return int(message["message_id"])

    def _user_topic(self, chat_id: int, thread: int) -> FakeTopic:
        """A live topic the user can write in (or an AssertionError saying why not)."""
        if not self._threaded:
            raise AssertionError("threaded mode is off: the user has no topics")
        topic = self._topics.get(chat_id, {}).get(thread)
        if topic is None or topic.deleted:
            state = "was deleted" if topic is not None else "does not exist"
            raise AssertionError(f"topic {thread} of chat {chat_id} {state}")
        return topic

    def _service_message(
        self, user_id: int, thread: int, content: JSON, message_id: int | None = None
    ) -> int:
        """A service message by the user in a topic (forum_topic_created/edited); its id."""
        with self._lock:
            known = self._users.get(user_id)
            user = dict(known) if known is not None else self._user(user_id, None, "en")
            message: JSON = {
                "message_id": self._new_message_id(user_id) if message_id is None else message_id,
                "from": user,
                "chat": self._chat_json(user_id, "private", None),
                "date": int(time.time()),
                "message_thread_id": thread,
                **content,
                "is_topic_message": True,
            }
            self._user_messages[(user_id, message["message_id"])] = message
            self._enqueue({"message": message})
            return int(message["message_id"])

    def _any_message_json(self, chat_id: int, message_id: int) -> JSON | None:
        """A bot or user message as a reply_to_message (which never nests another reply)."""
        msg = self._bot_messages.get(chat_id, {}).get(message_id)
        if msg is not None and not msg.deleted:
            found = self._message_json(msg, with_reply=False)
        elif (chat_id, message_id) in self._deleted_user_messages:
            return None
        else:
            stored = self._user_messages.get((chat_id, message_id))
            if stored is None:
                return None
            found = copy.deepcopy(stored)
        found.pop("reply_to_message", None)
        return found

    def _message_json(self, msg: FakeMessage, with_reply: bool = True) -> JSON:
        out: JSON = {
            "message_id": msg.message_id,
            "from": dict(self.bot_user),
            "chat": dict(self._chats[msg.chat_id]),
            "date": msg.date,
        }
        if msg.edit_date is not None:
            out["edit_date"] = msg.edit_date
        if msg.text is not None:
            out["text"] = msg.text
            if msg.entities:
                out["entities"] = copy.deepcopy(msg.entities)
        if msg.kind != "text":
            out[msg.kind] = copy.deepcopy(msg.media_json)
        if msg.caption is not None:
            out["caption"] = msg.caption
            if msg.entities:
                out["caption_entities"] = copy.deepcopy(msg.entities)
        if msg.reply_markup is not None and "inline_keyboard" in msg.reply_markup:
            # Only inline keyboards are part of a Message; reply keyboards live in the client.
            out["reply_markup"] = copy.deepcopy(msg.reply_markup)
        if msg.thread_id is not None:
            out["message_thread_id"] = msg.thread_id
            out["is_topic_message"] = True
        if with_reply and msg.reply_to_message_id is not None:
            out.update(self._reply_fields(msg.chat_id, msg.reply_to_message_id, msg.thread_id))
        return out

    def _thread_of(self, chat_id: int, message_id: int) -> int | None:
        """The topic a message of the chat (the bot's or a person's) is in; None: main chat."""
        msg = self._bot_messages.get(chat_id, {}).get(message_id)
        if msg is not None:
            return msg.thread_id
        stored = self._user_messages.get((chat_id, message_id)) or {}
        thread = stored.get("message_thread_id")
        return thread if isinstance(thread, int) else None

    def _reply_fields(self, chat_id: int, message_id: int, thread: int | None) -> JSON:
        """How a message in `thread` shows its reply to `message_id`: ``reply_to_message`` when
        both are in the same topic (or both outside topics), else ``external_reply``."""
        replied = self._any_message_json(chat_id, message_id)
        if replied is None:
            return {}
        if self._thread_of(chat_id, message_id) == thread:
            return {"reply_to_message": replied}
        external: JSON = {
            "origin": {"type": "user", "sender_user": replied["from"], "date": replied["date"]},
            "chat": replied["chat"],
            "message_id": message_id,
        }
        for kind in ("photo", "document", "video", "voice", "audio"):
            if kind in replied:
                external[kind] = replied[kind]
        return {"external_reply": external}

    def _store_file(
        self, data: bytes, kind: MessageKind, filename: str | None = None, size: int | None = None
    ) -> _StoredFile:
        """Keep a file for getFile; `size` is what Telegram will say its size is."""
        n = next(self._file_counter)
        folder, extension = _FILE_FOLDERS[kind]
        suffix = re.sub(r"[^A-Za-z0-9]", "", (filename or "").rpartition(".")[2])[:8]
        if kind in ("document", "video", "audio") and filename and "." in filename and suffix:
            extension = f".{suffix.lower()}"  # photos are always .jpg, voice notes .oga
        stored = _StoredFile(
            file_id=f"{_FILE_ID_PREFIXES[kind]}AgIAAxkBAAI{n:08d}{self.bot_id:x}",
            file_unique_id=f"AgAD{n:08d}",
            data=data,
            file_path=f"{folder}/file_{n}{extension}",
            kind=kind,
            size=len(data) if size is None else size,
        )
        self._files[stored.file_id] = stored
        self._file_paths[stored.file_path] = stored
        return stored

    def _store_photo(self, data: bytes, size: int | None = None) -> list[JSON]:
        """Register photo bytes; returns the PhotoSize list (thumbnail first).

        `size` is the size the full picture claims (a person's photo; default: its bytes).
        """
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                image.load()
                # Via RGBA: converting palette images straight to RGB can emit a PIL warning.
                rgba = image.convert("RGBA")
                thumb = Image.new("RGB", rgba.size, "white")
                thumb.paste(rgba, mask=rgba.getchannel("A"))
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            raise bad_request("IMAGE_PROCESS_FAILED") from None
        if width + height > 10000 or max(width, height) > 20 * min(width, height):
            raise bad_request("PHOTO_INVALID_DIMENSIONS")
        sizes: list[JSON] = []
        if max(width, height) > 90:
            # Telegram also delivers smaller renditions; photo[-1] is the largest.
            thumb.thumbnail((90, 90))
            buffer = io.BytesIO()
            thumb.save(buffer, format="JPEG")
            small = self._store_file(buffer.getvalue(), "photo")
            sizes.append(self._photo_size(small, *thumb.size))
        full = self._store_file(data, "photo", size=size)
        sizes.append(self._photo_size(full, width, height))
        for size_json in sizes:
            self._files[size_json["file_id"]].media = copy.deepcopy(sizes)
        return sizes

    @staticmethod
    def _photo_size(stored: _StoredFile, width: int, height: int) -> JSON:
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": width,
            "height": height,
            "file_size": stored.size,
        }

    # ------------------------------------------------------------------ HTTP

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        path = request.path
        with self._lock:
            down = self._down
        if down is not None:
            return await self._answer_outage(request, down, at)
        if path.startswith("/file/bot"):
            return self._serve_file(path.removeprefix("/file/bot"), at)
        token, _, method = path.removeprefix("/bot").partition("/")
        if not path.startswith("/bot") or not method or "/" in method:
            return self._answer(path, {}, ApiError(404, "Not Found"), at)
        if token != self.token:
            return self._answer(method, {}, ApiError(401, "Unauthorized"), at)
        handler = self._methods.get(method.lower())
        if handler is None:
            return self._answer(method, {}, ApiError(404, "Not Found"), at)

        params: dict[str, Any] = {}
        files: dict[str, Upload] = {}
        try:
            params, files = await self._read_params(request)
            if sum(len(upload.data) for upload in files.values()) > self.max_upload:
                raise ApiError(413, REQUEST_TOO_LARGE)
            key = method.lower()
            with self._lock:
                delay = self._delays.get(key, 0.0)
            if delay:
                await asyncio.sleep(delay)
            with self._lock:
                down = self._down  # the API may have gone down during the delay
                drop = down is None and self._drops.get(key, 0) > 0
                if drop:
                    self._drops[key] -= 1
                faults = self._faults.get(key)
                fault = faults[0] if faults and not drop and down is None else None
                if fault is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        faults.pop(0)  # type: ignore[union-attr]
            if down is not None:
                raise _outage_error(down)
            if drop:
                if request.transport is not None:
                    request.transport.close()
                self._record(Call(method, params, 0, at, "connection dropped", None, files))
                return web.Response()
            if fault is not None:
                raise ApiError(fault.status, fault.description, fault.parameters)
            result = handler(request, Params(params, files))
            if asyncio.iscoroutine(result):
                result = await result
        except _ClientGone:
            self._record(Call(method, params, 0, at, "client gone", None, files))
            return web.Response()
        except asyncio.CancelledError:
            self._record(Call(method, params, 0, at, "cancelled", None, files))
            raise
        except ApiError as exc:
            return self._answer(method, params, exc, at, files)
        except Exception as exc:
            # Never crash on odd input: answer 400 and keep the traceback for debugging.
            with self._lock:
                self._internal_errors.append(traceback.format_exc())
            error = bad_request(f"{type(exc).__name__}: {exc}")
            return self._answer(method, params, error, at, files)
        self._record(Call(method, params, 200, at, None, result, files))
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)

    def _answer(
        self,
        method: str,
        params: dict[str, Any],
        error: ApiError,
        at: float,
        files: dict[str, Upload] | None = None,
    ) -> web.Response:
        self._record(Call(method, params, error.status, at, error.description, None, files or {}))
        return web.json_response(error.body(), status=error.status, dumps=_dumps)

    async def _answer_outage(self, request: web.Request, status: int, at: float) -> web.Response:
        """While the API is down: record the request (params as far as readable) and fail it."""
        path = request.path
        params: dict[str, Any] = {}
        files: dict[str, Upload] = {}
        if path.startswith("/file/bot"):
            method = "file"
            params["file_path"] = path.removeprefix("/file/bot").partition("/")[2]
        else:
            method = path.removeprefix("/bot").partition("/")[2] or path
            with contextlib.suppress(Exception):  # an unreadable body gets the same answer
                params, files = await self._read_params(request)
        return self._answer(method, params, _outage_error(status), at, files)

    def _record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)
            self._changed()

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
        try:
            return await self._read_body(request)
        except web.HTTPRequestEntityTooLarge:  # over the aiohttp app's client_max_size
            raise ApiError(413, REQUEST_TOO_LARGE) from None

    async def _read_body(self, request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, Upload] = {}
        if request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise bad_request("can't parse JSON body") from None
                if not isinstance(body, dict):
                    raise bad_request("the JSON body must be an object")
                raw.update(body)
            elif request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        value.file.seek(0)
                        data = value.file.read()
                        files[key] = Upload(key, value.filename, value.content_type, data)
                    else:
                        raw[key] = value
        return {key: _coerce(key, value) for key, value in raw.items()}, files

    def _serve_file(self, rest: str, at: float) -> web.Response:
        token, _, file_path = rest.partition("/")
        if token != self.token:
            return self._answer("file", {"file_path": file_path}, ApiError(401, "Unauthorized"), at)
        with self._lock:
            stored = self._file_paths.get(file_path)
        if stored is None:
            return self._answer("file", {"file_path": file_path}, ApiError(404, "Not Found"), at)
        self._record(Call("file", {"file_path": file_path}, 200, at))
        return web.Response(body=stored.data, content_type="application/octet-stream")

    # ------------------------------------------------------------------ param helpers (locked)

    def _target_chat(self, p: Params, *, create: bool = True, check_blocked: bool = True) -> int:
        """chat_id of a send/edit/delete: known (or created), and not blocked (unless
        `check_blocked` is False: the caller checks it where Telegram's server would)."""
        value = p.values.get("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        chat_id = (
            p.get_int("chat_id") if not (isinstance(value, str) and value.startswith("@")) else None
        )
        if chat_id is None:
            raise bad_request("chat not found")
        if chat_id not in self._chats:
            if self.strict_chats or not create:
                raise bad_request("chat not found")
            self._chat_json(chat_id, "private" if chat_id > 0 else "group", None)
        if check_blocked:
            self._check_blocked(chat_id)
        return chat_id

    def _check_blocked(self, chat_id: int) -> None:
        if chat_id in self._blocked:
            raise ApiError(403, BLOCKED)

    def _send_thread(self, p: Params, chat_id: int) -> tuple[int, int | None]:
        """The message_thread_id of a send, checked like telegram-bot-api's check_message_topic:
        (the id asked for, 0 if none; the topic the message goes to, None for the main chat).

        Junk or a negative id counts as none (td::to_integer); outside private chats the fake
        has no forums, so the id is ignored as in a non-forum group.
        """
        requested = _td_int(p.values.get("message_thread_id"))
        if requested <= 0 or self._chats[chat_id].get("type") != "private":
            return 0, None
        if self._topic_outage or not self._threaded:
            raise ApiError(400, THREAD_NOT_FOUND)
        topic = self._topics.get(chat_id, {}).get(requested)
        if topic is None:
            raise ApiError(400, THREAD_NOT_FOUND)
        if topic.deleted:
            if self._deleted_topic_bug:
                return requested, None  # tdlib/telegram-bot-api#854: lands in the main chat
            raise ApiError(400, THREAD_NOT_FOUND)
        return requested, requested

    def _landing_thread(
        self, chat_id: int, requested: int, thread: int | None, reply_to: int | None
    ) -> int | None:
        """Where a message goes: a reply sent without message_thread_id to a message in a
        topic goes into that topic (TDLib takes the replied message's topic)."""
        if requested or reply_to is None or not self._threaded:
            return thread
        replied_thread = self._thread_of(chat_id, reply_to)
        topic = self._topics.get(chat_id, {}).get(replied_thread or 0)
        return replied_thread if topic is not None and not topic.deleted else thread

    def _require_forum(self, chat_id: int, *, allow_bots: bool = True) -> None:
        """TDLib's ForumTopicManager::is_forum: a private chat is a forum only in threaded
        mode, and only for the methods made for it (close/reopen pass allow_bots=False)."""
        if self._chats[chat_id].get("type") == "private" and self._threaded:
            if not allow_bots:
                raise ApiError(400, NOT_A_SUPERGROUP_FORUM)
            return
        raise ApiError(400, NOT_A_FORUM)

    def _topic_param(self, p: Params) -> int:
        """message_thread_id of a topic method (TDLib refuses 0 before asking the server)."""
        thread = _td_int(p.values.get("message_thread_id"))
        if thread <= 0:
            raise bad_request("invalid forum topic identifier specified")
        return thread

    def _live_topic(self, chat_id: int, thread: int) -> FakeTopic:
        topic = self._topics.get(chat_id, {}).get(thread)
        if topic is None or topic.deleted:
            raise ApiError(400, TOPIC_ID_INVALID)
        return topic

    def _delete_topic(self, topic: FakeTopic, by: Literal["bot", "user"]) -> None:
        """The topic and every message in it (the bot's and the user's) are gone."""
        topic.deleted_by = by
        chat_id, thread = topic.chat_id, topic.thread_id
        for msg in self._bot_messages.get(chat_id, {}).values():
            if msg.thread_id == thread and not msg.deleted:
                msg.deleted = True
                msg.history.append({**_snapshot(msg), "deleted": True})
        for (chat, message_id), message in self._user_messages.items():
            if chat == chat_id and message.get("message_thread_id") == thread:
                self._deleted_user_messages.add((chat, message_id))
        self._changed()

    def _reply_target(self, p: Params, chat_id: int) -> int | None:
        reply = p.get_json("reply_parameters")
        allow_missing = p.get_bool("allow_sending_without_reply")
        if isinstance(reply, dict):
            reply_id = reply.get("message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply", allow_missing))
        else:
            reply_id = p.get_int("reply_to_message_id")
        if reply_id is None:
            return None
        if self._any_message_json(chat_id, int(reply_id)) is None:
            if allow_missing:
                return None
            raise bad_request("message to be replied not found")
        return int(reply_id)

    @staticmethod
    def _markup(p: Params) -> JSON | None:
        markup = p.get_json("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        keyboard = markup.get("inline_keyboard")
        if keyboard is not None:
            if not isinstance(keyboard, list) or not all(isinstance(r, list) for r in keyboard):
                raise bad_request(
                    'can\'t parse inline keyboard button: field "inline_keyboard" must be an Array of Arrays'
                )
            for row in keyboard:
                for button in row:
                    _check_inline_button(button)
        return markup

    def _formatted(self, p: Params, name: str, entities_name: str) -> tuple[str | None, list[JSON]]:
        raw = p.get_str(name)
        if raw is None:
            return None, []
        return format_text(raw, p.get_str("parse_mode"), p.get_json(entities_name))

    def _file_param(self, p: Params, name: str) -> tuple[bytes, str | None, _StoredFile | None]:
        """An InputFile parameter: (bytes, filename, existing stored file if a file_id)."""
        value = p.values.get(name)
        upload = p.files.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = p.files.get(value.removeprefix("attach://"))
            if upload is None:
                raise bad_request(f"file {value} not found in the request")
        if upload is not None:
            if not upload.data:
                raise bad_request("file must be non-empty")
            return upload.data, upload.filename, None
        if not value:
            raise bad_request(f"there is no {name} in the request")
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")
        stored = self._files.get(str(value))
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        return stored.data, None, stored

    def _new_bot_message(self, chat_id: int, reply_to: int | None, **fields: Any) -> FakeMessage:
        msg = FakeMessage(
            message_id=self._new_message_id(chat_id),
            chat_id=chat_id,
            date=int(time.time()),
            reply_to_message_id=reply_to,
            **fields,
        )
        msg.history.append(_snapshot(msg))
        self._bot_messages.setdefault(chat_id, {})[msg.message_id] = msg
        self._changed()
        return msg

    def _message_to_edit(self, p: Params) -> FakeMessage:
        if p.has("inline_message_id"):
            raise bad_request("message to edit not found")  # inline messages aren't modelled
        chat_id = self._target_chat(p, create=False)
        message_id = p.get_int("message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        msg = self._bot_messages.get(chat_id, {}).get(message_id)
        if msg is None or msg.deleted:
            if (chat_id, message_id) in self._user_messages:
                raise bad_request("message can't be edited")
            raise bad_request("message to edit not found")
        return msg

    def _apply_edit(self, msg: FakeMessage) -> JSON:
        msg.edits += 1
        msg.edit_date = int(time.time())
        msg.history.append(_snapshot(msg))
        self._changed()
        return self._message_json(msg)

    # ------------------------------------------------------------------ webhook pushes
    # One task on the server loop (created by the first setWebhook, cancelled by stop) owns the
    # HTTP client: it POSTs the oldest pending update, waits for the answer, then confirms the
    # update or pauses and sends it again.  `_wake_pollers` wakes it when something changes.

    def _start_pusher(self) -> None:
        """Start the pusher if it is not running (call on the server loop)."""
        if self._pusher is None:
            self._pusher = asyncio.get_running_loop().create_task(self._push_updates())

    async def _stop_pusher(self) -> None:
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
            self._pusher = None

    async def _push_updates(self) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                self._webhook_event.clear()
                push = self._next_push()
                if push is None:
                    await self._webhook_event.wait()
                    continue
                try:
                    confirmed = await self._post_update(session, push)
                except Exception:  # keep pushing; a test sees it in internal_errors
                    with self._lock:
                        self._internal_errors.append(traceback.format_exc())
                    confirmed = False
                if not confirmed:
                    await asyncio.sleep(self.webhook_retry_seconds)

    def _next_push(self) -> _Push | None:
        """The oldest pending update, if a webhook is set and the API is up."""
        with self._lock:
            webhook = self._webhook
            if webhook is None or self._down is not None or self._closing:
                return None
            # Updates of types the bot doesn't want are never delivered (nor kept).
            self._updates = [u for u in self._updates if _update_type(u) in self._allowed_updates]
            if not self._updates:
                return None
            update = copy.deepcopy(self._updates[0])
            return _Push(self._webhook_generation, webhook.url, webhook.secret_token, update)

    async def _post_update(self, session: aiohttp.ClientSession, push: _Push) -> bool:
        """POST one update and record the attempt; True if the webhook confirmed it (2xx)."""
        update_id = push.update["update_id"]
        headers = {"Content-Type": "application/json"}
        if push.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = push.secret_token
        at = time.monotonic()
        status = 0
        error: str | None = None
        try:
            async with session.post(
                push.url,
                data=_dumps(push.update).encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
                allow_redirects=False,  # Telegram follows no redirect: a 3xx is a wrong response
                ssl=False,  # Telegram checks the certificate; the fake does not
            ) as response:
                await response.read()
                status = response.status
                if not 200 <= status <= 299:
                    reason = f"{status} {response.reason or ''}".strip()
                    error = f"Wrong response from the webhook: {reason}"
        except TimeoutError:
            error = "Read timeout expired"
        except aiohttp.ClientConnectorError as exc:
            error = _connection_error(exc.os_error)
        except aiohttp.ClientOSError as exc:
            error = _connection_error(exc)
        except aiohttp.ClientError:
            error = "Webhook connection closed"
        with self._lock:
            self._webhook_deliveries.append(WebhookDelivery(update_id, status, error, at))
            if error is None:
                # Confirmed even if the webhook was changed meanwhile: the bot has the update.
                self._updates = [u for u in self._updates if u["update_id"] != update_id]
                self._webhook_confirmed[update_id] = push.update
            elif push.generation == self._webhook_generation:
                self._webhook_error = (int(time.time()), error)
            self._changed()
        return error is None

    # ------------------------------------------------------------------ Bot API methods
    # Named _m_<method>; the dispatcher routes on the lower-cased name without underscores.

    def _m_get_me(self, request: web.Request, p: Params) -> JSON:
        with self._lock:
            # Returned only in getMe, always (both false while threaded mode is off).
            return {
                **self.bot_user,
                "has_topics_enabled": self._threaded,
                "allows_users_to_create_topics": self._threaded and self._users_can_create_topics,
            }

    def _m_log_out(self, request: web.Request, p: Params) -> bool:
        return True

    def _m_close(self, request: web.Request, p: Params) -> bool:
        return True

    def _m_set_webhook(self, request: web.Request, p: Params) -> bool:
        url = p.get_str("url") or ""
        if not url:  # an empty URL removes the webhook, like deleteWebhook
            return self._m_delete_webhook(request, p)
        scheme, host = _parse_webhook_url(url)
        secret_token = p.get_str("secret_token") or ""
        if len(secret_token) > 256:
            raise bad_request("secret token is too long")
        if not _SECRET_TOKEN_RE.fullmatch(secret_token):
            raise bad_request("secret token contains unallowed characters")
        _check_webhook_host(scheme, host)
        ip_address = p.get_str("ip_address") or ""
        if ip_address:
            try:
                ipaddress.ip_address(ip_address)
            except ValueError:
                raise bad_request("bad webhook: Invalid IP address specified") from None
        # Telegram clamps max_connections into 1..100 rather than refusing it.
        max_connections = p.get_int("max_connections", _DEFAULT_MAX_CONNECTIONS) or 1
        webhook = _Webhook(url, secret_token, min(max(max_connections, 1), 100), ip_address)
        allowed = p.get_json("allowed_updates")
        with self._lock:
            if isinstance(allowed, list):  # the setting persists and is shared with getUpdates
                self._allowed_updates = frozenset(allowed) or _DEFAULT_UPDATE_TYPES
            drop = p.get_bool("drop_pending_updates")
            if webhook != self._webhook or drop:  # else Telegram answers "Webhook is already set"
                self._webhook = webhook
                self._webhook_generation += 1
                self._webhook_error = None
                if drop:
                    self._updates.clear()
            self._changed()
        self._start_pusher()
        self._wake_pollers()  # a held getUpdates ends with 409, the pusher starts
        return True

    def _m_delete_webhook(self, request: web.Request, p: Params) -> bool:
        with self._lock:
            if self._webhook is not None:
                self._webhook = None
                self._webhook_generation += 1
                self._webhook_error = None
            if p.get_bool("drop_pending_updates"):
                self._updates.clear()
            self._changed()
        return True

    def _m_get_webhook_info(self, request: web.Request, p: Params) -> JSON:
        with self._lock:
            webhook = self._webhook
            pending = [u for u in self._updates if _update_type(u) in self._allowed_updates]
            info: JSON = {
                "url": webhook.url if webhook else "",
                "has_custom_certificate": False,
                "pending_update_count": len(pending),
            }
            if self._webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_error
            if webhook is not None:
                info["max_connections"] = webhook.max_connections
                info["ip_address"] = webhook.ip_address or "127.0.0.1"  # what the host resolved to
            if self._allowed_updates != _DEFAULT_UPDATE_TYPES:
                info["allowed_updates"] = sorted(self._allowed_updates)
            return info

    async def _m_get_updates(self, request: web.Request, p: Params) -> list[JSON]:
        offset = p.get_int("offset")
        limit = min(max(p.get_int("limit", 100) or 100, 1), 100)
        timeout = max(p.get_float("timeout"), 0.0)
        allowed = p.get_json("allowed_updates")
        with self._lock:
            if self._webhook is not None:
                raise ApiError(409, WEBHOOK_ACTIVE)
            if isinstance(allowed, list):  # the setting persists, like the real API's
                self._allowed_updates = frozenset(allowed) or _DEFAULT_UPDATE_TYPES
            if offset is not None and offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset is not None and offset < 0:
                self._updates = self._updates[offset:]
            self._poll_generation += 1
            generation = self._poll_generation
            self._changed()
        self._poll_event.set()  # an older held request now ends with 409 Conflict
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._poll_event.clear()
            with self._lock:
                # Updates of types the bot doesn't want are never delivered (nor kept).
                self._updates = [
                    u for u in self._updates if _update_type(u) in self._allowed_updates
                ]
                batch = copy.deepcopy(self._updates[:limit])
                superseded = generation != self._poll_generation
                closing = self._closing
                down = self._down
                webhook_set = self._webhook is not None
            if down is not None:
                raise _outage_error(down)  # the updates stay queued
            if webhook_set:
                raise ApiError(409, TERMINATED_BY_SET_WEBHOOK)
            if batch or closing:
                return batch
            if request.transport is None or request.transport.is_closing():
                raise _ClientGone
            if superseded:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poll_event.wait(), min(remaining, _POLL_SLICE))

    def _m_set_my_commands(self, request: web.Request, p: Params) -> bool:
        commands = p.get_json("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise bad_request("too many commands")
        clean: list[JSON] = []
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("can't parse BotCommand")
            name, description = command.get("command"), command.get("description")
            if not isinstance(name, str) or not _COMMAND_RE.fullmatch(name.removeprefix("/")):
                raise bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": name.removeprefix("/"), "description": description})
        key = (_scope_key(p.get_json("scope")), p.get_str("language_code") or None)
        with self._lock:
            if clean:
                self._commands[key] = clean
            else:
                self._commands.pop(key, None)
            self._changed()
        return True

    def _m_get_my_commands(self, request: web.Request, p: Params) -> list[JSON]:
        key = (_scope_key(p.get_json("scope")), p.get_str("language_code") or None)
        with self._lock:
            return copy.deepcopy(self._commands.get(key, []))

    def _m_delete_my_commands(self, request: web.Request, p: Params) -> bool:
        key = (_scope_key(p.get_json("scope")), p.get_str("language_code") or None)
        with self._lock:
            self._commands.pop(key, None)
            self._changed()
        return True

    def _set_text_setting(
        self, store: dict[str | None, str], value: str | None, p: Params, limit: int
    ) -> bool:
        if value is not None and len(value) > limit:
            raise bad_request("text is too long")
        with self._lock:
            lang = p.get_str("language_code") or None
            if value:
                store[lang] = value
            else:
                store.pop(lang, None)
            self._changed()
        return True

    def _m_set_my_description(self, request: web.Request, p: Params) -> bool:
        return self._set_text_setting(self.descriptions, p.get_str("description"), p, 512)

    def _m_get_my_description(self, request: web.Request, p: Params) -> JSON:
        with self._lock:
            return {"description": self.descriptions.get(p.get_str("language_code") or None, "")}

    def _m_set_my_short_description(self, request: web.Request, p: Params) -> bool:
        return self._set_text_setting(
            self.short_descriptions, p.get_str("short_description"), p, 120
        )

    def _m_get_my_short_description(self, request: web.Request, p: Params) -> JSON:
        with self._lock:
            lang = p.get_str("language_code") or None
            return {"short_description": self.short_descriptions.get(lang, "")}

    def _m_set_my_name(self, request: web.Request, p: Params) -> bool:
        return self._set_text_setting(self.names, p.get_str("name"), p, 64)

    def _m_get_my_name(self, request: web.Request, p: Params) -> JSON:
        with self._lock:
            name = self.names.get(p.get_str("language_code") or None, self.bot_user["first_name"])
            return {"name": name}

    def _m_set_chat_menu_button(self, request: web.Request, p: Params) -> bool:
        with self._lock:
            self.menu_buttons[p.get_int("chat_id")] = p.get_json("menu_button") or {
                "type": "default"
            }
            self._changed()
        return True

    def _m_get_chat_menu_button(self, request: web.Request, p: Params) -> JSON:
        with self._lock:
            return copy.deepcopy(self.menu_buttons.get(p.get_int("chat_id"), {"type": "commands"}))

    def _m_get_chat(self, request: web.Request, p: Params) -> JSON:
        with self._lock:
            # Blocked users can still be looked up, so no _target_chat here.
            chat_id = p.get_int("chat_id")
            if chat_id is None:
                raise bad_request("chat_id is empty")
            if chat_id not in self._chats and not self.strict_chats:
                self._chat_json(chat_id, "private" if chat_id > 0 else "group", None)
            chat = self._chats.get(chat_id)
            if chat is None:
                raise bad_request("chat not found")
            full = dict(chat)
            if chat_id in self._users:
                user = self._users[chat_id]
                full.update({k: user[k] for k in ("username", "last_name") if k in user})
        full.update(
            {
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": False,
                    "limited_gifts": False,
                    "unique_gifts": False,
                    "premium_subscription": False,
                    "gifts_from_channels": False,
                },
            }
        )
        return full

    def _m_send_message(self, request: web.Request, p: Params) -> JSON:
        with self._lock:
            chat_id = self._target_chat(p)
            text, entities = self._formatted(p, "text", "entities")
            if not text:
                raise bad_request("message text is empty")
            if len(text) > MAX_TEXT:
                raise bad_request("message is too long")
            markup = self._markup(p)
            requested, thread = self._send_thread(p, chat_id)
            reply_to = self._reply_target(p, chat_id)
            msg = self._new_bot_message(
                chat_id,
                reply_to,
                thread_id=self._landing_thread(chat_id, requested, thread, reply_to),
                text=text,
                entities=entities,
                raw=p.get_str("text"),
                parse_mode=p.get_str("parse_mode"),
                reply_markup=markup,
            )
            return self._message_json(msg)

    def _caption(self, p: Params) -> tuple[str | None, list[JSON]]:
        caption, entities = self._formatted(p, "caption", "caption_entities")
        if caption is not None and len(caption) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        return caption or None, entities

    def _m_send_photo(self, request: web.Request, p: Params) -> JSON:
        with self._lock:
            chat_id = self._target_chat(p)
            data, _, existing = self._file_param(p, "photo")
            if existing is None:
                self._check_photo_size(data)
            caption, entities = self._caption(p)
            markup = self._markup(p)
            requested, thread = self._send_thread(p, chat_id)
            reply_to = self._reply_target(p, chat_id)
            sizes = self._photo_sizes_for(existing) if existing else self._store_photo(data)
            msg = self._new_bot_message(
                chat_id,
                reply_to,
                thread_id=self._landing_thread(chat_id, requested, thread, reply_to),
                caption=caption,
                entities=entities,
                raw=p.get_str("caption"),
                parse_mode=p.get_str("parse_mode"),
                reply_markup=markup,
                photos=[data],
                **_media_fields("photo", data, sizes),
            )
            return self._message_json(msg)

    def _check_photo_size(self, data: bytes) -> None:
        """Telegram refuses a photo upload over 10 MB (max_photo) before reading the image."""
        if len(data) > self.max_photo:
            raise bad_request(
                f"file of size {len(data)} bytes is too big for a photo; "
                f"the maximum size is {self.max_photo} bytes"
            )

    def _photo_sizes_for(self, stored: _StoredFile) -> list[JSON]:
        """Re-sending by file_id shows the same photo (another file becomes a new photo)."""
        if isinstance(stored.media, list):
            return copy.deepcopy(stored.media)
        return self._store_photo(stored.data)

    def _m_send_document(self, request: web.Request, p: Params) -> JSON:
        return self._send_file(p, "document")

    def _m_send_video(self, request: web.Request, p: Params) -> JSON:
        return self._send_file(p, "video")

    def _m_send_voice(self, request: web.Request, p: Params) -> JSON:
        return self._send_file(p, "voice")

    def _m_send_audio(self, request: web.Request, p: Params) -> JSON:
        return self._send_file(p, "audio")

    def _send_file(self, p: Params, kind: MessageKind) -> JSON:
        """sendDocument/sendVideo/sendVoice/sendAudio: the file in parameter `kind`, a caption."""
        with self._lock:
            chat_id = self._target_chat(p)
            data, filename, existing = self._file_param(p, kind)
            caption, entities = self._caption(p)
            markup = self._markup(p)
            requested, thread = self._send_thread(p, chat_id)
            reply_to = self._reply_target(p, chat_id)
            media = self._media_object(kind, p, data, filename, existing, p.files.get(kind))
            msg = self._new_bot_message(
                chat_id,
                reply_to,
                thread_id=self._landing_thread(chat_id, requested, thread, reply_to),
                caption=caption,
                entities=entities,
                raw=p.get_str("caption"),
                parse_mode=p.get_str("parse_mode"),
                reply_markup=markup,
                **_media_fields(kind, data, media),
            )
            return self._message_json(msg)

    def _media_object(
        self,
        kind: MessageKind,
        options: Params,
        data: bytes,
        filename: str | None,
        existing: _StoredFile | None,
        upload: Upload | None,
    ) -> JSON:
        """The Bot API object (Document, Video, Voice or Audio) of a file the bot sends.

        A file sent again by its file_id shows what Telegram knows of it.  For an upload the
        fake reads no media: duration, width, height, title, performer come from `options`
        (0 when absent) and mime_type from the upload's part (else Telegram's usual one).
        """
        if existing is not None and existing.kind == kind and isinstance(existing.media, dict):
            return copy.deepcopy(existing.media)
        if existing is not None and existing.kind == kind:
            stored = existing
        else:
            stored = self._store_file(data, kind, filename)
        media: JSON = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if kind == "video":
            media["width"] = options.get_int("width", 0)
            media["height"] = options.get_int("height", 0)
        if kind in ("video", "voice", "audio"):
            media["duration"] = options.get_int("duration", 0)
        if kind == "audio":
            for name in ("performer", "title"):
                if options.has(name):
                    media[name] = options.get_str(name)
        if filename and kind != "voice":  # a voice note has no file name
            media["file_name"] = filename
        mime_type = upload.content_type if upload is not None else None
        if mime_type in (None, "", "application/octet-stream") and kind in _DEFAULT_MIME_TYPES:
            mime_type = _DEFAULT_MIME_TYPES[kind]
        if mime_type:
            media["mime_type"] = mime_type
        media["file_size"] = stored.size
        stored.media = copy.deepcopy(media)
        return media

    def _m_send_chat_action(self, request: web.Request, p: Params) -> bool:
        # message_thread_id is passed on unchecked (tdlib/telegram-bot-api#732): True even for
        # a deleted or unknown topic, or with threaded mode off.
        with self._lock:
            self._target_chat(p)
            if p.get_str("action") not in _CHAT_ACTIONS:
                raise bad_request("wrong parameter action in request")
        return True

    def _m_edit_message_text(self, request: web.Request, p: Params) -> JSON:
        with self._lock:
            msg = self._message_to_edit(p)
            if msg.text is None:
                raise bad_request("there is no text in the message to edit")
            text, entities = self._formatted(p, "text", "entities")
            if not text:
                raise bad_request("message text is empty")
            if len(text) > MAX_TEXT:
                raise bad_request("MESSAGE_TOO_LONG")
            markup = self._markup(p)  # omitted = the keyboard is removed, as on Telegram
            if (text, entities, markup) == (msg.text, msg.entities, msg.reply_markup):
                raise bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
            msg.text, msg.entities, msg.reply_markup = text, entities, markup
            msg.raw, msg.parse_mode = p.get_str("text"), p.get_str("parse_mode")
            return self._apply_edit(msg)

    def _m_edit_message_caption(self, request: web.Request, p: Params) -> JSON:
        with self._lock:
            msg = self._message_to_edit(p)
            if msg.text is not None:
                raise bad_request("there is no caption in the message to edit")
            caption, entities = self._caption(p)
            markup = self._markup(p)
            if (caption, entities, markup) == (msg.caption, msg.entities, msg.reply_markup):
                raise bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
            msg.caption, msg.entities, msg.reply_markup = caption, entities, markup
            msg.raw, msg.parse_mode = p.get_str("caption"), p.get_str("parse_mode")
            return self._apply_edit(msg)

    def _m_edit_message_media(self, request: web.Request, p: Params) -> JSON:
        with self._lock:
            msg = self._message_to_edit(p)
            if msg.kind in ("text", "voice"):
                raise bad_request("there is no media in the message to edit")
            media = p.get_json("media")
            if not isinstance(media, dict) or "media" not in media:
                raise bad_request("can't parse InputMedia JSON object")
            kind = media.get("type")
            if kind not in ("photo", "document", "video", "audio"):
                raise bad_request(f"unsupported media type {kind!r} in the fake")
            inner = Params({**p.values, "media": media["media"]}, p.files)
            data, filename, existing = self._file_param(inner, "media")
            caption_params = Params(
                {
                    "caption": media.get("caption"),
                    "parse_mode": media.get("parse_mode"),
                    "caption_entities": media.get("caption_entities"),
                },
                {},
            )
            caption, entities = self._caption(caption_params)
            markup = self._markup(p)
            if (
                existing is not None
                and existing.file_id == msg.file_id
                and (caption, entities, markup) == (msg.caption, msg.entities, msg.reply_markup)
            ):
                raise bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
            new_media: JSON | list[JSON]
            if kind == "photo":
                if existing is None:
                    self._check_photo_size(data)
                new_media = self._photo_sizes_for(existing) if existing else self._store_photo(data)
                msg.photos.append(data)
            else:
                upload = inner.files.get(str(media["media"]).removeprefix("attach://"))
                options = Params(media, {})
                new_media = self._media_object(kind, options, data, filename, existing, upload)
            for name, value in _media_fields(kind, data, new_media).items():
                setattr(msg, name, value)
            msg.caption, msg.entities, msg.reply_markup = caption, entities, markup
            msg.raw, msg.parse_mode = media.get("caption"), media.get("parse_mode")
            return self._apply_edit(msg)

    def _m_edit_message_reply_markup(self, request: web.Request, p: Params) -> JSON:
        with self._lock:
            msg = self._message_to_edit(p)
            markup = self._markup(p)
            if markup == msg.reply_markup:
                raise bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
            msg.reply_markup = markup
            return self._apply_edit(msg)

    def _delete(self, chat_id: int, message_id: int) -> bool:
        if (chat_id, message_id) in self._topic_service_messages:
            return False
        msg = self._bot_messages.get(chat_id, {}).get(message_id)
        if msg is not None and not msg.deleted:
            msg.deleted = True
            msg.history.append({**_snapshot(msg), "deleted": True})
            self._changed()
            return True
        key = (chat_id, message_id)
        if key in self._user_messages and key not in self._deleted_user_messages:
            self._deleted_user_messages.add(key)
            self._changed()
            return True
        return False

    def _m_delete_message(self, request: web.Request, p: Params) -> bool:
        with self._lock:
            chat_id = self._target_chat(p, create=False)
            message_id = p.get_int("message_id")
            if message_id is None:
                raise bad_request("message identifier is not specified")
            key = (chat_id, message_id)
            if key in self._topic_service_messages and key not in self._deleted_user_messages:
                # "Service messages about a … forum topic creation can't be deleted."
                raise bad_request("message can't be deleted")
            if not self._delete(chat_id, message_id):
                raise bad_request("message to delete not found")
        return True

    def _m_delete_messages(self, request: web.Request, p: Params) -> bool:
        ids = p.get_json("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise bad_request("message_ids must be a list of 1-100 identifiers")
        with self._lock:
            chat_id = self._target_chat(p, create=False)
            for message_id in ids:
                self._delete(chat_id, int(message_id))
        return True

    # --- topics in private chats (Bot API 9.3/9.4)

    def _m_create_forum_topic(self, request: web.Request, p: Params) -> JSON:
        name = p.get_str("name") or ""
        # get_integer_arg: absent = 0 (Telegram then picks the first colour), junk = 0.
        icon_color = _td_int(p.values.get("icon_color"))
        emoji_id = _td_int(p.values.get("icon_custom_emoji_id"), bits=64)
        with self._lock:
            chat_id = self._target_chat(p, check_blocked=False)
            self._require_forum(chat_id)
            clean = _clean_topic_name(name)
            if not clean:
                raise bad_request("name must be non-empty")
            if icon_color < 0 or icon_color > 0xFFFFFF:
                raise bad_request("invalid icon color specified")
            if icon_color and icon_color not in TOPIC_ICON_COLORS:
                # What Telegram does with an unlisted colour is unknown; the fake refuses it.
                raise bad_request("invalid icon color specified")
            self._check_blocked(chat_id)  # the server refuses, after TDLib's own checks
            if self._topic_outage:
                raise ApiError(400, BOT_FORUM_CREATE_FORBIDDEN)
            service_id, thread = self._new_message_ids(chat_id)
            topic = FakeTopic(
                thread, chat_id, clean, icon_color or TOPIC_ICON_COLORS[0], "bot", service_id,
                icon_custom_emoji_id=str(emoji_id) if emoji_id else None, names=[clean],
            )  # fmt: skip
            self._topics.setdefault(chat_id, {})[thread] = topic
            created: JSON = {"name": clean, "icon_color": topic.icon_color}
            if topic.icon_custom_emoji_id is not None:
                created["icon_custom_emoji_id"] = topic.icon_custom_emoji_id
            # The service message is in the chat (the bot gets no update about it).
            self._user_messages[(chat_id, service_id)] = {
                "message_id": service_id,
                "from": dict(self.bot_user),
                "chat": dict(self._chats[chat_id]),
                "date": int(time.time()),
                "message_thread_id": thread,
                "forum_topic_created": created,
                "is_topic_message": True,
            }
            self._topic_service_messages.add((chat_id, service_id))
            self._changed()
            return {"message_thread_id": thread, **created}

    def _m_edit_forum_topic(self, request: web.Request, p: Params) -> bool:
        name = p.get_str("name") or ""
        edit_icon = p.values.get("icon_custom_emoji_id") is not None  # "" removes the icon
        emoji_id = _td_int(p.values.get("icon_custom_emoji_id"), bits=64)
        with self._lock:
            chat_id = self._target_chat(p, check_blocked=False)
            self._require_forum(chat_id)
            thread = self._topic_param(p)
            clean = _clean_topic_name(name)
            if name and not clean:
                raise bad_request("name must be non-empty")
            if not name and not edit_icon:
                return True  # TDLib answers without asking the server: nothing to change
            self._check_blocked(chat_id)
            topic = self._live_topic(chat_id, thread)
            new_icon = str(emoji_id) if emoji_id else None
            renamed = bool(name) and clean != topic.name
            new_icon_set = edit_icon and new_icon != topic.icon_custom_emoji_id
            if not renamed and not new_icon_set:
                raise ApiError(400, TOPIC_NOT_MODIFIED)
            if renamed:
                topic.name = clean
                topic.names.append(clean)
                topic.is_name_implicit = False
            if edit_icon:
                topic.icon_custom_emoji_id = new_icon
            self._changed()
        return True

    def _m_delete_forum_topic(self, request: web.Request, p: Params) -> bool:
        with self._lock:
            chat_id = self._target_chat(p, check_blocked=False)
            self._require_forum(chat_id)
            thread = self._topic_param(p)
            self._check_blocked(chat_id)
            self._delete_topic(self._live_topic(chat_id, thread), "bot")
        return True

    def _m_unpin_all_forum_topic_messages(self, request: web.Request, p: Params) -> bool:
        # The fake doesn't model pins: this checks the topic and changes nothing.
        with self._lock:
            chat_id = self._target_chat(p, check_blocked=False)
            self._require_forum(chat_id)
            self._live_topic(chat_id, self._topic_param(p))
        return True

    def _m_close_forum_topic(self, request: web.Request, p: Params) -> bool:
        with self._lock:
            self._require_forum(self._target_chat(p, check_blocked=False), allow_bots=False)
        return True  # unreachable: the fake has no forum supergroups

    def _m_reopen_forum_topic(self, request: web.Request, p: Params) -> bool:
        return self._m_close_forum_topic(request, p)

    def _m_set_message_reaction(self, request: web.Request, p: Params) -> bool:
        emojis = _reaction_emojis(p.values.get("reaction"))
        message_id = _td_int(p.values.get("message_id"))
        with self._lock:
            chat_id = self._target_chat(p, create=False)
            if message_id <= 0 or self._any_message_json(chat_id, message_id) is None:
                raise bad_request("message to react not found")
            if any(not emoji or emoji == "$" for emoji in emojis):
                raise bad_request("invalid reaction type specified")  # TDLib: empty or paid
            if len(emojis) > 1:
                raise bad_request("REACTIONS_TOO_MANY")  # bots: one reaction per message
            if any(e.replace("\ufe0f", "") not in REACTION_EMOJI for e in emojis):
                raise bad_request("REACTION_INVALID")
            self._reactions.setdefault((chat_id, message_id), []).append(
                emojis[0] if emojis else ""
            )
            self._changed()
        return True

    def _m_answer_callback_query(self, request: web.Request, p: Params) -> bool:
        query_id = p.get_str("callback_query_id")
        text = p.get_str("text")
        with self._lock:
            query = self._callbacks.get(query_id or "")
            if query is None or query["answered"]:
                raise bad_request(
                    "query is too old and response timeout expired or query ID is invalid"
                )
            if text is not None and len(text) > 200:
                raise bad_request("MESSAGE_TOO_LONG")
            query["answered"] = True
            self._callback_answers.append(
                {
                    "callback_query_id": query_id,
                    "text": text,
                    "show_alert": p.get_bool("show_alert"),
                    "url": p.get_str("url"),
                    "cache_time": p.get_int("cache_time"),
                }
            )
            self._changed()
        return True

    def _m_get_file(self, request: web.Request, p: Params) -> JSON:
        with self._lock:
            stored = self._files.get(p.get_str("file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        if stored.size > self.max_download:
            raise ApiError(400, FILE_TOO_BIG)
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }


# --------------------------------------------------------------------------- small helpers


def _td_int(value: Any, bits: int = 32) -> int:
    """A parameter read like td::to_integer<int32/int64>: an optional '-' and the leading
    digits (what follows is ignored), wrapping on overflow; junk is 0."""
    if value is None or isinstance(value, bool):
        return 0
    if isinstance(value, int):
        number = value
    else:
        match = re.match(r"(-?)(\d*)", str(value))
        assert match is not None
        number = int(match.group(2) or "0") * (-1 if match.group(1) else 1)
    modulus = 1 << bits
    number %= modulus
    return number - modulus if number >= modulus // 2 else number


# TDLib's strip_empty_characters turns these into spaces (U+202E stays in names).
_NAME_SPACES = frozenset(
    "\u1680\u180e\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u2800\u3000\ufffc"
)
# … and a name of only these characters is empty.
_EMPTY_NAME_CHARS = frozenset(" \n\u200b\u200c\u200d\u200e\u200f\u202e\ufeff\u00a0")
_TD_TRIM = " \t\r\n\0\v"


def _clean_topic_name(name: str) -> str:
    """A topic name as TDLib's clean_name(name, 128) leaves it (td/telegram/misc.cpp): odd
    spaces become spaces, the name is trimmed and cut to 128 characters, a name of empty
    characters becomes "", runs of spaces/newlines become one space."""
    spaced = "".join(
        " " if ch in _NAME_SPACES or 0xE0000 <= ord(ch) <= 0xE007F else ch for ch in name
    )
    cut = spaced.strip(_TD_TRIM)[:MAX_TOPIC_NAME].strip(_TD_TRIM)
    if all(ch in _EMPTY_NAME_CHARS for ch in cut):
        return ""
    return re.sub(r"[ \n\u00a0]+", " ", cut).strip(_TD_TRIM)


def _reaction_emojis(raw: Any) -> list[str]:
    """The emoji of setMessageReaction's `reaction` (a JSON list of ReactionType), with the
    Bot API's parse errors; a custom emoji (which a bot may use only where it is already
    present or allowed, never in the fake) is answered REACTION_INVALID."""
    if raw is None or raw == "":
        return []
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            raise bad_request("can't parse reaction types JSON object") from None
    if not isinstance(value, list):
        raise bad_request("expected an Array of ReactionType")
    emojis: list[str] = []
    for item in value:
        if not isinstance(item, dict):
            raise bad_request("can't parse ReactionType: expected an Object")
        kind = item.get("type")
        if not isinstance(kind, str):
            raise bad_request("can't parse ReactionType: Can't find field \"type\"")
        if kind == "emoji":
            emoji = item.get("emoji")
            if not isinstance(emoji, str):
                raise bad_request("can't parse ReactionType: Can't find field \"emoji\"")
            emojis.append(emoji)
        elif kind == "custom_emoji":
            custom = item.get("custom_emoji_id")
            if not (isinstance(custom, int) or (isinstance(custom, str) and custom.isdigit())):
                raise bad_request(
                    'can\'t parse ReactionType: Field "custom_emoji_id" must be a valid Number'
                )
            emojis.append(f"custom:{custom}")  # never in REACTION_EMOJI: REACTION_INVALID
        else:
            raise bad_request("can't parse ReactionType: invalid reaction type specified")
    return emojis


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _scope_key(scope: Any) -> str:
    if not isinstance(scope, dict) or scope.get("type", "default") == "default":
        return "default"
    return json.dumps(scope, sort_keys=True)


def _command_entities(text: str) -> list[JSON]:
    """The bot_command entity Telegram marks at the start of a person's text or caption."""
    match = _LEADING_COMMAND_RE.match(text)
    if match is None:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group())}]


def _media_fields(kind: MessageKind, data: bytes, media: JSON | list[JSON]) -> dict[str, Any]:
    """The FakeMessage fields of a message whose media is now `media` (a PhotoSize list for
    photos) with the bytes `data`."""
    largest = media[-1] if isinstance(media, list) else media
    return {
        "kind": kind,
        "data": data,
        "photo": data if kind == "photo" else None,
        "document": data if kind == "document" else None,
        "document_name": largest.get("file_name") if kind == "document" else None,
        "file_id": largest["file_id"],
        "file_name": largest.get("file_name"),
        "mime_type": largest.get("mime_type"),
        "media_json": media,
    }


def _parse_webhook_url(url: str) -> tuple[str, str]:
    """(scheme, host) of a setWebhook URL, or Telegram's error for one it cannot parse."""
    if "://" not in url:
        url = "https://" + url  # Telegram reads a URL without a scheme as HTTPS
    try:
        parts = urlsplit(url)
        scheme, host, _port = parts.scheme.lower(), parts.hostname, parts.port  # port: ValueError
    except ValueError:
        raise bad_request("invalid webhook URL specified") from None
    if scheme not in ("http", "https") or not host or re.search(r"\s", url):
        raise bad_request("invalid webhook URL specified")
    return scheme, host.lower()


def _check_webhook_host(scheme: str, host: str) -> None:
    """Refuse a host the fake cannot reach, in Telegram's words for the nearest case."""
    if host in _WEBHOOK_HOSTS:
        return  # the fake's allowance: Telegram refuses http and reserved addresses
    if scheme == "http":
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    raise bad_request("bad webhook: Failed to resolve host: Name or service not known")


def _connection_error(error: OSError) -> str:
    """getWebhookInfo's words for a connection that failed: "Connection refused" …"""
    if isinstance(error, ConnectionRefusedError):
        return "Connection refused"  # asyncio's own text names the address instead
    return os.strerror(error.errno) if error.errno else str(error) or type(error).__name__


def _update_type(update: JSON) -> str:
    return next((key for key in update if key != "update_id"), "")


def _snapshot(msg: FakeMessage) -> JSON:
    return {
        "kind": msg.kind,
        "text": msg.text,
        "caption": msg.caption,
        "has_photo": msg.photo is not None,
        "photo_index": len(msg.photos) - 1 if msg.photo is not None else None,
        "reply_markup": copy.deepcopy(msg.reply_markup),
        "at": time.monotonic(),
    }


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request(
            "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
        )
    if not button["text"]:
        raise bad_request("BUTTON_TEXT_INVALID")  # refused for sure; exact wording unverified
    actions = [
        key
        for key in (
            "url", "callback_data", "web_app", "login_url", "switch_inline_query",
            "switch_inline_query_current_chat", "switch_inline_query_chosen_chat",
            "copy_text", "callback_game", "pay",
        )
        if key in button
    ]  # fmt: skip
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    data = button.get("callback_data")
    if data is not None and (not isinstance(data, str) or not 1 <= len(data.encode()) <= 64):
        raise bad_request("BUTTON_DATA_INVALID")
    url = button.get("url")
    if url is not None and (not isinstance(url, str) or not re.fullmatch(r"\S+", url)):
        raise bad_request("BUTTON_URL_INVALID")
