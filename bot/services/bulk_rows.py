"""A bulk send's rows (each recipient an outbox row, origin BULK): the errors a bulk gives them,
their keys, moving them back to HELD, where they are (`figures_of`, one query), what the
progress message is to show (`progress_of`), and the report's rows. Read by the runner, the
service and the report; see `bulk.py` for a bulk's life."""

from __future__ import annotations

import math
from collections import Counter

from tortoise.expressions import Q
from tortoise.functions import Count

from bot.services.bulk_report import ReportRow
from bot.services.ports import BulkFigures, BulkProgress
from bot.services.sender import UNCERTAIN
from bot.storage.models import Bulk, BulkState, MessageStatus, OutgoingMessage

STOPPED = "stopped"  # the error of a row its bulk's Stop left unsent
DISCONNECTED = "disconnected"  # the error of a row whose line was disconnected (as chats.py)
# Errors that prove the gateway did not send the row because of the line: a bulk that pauses
# itself puts those rows back, so Resume sends them.
LINE_ERRORS = frozenset({"not_ready", "auth", "not_found"})

# A bulk row's `source_message_id` (`row_key`): unique per bulk and recipient (the index is below
# ROW_KEYS: BULK_MAX_RECIPIENTS is at most 20,000), and above any Telegram message id (those are
# below 2^31), growing with the bulk: for the rule that keeps a recipient's messages in the order
# their author wrote them, a bulk's rows come after anything the person typed before them.
ROW_KEYS = 1_000_000
ROW_KEY_BASE = 2**40


async def hold_released(bulk_id: int) -> None:
    """Rows released to the outbox and not yet claimed by the worker wait for their bulk again
    (a row being sent goes out)."""
    await OutgoingMessage.filter(bulk_id=bulk_id, status=MessageStatus.QUEUED).update(
        status=MessageStatus.HELD
    )


async def hold_refused(bulk_id: int) -> None:
    """Rows the gateway refused because of the line (not sent: not linked, not authorised)
    wait for their bulk again, to go when it goes on."""
    await OutgoingMessage.filter(
        Q(error__in=LINE_ERRORS) | Q(error__startswith="line "),
        bulk_id=bulk_id,
        status=MessageStatus.FAILED,
    ).update(status=MessageStatus.HELD, error=None, attempts=0, waiting_told=False)


async def figures_of(bulk_id: int) -> BulkFigures:
    """Where a bulk's recipients are, in one query."""
    rows = (
        await OutgoingMessage.filter(bulk_id=bulk_id)
        .annotate(n=Count("id"))
        .group_by("status", "error", "waiting_told")
        .values("status", "error", "waiting_told", "n")
    )
    by_status: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    waiting = 0
    for row in rows:
        status, error, n = str(row["status"]), row["error"] or "", int(row["n"])
        by_status[status] += n
        if status == MessageStatus.FAILED:
            failed[error] += n
        if status == MessageStatus.QUEUED and row["waiting_told"]:
            waiting += n
    delivered = by_status[MessageStatus.DELIVERED] + by_status[MessageStatus.READ]
    unknown, stopped = failed.pop(UNCERTAIN, 0), failed.pop(STOPPED, 0)
    return BulkFigures(
        total=sum(by_status.values()),
        held=by_status[MessageStatus.HELD],
        queued=by_status[MessageStatus.QUEUED],
        sending=by_status[MessageStatus.SENDING],
        sent=by_status[MessageStatus.SENT] + delivered,
        delivered=delivered,
        read=by_status[MessageStatus.READ],
        failed=tuple(failed.most_common()),
        unknown=unknown,
        stopped=stopped,
        waiting_gateway=waiting,
    )


# The report's `state` column: the row's status, in words a spreadsheet filter can use.
REPORT_STATES = {
    MessageStatus.HELD: "not sent",
    MessageStatus.QUEUED: "not sent",
    MessageStatus.SENDING: "sending",
    MessageStatus.SENT: "sent",
    MessageStatus.DELIVERED: "delivered",
    MessageStatus.READ: "read",
    MessageStatus.FAILED: "failed",
}


async def report_rows(bulk: Bulk) -> list[ReportRow]:
    """One row per recipient, in the list's order; `reason` is the stored error (the Telegram
    layer words it): `uncertain` reads "unknown" in the state column, `stopped` "not sent"."""
    rows = (
        await OutgoingMessage.filter(bulk_id=bulk.id)
        .order_by("id")
        .values("recipient", "bulk_fields", "status", "error", "updated_at")
    )
    report = []
    for row in rows:
        status, error = MessageStatus(row["status"]), row["error"] or ""
        state = REPORT_STATES[status]
        if status is MessageStatus.FAILED and error == UNCERTAIN:
            state = "unknown"
        elif status is MessageStatus.FAILED and error == STOPPED:
            state = "not sent"
        report.append(
            ReportRow(
                phone=str(row["recipient"]),
                fields=row["bulk_fields"] or {},
                state=state,
                at=row["updated_at"],
                reason=error if status is MessageStatus.FAILED else "",
            )
        )
    return report


def progress_of(
    bulk: Bulk, figures: BulkFigures, rate_per_minute: int, daily_cap: int, gateway: str = ""
) -> BulkProgress:
    """What the bulk's progress message is to show now."""
    running = bulk.state is BulkState.RUNNING
    return BulkProgress(
        state=bulk.state,
        figures=figures,
        pause_reason=None if running else bulk.pause_reason,
        eta_seconds=_shown_seconds(figures.left * 60 / rate_per_minute),
        cap=daily_cap,
        cap_until=bulk.cap_until if running else None,
        gateway=gateway,
    )


def _shown_seconds(seconds: float) -> int:
    """Seconds as a duration is shown: 0 under a minute, else whole minutes rounded up (so the
    progress message changes when what it says changes, not every second)."""
    return 0 if seconds < 60 else math.ceil(seconds / 60) * 60


def row_key(bulk_id: int, index: int) -> int:
    """The `source_message_id` of a bulk's row: never a Telegram message's (see ROW_KEY_BASE)."""
    return ROW_KEY_BASE + bulk_id * ROW_KEYS + index
