"""Readiness (GET /readyz) and the outbox figures of /metrics."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.metrics import OUTBOX_DEPTH, OUTBOX_OLDEST
from bot.storage.db import ping
from bot.storage.models import MessageStatus, OutgoingMessage


class Readiness:
    def __init__(self) -> None:
        self.telegram_reached = False  # set once getMe answered at start

    async def problem(self) -> str | None:
        """None when ready, else why not, in one line."""
        try:
            await ping()
        except Exception as exc:
            return f"the database does not answer ({type(exc).__name__})"
        if not self.telegram_reached:
            return "Telegram has not been reached yet"
        return None


async def refresh_outbox_metrics() -> None:
    queued = OutgoingMessage.filter(status=MessageStatus.QUEUED)
    OUTBOX_DEPTH.set(await queued.count())
    oldest = await queued.order_by("created_at").first()
    age = (datetime.now(UTC) - oldest.created_at).total_seconds() if oldest else 0.0
    OUTBOX_OLDEST.set(max(0.0, age))
