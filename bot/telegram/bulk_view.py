"""How a bulk send looks in Telegram: its preview, its one progress message (a bar, the
percentage, sent / failed / left and the time left; Pause or Resume, and Stop), which at the end
becomes the summary (sent, delivered and read where the gateway reports ticks, failed by reason
in words, the unknown ones with a button to send to them again), and the CSV report as a
document. The runner (`bot/services/bulk_runner.py`) calls `show` no more often than
`edit_every` seconds, except to answer a press and for the summary; no message per recipient
ever reaches Telegram.

    📤 ▓▓▓▓▓░░░░░ 48% · 96 sent · 2 failed · 104 left · about 52 min
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from telegram import Bot, InlineKeyboardMarkup
from telegram.error import BadRequest

from bot.gateways.base import ErrorKind
from bot.services.bulk import Preview
from bot.services.bulk_list import MAX_LINE_CHARS, Problem
from bot.services.bulk_report import ReportRow, report_csv
from bot.services.bulk_rows import DISCONNECTED, STOPPED
from bot.services.phones import pretty
from bot.services.ports import BulkFigures, BulkProgress
from bot.services.sender import GATEWAY_DOWN, NO_PUBLIC_URL, TOO_BIG, UNCERTAIN
from bot.storage.models import Bulk, BulkState
from bot.telegram import keyboards
from bot.telegram.texts import ERRORS, STATE_HELP, STATE_NAMES, Html, lang_of, raw, t
from bot.telegram.views import TICK_FAILURES, chat_label, reach

log = logging.getLogger(__name__)

EDIT_EVERY = 3.0  # seconds between two edits of a progress message, at least
BAR = 10  # cells of the bar
FIRST_MESSAGE_CHARS = 1500  # of the first message shown in the preview (Telegram's limit: 4096)


class TelegramBulkView:
    """Implements BulkView on a python-telegram-bot `Bot`."""

    edit_every = EDIT_EVERY

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def show(self, bulk: Bulk, lang: str, progress: BulkProgress) -> int | None:
        text, markup = progress_text(lang, bulk, progress)
        chat_id = bulk.owner_id  # type: ignore[attr-defined]
        if bulk.progress_message_id:
            try:
                await reach(
                    self.bot.edit_message_text(
                        text,
                        chat_id=chat_id,
                        message_id=bulk.progress_message_id,
                        reply_markup=markup,
                    )
                )
                return None
            except BadRequest as exc:
                if "not modified" in exc.message.lower():
                    return None
                log.info("bulk %s: progress message not editable (%s)", bulk.id, exc.message)
        sent = await reach(self.bot.send_message(chat_id, text, reply_markup=markup))
        return sent.message_id

    async def report(self, bulk: Bulk, lang: str, rows: list[ReportRow]) -> None:
        worded = [replace(row, reason=reason_words(lang, row.reason)) for row in rows]
        # Russian Excel splits CSV on ";" (its list separator), the others on ",".
        data = report_csv(worded, bulk.field_names, delimiter=";" if lang == "ru" else ",")
        await reach(
            self.bot.send_document(
                bulk.owner_id,  # type: ignore[attr-defined]
                data,
                filename=f"bulk-{bulk.id}-report.csv",
                caption=t(lang, "bulk_report_caption"),
                reply_to_message_id=bulk.progress_message_id,
                allow_sending_without_reply=True,
            )
        )


# --- the progress message, then the summary


def progress_text(
    lang: str, bulk: Bulk, progress: BulkProgress
) -> tuple[str, InlineKeyboardMarkup | None]:
    figures, state = progress.figures, progress.state
    chat = chat_label(lang, bulk.chat)
    if state is BulkState.DONE or (state is BulkState.STOPPED and not figures.sending):
        return summary_text(lang, bulk, progress), _summary_keyboard(lang, bulk, figures)
    lines = [t(lang, "bulk_progress_head", chat=chat), progress_line(lang, progress)]
    if figures.unknown:
        lines.append(t(lang, "bulk_progress_unknown", count=figures.unknown))
    if state is BulkState.PAUSED or (state is BulkState.ASKING and progress.pause_reason):
        lines.append(paused_text(lang, bulk, progress.pause_reason))
    if state is BulkState.ASKING:
        lines.append(t(lang, "bulk_asking", left=figures.left))
    if state is BulkState.STOPPED:
        lines.append(t(lang, "bulk_finishing"))
    if state is BulkState.RUNNING and progress.cap_until is not None:
        wait = (progress.cap_until - datetime.now(UTC)).total_seconds()
        lines.append(t(lang, "bulk_waiting_cap", cap=progress.cap, wait=Html(duration(lang, wait))))
    if state is BulkState.RUNNING and figures.waiting_gateway:
        lines.append(t(lang, "bulk_waiting_gateway", gateway=progress.gateway))
    return "\n".join(lines), keyboards.bulk_progress(lang, bulk.id, state)


def progress_line(lang: str, progress: BulkProgress) -> str:
    """`📤 ▓▓▓▓▓░░░░░ 48% · 96 sent · 2 failed · 104 left · about 52 min`."""
    figures = progress.figures
    share = figures.done / figures.total if figures.total else 1.0
    # Full only once nothing is left.
    filled = min(BAR - 1, round(share * BAR)) if figures.left else BAR
    line = t(
        lang,
        "bulk_progress",
        bar=Html("▓" * filled + "░" * (BAR - filled)),
        percent=math.floor(share * 100),
        sent=figures.sent,
        failed=figures.failed_count + figures.unknown,
        left=figures.left,
    )
    if figures.left and progress.state is BulkState.RUNNING:
        line += t(lang, "bulk_eta", eta=Html(duration(lang, progress.eta_seconds)))
    return line


def paused_text(lang: str, bulk: Bulk, reason: str | None) -> str:
    if reason == "line":
        state = bulk.chat.state
        return t(
            lang,
            "bulk_paused_line",
            state=raw(lang, STATE_NAMES, state),
            help=raw(lang, STATE_HELP, state),
        )
    if reason in ("not_ready", "yellow_card"):
        return t(lang, f"bulk_paused_{reason}")
    return t(lang, "bulk_paused_person")


def summary_text(lang: str, bulk: Bulk, progress: BulkProgress) -> str:
    figures = progress.figures
    head = "bulk_done_head" if progress.state is BulkState.DONE else "bulk_stopped_head"
    lines = [
        t(lang, head, chat=chat_label(lang, bulk.chat)),
        t(lang, "bulk_summary_total", total=figures.total),
    ]
    sent = t(lang, "bulk_summary_sent", sent=figures.sent)
    if figures.delivered or figures.read:
        sent += t(lang, "bulk_summary_ticks", delivered=figures.delivered, read=figures.read)
    lines.append(sent)
    if figures.failed:
        lines.append(t(lang, "bulk_summary_failed", count=figures.failed_count))
        for error, count in figures.failed:
            reason = reason_words(lang, error, progress.gateway)
            lines.append(t(lang, "bulk_summary_reason", count=count, reason=reason))
    if figures.stopped:
        lines.append(t(lang, "bulk_summary_stopped", count=figures.stopped))
    if figures.unknown:
        lines.append(t(lang, "bulk_summary_unknown", count=figures.unknown))
    lines.append(t(lang, "bulk_summary_report"))
    return "\n".join(lines)


def _summary_keyboard(lang: str, bulk: Bulk, figures: BulkFigures) -> InlineKeyboardMarkup | None:
    return keyboards.bulk_again(lang, bulk.id, figures.unknown) if figures.unknown else None


def reason_words(lang: str, error: str, gateway: str = "") -> str:
    """A row's stored error in words (plain text: the summary escapes it, the report keeps it
    as it is)."""
    if not error:
        return ""
    kinds = {kind.value: kind for kind in ErrorKind}
    if error in TICK_FAILURES:
        return t(lang, f"reason_{error}")
    if error in kinds:
        return ERRORS[kinds[error]][lang_of(lang)]
    if error == GATEWAY_DOWN:
        return t(lang, "reason_gateway_down", gateway=gateway or "the gateway")
    if error in (TOO_BIG, NO_PUBLIC_URL):
        return t(lang, f"reason_{error}")
    if error == UNCERTAIN:
        return t(lang, "bulk_reason_uncertain")
    if error == STOPPED:
        return t(lang, "bulk_reason_stopped")
    if error == DISCONNECTED:
        return t(lang, "bulk_reason_disconnected")
    if error.startswith("line "):
        return t(lang, "reason_line_gone")
    return t(lang, "bulk_reason_other", error=error[:60])


# --- the preview


def preview_text(lang: str, preview: Preview) -> str:
    bulk = preview.bulk
    lines = [t(lang, "bulk_preview_head"), "", t(lang, "bulk_recipients", count=preview.recipients)]
    lines += problem_lines(lang, preview.problems, preview.problem_count, preview.region)
    if preview.duplicates:
        lines.append(t(lang, "bulk_duplicates", count=preview.duplicates))
    if preview.opted_out:
        lines.append(t(lang, "bulk_opted_out", count=preview.opted_out))
    lines.append(t(lang, "bulk_preview_line", chat=chat_label(lang, bulk.chat)))
    lines.append(
        t(
            lang,
            "bulk_preview_pace",
            rate=preview.rate_per_minute,
            duration=Html(duration(lang, preview.seconds)),
        )
    )
    if preview.recipients > preview.room_today:
        lines.append(t(lang, "bulk_preview_cap", cap=preview.daily_cap, room=preview.room_today))
    if bulk.file_name:
        lines.append(t(lang, "bulk_preview_file", name=bulk.file_name))
    first = preview.first_text
    if len(first) > FIRST_MESSAGE_CHARS:
        first = first[: FIRST_MESSAGE_CHARS - 1] + "…"
    shown = t(lang, "bulk_preview_empty_text") if not first.strip() else html.escape(first, False)
    lines += ["", t(lang, "bulk_preview_first", phone=pretty(preview.first_phone))]
    lines.append(f"<blockquote>{shown}</blockquote>")
    return "\n".join(lines)


def problem_lines(lang: str, problems: Sequence[Problem], count: int, region: str) -> list[str]:
    """The lines of a list it could not read: how many, the first few with their line numbers
    and why, and how many more."""
    if not count:
        return []
    lines = [t(lang, "bulk_skipped_lines", count=count)]
    for problem in problems:
        a, b = [*problem.options, "", ""][:2]
        words = t(
            lang,
            f"bulk_problem_{problem.reason.value}",
            raw=problem.text,
            a=a,
            b=b,
            region=region,
            limit=MAX_LINE_CHARS,
        )
        lines.append(t(lang, "bulk_line", line=problem.line, problem=Html(words)))
    if count > len(problems):
        lines.append(t(lang, "bulk_more_problems", count=count - len(problems)))
    return lines


def duration(lang: str, seconds: float) -> str:
    """`under a minute`, `52 min`, `3 h 20 min` (rounded up to a minute)."""
    if seconds < 60:
        return t(lang, "bulk_under_a_minute")
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return t(lang, "bulk_minutes", minutes=minutes)
    return t(lang, "bulk_hours", hours=minutes // 60, minutes=minutes % 60)
