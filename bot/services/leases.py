"""Leases: how several replicas on one database share the work without doing any of it twice.

Work that must run in one place at a time is claimed with a conditional update that only
succeeds when nobody holds it or the holder's lease ran out, and the holder renews its leases
every LEASE_SECONDS / 3. A replica that dies (`kill -9`) stops renewing; within LEASE_SECONDS
another one takes the work over. Four kinds of work, four places the lease is kept:

- a line (`WhatsAppChat.lease_*`): its connect flow, then its incoming-message poller;
- a message being sent (`OutgoingMessage.lease_*`): a lease that runs out while the row is still
  `sending` means the replica died mid-call (the ambiguous-outcome rule applies);
- a Telegram update being handled (`TelegramUpdate.lease_*`, see `updates.py`);
- a job that runs once (`Lease` rows): the link check, the one Telegram getUpdates consumer.

With SQLite there is one process by design: its leases are cleared at start (`forget_all`), so a
restart after a crash picks its work up at once instead of waiting for the leases to expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from bot.storage.models import (
    ConnectTicket,
    Lease,
    MessageStatus,
    OutgoingMessage,
    TelegramUpdate,
    TicketState,
    WhatsAppChat,
)

log = logging.getLogger(__name__)


class Leases:
    def __init__(self, seconds: float, holder: str | None = None) -> None:
        self.seconds = seconds
        self.holder = holder or f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._renewer: asyncio.Task[None] | None = None

    @property
    def until(self) -> datetime:
        return _now() + timedelta(seconds=self.seconds)

    def free(self) -> Q:
        """The filter of rows whose lease anyone may take: none, expired, or already ours."""
        return Q(lease_until__isnull=True) | Q(lease_until__lt=_now()) | Q(lease_holder=self.holder)

    # --- lines

    async def claim_lines(self, chat_ids: list[int]) -> set[int]:
        """Take the lines among `chat_ids` nobody else holds; returns every line held by us."""
        if chat_ids:
            await WhatsAppChat.filter(self.free(), id__in=chat_ids).update(
                lease_holder=self.holder, lease_until=self.until
            )
        rows = await WhatsAppChat.filter(lease_holder=self.holder).values("id")
        return {int(row["id"]) for row in rows}

    async def claim_line(self, chat_id: int) -> bool:
        return chat_id in await self.claim_lines([chat_id])

    async def release_line(self, chat_id: int) -> None:
        await WhatsAppChat.filter(id=chat_id, lease_holder=self.holder).update(
            lease_holder=None, lease_until=None
        )

    # --- jobs

    async def claim(self, key: str, seconds: float | None = None) -> bool:
        """Hold the job `key` (for `seconds`, else the lease time, renewed while we live)."""
        until = _now() + timedelta(seconds=seconds if seconds is not None else self.seconds)
        taken = await Lease.filter(
            Q(expires_at__lt=_now()) | Q(holder=self.holder), key=key
        ).update(holder=self.holder, expires_at=until)
        if taken:
            return True
        try:
            await Lease.create(key=key, holder=self.holder, expires_at=until)
        except IntegrityError:
            return False
        return True

    async def holds(self, key: str) -> bool:
        return await Lease.filter(key=key, holder=self.holder, expires_at__gte=_now()).exists()

    async def release(self, key: str) -> None:
        await Lease.filter(key=key, holder=self.holder).delete()

    # --- life cycle

    async def renew(self) -> None:
        """Extend everything we hold (one query per kind), and drop long-dead job leases."""
        until = self.until
        await WhatsAppChat.filter(lease_holder=self.holder).update(lease_until=until)
        await OutgoingMessage.filter(lease_holder=self.holder, status=MessageStatus.SENDING).update(
            lease_until=until
        )
        await TelegramUpdate.filter(lease_holder=self.holder, handled_at__isnull=True).update(
            lease_until=until
        )
        await (
            Lease.filter(holder=self.holder, expires_at__lt=until)
            .filter(expires_at__gte=_now())
            .update(expires_at=until)
        )
        await Lease.filter(expires_at__lt=_now() - timedelta(hours=2)).delete()

    async def forget_all(self) -> None:
        """Single-process databases (SQLite): whatever a crashed earlier run held is free now.
        Its job leases are kept, run out: one may name work to take over (a connect attempt that
        was getting a line)."""
        await WhatsAppChat.filter(lease_holder__isnull=False).update(
            lease_holder=None, lease_until=None
        )
        await OutgoingMessage.filter(status=MessageStatus.SENDING).update(lease_until=None)
        await OutgoingMessage.filter(ui_claim_until__isnull=False).update(ui_claim_until=None)
        await TelegramUpdate.filter(handled_at__isnull=True).update(lease_until=None)
        # The connect queue's waiting attempts: this run takes each turn, not the crashed one.
        await ConnectTicket.filter(state=TicketState.WAITING).update(entered_by=None)
        await Lease.filter(expires_at__gte=_now()).update(expires_at=_now() - timedelta(seconds=1))

    def start(self) -> None:
        self._renewer = asyncio.create_task(self._renew_forever())

    async def stop(self) -> None:
        """Stop renewing and hand everything back, so other replicas take over at once."""
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
        with contextlib.suppress(Exception):  # the database may be the reason we stop
            await WhatsAppChat.filter(lease_holder=self.holder).update(
                lease_holder=None, lease_until=None
            )
            await TelegramUpdate.filter(lease_holder=self.holder, handled_at__isnull=True).update(
                lease_holder=None, lease_until=None
            )
            await Lease.filter(holder=self.holder).delete()

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.seconds / 3)
            try:
                await self.renew()
            except Exception:
                log.exception("leases: renewal failed")


def _now() -> datetime:
    return datetime.now(UTC)
