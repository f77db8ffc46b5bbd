"""The connect queue: /connect attempts enter the QR phase at the pace Telegram lets the bot show
their QR codes, first come, first served, and nobody takes more than a fair share of the spare
lines.

Fair use (at `enter`, admins exempt): a person holds at most MAX_LINES_PER_USER lines (linked or
connecting) and starts at most CONNECTS_PER_HOUR attempts in any hour; a refused /connect takes
nothing. Both are counted in the database, so replicas and restarts agree.

The pace. Telegram takes about 30 calls a second from one bot (`Pace.telegram_rate`). Half of
them are kept for connect attempts in their QR phase (`connect_share`), because a QR expires
(a minute at first, 20 s after each rotation) and must reach the phone in time; the other half
is everybody else's (answers, incoming messages, confirmations) and the queue's own messages.
An attempt costs about three calls of its half (`calls_per_attempt`): the QR, and either the
message before it and that message's removal (nobody waited) or two rotations of a QR left
unscanned for 100 s. So 30 × 0.5 / 3 = 5 attempts a second enter the QR phase, 300 a minute:
the 5,000th of 5,000 people arriving at once sees their QR after about 17 minutes, and every QR
shown on the way is still valid. Should the QR lane fall behind anyway (many QRs left unscanned,
rotating), admission waits until it caught up (`MAX_BEHIND`). Without Telegram's rate limiter
(benchmarks) there is no budget to keep: every attempt is admitted at once.

The queue lives in the database (`ConnectTicket`, first come first served by id; see
`bot.storage.models`), so it survives restarts and replicas share it. Admission slots come from
one clock row (`AdmissionClock`): a replica takes the slots that are due with a conditional
update, so the replicas together admit at the pace, each slot once. The replica that accepted
the /connect runs it when its turn comes (the attempts spread over the replicas as the load
balancer spread the /connect); if it does not take the turn within `HAND_OFF` (it died), any
other does. Only an admitted attempt takes a spare line from the gateway (the connect flow,
`bot.services.connect`).

While waiting: a person whose QR is more than `tell_after` (20 s) away gets one photo (a
placeholder, the place in line and the estimated wait in its caption) as soon as Telegram's
budget has room; its caption is edited as the line moves, at most every `edit_every` (10 s), and
the photo becomes their QR when their turn comes. One replica at a time tells (a job lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from tortoise.exceptions import IntegrityError

from bot.gateways.base import LineState
from bot.metrics import CONNECT_QUEUE
from bot.services.leases import Leases
from bot.services.ports import QueueView, UiUnavailable, UserUnreachable
from bot.storage.models import AdmissionClock, ConnectTicket, TicketState, User, WhatsAppChat

log = logging.getLogger(__name__)

# Lines a person holds: linked (or paused, restricted, unknown: still theirs at the gateway)
# or connecting.
HELD = [
    LineState.PROVISIONING,
    LineState.STARTING,
    LineState.AWAITING_QR,
    LineState.AUTHORIZED,
    LineState.SLEEPING,
    LineState.RESTRICTED,
    LineState.UNKNOWN,
]
HOUR = timedelta(hours=1)
WINDOW = 1.0  # seconds of slots an idle clock lets go at once (a lone /connect: at once)
MOST = 100  # attempts admitted in one pass, at most
MAX_BEHIND = 5.0  # seconds of QR messages waiting for Telegram: admission holds above this
TELL_EVERY = 1.0  # seconds between looks at who should see their place in line
HAND_OFF = 1.0  # seconds a due turn waits for the replica that accepted the attempt
KEEP = timedelta(days=1)  # tickets no longer waiting are forgotten after this
NEWS = "connect-queue-news"  # the job lease of the replica that tells places in line


@dataclass(frozen=True)
class Pace:
    """How fast the connect queue moves. Internal, not a setting: tests shrink it."""

    telegram_rate: float = 30.0  # Bot API calls a second Telegram takes from one bot
    connect_share: float = 0.5  # of them, kept for attempts in their QR phase
    calls_per_attempt: float = 3.0  # of that share, per attempt (see the module docstring)
    tell_after: float = 20.0  # a QR further away than this: the place in line is shown
    edit_every: float = 10.0  # a place in line is edited at most this often (per person)
    unpaced: bool = False  # no rate limiter (benchmarks): admit everybody at once

    @property
    def per_second(self) -> float:
        """Attempts admitted a second."""
        if self.unpaced:
            return math.inf
        return self.telegram_rate * self.connect_share / self.calls_per_attempt

    def wait(self, place: int) -> float:
        """Seconds until the attempt at `place` in line (1: the next) is admitted."""
        return 0.0 if self.unpaced else (place - 1) / self.per_second


class LimitReached(Exception):
    """A /connect refused by fair use: `limit` says which, `allowed` its value, `retry_at`
    (the hourly one) when the person may try again."""

    def __init__(
        self, limit: Literal["lines", "hourly"], allowed: int, retry_at: datetime | None = None
    ) -> None:
        super().__init__(limit)
        self.limit = limit
        self.allowed = allowed
        self.retry_at = retry_at


OnTurn = Callable[[ConnectTicket], Awaitable[bool]]


class Admission:
    def __init__(
        self,
        view: QueueView,
        leases: Leases,
        pace: Pace,
        *,
        max_lines: int,
        connects_per_hour: int,
        exempt: Callable[[int], bool],
        lead: float = 0.0,
    ) -> None:
        """`lead`: seconds from a turn to its QR, about (the gateway starts the line, and the
        connect flow polls its status: the QR comes with a poll)."""
        self.view = view
        self.leases = leases
        self.pace = pace
        self.max_lines = max_lines
        self.connects_per_hour = connects_per_hour
        self.exempt = exempt
        self.lead = lead
        self._wake = asyncio.Event()
        self._telling: set[int] = set()  # tickets whose photo or edit is on its way
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None

    # --- joining and leaving the line

    async def enter(
        self, user: User, ui_chat_id: int, gateway: str, *, wait: bool = True
    ) -> ConnectTicket:
        """Accept a /connect (LimitReached if fair use forbids it): in line, or admitted at
        once when `wait` is False (a person's own instance, an operator's line: neither takes
        a spare line). The caller holds the person's connect lock (`User.connecting`), so two
        attempts of one person are never counted at once."""
        if not self.exempt(user.id):
            await self._check(user.id)
        now = _now()
        ticket = await ConnectTicket.create(
            user_id=user.id,
            ui_chat_id=ui_chat_id,
            gateway=gateway,
            entered_by=self.leases.holder,
            state=TicketState.WAITING if wait else TicketState.ADMITTED,
            admitted_at=None if wait else now,
        )
        if wait:
            self._wake.set()
        return ticket

    async def _check(self, user_id: int) -> None:
        held = await WhatsAppChat.filter(owner_id=user_id, state__in=HELD).count()
        if held >= self.max_lines:
            raise LimitReached("lines", self.max_lines)
        since = _now() - HOUR
        started = await (
            ConnectTicket.filter(user_id=user_id, created_at__gt=since)
            .order_by("created_at")
            .values_list("created_at", flat=True)
        )
        if len(started) >= self.connects_per_hour:
            # The attempt that must leave the hour before one more fits in it.
            oldest = started[len(started) - self.connects_per_hour]
            raise LimitReached("hourly", self.connects_per_hour, oldest + HOUR)  # type: ignore[operator]

    async def place(self, user_id: int) -> int | None:
        """The person's place in line (1: next), None when they are not waiting."""
        ticket = await ConnectTicket.filter(user_id=user_id, state=TicketState.WAITING).first()
        if ticket is None:
            return None
        return await ConnectTicket.filter(state=TicketState.WAITING, id__lte=ticket.id).count()

    async def leave(self, user_id: int, lang: str) -> bool:
        """Cancel the person's waiting attempt (and say so); False when none was waiting."""
        ticket = await ConnectTicket.filter(user_id=user_id, state=TicketState.WAITING).first()
        if ticket is None:
            return False
        if not await ConnectTicket.filter(id=ticket.id, state=TicketState.WAITING).update(
            state=TicketState.CANCELLED
        ):
            return False  # its turn came meanwhile: the connect flow runs, and cancels
        with contextlib.suppress(UserUnreachable):
            await self.view.left(ticket.ui_chat_id, ticket.ui_message_id, lang)
        return True

    async def admit(self, ticket: ConnectTicket) -> bool:
        """The ticket's turn: False when it is no longer waiting (cancelled, or admitted by
        another replica)."""
        now = _now()
        done = await ConnectTicket.filter(id=ticket.id, state=TicketState.WAITING).update(
            state=TicketState.ADMITTED, admitted_at=now
        )
        return bool(done)

    async def resume(self, user_id: int) -> int | None:
        """An attempt started again after its replica died while getting a line: its ticket is
        admitted (never admitted twice); the photo that showed its place, if any, shows the QR."""
        await ConnectTicket.filter(user_id=user_id, state=TicketState.WAITING).update(
            state=TicketState.ADMITTED, admitted_at=_now()
        )
        ticket = await ConnectTicket.filter(user_id=user_id).order_by("-id").first()
        if ticket is None or ticket.state is not TicketState.ADMITTED or not ticket.ui_message_id:
            return None
        return int(ticket.ui_message_id)

    # --- the pace

    def start(self, on_turn: OnTurn) -> None:
        """Admit attempts as their turns come; `on_turn` starts one (False: it could not)."""
        self._runner = asyncio.create_task(self._run(on_turn))

    async def stop(self) -> None:
        tasks = [t for t in (self._runner, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, on_turn: OnTurn) -> None:
        loop = asyncio.get_running_loop()
        told_at = swept_at = 0.0
        while True:
            self._wake.clear()  # an attempt entering from now on wakes the next pass
            pause = 1.0
            try:
                pause = await self.admit_due(on_turn)
                if loop.time() - told_at >= TELL_EVERY:
                    told_at = loop.time()
                    if await self.leases.claim(NEWS):
                        await self.tell()
                if loop.time() >= swept_at:
                    swept_at = loop.time() + 600
                    await (
                        ConnectTicket.filter(created_at__lt=_now() - KEEP)
                        .exclude(state=TicketState.WAITING)
                        .delete()
                    )
            except Exception:
                log.exception("admission: pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(pause, TELL_EVERY))

    async def admit_due(self, on_turn: OnTurn) -> float:
        """Admit the attempts whose slots are due, oldest first; seconds until the next slot."""
        if self.view.behind() > MAX_BEHIND:
            return TELL_EVERY  # Telegram is behind with the QRs already shown: they go first
        rate = self.pace.per_second
        now = _now()
        clock = await self._clock(now)
        if clock.next_at > now:
            return (clock.next_at - now).total_seconds()
        if math.isinf(rate):
            start, slots = now, MOST
        else:
            start = max(clock.next_at, now - timedelta(seconds=WINDOW))
            slots = min(MOST, 1 + int((now - start).total_seconds() * rate))
        # More than there are slots: some may be taken meanwhile (Cancel, another replica).
        candidates = await (
            ConnectTicket.filter(state=TicketState.WAITING)
            .order_by("id")
            .limit(2 * slots + 2)
            .prefetch_related("user")
        )
        if not candidates:
            return TELL_EVERY
        overdue = (now - clock.next_at).total_seconds()
        if overdue < HAND_OFF:  # the turns of the attempts it accepted go to each replica
            ours = list(itertools.takewhile(self._ours, candidates))
            if not ours:  # their replica takes them now (if it is gone, we do after HAND_OFF)
                later = next((n for n, t in enumerate(candidates) if self._ours(t)), None)
                ours_due = HAND_OFF if later is None else later / rate
                return max(0.01, min(ours_due, HAND_OFF) - overdue)
            candidates = ours
        count = min(slots, len(candidates))
        next_at = start + timedelta(seconds=0 if math.isinf(rate) else count / rate)
        taken = await AdmissionClock.filter(id=1, turns=clock.turns).update(
            turns=clock.turns + count, next_at=next_at
        )
        if not taken:
            return 0.05  # another replica took these slots just now: look again soon
        admitted = 0
        for ticket in candidates:
            if admitted >= count:
                break
            if await on_turn(ticket):
                admitted += 1
        if len(candidates) <= admitted:
            return TELL_EVERY
        return max(0.0, (next_at - _now()).total_seconds())

    def _ours(self, ticket: ConnectTicket) -> bool:
        return ticket.entered_by in (None, self.leases.holder)

    async def _clock(self, now: datetime) -> AdmissionClock:
        clock = await AdmissionClock.get_or_none(id=1)
        if clock is None:
            try:
                clock = await AdmissionClock.create(id=1, next_at=now, turns=0)
            except IntegrityError:  # another replica made it at the same moment
                clock = await AdmissionClock.get(id=1)
        return clock

    # --- telling people their place

    async def tell(self) -> None:
        """Show places in line as Telegram's budget has room: a photo for whoever waits more
        than `tell_after` for the QR, then edits where the place changed (each person's at most
        every `edit_every`; the ones told longest ago first). Not close to a turn: an edit
        landing after the QR would put the old caption back under it."""
        room = self.view.room()
        if self.pace.unpaced or room <= 0:
            return  # nobody waits for Telegram's budget, or it has no room for news now
        rows = await (
            ConnectTicket.filter(state=TicketState.WAITING)
            .order_by("id")
            .values_list(
                "id", "ui_chat_id", "ui_message_id", "told_place", "told_at", "created_at",
                "user__language",
            )
        )  # fmt: skip
        CONNECT_QUEUE.set(len(rows))
        pace, now = self.pace, _now()
        within = min(5.0, pace.edit_every / 2)  # an edit goes out this soon, or not at all
        edits: list[tuple[datetime, int, int, int, str, int]] = []
        for place, (ticket, chat, message, told, told_at, created, lang) in enumerate(rows, 1):
            if ticket in self._telling:
                continue
            wait = pace.wait(place) + self.lead  # until the QR
            if message is None:
                waited = (now - created).total_seconds()
                if room > 0 and waited + wait > pace.tell_after:
                    room -= 1
                    self._tell(ticket, self._show(ticket, chat, lang, place, wait))
            elif (
                told != place
                and wait - self.lead > 2 * within
                and (told_at is None or (now - told_at).total_seconds() >= pace.edit_every)
            ):
                edits.append((told_at or created, ticket, chat, message, lang, place))
        edits.sort()
        for _, ticket, chat, message, lang, place in edits[: max(0, room)]:
            wait = pace.wait(place) + self.lead
            self._tell(ticket, self._move(ticket, chat, message, lang, place, wait, within))

    def _tell(self, ticket: int, telling: Coroutine[Any, Any, None]) -> None:
        self._telling.add(ticket)
        task = asyncio.create_task(telling)
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._telling.discard(ticket)
            if not finished.cancelled() and finished.exception() is not None:
                log.error("admission: telling a place failed", exc_info=finished.exception())

        task.add_done_callback(done)

    async def _show(self, ticket: int, chat: int, lang: str, place: int, wait: float) -> None:
        try:
            message = await self.view.waiting(chat, lang, place, wait)
        except UiUnavailable:
            return  # Telegram is down: the next pass tries again
        except UserUnreachable:
            await self._unreachable(ticket)
            return
        stored = await ConnectTicket.filter(
            id=ticket, state=TicketState.WAITING, ui_message_id__isnull=True
        ).update(ui_message_id=message, told_place=place, told_at=_now())
        if not stored:  # its turn came (or it was cancelled) while the photo was on its way
            with contextlib.suppress(UiUnavailable, UserUnreachable):
                await self.view.forget(chat, message)

    async def _move(
        self,
        ticket: int,
        chat: int,
        message: int,
        lang: str,
        place: int,
        wait: float,
        within: float,
    ) -> None:
        await ConnectTicket.filter(id=ticket, state=TicketState.WAITING).update(
            told_place=place, told_at=_now()
        )
        try:
            await self.view.moved(chat, message, lang, place, wait, within)
        except UiUnavailable:
            pass  # Telegram is down: the place is told again once it changes
        except UserUnreachable:
            await self._unreachable(ticket)

    async def _unreachable(self, ticket: int) -> None:
        """The person blocked the bot while waiting: they leave the line."""
        row = await ConnectTicket.get_or_none(id=ticket)
        if row is None:
            return
        if await ConnectTicket.filter(id=ticket, state=TicketState.WAITING).update(
            state=TicketState.CANCELLED
        ):
            await User.filter(id=row.user_id).update(  # type: ignore[attr-defined]
                blocked_bot=True, connecting=False
            )
            log.info("admission: user %s cannot be reached; left the line", row.user_id)  # type: ignore[attr-defined]


def _now() -> datetime:
    return datetime.now(UTC)
