"""Which outbox rows go out now, and what a line has used today (the rules in `sender.py`).

Of the due rows, a row waits while one written before it to the same recipient on the same line
is not done; of the others, each line sends the first one (a person's own before a bulk send's,
then whatever waited longest) once its pacing slot is free (`pacing.py`). The rows are claimed
with one conditional update (queued → sending), so no two workers or replicas take the same.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import F, Q, RawSQL

from bot.services.leases import Leases
from bot.services.pacing import Pacing
from bot.storage.models import MessageStatus, Origin, OutgoingMessage

BATCH = 50  # rows the worker claims in one pass (at most one per line)
WINDOW = 4 * BATCH  # due rows looked at in one pass, to find BATCH lines with a free slot
# A row waits while one written before it to the same recipient on the same line is not done.
# Written before: an earlier Telegram message of the same person (the rows of two replicas may
# be numbered in another order), else a row stored earlier.
_BEHIND = RawSQL(
    "EXISTS (SELECT 1 FROM outgoing_message older"
    " WHERE older.chat_id = outgoing_message.chat_id"
    " AND older.recipient = outgoing_message.recipient"
    " AND older.status IN ('queued', 'sending')"
    " AND (older.source_chat_id = outgoing_message.source_chat_id"
    "  AND older.source_message_id < outgoing_message.source_message_id"
    "  OR older.source_chat_id <> outgoing_message.source_chat_id"
    "  AND older.id < outgoing_message.id))"
)
# The person's own messages before a bulk send's.
_BULK_LAST = RawSQL(f"CASE WHEN outgoing_message.origin = '{Origin.BULK.value}' THEN 1 ELSE 0 END")


def _line_free(now: datetime) -> RawSQL:
    """The row's line may send at `now` (its pacing slot is free). `now` is written in the form
    both databases compare correctly with the stored column (SQLite keeps text)."""
    return RawSQL(
        "EXISTS (SELECT 1 FROM whatsapp_chat line WHERE line.id = outgoing_message.chat_id"
        f" AND (line.next_send_at IS NULL OR line.next_send_at <= '{now.isoformat(' ')}'))"
    )


class OutboxQueue:
    def __init__(self, pacing: Pacing, leases: Leases) -> None:
        self.pacing = pacing
        self.leases = leases

    async def claim_due(
        self, next_slot: Callable[[datetime], None]
    ) -> tuple[list[OutgoingMessage], bool]:
        """The rows this replica sends now: of the due rows not behind an older one to the same
        recipient, the first of each line whose pacing slot is free (taken here, and given to
        `next_slot`: the line's next message may go then; a line whose pace fits several slots
        in `Pacing.BURST` takes that many), claimed with one conditional update. Also whether
        more may be due."""
        now = datetime.now(UTC)
        due = (
            await OutgoingMessage.filter(status=MessageStatus.QUEUED, next_attempt_at__lte=now)
            .annotate(behind=_BEHIND, line_free=_line_free(now), bulk_last=_BULK_LAST)
            .filter(behind=False, line_free=True)
            .order_by("bulk_last", "next_attempt_at", "id")
            .limit(WINDOW)
            .values("id", "chat_id", "origin")
        )
        by_line: dict[int, list[dict[str, Any]]] = {}
        for row in due:
            by_line.setdefault(int(row["chat_id"]), []).append(row)
        ids: list[int] = []
        for chat_id, rows in by_line.items():
            if len(ids) == BATCH:
                break
            first = rows[: min(self.pacing.burst, BATCH - len(ids))]
            bulk = first[0]["origin"] == Origin.BULK
            slot = await self.pacing.take(chat_id, spread=bulk, count=len(first))
            if slot is not None:
                ids += [int(row["id"]) for row in first]
                next_slot(slot)
        if not ids:
            return [], False
        await OutgoingMessage.filter(id__in=ids, status=MessageStatus.QUEUED).update(
            status=MessageStatus.SENDING,
            attempts=F("attempts") + 1,
            lease_holder=self.leases.holder,
            lease_until=self.leases.until,
        )
        # Ours and sending: claimed just now (no row of ours was queued but already sending).
        claimed = await OutgoingMessage.filter(
            id__in=ids, status=MessageStatus.SENDING, lease_holder=self.leases.holder
        )
        return claimed, len(due) == WINDOW or len(ids) == BATCH


def counted_today() -> Q:
    """The rows the daily cap counts: accepted in the last 24 hours (a bulk send's: released by
    its bulk), not failed; a bulk's rows still held are not counted yet."""
    return Q(created_at__gte=datetime.now(UTC) - timedelta(days=1)) & ~Q(
        status__in=(MessageStatus.FAILED, MessageStatus.HELD)
    )


async def used_today(chat_id: int) -> int:
    """How much of the line's SEND_DAILY_CAP the last 24 hours used."""
    return await OutgoingMessage.filter(counted_today(), chat_id=chat_id).count()
