"""The /connect flow: get a line, start it, show each QR as it rotates, report the linked account.

An attempt first waits for its turn in the connect queue (`bot.services.admission`: fair use,
and the pace at which Telegram lets the bot show QR codes); only once admitted does it take a
line from the gateway. Each attempt is an asyncio task; its progress lives in the `WhatsAppChat` row (state, deadline,
the Telegram message that shows it), and the replica running it holds the row's lease. Before the
row exists (the gateway is still handing out a line) the replica holds an ACQUIRING lease naming
the user, the chat and the gateway. `adopt` (at start and every second) takes over every attempt
whose lease ran out, so after a crash or `kill -9` of its replica the person still gets their QR,
their name and phone (an attempt caught getting a line starts again). One attempt per
user at a time, guarded by a conditional update on `User.connecting`. The outcomes (linked,
expired, cancelled, failed) are conditional updates too: of a scan and a Cancel at the same
moment, on two replicas, exactly one wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import Q

from bot.gateways.base import Enrolment, Gateway, GatewayError, Line, LineState, LineStatus
from bot.logs import mask_phone
from bot.metrics import CONNECTS
from bot.services.admission import Admission
from bot.services.leases import Leases
from bot.services.lines import Lines
from bot.services.ports import ConnectView, Outcome, Ui, UiUnavailable, UserUnreachable
from bot.services.qr_image import qr_png
from bot.storage.models import ConnectTicket, Lease, User, WhatsAppChat

log = logging.getLogger(__name__)

CONNECTING = [state for state in LineState if state.is_connecting]
# A /connect lock older than this without a chat row: its replica died while getting a line.
ACQUIRE_GRACE = timedelta(minutes=2)
# The Lease held while the gateway hands out a line: f"{ACQUIRING}:{user}:{ui chat}:{gateway}".
ACQUIRING = "connect-acquiring"


class AlreadyConnecting(Exception):
    """The user has an attempt running (or waiting at `place` in line); they can use it or
    /cancel it."""

    def __init__(self, place: int | None = None) -> None:
        super().__init__(place)
        self.place = place


class ConnectService:
    def __init__(
        self,
        lines: Lines,
        view: ConnectView,
        leases: Leases,
        admission: Admission,
        *,
        poll_interval: float,
        timeout: float,
        adopt_every: float = 1.0,
    ) -> None:
        self.lines = lines
        self.view = view
        self.leases = leases
        self.admission = admission
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.adopt_every = adopt_every
        self._tasks: dict[int, asyncio.Task[None]] = {}  # by user id
        self._watching: dict[int, int] = {}  # chat id → user id, for the attempts with a row
        self._unsaved: dict[int, tuple[Ui, str]] = {}
        self._orphans: set[asyncio.Task[None]] = set()
        self._adopter: asyncio.Task[None] | None = None

    async def start(
        self,
        user: User,
        ui_chat_id: int,
        gateway: str | None = None,
        credentials: dict[str, str] | None = None,
    ) -> None:
        """Begin an attempt: in line for its turn (a line from the gateway's spare pool), else
        at once in the background. Raises AlreadyConnecting, or LimitReached (fair use)."""
        if not await self._lock(user.id):
            raise AlreadyConnecting(await self.admission.place(user.id))
        driver = self.lines.gateway(gateway)
        spare = driver.enrolment is Enrolment.SPARE  # a person's own instance cannot wait:
        try:  # its credentials are never stored
            await self.admission.enter(user, ui_chat_id, driver.name, wait=spare)
        except BaseException:
            await self._unlock(user.id)
            raise
        if not spare:
            await self.leases.claim(_acquiring(user.id, ui_chat_id, driver.name))
            self._spawn(user.id, self._attempt(user, ui_chat_id, driver, credentials))

    async def take_turn(self, ticket: ConnectTicket) -> bool:
        """A waiting attempt's turn came: it starts here, getting a line (False: it was
        cancelled meanwhile, or another replica started it)."""
        user: User = ticket.user
        gateway = self.lines.gateways.get(ticket.gateway)
        key = _acquiring(user.id, ticket.ui_chat_id, ticket.gateway)
        if user.id in self._tasks or not await self.leases.claim(key):
            return False
        if not await self.admission.admit(ticket):
            await self.leases.release(key)
            return False
        if gateway is None:  # no longer enabled (a restart with other GATEWAYS)
            await self.leases.release(key)
            await self._unlock(user.id)
            return True
        ui = Ui(ticket.ui_chat_id, ticket.ui_message_id, True) if ticket.ui_message_id else None
        self._spawn(user.id, self._attempt(user, ticket.ui_chat_id, gateway, None, ui))
        return True

    async def expect_credentials(self, user: User, gateway: str | None) -> None:
        """The user's next plain message holds `gateway`'s credentials (None: it no longer
        does). Kept in the database: a restart in between must not leave a token in the chat."""
        await User.filter(id=user.id).update(awaiting_credentials=gateway)
        user.awaiting_credentials = gateway

    async def take_expected_credentials(self, user: User) -> str | None:
        """The gateway whose credentials were asked for, once: the question is used up."""
        gateway = user.awaiting_credentials
        if gateway is None:
            return None
        await self.expect_credentials(user, None)
        return gateway

    async def cancel(self, user_id: int) -> bool:
        """Stop the user's running (or waiting) attempt; False when there was none."""
        if await self.admission.leave(user_id, (await User.get(id=user_id)).language):
            await self._unlock(user_id)
            return True
        task = self._tasks.pop(user_id, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        chat = await self._connecting_chat(user_id)
        unsaved = self._unsaved.pop(user_id, None)
        if chat is None and task is None:
            await self._unlock(user_id)
            return False
        if chat is not None:
            user = await User.get(id=user_id)
            await self._end(chat, user.language, Outcome.CANCELLED, None)
        elif unsaved is not None:  # cancelled while the gateway was handing out the line
            ui, lang = unsaved
            with contextlib.suppress(UserUnreachable):
                await self.view.ended(ui, lang, Outcome.CANCELLED, None)
        await self._unlock(user_id)
        return True

    async def pairing_code(self, user_id: int, phone: str) -> str | None:
        """A code to link by phone number instead of the QR; None when no attempt is running."""
        chat = await self._connecting_chat(user_id)
        if chat is None:
            return None
        gateway, line = self.lines.of(chat)
        return await gateway.pairing_code(line, phone)

    async def adopt(self) -> int:
        """Take over every attempt nobody runs (its replica stopped or died), and stop running
        the ones another replica has taken or cancelled. Returns how many were taken over."""
        # Only attempts watched before this pass are judged by it: one that stores its row
        # meanwhile is not in the answers below, and must not be stopped for that.
        watched = dict(self._watching)
        connecting = Q(state__in=CONNECTING, connect_deadline__not_isnull=True)
        expired = Q(lease_until__isnull=True) | Q(lease_until__lt=_now())
        orphans = await WhatsAppChat.filter(connecting, expired).values("id")
        if orphans:
            await self.leases.claim_lines([int(row["id"]) for row in orphans])
        # Ids only: with thousands of people connecting, loading every row each second would
        # keep the event loop busy.
        mine = await WhatsAppChat.filter(connecting, lease_holder=self.leases.holder).values("id")
        ours = {int(row["id"]) for row in mine}
        for chat_id, user_id in watched.items():
            if chat_id not in ours and self._watching.get(chat_id) == user_id:
                del self._watching[chat_id]
                task = self._tasks.get(user_id)
                if task is not None:
                    log.info("connect: chat %s is no longer ours; its watcher stops", chat_id)
                    task.cancel()
        unwatched = [chat_id for chat_id in ours if chat_id not in self._watching]
        running = (
            await WhatsAppChat.filter(connecting, id__in=unwatched).prefetch_related("owner")
            if unwatched
            else []
        )
        adopted = 0
        for chat in running:
            # Skipped: an attempt of this replica that is storing the row right now.
            if chat.id not in self._watching and chat.owner.id not in self._tasks:
                await User.filter(id=chat.owner.id).update(connecting=True)
                self._watching[chat.id] = chat.owner.id
                self._spawn(chat.owner.id, self._watch(chat, chat.owner.language))
                adopted += 1
        adopted += await self._adopt_acquiring()
        if adopted:
            log.info("connect: took over %d attempt(s)", adopted)
        return adopted

    async def _adopt_acquiring(self) -> int:
        """Attempts whose replica died while the gateway was handing out a line (no chat row
        yet, an ACQUIRING lease run out) start again here, on the same gateway. One that came
        with credentials cannot (they are never stored): its lock is lifted instead, so the
        person's next /connect works at once."""
        keys = await Lease.filter(key__startswith=f"{ACQUIRING}:", expires_at__lt=_now()).values(
            "key"
        )
        restarted = 0
        for key in (str(row["key"]) for row in keys):
            if not await self.leases.claim(key):
                continue  # another replica was first
            _, user_id, ui_chat_id, name = key.split(":", 3)
            user = await User.get_or_none(id=int(user_id))
            gateway = self.lines.gateways.get(name)
            if (
                user is None
                or not user.connecting
                or user.id in self._tasks
                or await self._connecting_chat(user.id) is not None
            ):
                await self.leases.release(key)  # it ended, or got past getting its line
            elif gateway is None or gateway.enrolment is Enrolment.CREDENTIALS:
                await self._unlock(user.id)
                await self.leases.release(key)
            else:
                log.info("connect: user %s was getting a line on a dead replica; again", user.id)
                shown = await self.admission.resume(user.id)
                ui = Ui(int(ui_chat_id), shown, True) if shown else None
                self._spawn(user.id, self._attempt(user, int(ui_chat_id), gateway, None, ui))
                restarted += 1
        return restarted

    def start_adopting(self) -> None:
        """Take over attempts left by dead replicas, and admit waiting ones as turns come."""
        self._adopter = asyncio.create_task(self._adopt_forever())
        self.admission.start(self.take_turn)

    async def _adopt_forever(self) -> None:
        while True:
            await asyncio.sleep(self.adopt_every)
            try:
                await self.adopt()
            except Exception:
                log.exception("connect: adoption pass failed")

    async def shutdown(self) -> None:
        """Stop the tasks without ending the attempts: another replica, or the next start,
        takes them over."""
        tasks = [t for t in (self._adopter, *self._tasks.values()) if t is not None]
        self._tasks.clear()
        self._watching.clear()
        # At once: an attempt left running while the rest stops starts new Telegram calls, and
        # one cut short just after it opened a connection can leave that socket unclosed.
        for task in tasks:
            task.cancel()
        await self.admission.stop()  # which cancels its own tasks before it awaits anything
        await asyncio.gather(*tasks, return_exceptions=True)

    def running(self, user_id: int) -> bool:
        return user_id in self._tasks

    def _spawn(self, user_id: int, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._guard(user_id, coro))
        self._tasks[user_id] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._tasks.get(user_id) is done:
                del self._tasks[user_id]
                # An attempt still in the database (its watcher died, e.g. Telegram was down)
                # is picked up again by the next `adopt` pass, a second from now.
                for chat_id in [c for c, u in self._watching.items() if u == user_id]:
                    del self._watching[chat_id]
            if not done.cancelled() and done.exception() is not None:
                log.error("connect task failed", exc_info=done.exception())

        task.add_done_callback(forget)

    async def _guard(self, user_id: int, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except _Superseded:
            log.info("connect: the attempt of user %s was ended elsewhere", user_id)
        except UiUnavailable:
            # With a chat row the attempt resumes (see `forget`); without one, nothing was
            # shown or taken yet: the person can simply /connect again.
            log.info("connect: Telegram is unavailable during user %s's attempt", user_id)
            if await self._connecting_chat(user_id) is None:
                await self._unlock(user_id)
        except UserUnreachable:
            # They blocked the bot: stop polling and give the line back, no retries into a wall.
            log.info("connect: user %s cannot be reached; attempt abandoned", user_id)
            await User.filter(id=user_id).update(blocked_bot=True, connecting=False)
            chat = await self._connecting_chat(user_id)
            released = {"state": LineState.RELEASED, "connect_deadline": None}
            if chat is not None and await self._conclude(chat, **released, lease_holder=None):
                await self._release(chat)

    async def _attempt(
        self,
        user: User,
        ui_chat_id: int,
        gateway: Gateway,
        credentials: dict[str, str] | None,
        ui: Ui | None = None,
    ) -> None:
        try:
            chat = await self._acquire(user, ui_chat_id, gateway, credentials, ui)
        finally:  # from here on, the chat row's lease says who runs the attempt (if any)
            await self.leases.release(_acquiring(user.id, ui_chat_id, gateway.name))
        if chat is not None:
            await self._watch(chat, user.language)

    async def _acquire(
        self,
        user: User,
        ui_chat_id: int,
        gateway: Gateway,
        credentials: dict[str, str] | None,
        ui: Ui | None,
    ) -> WhatsAppChat | None:
        """Get a line and store the attempt's chat row (None: the gateway gave no line). `ui`:
        the photo that showed the attempt's place in line; else a message is sent now."""
        lang = user.language
        ui = ui or await self.view.begin(ui_chat_id, lang)
        self._unsaved[user.id] = (ui, lang)  # until the chat row exists, /cancel needs this
        # Shielded: a /cancel now must not lose a line the gateway already handed out.
        acquiring = asyncio.ensure_future(gateway.acquire(credentials))
        try:
            line = await asyncio.shield(acquiring)
        except asyncio.CancelledError:
            acquiring.add_done_callback(lambda done: self._give_back(gateway, done))
            raise
        except GatewayError as exc:
            self._unsaved.pop(user.id, None)
            log.info("connect: %s gave no line: %s", gateway.name, exc.detail)
            await self._unlock(user.id)
            await self.view.ended(ui, lang, Outcome.FAILED, exc)
            return None
        if gateway.enrolment is not Enrolment.OPERATOR:
            # The gateway recycles instances: an older chat of ours on the same one was wiped.
            # (An operator's line is shared on purpose: every chat on it stays.)
            await (
                WhatsAppChat.filter(gateway=gateway.name, instance_id=line.instance_id)
                .exclude(state=LineState.RELEASED)
                .update(
                    state=LineState.LOGGED_OUT,
                    lost_reason="the gateway gave the line to someone else",
                )
            )
        chat = await WhatsAppChat.create(
            owner_id=user.id,
            gateway=gateway.name,
            instance_id=line.instance_id,
            token_secret=self.lines.seal(line),
            options=line.options,
            state=LineState.PROVISIONING,
            connect_deadline=_now() + timedelta(seconds=self.timeout),
            ui_chat_id=ui.chat_id,
            ui_message_id=ui.message_id,
            ui_is_photo=ui.is_photo,
            lease_holder=self.leases.holder,
            lease_until=self.leases.until,
        )
        self._unsaved.pop(user.id, None)
        self._watching[chat.id] = user.id
        log.info(
            "connect: user %s got %s line %s (chat %s)",
            user.id,
            gateway.name,
            line.instance_id,
            chat.id,
        )
        return chat

    async def _watch(self, chat: WhatsAppChat, lang: str) -> None:
        gateway, line = self.lines.of(chat)
        ui = Ui(chat.ui_chat_id or 0, chat.ui_message_id or 0, chat.ui_is_photo)
        if chat.state is LineState.PROVISIONING:
            try:
                await gateway.start(line)
            except GatewayError as exc:
                if not exc.retriable:
                    await self._end(chat, lang, Outcome.FAILED, exc)
                    return
            await self._set(chat, state=LineState.STARTING)
        deadline = chat.connect_deadline or _now()
        while _now() < deadline:
            try:
                status = await gateway.status(line)
            except GatewayError as exc:
                if not (exc.retriable or exc.kind == "network"):
                    await self._end(chat, lang, Outcome.FAILED, exc)
                    return
                log.info("connect: status of chat %s failed (%s); polling on", chat.id, exc.kind)
            else:
                if status.state is LineState.AUTHORIZED:
                    await self._linked(chat, lang, gateway, line, ui)
                    return
                if status.state in (LineState.BLOCKED, LineState.RESTRICTED):
                    await self._end(chat, lang, Outcome.REFUSED, None, final_state=status.state)
                    return
                ui = await self._show(chat, lang, status, ui)
            await asyncio.sleep(self.poll_interval)
        await self._end(chat, lang, Outcome.EXPIRED, None)

    async def _show(self, chat: WhatsAppChat, lang: str, status: LineStatus, ui: Ui) -> Ui:
        if status.state.value != chat.state.value:
            await self._set(chat, state=status.state, state_raw=status.raw[:64])
        if status.qr is None or status.qr.fingerprint == chat.qr_fingerprint:
            return ui
        await self._set(chat, lease_until=self.leases.until)  # still ours: not cancelled
        first, later = self.lines.gateway(chat.gateway).qr_lifetimes
        valid_until = _now() + timedelta(seconds=first if chat.qr_count == 0 else later)
        ui = await self.view.show_qr(ui, lang, qr_png(status.qr), valid_until)
        await self._set(
            chat,
            qr_fingerprint=status.qr.fingerprint,
            qr_count=chat.qr_count + 1,
            ui_message_id=ui.message_id,
            ui_is_photo=ui.is_photo,
        )
        return ui

    async def _linked(
        self, chat: WhatsAppChat, lang: str, gateway: Gateway, line: Line, ui: Ui
    ) -> None:
        account = None
        for _ in range(3):
            try:
                account = await gateway.account(line)
                break
            except GatewayError as exc:
                log.info("connect: account of chat %s failed (%s)", chat.id, exc.kind)
                await asyncio.sleep(self.poll_interval)
        linked = {
            "state": LineState.AUTHORIZED,
            "state_raw": "",
            "account_name": account.name if account else None,
            "account_phone": account.phone if account else None,
            "linked_at": _now(),
            "connect_deadline": None,
            # The line's incoming poller is whoever claims it next (any replica).
            "lease_holder": None,
            "lease_until": None,
        }
        if not await self._conclude(chat, **linked):
            return  # cancelled meanwhile (on another replica): that outcome stands
        await User.filter(id=chat.owner_id).update(active_chat_id=chat.id, connecting=False)  # type: ignore[attr-defined]
        CONNECTS.labels("linked").inc()
        log.info("connect: chat %s linked as %s", chat.id, mask_phone(chat.account_phone))
        await self.view.connected(ui, lang, chat)

    async def _end(
        self,
        chat: WhatsAppChat,
        lang: str,
        outcome: Outcome,
        error: GatewayError | None,
        final_state: LineState = LineState.RELEASED,
    ) -> None:
        ended = await self._conclude(
            chat, state=final_state, connect_deadline=None, lease_holder=None, lease_until=None
        )
        if not ended:
            return  # linked or ended meanwhile, by this replica or another: that outcome stands
        CONNECTS.labels(str(outcome)).inc()
        await self._unlock(chat.owner_id)  # type: ignore[attr-defined]
        if final_state is LineState.RELEASED:
            await self._release(chat)
        ui = Ui(chat.ui_chat_id or 0, chat.ui_message_id or 0, chat.ui_is_photo)
        log.info("connect: chat %s ended: %s", chat.id, outcome)
        await self.view.ended(ui, lang, outcome, error)

    def _give_back(self, gateway: Gateway, acquiring: asyncio.Future[Line]) -> None:
        """A line acquired for an attempt that was cancelled meanwhile goes back to the gateway."""
        if acquiring.cancelled() or acquiring.exception() is not None:
            return
        task = asyncio.create_task(self._release_line(gateway, acquiring.result()))
        self._orphans.add(task)
        task.add_done_callback(self._orphans.discard)

    async def _release_line(self, gateway: Gateway, line: Line) -> None:
        try:
            await gateway.release(line)
        except GatewayError as exc:
            log.info(
                "connect: release of %s line %s failed (%s)",
                gateway.name,
                line.instance_id,
                exc.kind,
            )

    async def _release(self, chat: WhatsAppChat) -> None:
        gateway, line = self.lines.of(chat)
        await self._release_line(gateway, line)

    async def _connecting_chat(self, user_id: int) -> WhatsAppChat | None:
        return (
            await WhatsAppChat.filter(
                owner_id=user_id,
                state__in=[s for s in LineState if s.is_connecting],
                connect_deadline__not_isnull=True,
            )
            .order_by("-id")
            .first()
        )

    async def _conclude(self, chat: WhatsAppChat, **values: object) -> bool:
        """The attempt's outcome, once: only while the row still says it is connecting."""
        done = await WhatsAppChat.filter(
            id=chat.id, state__in=CONNECTING, connect_deadline__not_isnull=True
        ).update(**values, updated_at=_now())
        self._watching.pop(chat.id, None)
        if done:
            for key, value in values.items():
                setattr(chat, key, value)
        return bool(done)

    async def _lock(self, user_id: int) -> bool:
        """One attempt per user. A lock whose replica died while getting a line (no chat row
        after ACQUIRE_GRACE) is taken over."""
        now = _now()
        if await User.filter(id=user_id, connecting=False).update(
            connecting=True, connect_started_at=now
        ):
            return True
        if await self._connecting_chat(user_id) is not None or user_id in self._tasks:
            return False
        if await self.admission.place(user_id) is not None:  # waiting in line: a live lock
            return False
        stale = Q(connect_started_at__isnull=True) | Q(connect_started_at__lt=now - ACQUIRE_GRACE)
        return bool(
            await User.filter(stale, id=user_id, connecting=True).update(connect_started_at=now)
        )

    @staticmethod
    async def _unlock(user_id: int) -> None:
        await User.filter(id=user_id).update(connecting=False)

    async def _set(self, chat: WhatsAppChat, **values: object) -> None:
        """Progress of a running attempt of ours; _Superseded when it is no longer ours (ended or
        taken over meanwhile, perhaps by another replica): the watcher stops quietly."""
        changed = await WhatsAppChat.filter(
            id=chat.id,
            state__in=CONNECTING,
            connect_deadline__not_isnull=True,
            lease_holder=self.leases.holder,
        ).update(**values, updated_at=_now())
        if not changed:
            raise _Superseded
        for key, value in values.items():
            setattr(chat, key, value)


class _Superseded(Exception):
    """The attempt this watcher runs was ended elsewhere."""


def _acquiring(user_id: int, ui_chat_id: int, gateway: str) -> str:
    return f"{ACQUIRING}:{user_id}:{ui_chat_id}:{gateway}"


def _now() -> datetime:
    return datetime.now(UTC)
