"""The one way every Telegram update reaches the handlers, in both modes: stored first (see
`bot.services.updates`), then handled by the Application, then marked handled.

- Webhook mode: `push` stores the update before the HTTP answer (a twin is dropped there).
- Polling mode: the Updater puts updates on `queue`; each is stored before the next getUpdates
  confirms it to Telegram.
- Updates left by a replica that died (or by this process's previous run) are taken over and
  handled by `_sweep`, once a second.

Handlers run concurrently (as `concurrent_updates` would), at most MAX_AT_ONCE at a time, and
at most CONNECTS_AT_ONCE of them /connect: thousands of people pressing /connect at once join the
connect queue a few at a time, and everybody else's updates never wait for slots behind them.
What a handler sends counts as an answer (first in the rate limiter's line, `answering`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from telegram import Update

from bot.services.updates import UpdateLog
from bot.telegram.rate_limiter import answering

log = logging.getLogger(__name__)

MAX_AT_ONCE = 256  # updates handled at once (python-telegram-bot's own default)
CONNECTS_AT_ONCE = 16  # of them /connect (each a few database writes: enough to keep it busy)
SWEEP_EVERY = 1.0  # seconds between looks for updates a dead replica left
FORGET_EVERY = 600.0  # seconds between clean-ups of day-old updates


class UpdateFeed:
    def __init__(self, application: Any, log_: UpdateLog) -> None:
        """`application` is the python-telegram-bot Application (initialised before `start`)."""
        self.application = application
        self.updates = log_
        self.queue: asyncio.Queue[object] = asyncio.Queue()  # the polling Updater's queue
        self._slots = asyncio.Semaphore(MAX_AT_ONCE)
        self._connect_slots = asyncio.Semaphore(CONNECTS_AT_ONCE)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []

    def parse(self, data: dict[str, Any]) -> Update:
        return Update.de_json(data, self.application.bot)

    async def push(self, update: Update, payload: str) -> bool:
        """A webhook update and its JSON: stored, then handled in the background. False when it
        was seen before. Raises when it cannot be stored (Telegram should send it again)."""
        if not await self.updates.receive(update.update_id, payload):
            log.info("updates: update %s came again; handled once", update.update_id)
            return False
        self._handle(update)
        return True

    def start(self) -> None:
        self._loops = [asyncio.create_task(self._consume()), asyncio.create_task(self._sweep())]

    async def stop(self) -> None:
        """Stop taking updates and wait for the handlers under way (what is not finished stays
        stored, for the next start or another replica)."""
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _consume(self) -> None:
        """Polling: store each fetched update, then handle it."""
        while True:
            update = await self.queue.get()
            if not isinstance(update, Update):
                continue
            while True:
                try:
                    new = await self.updates.receive(update.update_id, json.dumps(update.to_dict()))
                    break
                except Exception:  # the database is down: hold the update, do not lose it
                    log.exception("updates: could not store update %s", update.update_id)
                    await asyncio.sleep(1.0)
            if new:
                self._handle(update)

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        forget_at = loop.time()
        while True:
            try:
                for _, payload in await self.updates.leftovers():
                    self._handle(self.parse(json.loads(payload)))
                if loop.time() >= forget_at:
                    await self.updates.forget_old()
                    forget_at = loop.time() + FORGET_EVERY
            except Exception:
                log.exception("updates: sweep failed")
            await asyncio.sleep(SWEEP_EVERY)

    def _handle(self, update: Update) -> None:
        task = asyncio.create_task(self._run(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, update: Update) -> None:
        answering()
        async with self._connect_slots if _connects(update) else self._slots:
            # Errors of handlers go to the Application's error handler; it returns once done.
            await self.application.process_update(update)
        try:
            await self.updates.handled(update.update_id)
        except Exception:  # not marked: handled again later, which handlers allow
            log.exception("updates: could not mark update %s handled", update.update_id)


def _connects(update: Update) -> bool:
    """/connect, or a button that starts one (Try again, New QR code)."""
    message, query = update.message, update.callback_query
    if message is not None and message.text:
        command = (message.text.split(maxsplit=1) or [""])[0]
        return command.split("@", 1)[0].lower() == "/connect"
    return query is not None and (query.data or "").split(":", 1)[0] == "connect"
