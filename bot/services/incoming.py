"""Incoming WhatsApp messages → the Telegram user who owns the line; ticks and state news too.

Every linked line whose gateway can receive has one worker, in the one replica that holds the
line's lease (see `bot.services.leases`; another replica takes the line over if this one dies):

- POLL gateways (wapp.im, Green-API): the worker asks `receive(cursor)`, handles the events in
  order, and only then acknowledges them (Green-API deleteNotification) and stores the new cursor
  (wapp.im). When Telegram does not answer, the batch stops there: nothing is acknowledged, and
  the same events come again at the next poll.
- PUSH gateways (ITD): the bot's HTTP hook stores the messages (`accept_push`) and wakes the
  workers of the lines they go to, which show them.

A message is a row before Telegram is asked (unique per line and gateway id: a message the
gateway gives twice is shown once) and is marked forwarded once Telegram took it. A crash between
the two shows it once more after the restart (at most one per line and crash); nothing is lost.
A person who blocked the bot stops their own lines' workers only (a desk's line goes on: its team
answers it), and they start again when the person writes to the bot.

Each message lands in its conversation's topic in threaded mode (`topics.py`), flat otherwise.

Not forwarded, on purpose: what the account itself sent (from the phone), messages older than
the link (no history flood), and, while the line (or, in its topic, the conversation) is muted,
everything (the cursor moves on; the mute is read from the database right before each message is
shown, so a /mute confirmed on any replica holds at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from bot.gateways.base import (
    DeliveryUpdate,
    Download,
    Event,
    Gateway,
    GatewayError,
    Inbound,
    Line,
    LineState,
    MediaTooLargeError,
    NotFoundError,
    Reception,
    StateChange,
    UnsafeUrlError,
)
from bot.metrics import INCOMING
from bot.services.bulk import note_answer
from bot.services.desk import DeskService
from bot.services.leases import Leases
from bot.services.lines import Lines
from bot.services.ports import (
    LinkView,
    UiUnavailable,
    Undeliverable,
    UserUnreachable,
)
from bot.services.sender import SendService, mark_lost
from bot.services.topics import TopicService
from bot.storage.models import (
    InboundStatus,
    IncomingMessage,
    OutgoingMessage,
    User,
    WhatsAppChat,
)

log = logging.getLogger(__name__)

CONNECTING = [state for state in LineState if state.is_connecting]  # leased by the connect flow
MAX_FILE = 50 * 1024 * 1024  # Telegram's upload limit for bots: larger files arrive as a text
MAX_TEXT = 200_000  # characters of one message kept (longer is cut, and says so)
MAX_BACKOFF = 15.0  # seconds between tries while Telegram or the gateway is down, at most
# Seconds between reads of a line's row while its polls bring nothing (for a change made on
# another replica: a /mute is read where a message is shown, not here). Every read costs three
# queries; 10,000 lines polled every 5 s must not do them every other poll.
REREAD = 60.0
DOWNLOADS_AT_ONCE = 4  # files in memory at once (each up to MAX_FILE)


class IncomingService:
    def __init__(
        self,
        lines: Lines,
        topics: TopicService,
        link_view: LinkView,
        sender: SendService,
        desk: DeskService,
        leases: Leases,
        *,
        poll_interval: float,
        push_server: bool,
        supervise_every: float = 1.0,
    ) -> None:
        self.lines = lines
        self.topics = topics  # shows messages, in their conversation's topic or flat
        self.link_view = link_view
        self.sender = sender
        self.desk = desk
        self.leases = leases
        self.poll_interval = poll_interval
        self.push_server = push_server  # the HTTP server that push gateways call is running
        self.supervise_every = supervise_every
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._wake: dict[int, asyncio.Event] = {}
        self._supervisor: asyncio.Task[None] | None = None
        self._downloads = asyncio.Semaphore(DOWNLOADS_AT_ONCE)

    # --- life cycle

    def start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise())

    async def stop(self) -> None:
        tasks = [t for t in (self._supervisor, *self._workers.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._workers.clear()

    def kick(self, chat_id: int) -> None:
        """Wake the line's worker now (new rows to show, or a poll worth doing)."""
        if (wake := self._wake.get(chat_id)) is not None:
            wake.set()

    async def reconcile(self) -> None:
        """One worker per receiving, linked line whose owner can be reached and whose lease is
        ours (taken here when free); no more."""
        receiving = [
            name
            for name, gateway in self.lines.gateways.items()
            if gateway.reception is Reception.POLL
            or (gateway.reception is Reception.PUSH and self.push_server)
        ]
        # A desk's line keeps receiving when its owner blocked the bot: the team answers it.
        reachable = Q(owner__blocked_bot=False) | Q(desk__active=True)
        rows = await WhatsAppChat.filter(
            reachable, state=LineState.AUTHORIZED, gateway__in=receiving
        ).values("id", "lease_holder", "lease_until")
        now = _now()
        free = [
            int(row["id"])
            for row in rows
            if row["lease_holder"] in (None, self.leases.holder)
            or row["lease_until"] is None
            or row["lease_until"] < now
        ]
        held = await self.leases.claim_lines(free)
        wanted = {int(row["id"]) for row in rows} & held
        for chat_id in wanted - self._workers.keys():
            self._spawn(chat_id)
        for chat_id in self._workers.keys() - wanted:
            self._workers[chat_id].cancel()
        if held - wanted:  # lines of ours that stopped receiving (lost, blocked): let go
            await WhatsAppChat.filter(id__in=list(held - wanted), state__not_in=CONNECTING).update(
                lease_holder=None, lease_until=None
            )

    async def _supervise(self) -> None:
        while True:
            try:
                await self.reconcile()
            except Exception:
                log.exception("incoming: supervision pass failed")
            await asyncio.sleep(self.supervise_every)

    def _spawn(self, chat_id: int) -> None:
        wake = self._wake[chat_id] = asyncio.Event()
        task = asyncio.create_task(self._serve_line(chat_id, wake))
        self._workers[chat_id] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._workers.get(chat_id) is done:
                del self._workers[chat_id]
                self._wake.pop(chat_id, None)

        task.add_done_callback(forget)

    # --- one line

    async def _serve_line(self, chat_id: int, wake: asyncio.Event) -> None:
        """Poll (or, for a push line, show what was pushed) until the line stops receiving.

        The line's row (with its owner, one query) is read again only when there is a reason (a
        kick, a failure, every REREAD seconds for a change made on another replica), and stored
        rows are looked for only then too: an empty poll costs one gateway call and no database
        query.
        """
        loop = asyncio.get_running_loop()
        # Lines start spread over one interval: 10,000 pollers must not all fire at once.
        await _until(wake, random.uniform(0, self.poll_interval))
        failures = 0
        chat: WhatsAppChat | None = None
        read_again = 0.0  # when the row is read again (loop time)
        reachable = True
        while True:
            started = loop.time()
            fresh = chat is None or wake.is_set() or failures or started > read_again
            wake.clear()
            if fresh:
                chat = await WhatsAppChat.get_or_none(id=chat_id).select_related("owner")
                # The next read, spread: lines started together must not all read together.
                read_again = started + REREAD * random.uniform(0.5, 1.5)
                reachable = chat is not None and (
                    not chat.owner.blocked_bot or await self.desk.active_desk(chat) is not None
                )
            if chat is None or chat.state is not LineState.AUTHORIZED or not reachable:
                return
            gateway, line = self.lines.of(chat)
            pause = 0.0
            try:
                if fresh or gateway.reception is Reception.PUSH:
                    await self._flush(chat)
                if gateway.reception is Reception.POLL:
                    moved = await self._poll(chat, gateway, line)
                    pause = 0.0 if moved else self.poll_interval - (loop.time() - started)
                else:
                    pause = self.poll_interval  # rows pushed to another replica show up here
                failures = 0
            except UserUnreachable:
                log.info("incoming: the owner of chat %s blocked the bot; line paused", chat.id)
                await User.filter(id=chat.owner.id).update(blocked_bot=True)
                return
            except UiUnavailable as exc:
                failures += 1
                pause = _backoff(failures)
                log.info("incoming: Telegram unavailable (%s); retry in %.0f s", exc, pause)
            except GatewayError as exc:
                if exc.line_lost:
                    await self._lost(chat, exc.detail or exc.kind)
                    return
                failures += 1
                pause = max(_backoff(failures), exc.retry_after or 0.0)
                log.info("incoming: chat %s: %s (%s)", chat.id, exc.kind, exc.detail)
            except Exception:
                failures += 1
                pause = _backoff(failures)
                log.exception("incoming: chat %s failed", chat.id)
            if pause > 0:
                await _until(wake, pause)

    async def _poll(self, chat: WhatsAppChat, gateway: Gateway, line: Line) -> bool:
        """One poll; True when it moved (something new, acknowledged or a cursor step)."""
        received = await gateway.receive(line, chat.incoming_cursor)
        shown = 0
        for event in received.events:
            shown += await self._handle(chat, event)
        if received.ack is not None:
            await gateway.acknowledge(line, received.ack)
        moved = received.cursor is not None and received.cursor != chat.incoming_cursor
        if moved:
            await WhatsAppChat.filter(id=chat.id).update(incoming_cursor=received.cursor)
            chat.incoming_cursor = received.cursor
        return bool(shown) or received.ack is not None or moved

    async def _handle(self, chat: WhatsAppChat, event: Event) -> int:
        if isinstance(event, DeliveryUpdate):
            await self.sender.delivery_update([chat.id], event)
            return 0
        if isinstance(event, StateChange):
            await self._state_changed(chat, event)
            return 0
        if not _wanted(chat, event):
            return 0
        row = await _store(chat, event)
        if row is None:
            return 0
        await self._show(chat, row)
        return 1

    async def _flush(self, chat: WhatsAppChat) -> None:
        """Rows stored but not yet in Telegram (a crash, an outage, a push): in order."""
        for row in await IncomingMessage.filter(
            chat_id=chat.id, status=InboundStatus.PENDING
        ).order_by("id"):
            await self._show(chat, row)

    async def _show(self, chat: WhatsAppChat, row: IncomingMessage) -> None:
        await note_answer(chat, row)  # a STOP to a bulk send: left out of the next ones
        desk = await self.desk.active_desk(chat)
        # The owner's address book learns the conversation (a desk's: the member answering it).
        conversation = (
            await self.topics.conversation_for(chat.owner.id, chat.id, row)
            if desk is None
            else None
        )
        if await WhatsAppChat.filter(id=chat.id, muted=True).exists() or (
            conversation is not None and conversation.muted
        ):
            # Read here, not from the worker's copy of the line: a /mute given on any replica
            # (of the line, or of the conversation in its topic) holds from the moment it is
            # confirmed.
            await IncomingMessage.filter(id=row.id).update(status=InboundStatus.SKIPPED)
            return
        file, problem = (None, "") if not row.kind.has_file else await self._download(chat, row)
        await IncomingMessage.filter(id=row.id).update(attempts=row.attempts + 1)
        if desk is not None:  # a team's line: the desk decides who sees it
            await self.desk.route(desk, row, file, problem)
            INCOMING.labels(chat.gateway).inc()
            await IncomingMessage.filter(id=row.id).update(
                status=InboundStatus.FORWARDED, forwarded_at=_now()
            )
            return
        assert conversation is not None
        try:  # in the conversation's topic (threads), else flat
            message_id = await self.topics.show(chat.owner, conversation, row, file, problem)
        except Undeliverable:
            log.warning("incoming: message %s refused by Telegram; skipped", row.id)
            await IncomingMessage.filter(id=row.id).update(status=InboundStatus.SKIPPED)
            return
        INCOMING.labels(chat.gateway).inc()
        await IncomingMessage.filter(id=row.id).update(
            status=InboundStatus.FORWARDED,
            telegram_chat_id=chat.owner.id,
            telegram_message_id=message_id,
            forwarded_at=_now(),
        )

    async def _download(
        self, chat: WhatsAppChat, row: IncomingMessage
    ) -> tuple[Download | None, str]:
        if not row.media_url:
            return None, "missing"
        gateway, line = self.lines.of(chat)
        async with self._downloads:
            try:
                return await gateway.download(line, row.media_url, max_bytes=MAX_FILE), ""
            except MediaTooLargeError:
                return None, "too_large"
            except UnsafeUrlError as exc:
                log.warning("incoming: message %s: media refused (%s)", row.id, exc.detail)
                return None, "unsafe"
            except NotFoundError:
                return None, "expired"
            except GatewayError as exc:
                log.info("incoming: message %s: media not downloaded (%s)", row.id, exc.detail)
                return None, "unavailable"

    async def _state_changed(self, chat: WhatsAppChat, change: StateChange) -> None:
        unlinked = change.state in (LineState.LOGGED_OUT, LineState.AWAITING_QR)
        if not unlinked or (
            change.at is not None and chat.linked_at and change.at < chat.linked_at
        ):
            log.info("incoming: chat %s reports %s", chat.id, change.raw or change.state)
            return
        await self._lost(chat, f"the gateway reports {change.raw or change.state}")

    async def _lost(self, chat: WhatsAppChat, reason: str) -> None:
        await mark_lost(chat, reason)
        log.info("incoming: chat %s is no longer linked", chat.id)
        if not chat.owner.blocked_bot:
            with contextlib.suppress(UserUnreachable, UiUnavailable):
                await self.link_view.line_lost(chat, chat.owner.language)

    # --- pushes (the HTTP hooks)

    async def accept_push(self, gateway_name: str, hook: str, body: Any) -> int:
        """Events POSTed by a PUSH gateway; returns how many messages were stored. LookupError
        for a gateway that does not push; InvalidRequestError for a body it never sends;
        UiUnavailable when a tick could not be shown (the gateway may push it again)."""
        gateway = self.lines.gateways.get(gateway_name)
        if gateway is None or gateway.reception is not Reception.PUSH:
            raise LookupError(gateway_name)
        stored = 0
        for event in gateway.parse_push(hook, body):
            if isinstance(event, DeliveryUpdate):
                rows = await WhatsAppChat.filter(gateway=gateway_name).values("id")
                await self.sender.delivery_update([int(row["id"]) for row in rows], event)
            elif isinstance(event, Inbound):
                for chat in await self._push_targets(gateway_name, event):
                    if _wanted(chat, event) and await _store(chat, event) is not None:
                        stored += 1
                        self.kick(chat.id)
        return stored

    async def _push_targets(self, gateway_name: str, message: Inbound) -> list[WhatsAppChat]:
        """On a shared line: the user who last wrote to that contact through it, else every user
        with a chat on the line."""
        linked = WhatsAppChat.filter(gateway=gateway_name, state=LineState.AUTHORIZED)
        last = (
            await OutgoingMessage.filter(
                chat__gateway=gateway_name,
                chat__state=LineState.AUTHORIZED,
                recipient=message.chat[:32],
            )
            .order_by("-id")
            .first()
        )
        if last is not None:
            linked = linked.filter(id=last.chat_id)  # type: ignore[attr-defined]
        return list(await linked.prefetch_related("owner"))

    # --- for /status and /mute

    async def problem(self, chat: WhatsAppChat) -> str | None:
        """Why this line's incoming messages cannot reach Telegram, as a key, or None."""
        gateway, line = self.lines.of(chat)
        if gateway.reception is Reception.NONE:
            return "undocumented"
        if gateway.reception is Reception.PUSH and not self.push_server:
            return "no_server"
        try:
            return await gateway.receive_problem(line)
        except GatewayError:
            return None

    async def mute(self, chat: WhatsAppChat, muted: bool) -> None:
        chat.muted = muted
        await chat.save(update_fields=["muted", "updated_at"])
        self.kick(chat.id)  # its worker reads the row again (others read the mute per message)
        if not muted:
            # Unmuting does not replay: what came meanwhile and is still stored is dropped.
            await IncomingMessage.filter(chat_id=chat.id, status=InboundStatus.PENDING).update(
                status=InboundStatus.SKIPPED
            )


def _wanted(chat: WhatsAppChat, message: Inbound) -> bool:
    if message.from_me:
        return False
    if message.sent_at is not None and chat.linked_at is not None:
        # Whole seconds: gateways stamp messages in seconds, the link has microseconds.
        return message.sent_at >= chat.linked_at.replace(microsecond=0)
    return True


async def _store(chat: WhatsAppChat, message: Inbound) -> IncomingMessage | None:
    """The row for `message` (new, or stored but not yet shown); None when it was shown."""
    key = _clip(message.id, 255)
    existing = await IncomingMessage.get_or_none(chat_id=chat.id, gateway_message_id=key)
    if existing is None:
        try:
            return await IncomingMessage.create(
                chat_id=chat.id, gateway_message_id=key, **_fields(message)
            )
        except IntegrityError:  # stored meanwhile by a twin (a push delivered twice)
            existing = await IncomingMessage.get_or_none(chat_id=chat.id, gateway_message_id=key)
    return existing if existing is not None and existing.status is InboundStatus.PENDING else None


def _fields(message: Inbound) -> dict[str, Any]:
    text = _clean(message.text)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + "\n[…]"
    return {
        "conversation": _clip(message.chat, 64),
        "sender": _clip(message.sender, 32),
        "sender_name": _clip(message.sender_name, 128) or None,
        "group_name": _clip(message.group_name, 128) or None,
        "kind": message.kind,
        "text": text,
        "media_url": _clean(message.media_url) or None,
        "file_name": _clip(message.file_name, 255) or None,
        "mime_type": _clip(message.mime_type, 128) or None,
        "details": _clip(message.details, 255),
        "sent_at": message.sent_at,
    }


def _clean(value: str | None) -> str:
    """As stored: without NUL, which PostgreSQL cannot keep in text."""
    return (value or "").replace("\x00", "")


def _clip(value: str | None, length: int) -> str:
    return _clean(value)[:length]


async def _until(wake: asyncio.Event, seconds: float) -> None:
    """Wait until `wake` is set or `seconds` passed (`wait_for` would make a task per wait)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wake.wait()


def _backoff(failures: int) -> float:
    return float(min(2 ** (failures - 1), MAX_BACKOFF))


def _now() -> datetime:
    return datetime.now(UTC)
