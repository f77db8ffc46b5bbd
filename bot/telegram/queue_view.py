"""The connect queue in Telegram: one photo per person in line (a placeholder picture drawn once,
the place in line and the estimated wait in its caption), edited as the line moves, and turned
into the QR (editMessageMedia, by the connect flow) when the turn comes. A photo from the start,
because Telegram cannot turn a text message into one.

Its calls go in the rate limiter's queue lanes (`bot.telegram.rate_limiter`): the photo before
any caption edit, both after the answers and the QR codes of the attempts already admitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import math

from PIL import Image, ImageDraw
from telegram import Bot
from telegram.error import BadRequest

from bot.telegram import keyboards
from bot.telegram.rate_limiter import Lane, PriorityRateLimiter, lane
from bot.telegram.texts import t
from bot.telegram.views import reach

log = logging.getLogger(__name__)

UNLIMITED_ROOM = 50  # queue messages a pass may hand over when no rate limiter counts them


@functools.cache
def placeholder_png() -> bytes:
    """An hourglass on a light square: drawn once (about a millisecond), a few hundred bytes."""
    side, ink = 480, 110
    image = Image.new("L", (side, side), 236)
    draw = ImageDraw.Draw(image)
    draw.rectangle((150, 80, 330, 100), fill=ink)  # the top and bottom bars
    draw.rectangle((150, 380, 330, 400), fill=ink)
    draw.line([(170, 100), (240, 240), (170, 380)], fill=ink, width=10)  # the glass
    draw.line([(310, 100), (240, 240), (310, 380)], fill=ink, width=10)
    draw.polygon([(195, 130), (285, 130), (240, 215)], fill=ink)  # sand still up
    draw.polygon([(240, 300), (190, 370), (290, 370)], fill=ink)  # sand fallen
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


class TelegramQueue:
    """Implements QueueView on a python-telegram-bot `Bot` (and its rate limiter, if any)."""

    def __init__(self, bot: Bot, limiter: PriorityRateLimiter | None) -> None:
        self.bot = bot
        self.limiter = limiter
        # The placeholder's file id, once Telegram has it: not uploaded again.
        self._file_id: str | None = None

    async def waiting(self, ui_chat_id: int, lang: str, place: int, wait: float) -> int:
        photo = self._file_id or placeholder_png()
        with lane(Lane.QUEUE):
            try:
                message = await reach(
                    self.bot.send_photo(
                        ui_chat_id,
                        photo,
                        caption=_caption(lang, place, wait),
                        filename="queue.png",
                        reply_markup=keyboards.cancel(lang),
                    )
                )
            except BadRequest:
                if isinstance(photo, bytes):
                    raise
                self._file_id = None  # Telegram forgot it: upload the picture again
                return await self.waiting(ui_chat_id, lang, place, wait)
        if message.photo:
            self._file_id = message.photo[-1].file_id
        return message.message_id

    async def moved(
        self, ui_chat_id: int, message_id: int, lang: str, place: int, wait: float, within: float
    ) -> None:
        edit = self.bot.edit_message_caption(
            chat_id=ui_chat_id,
            message_id=message_id,
            caption=_caption(lang, place, wait),
            reply_markup=keyboards.cancel(lang),
        )
        with lane(Lane.QUEUE_EDIT), contextlib.suppress(TimeoutError):
            try:
                # Waiting for its turn in the limiter, it is dropped after `within`.
                await asyncio.wait_for(reach(edit), within)
            except BadRequest as exc:  # not modified, or the person deleted the photo
                log.info("queue: a place in line was not edited (%s)", exc.message)

    async def left(self, ui_chat_id: int, message_id: int | None, lang: str) -> None:
        text = t(lang, "connect_cancelled")
        if message_id is not None:
            with contextlib.suppress(BadRequest):
                await reach(
                    self.bot.edit_message_caption(
                        chat_id=ui_chat_id, message_id=message_id, caption=text
                    )
                )
                return
        await reach(self.bot.send_message(ui_chat_id, text))

    async def forget(self, ui_chat_id: int, message_id: int) -> None:
        with lane(Lane.QUEUE), contextlib.suppress(BadRequest):
            await reach(self.bot.delete_message(ui_chat_id, message_id))

    def room(self) -> int:
        if self.limiter is None:
            return UNLIMITED_ROOM
        return max(0, int(self.limiter.rate) - self.limiter.backlog())

    def behind(self) -> float:
        if self.limiter is None:
            return 0.0
        return self.limiter.waiting(Lane.CONNECT) / self.limiter.connect_rate


def _caption(lang: str, place: int, wait: float) -> str:
    if wait < 60:
        told = t(lang, "queue_wait_seconds", seconds=max(5, 5 * math.ceil(wait / 5)))
    else:
        told = t(lang, "queue_wait_minutes", minutes=math.ceil(wait / 60))
    return t(lang, "connect_queue", place=place, wait=told)
