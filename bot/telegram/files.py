"""Files in Telegram: what a person attached to a message (on its way to WhatsApp), and its bytes.

The bytes are fetched through the Bot API when the outbox sends the message (`TelegramFiles`):
the row keeps only the file id, because a Telegram file URL carries the bot token and must never
reach a gateway, a database or a log. Bots may download files up to 20 MB.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
import time
from collections import OrderedDict
from dataclasses import dataclass

from telegram import Bot, Message
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.services.ports import FileTooBig, UiUnavailable
from bot.services.sender import TelegramFile

MAX_DOWNLOAD = 20 * 1024 * 1024  # the Bot API's getFile limit


@dataclass(frozen=True)
class Attachment:
    file: TelegramFile
    size: int | None  # as Telegram reports it (None: unknown)

    @property
    def too_big(self) -> bool:
        return self.size is not None and self.size > MAX_DOWNLOAD


def attachment(message: Message) -> Attachment | None:
    """The file a person sent (photo, video, file, voice, audio), or None."""
    if message.photo:
        photo = message.photo[-1]  # the largest size
        return Attachment(TelegramFile(photo.file_id, "photo.jpg", "image/jpeg"), photo.file_size)
    if message.voice:
        voice = message.voice
        mime = voice.mime_type or "audio/ogg"
        return Attachment(TelegramFile(voice.file_id, _named("voice", mime), mime), voice.file_size)
    for media, default_mime, stem in (
        (message.audio, "audio/mpeg", "audio"),
        (message.video, "video/mp4", "video"),
        (message.animation, "video/mp4", "animation"),
        (message.document, "application/octet-stream", "file"),
    ):
        if media is not None:
            mime = media.mime_type or default_mime
            name = _clean_name(media.file_name) or _named(stem, mime)
            return Attachment(TelegramFile(media.file_id, name, mime), media.file_size)
    if message.video_note:
        note = message.video_note
        return Attachment(TelegramFile(note.file_id, "video.mp4", "video/mp4"), note.file_size)
    return None


def has_unsupported_media(message: Message) -> bool:
    """A sticker, contact, location, poll…: nothing a gateway can take as a file."""
    return bool(
        message.sticker or message.contact or message.location or message.poll or message.dice
    )


class TelegramFiles:
    """The outbox's FileSource: the bytes of a file a person sent, by its file id.

    The last few files fetched are kept for a while (at most KEEP_BYTES, for KEEP_SECONDS): a
    bulk send's photo goes to every recipient, and must not cost a getFile and a download each.
    """

    KEEP_BYTES = 40 * 1024 * 1024
    KEEP_SECONDS = 600.0

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._kept: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._fetching: dict[str, asyncio.Future[bytes]] = {}  # one download per file at once

    async def fetch(self, file_id: str) -> bytes:
        now = time.monotonic()
        kept = self._kept.get(file_id)
        if kept is not None and now - kept[0] < self.KEEP_SECONDS:
            self._kept.move_to_end(file_id)
            return kept[1]
        under_way = self._fetching.get(file_id)
        if under_way is not None:
            try:
                return await asyncio.shield(under_way)
            except asyncio.CancelledError:
                if not under_way.cancelled():
                    raise  # this caller was cancelled
                # Its downloader was: download here.
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._fetching[file_id] = future
        try:
            data = await self._download(file_id)
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        except BaseException:  # cancelled: those waiting try again themselves
            future.cancel()
            raise
        finally:
            if self._fetching.get(file_id) is future:
                del self._fetching[file_id]
        future.set_result(data)
        self._kept[file_id] = (now, data)
        while sum(len(d) for _, d in self._kept.values()) > self.KEEP_BYTES and self._kept:
            self._kept.popitem(last=False)  # the oldest first
        return data

    async def _download(self, file_id: str) -> bytes:
        try:
            file = await self.bot.get_file(file_id)
            return bytes(await file.download_as_bytearray())
        except BadRequest as exc:
            if "too big" in exc.message.lower():
                raise FileTooBig from None
            raise UiUnavailable(exc.message) from None
        except (NetworkError, RetryAfter, Forbidden) as exc:
            raise UiUnavailable(str(exc)) from None


def _named(stem: str, mime: str) -> str:
    extension = {"audio/ogg": ".ogg", "audio/mpeg": ".mp3", "image/jpeg": ".jpg"}.get(mime)
    return stem + (extension or mimetypes.guess_extension(mime) or ".bin")


def _clean_name(name: str | None) -> str:
    """A file name as people gave it, without paths or control characters, with an extension."""
    name = re.sub(r"[\x00-\x1f\x7f/\\]", "", name or "").strip()[:128]
    if name and "." not in name.lstrip("."):
        name += ".bin"
    return name
