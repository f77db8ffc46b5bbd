"""Anti-ban pacing: one WhatsApp line sends at most SEND_RATE_PER_MINUTE messages, spread out.

A line's `next_send_at` is the earliest moment its next message may leave. The outbox worker takes
a line's slot right before it sends, with a conditional update (only while the slot is free), so
two replicas can never send two messages of one line in one slot, and whatever waited longest
for the line goes first, whenever it became due: a message retried after an outage is paced
like any other. A bulk send's messages are spaced with a random spread (±30 %) so that they do
not look like a machine; the person's own messages keep the exact pace.

A pace faster than one message per BURST (20 ms: over 3,000 a minute, never a person's line;
a test's or a benchmark's, with pacing out of the way) takes as many slots at once as fit in
BURST: the worker sends them in one pass instead of one pass each.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from tortoise.expressions import Q

from bot.storage.models import WhatsAppChat

SPREAD = 0.3  # a bulk message's spacing is the line's spacing times 1 ± SPREAD
BURST = timedelta(milliseconds=20)


class Pacing:
    def __init__(self, rate_per_minute: int) -> None:
        self.spacing = timedelta(seconds=60 / rate_per_minute)
        self.burst = max(1, int(BURST / self.spacing))  # slots one pass may take for a line

    def free(self, now: datetime) -> Q:
        """Lines whose slot is free at `now` (a filter on WhatsAppChat)."""
        return Q(next_send_at__isnull=True) | Q(next_send_at__lte=now)

    async def take(self, chat_id: int, *, spread: bool = False, count: int = 1) -> datetime | None:
        """Take the line's slot now (`count` slots, at most `burst`): when its next one is free;
        None when this one is not free (pacing, or another replica took it)."""
        now = _now()
        spacing = self.spacing * min(count, self.burst)
        if spread:
            spacing *= 1 + random.uniform(-SPREAD, SPREAD)
        taken = await WhatsAppChat.filter(self.free(now), id=chat_id).update(
            next_send_at=now + spacing
        )
        return now + spacing if taken else None

    def wait(self, chat: WhatsAppChat, ahead: int) -> float:
        """Seconds until a message queued now leaves the line, with `ahead` messages before it."""
        free_in = (chat.next_send_at - _now()).total_seconds() if chat.next_send_at else 0.0
        return max(0.0, free_in) + ahead * self.spacing.total_seconds()


def _now() -> datetime:
    return datetime.now(UTC)
