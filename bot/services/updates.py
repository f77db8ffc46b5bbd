"""Telegram updates, kept until handled: nothing a person sent is lost when a replica dies.

An update is stored (its JSON, keyed by its id) before Telegram hears that it arrived: in webhook
mode before the 200, in polling mode before the next getUpdates confirms it. The replica that
stored it holds it (a lease, renewed like every other) while its handler runs, and marks it
handled once the handler is done. An update not handled within LEASE_SECONDS (its replica died)
is claimed by another replica, which handles it; a single process handles its own leftovers at
start. The update id being the key, an update Telegram delivers twice is handled once. Handlers
are safe to run twice, for the rare update whose replica died while handling it: a /send is
unique on its Telegram message, a button press is a conditional update.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from bot.services.leases import Leases
from bot.storage.models import TelegramUpdate

log = logging.getLogger(__name__)

KEEP = timedelta(hours=24)  # Telegram keeps an update for a day: so long is a twin recognised
LEFTOVERS = 100  # stored updates taken over in one pass


class UpdateLog:
    def __init__(self, leases: Leases) -> None:
        self.leases = leases

    async def receive(self, update_id: int, payload: str) -> bool:
        """Store a new update, held by this replica; False when it was seen before."""
        try:
            await TelegramUpdate.create(
                update_id=update_id,
                payload=payload.replace("\x00", ""),  # PostgreSQL keeps no NUL in text
                lease_holder=self.leases.holder,
                lease_until=self.leases.until,
            )
        except IntegrityError:
            return False
        return True

    async def handled(self, update_id: int) -> None:
        await TelegramUpdate.filter(update_id=update_id).update(
            handled_at=_now(), lease_holder=None, lease_until=None
        )

    async def leftovers(self) -> list[tuple[int, str]]:
        """Updates whose replica died before handling them, now held by this one (oldest
        first)."""
        now = _now()
        abandoned = Q(handled_at__isnull=True) & (
            Q(lease_until__isnull=True) | Q(lease_until__lt=now)
        )
        rows = (
            await TelegramUpdate.filter(abandoned)
            .order_by("update_id")
            .limit(LEFTOVERS)
            .values("update_id")
        )
        if not rows:
            return []
        ids = [int(row["update_id"]) for row in rows]
        await TelegramUpdate.filter(abandoned, update_id__in=ids).update(
            lease_holder=self.leases.holder, lease_until=self.leases.until
        )
        mine = await (
            TelegramUpdate.filter(
                update_id__in=ids, handled_at__isnull=True, lease_holder=self.leases.holder
            )
            .order_by("update_id")
            .values_list("update_id", "payload")
        )
        if mine:
            log.info("updates: taking over %d update(s) left unhandled", len(mine))
        return [(int(update_id), str(payload)) for update_id, payload in mine]

    async def forget_old(self) -> None:
        """Updates older than a day are gone from Telegram too: their twins cannot come."""
        await TelegramUpdate.filter(received_at__lt=_now() - KEEP).delete()


def _now() -> datetime:
    return datetime.now(UTC)
