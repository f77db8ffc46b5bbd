"""The bulk runner: each started bulk has one, in the one replica that holds its lease (a `Lease`
named `bulk:<id>`; another replica takes it over within LEASE_SECONDS if this one dies). Every
`tick`, or at once when woken (`kick`, after a press or a Start on this replica), it looks at its
bulk and:

- releases HELD rows to the outbox (QUEUED, due now), a few ahead of the line's pace, never more
  than the daily cap still allows (SEND_DAILY_CAP over the same rolling 24 hours as /send: when
  it is reached, the bulk waits until the oldest message leaves the window, and says so). The
  worker takes each row's pacing slot when it sends it (±30 % spread for bulk rows), and the
  person's own messages first, so a /send typed meanwhile overtakes the bulk's next message;
- pauses the bulk itself when the line is in trouble: the line is no longer linked, the gateway
  says the account is not authorised (rows that failed for that are put back, to go on Resume),
  or it reports a yellow card (Green-API's spam warning, a tick's failure reason);
- ends it (DONE) once every recipient has an outcome, then shows the summary and the report;
  the summary keeps up with the ticks that come after (delivered, read) for TICKS_WINDOW;
- keeps its progress message in step, at most once every `BulkView.edit_every` seconds (at once
  when the state changed: the answer to a press, a self-pause, the summary).

Nothing here sends a WhatsApp message: the outbox worker does (`sender.py`), with its rules.
A restart goes on where it was: the progress message's id and what it shows are stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
from datetime import UTC, datetime, timedelta

from tortoise.expressions import Q

from bot.gateways.base import LineState
from bot.services import bulk_rows
from bot.services.bulk import ACTIVE, ENDED
from bot.services.bulk_rows import DISCONNECTED, LINE_ERRORS
from bot.services.leases import Leases
from bot.services.lines import Lines
from bot.services.outbox_queue import counted_today, used_today
from bot.services.ports import BulkFigures, BulkProgress, BulkView, UiUnavailable, UserUnreachable
from bot.services.sender import SendService
from bot.storage.models import (
    Bulk,
    BulkState,
    MessageStatus,
    OutgoingMessage,
    User,
    WhatsAppChat,
)

log = logging.getLogger(__name__)

YELLOW_CARD = "yellowCard"  # Green-API's tick failure: WhatsApp suspects spam
MAX_AHEAD = 500  # rows of one bulk released and waiting for the worker, at most
BACKOFF = 5.0  # seconds after a failed look at a bulk (the database, Telegram)
IDLE_LOOK = 2.0  # seconds between looks at a held bulk
# After the summary, it keeps up with the ticks that come (delivered, read) this long.
TICKS_WINDOW = timedelta(minutes=10)


class BulkRunner:
    def __init__(
        self,
        sender: SendService,
        view: BulkView,
        leases: Leases,
        lines: Lines,
        *,
        rate_per_minute: int,
        daily_cap: int,
        tick: float = 0.5,
        supervise_every: float = 1.0,
    ) -> None:
        self.sender = sender
        self.view = view
        self.leases = leases
        self.lines = lines
        self.rate_per_minute = rate_per_minute
        self.daily_cap = daily_cap
        self.tick = tick
        self.supervise_every = supervise_every
        # Released ahead of the pace: enough for two ticks, so the line never waits for us.
        spacing = 60 / rate_per_minute
        self.ahead = max(1, min(MAX_AHEAD, math.ceil(2 * tick / spacing)))
        self._runs: dict[int, asyncio.Task[None]] = {}
        self._wake: dict[int, asyncio.Event] = {}
        self._supervisor: asyncio.Task[None] | None = None
        self._kicks: set[asyncio.Task[None]] = set()

    # --- life cycle

    def start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise())

    async def stop(self) -> None:
        tasks = [t for t in (self._supervisor, *self._kicks, *self._runs.values()) if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._runs.clear()

    def kick(self, bulk_id: int) -> None:
        """Look at the bulk now (a press, a Start); it is run here if nobody runs it yet."""
        wake = self._wake.get(bulk_id)
        if wake is not None:
            wake.set()
        elif self._supervisor is not None:
            task = asyncio.get_running_loop().create_task(self._adopt_quietly(bulk_id))
            self._kicks.add(task)
            task.add_done_callback(self._kicks.discard)

    async def _adopt_quietly(self, bulk_id: int) -> None:
        try:
            await self._adopt([bulk_id])
        except Exception:  # the supervisor adopts it within a second anyway
            log.exception("bulk %s: could not be adopted", bulk_id)

    async def reconcile(self) -> None:
        """Run every bulk that needs a runner and that nobody else runs."""
        recent = _now() - TICKS_WINDOW
        wanted = await Bulk.filter(
            Q(state__in=ACTIVE)
            | Q(state__in=ENDED, reported_at__isnull=True)
            | Q(state__in=ENDED, reported_at__gte=recent)
        ).values_list("id", flat=True)
        await self._adopt([int(bulk_id) for bulk_id in wanted])  # type: ignore[call-overload]

    async def _adopt(self, bulk_ids: list[int]) -> None:
        for bulk_id in bulk_ids:
            # Looked at again after the claim: a kick may have adopted it meanwhile.
            claimed = bulk_id not in self._runs and await self.leases.claim(_lease(bulk_id))
            if claimed and bulk_id not in self._runs:
                self._spawn(bulk_id)

    async def _supervise(self) -> None:
        while True:
            try:
                await self.reconcile()
            except Exception:
                log.exception("bulk: supervision pass failed")
            await asyncio.sleep(self.supervise_every)

    def _spawn(self, bulk_id: int) -> None:
        wake = self._wake[bulk_id] = asyncio.Event()
        wake.set()  # a first look at once
        task = asyncio.create_task(self._serve(bulk_id, wake))
        self._runs[bulk_id] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._runs.get(bulk_id) is done:
                del self._runs[bulk_id]
                self._wake.pop(bulk_id, None)

        task.add_done_callback(forget)

    async def _serve(self, bulk_id: int, wake: asyncio.Event) -> None:
        while True:
            pause = self.tick
            wake.clear()
            try:
                if not await self.leases.holds(_lease(bulk_id)):
                    return  # it ran out (this replica stalled): another one runs the bulk
                following = await self.step(bulk_id)
                if following is None:
                    await self.leases.release(_lease(bulk_id))
                    return
                pause = following
            except (UiUnavailable, UserUnreachable) as exc:
                log.info("bulk %s: Telegram: %s", bulk_id, exc)
                pause = BACKOFF
            except Exception:
                log.exception("bulk %s: step failed", bulk_id)
                pause = BACKOFF
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), pause)

    # --- one look at a bulk

    async def step(self, bulk_id: int) -> float | None:
        """Release, pause, end, show: one look. The seconds to the next one; None once there is
        nothing left to do."""
        bulk = await Bulk.get_or_none(id=bulk_id).select_related("chat", "owner")
        if bulk is None or bulk.state.is_draft:
            return None
        figures = await bulk_rows.figures_of(bulk.id)
        if bulk.state in ACTIVE and await self._move(bulk, figures):
            await bulk.refresh_from_db()
            figures = await bulk_rows.figures_of(bulk.id)
        if bulk.state in ENDED and figures.queued + figures.sending == 0:
            if bulk.reported_at is None:
                await self._report(bulk, figures)
            elif _now() > bulk.reported_at + TICKS_WINDOW:
                return None
            else:  # the summary follows the ticks that come after the end
                await self._show(bulk, figures)
            return self.view.edit_every
        await self._show(bulk, figures)
        # Held (paused, or asking whether to stop): only a press moves it, and a press on this
        # replica wakes it at once; one on another is seen within IDLE_LOOK.
        return self.tick if bulk.state in (BulkState.RUNNING, BulkState.STOPPED) else IDLE_LOOK

    async def _move(self, bulk: Bulk, figures: BulkFigures) -> bool:
        """The bulk's next move; True when its state or rows changed."""
        if figures.left == 0:
            return await self._end(bulk, BulkState.DONE)
        if bulk.state is not BulkState.RUNNING:
            return False
        chat = await WhatsAppChat.get(id=bulk.chat.id)
        bulk.chat = chat
        if chat.state is LineState.RELEASED:  # disconnected: nothing more can go out
            await OutgoingMessage.filter(
                bulk_id=bulk.id, status__in=(MessageStatus.HELD, MessageStatus.QUEUED)
            ).update(status=MessageStatus.FAILED, error=DISCONNECTED)
            return await self._end(bulk, BulkState.STOPPED)
        trouble = await self._trouble(bulk, chat, figures)
        if trouble is not None:
            return await self._pause_itself(bulk, trouble)
        return await self._release(bulk, figures)

    async def _trouble(self, bulk: Bulk, chat: WhatsAppChat, figures: BulkFigures) -> str | None:
        """Why the line cannot go on now (a `pause_reason`), or None."""
        if chat.state is not LineState.AUTHORIZED:
            return "line"
        if any(error in LINE_ERRORS for error, _ in figures.failed):
            return "not_ready"
        since = bulk.running_since or bulk.started_at or _now()
        yellow = OutgoingMessage.filter(chat_id=chat.id, error=YELLOW_CARD, updated_at__gte=since)
        if await yellow.exists():
            return "yellow_card"
        return None

    async def _pause_itself(self, bulk: Bulk, reason: str) -> bool:
        changed = await Bulk.filter(id=bulk.id, state=BulkState.RUNNING).update(
            state=BulkState.PAUSED, pause_reason=reason
        )
        if not changed:
            return False
        await bulk_rows.hold_released(bulk.id)
        await bulk_rows.hold_refused(bulk.id)  # not sent because of the line: it goes on Resume
        log.info("bulk %s: paused itself (%s)", bulk.id, reason)
        return True

    async def _release(self, bulk: Bulk, figures: BulkFigures) -> bool:
        """Rows to the outbox, as many as keep the line busy and the daily cap allows."""
        want = min(self.ahead - figures.queued, figures.held)
        if want <= 0:
            return False
        room = self.daily_cap - await used_today(bulk.chat.id)
        if room <= 0:
            until = await self._cap_frees_at(bulk.chat.id)
            if until != bulk.cap_until:
                await Bulk.filter(id=bulk.id).update(cap_until=until)
                bulk.cap_until = until
            return False
        if bulk.cap_until is not None:
            await Bulk.filter(id=bulk.id).update(cap_until=None)
            bulk.cap_until = None
        ids = (
            await OutgoingMessage.filter(bulk_id=bulk.id, status=MessageStatus.HELD)
            .order_by("id")
            .limit(min(want, room))
            .values_list("id", flat=True)
        )
        now = _now()
        # `created_at`: the daily cap and SEND_RETRY_FOR count from the release.
        released = await OutgoingMessage.filter(id__in=list(ids), status=MessageStatus.HELD).update(
            status=MessageStatus.QUEUED, created_at=now, next_attempt_at=now
        )
        if not released:
            return False
        # A Pause (or Stop's question) pressed during this look held the queued rows before these
        # were released: read the state again after writing (the press writes the state, then
        # holds), so that one of the two always sees the other.
        if not await Bulk.filter(id=bulk.id, state=BulkState.RUNNING).exists():
            await bulk_rows.hold_released(bulk.id)
            return True
        self.sender.wake()
        return False  # the state is unchanged, and the figures' move shows at the next look

    async def _cap_frees_at(self, chat_id: int) -> datetime:
        """When the daily cap allows the line's next message: the oldest counted one leaves the
        24 hours then."""
        used = await used_today(chat_id)
        oldest = (
            await OutgoingMessage.filter(counted_today(), chat_id=chat_id)
            .order_by("created_at")
            .offset(max(0, used - self.daily_cap))
            .first()
        )
        at = oldest.created_at if oldest is not None else _now()
        return at + timedelta(days=1)

    async def _end(self, bulk: Bulk, state: BulkState) -> bool:
        changed = await Bulk.filter(id=bulk.id, state__in=ACTIVE).update(
            state=state, active_line=None, finished_at=_now(), cap_until=None
        )
        if changed:
            log.info("bulk %s: %s", bulk.id, state)
        return bool(changed)

    # --- what the person sees

    async def _show(self, bulk: Bulk, figures: BulkFigures) -> None:
        """The progress message, if what it shows changed: at once for a new state, else no
        sooner than `edit_every` after the last edit."""
        title = self.lines.gateway(bulk.chat.gateway).title
        progress = bulk_rows.progress_of(bulk, figures, self.rate_per_minute, self.daily_cap, title)
        face = _face(progress)
        if face == bulk.shown:
            return
        now = _now()
        new_state = (bulk.shown or "").rsplit(":", 1)[0] != face.rsplit(":", 1)[0]
        if not new_state and bulk.shown_at is not None:
            due = bulk.shown_at + timedelta(seconds=self.view.edit_every)
            if now < due:
                self._wake_at(bulk.id, due)
                return
        if bulk.owner.blocked_bot:
            return  # shown once they write to the bot again (the bulk goes on meanwhile)
        try:
            sent = await self.view.show(bulk, bulk.owner.language, progress)
        except UserUnreachable:
            log.info("bulk %s: its owner blocked the bot; the bulk goes on", bulk.id)
            await User.filter(id=bulk.owner.id).update(blocked_bot=True)
            return
        values: dict[str, object] = {"shown": face, "shown_at": _now()}
        if sent is not None:
            values["progress_message_id"] = bulk.progress_message_id = sent
        await Bulk.filter(id=bulk.id).update(**values)
        bulk.shown, bulk.shown_at = face, now

    async def _report(self, bulk: Bulk, figures: BulkFigures) -> None:
        """The summary (the progress message's last face), then the CSV report, once."""
        try:
            await self._show(bulk, figures)
            report = await bulk_rows.report_rows(bulk)
            await self.view.report(bulk, bulk.owner.language, report)
        except UserUnreachable:
            log.info("bulk %s: its owner blocked the bot; the report is not shown", bulk.id)
        await Bulk.filter(id=bulk.id, reported_at__isnull=True).update(reported_at=_now())
        log.info("bulk %s: reported", bulk.id)

    def _wake_at(self, bulk_id: int, when: datetime) -> None:
        wake = self._wake.get(bulk_id)
        delay = (when - _now()).total_seconds()
        if wake is not None and delay < self.tick:
            asyncio.get_running_loop().call_later(max(delay, 0.0), wake.set)


def _face(progress: BulkProgress) -> str:
    """A short fingerprint of what the message shows: `state:digest` (stored as `Bulk.shown`)."""
    digest = hashlib.sha1(repr(progress).encode(), usedforsecurity=False).hexdigest()[:16]
    return f"{progress.state}:{progress.pause_reason or ''}:{digest}"


def _lease(bulk_id: int) -> str:
    return f"bulk:{bulk_id}"


def _now() -> datetime:
    return datetime.now(UTC)
