"""Telegram's rate limit with answers first: the bot's `BaseRateLimiter`.

Telegram takes about 30 calls a second from one bot. python-telegram-bot's `AIORateLimiter` keeps
the bot under that with one leaky bucket whose waiters go first come, first served: while 5,000
people connect, an answer to somebody's /help waits behind thousands of queue photos and QR
edits. Here every call that counts against the limit (it names a `chat_id`) has a lane, and each
time the budget allows one more call, the lanes are served in this order:

1. ANSWER: a handler answering the update it handles (see `answering`): people who just wrote.
2. CONNECT: a connect attempt in its QR phase (the QR, its rotations, the message before it),
   up to its share of the budget (`connect_share`, half by default; see
   `bot.services.admission`): a QR expires, so it must not wait behind a crowd. The connect
   queue admits attempts at the pace this share carries.
3. QUEUE and OTHER, in turn: the first news of a place in line (the placeholder photo), and
   everything else (incoming WhatsApp messages, send confirmations, reports, "connected as").
   Taking turns, neither can hold up the other for long: a burst of 5,000 people joining the
   queue does not stop everybody else's messages, and those do not keep the line uninformed.
4. QUEUE_EDIT: a place in line, updated: it only says the line moved.
5. CONNECT beyond its share, when nobody else waits.

A call's lane comes from the task making it: `answering()` marks the task handling an update
(tasks it starts are not answers), `lane(...)` marks a block of calls. A call without `chat_id`
(getMe, answerCallbackQuery, setMyCommands) is not limited, as in `AIORateLimiter`. A
`RetryAfter` from Telegram halts every call for the time it names, and the call is tried again
(`max_retries` times). Groups keep Telegram's 20 messages a minute each.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from contextvars import ContextVar
from typing import Any

from aiolimiter import AsyncLimiter
from telegram._utils.types import JSONDict
from telegram.constants import FloodLimit
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)


class Lane(enum.IntEnum):
    """Whose call it is; see the module docstring for the order they are served in."""

    ANSWER = 0  # a handler answering the update it handles
    CONNECT = 1  # a connect attempt in its QR phase (its share of the budget is reserved)
    OTHER = 2  # everything else
    QUEUE = 3  # the first news of a place in the connect queue
    QUEUE_EDIT = 4  # a place in the connect queue, updated


_LANE: ContextVar[Lane] = ContextVar("telegram_lane", default=Lane.OTHER)
_ANSWERING: ContextVar[asyncio.Task[Any] | None] = ContextVar("telegram_answering", default=None)


def answering() -> None:
    """The current task handles an update: its calls are answers. Tasks it starts copy this
    mark but are other tasks, so their calls are not."""
    _ANSWERING.set(asyncio.current_task())


@contextlib.contextmanager
def lane(which: Lane) -> Iterator[None]:
    """The calls made in this block go in `which` lane (an answer stays an answer)."""
    token = _LANE.set(which)
    try:
        yield
    finally:
        _LANE.reset(token)


def current_lane() -> Lane:
    task = _ANSWERING.get()
    if task is not None and task is asyncio.current_task():
        return Lane.ANSWER
    return _LANE.get()


Callback = Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]]


class PriorityRateLimiter(BaseRateLimiter[int]):
    """A token bucket of `rate` calls a second (bursts of one second's worth, as aiolimiter's),
    handed out by lane. `rate_limit_args` of a bot method, if given, is its `max_retries`."""

    def __init__(
        self,
        rate: float = FloodLimit.MESSAGES_PER_SECOND,
        connect_share: float = 0.5,
        max_retries: int = 3,
    ) -> None:
        self.rate = rate
        self.connect_rate = rate * connect_share
        self.max_retries = max_retries
        self._tokens = rate
        self._connect_tokens = self.connect_rate
        self._stamp: float | None = None  # loop time of the last refill
        self._lines: dict[Lane, deque[asyncio.Future[None]]] = {which: deque() for which in Lane}
        self._queue_next = True  # QUEUE and OTHER take turns: whose turn it is
        self._timer: asyncio.TimerHandle | None = None
        self._paused_until = 0.0  # loop time: Telegram said RetryAfter
        self._groups: dict[int | str, AsyncLimiter] = {}

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --- what the bot's other parts may ask

    def waiting(self, which: Lane) -> int:
        """Calls of `which` lane waiting for their turn now."""
        return sum(1 for future in self._lines[which] if not future.done())

    def backlog(self) -> int:
        """Calls of every lane waiting for their turn now."""
        return sum(self.waiting(which) for which in Lane)

    # --- BaseRateLimiter

    async def process_request(
        self,
        callback: Callback,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        retries = self.max_retries if rate_limit_args is None else rate_limit_args
        chat_id = data.get("chat_id")
        with contextlib.suppress(ValueError, TypeError):
            chat_id = int(chat_id)  # type: ignore[arg-type]
        group = (
            chat_id
            if isinstance(chat_id, str) or (isinstance(chat_id, int) and chat_id < 0)
            else None
        )
        which = current_lane()
        attempt = 0
        while True:
            try:
                if chat_id is None:
                    await self._unpaused()
                    return await callback(*args, **kwargs)
                async with self._group(group) if group is not None else contextlib.nullcontext():
                    await self._turn(which)
                    return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt >= retries:
                    raise
                attempt += 1
                # As AIORateLimiter reads it: the public attribute warns unless PTB_TIMEDELTA.
                wait = exc._retry_after.total_seconds()
                log.info("Telegram asked to wait %.1f s (%s); every call waits", wait, endpoint)
                self._pause(wait + 0.1)

    # --- the bucket

    def _group(self, group: int | str) -> AsyncLimiter:
        limiter = self._groups.get(group)
        if limiter is None:
            if len(self._groups) > 512:  # forget groups whose whole minute is unused
                for key, old in list(self._groups.items()):
                    if old.has_capacity(old.max_rate):
                        del self._groups[key]
            limiter = AsyncLimiter(FloodLimit.MESSAGES_PER_MINUTE_PER_GROUP, 60)
            self._groups[group] = limiter
        return limiter

    async def _turn(self, which: Lane) -> None:
        """Wait until Telegram's budget has room for one call of `which` lane, and take it."""
        loop = asyncio.get_running_loop()
        self._refill(loop.time())
        if self._tokens >= 1 and not self._queued() and loop.time() >= self._paused_until:
            self._spend(which is Lane.CONNECT)
            return
        future: asyncio.Future[None] = loop.create_future()
        self._lines[which].append(future)
        self._dispatch()
        await future  # cancelled while waiting: `_next` skips it

    def _refill(self, now: float) -> None:
        if self._stamp is not None:
            elapsed = now - self._stamp
            self._tokens = min(self.rate, self._tokens + elapsed * self.rate)
            self._connect_tokens = min(
                self.connect_rate, self._connect_tokens + elapsed * self.connect_rate
            )
        self._stamp = now

    def _spend(self, connect: bool) -> None:
        self._tokens -= 1
        if connect:
            self._connect_tokens = max(0.0, self._connect_tokens - 1)

    def _dispatch(self) -> None:
        """Hand out every token there is, lane by lane; then wake up when the next one is due."""
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = loop.time()
        if now < self._paused_until:
            if self._queued():
                self._timer = loop.call_at(self._paused_until, self._dispatch)
            return
        self._refill(now)
        while self._tokens >= 1:
            chosen = self._next()
            if chosen is None:
                return
            future, reserved = chosen
            self._spend(reserved)
            future.set_result(None)
        if self._queued():
            self._timer = loop.call_at(now + (1 - self._tokens) / self.rate, self._dispatch)

    def _next(self) -> tuple[asyncio.Future[None], bool] | None:
        """The call that goes next, and whether it uses the connect lane's reserved share."""
        lines = self._lines
        for line in lines.values():
            while line and line[0].done():  # cancelled while waiting
                line.popleft()
        if lines[Lane.ANSWER]:
            return lines[Lane.ANSWER].popleft(), False
        if lines[Lane.CONNECT] and self._connect_tokens >= 1:
            return lines[Lane.CONNECT].popleft(), True
        queue, other = lines[Lane.QUEUE], lines[Lane.OTHER]
        if queue and other:
            self._queue_next = not self._queue_next
            return (other if self._queue_next else queue).popleft(), False
        for which in (Lane.QUEUE, Lane.OTHER, Lane.QUEUE_EDIT, Lane.CONNECT):
            if lines[which]:
                return lines[which].popleft(), False
        return None

    def _queued(self) -> bool:
        """Whether any call waits (a cancelled one may count until `_next` drops it)."""
        return any(self._lines.values())

    def _pause(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self._paused_until = max(self._paused_until, loop.time() + seconds)

    async def _unpaused(self) -> None:
        delay = self._paused_until - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)
