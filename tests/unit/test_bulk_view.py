"""How a bulk send looks (`bot/telegram/bulk_view.py`): the progress line of the issue, counts in
both languages, durations, the summary's reasons in words, and its buttons' callback data."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest

from bot.gateways.base import LineState
from bot.services.ports import BulkFigures, BulkProgress
from bot.storage.models import Bulk, BulkState
from bot.telegram import keyboards
from bot.telegram.bulk_view import duration, progress_line, progress_text, reason_words


def a_bulk(state: BulkState = BulkState.RUNNING) -> Bulk:
    """The fields the view reads (a model needs an initialised ORM)."""
    chat = SimpleNamespace(
        id=3,
        gateway="wappim",
        state=LineState.AUTHORIZED,
        account_name="Shop",
        account_phone="79991234567",
    )
    bulk = SimpleNamespace(id=12, state=state, owner_id=5, chat=chat, field_names=[])
    return cast(Bulk, bulk)


def test_the_progress_line_of_the_issue() -> None:
    figures = BulkFigures(total=202, held=100, queued=4, sent=96, failed=(("not_found", 2),))
    progress = BulkProgress(state=BulkState.RUNNING, figures=figures, eta_seconds=52 * 60)
    assert progress_line("en", progress) == (
        "📤 ▓▓▓▓▓░░░░░ 48% · 96 sent · 2 failed · 104 left · about 52 min"
    )
    assert progress_line("ru", progress) == (
        "📤 ▓▓▓▓▓░░░░░ 48% · 96 отправлено · 2 с ошибкой · 104 осталось · около 52 мин"
    )


def test_the_bar_is_full_only_at_the_end() -> None:
    almost = BulkFigures(total=1000, held=1, sent=999)
    line = progress_line("en", BulkProgress(state=BulkState.RUNNING, figures=almost))
    assert line.startswith("📤 ▓▓▓▓▓▓▓▓▓░ 99% · 999 sent")
    done = BulkFigures(total=3, sent=3)
    line = progress_line("en", BulkProgress(state=BulkState.DONE, figures=done))
    assert line == "📤 ▓▓▓▓▓▓▓▓▓▓ 100% · 3 sent · 0 failed · 0 left"


@pytest.mark.parametrize(
    ("seconds", "en", "ru"),
    [
        (5, "under a minute", "меньше минуты"),
        (60, "about 1 min", "около 1 мин"),
        (61, "about 2 min", "около 2 мин"),
        (3120, "about 52 min", "около 52 мин"),
        (12_000, "about 3 h 20 min", "около 3 ч 20 мин"),
    ],
)
def test_durations(seconds: float, en: str, ru: str) -> None:
    assert (duration("en", seconds), duration("ru", seconds)) == (en, ru)


def test_paused_and_asking_show_why_and_their_buttons() -> None:
    figures = BulkFigures(total=10, held=7, sent=3)
    text, markup = progress_text(
        "en",
        a_bulk(BulkState.PAUSED),
        BulkProgress(state=BulkState.PAUSED, figures=figures, pause_reason="yellow_card"),
    )
    assert "Paused by itself: WhatsApp gave your number a “yellow card”" in text
    assert markup is not None
    assert [b.callback_data for b in markup.inline_keyboard[0]] == ["br:12", "bs:12"]
    text, markup = progress_text(
        "ru", a_bulk(BulkState.ASKING), BulkProgress(state=BulkState.ASKING, figures=figures)
    )
    assert "Остановить рассылку? Ещё не отправленные (7) не уйдут." in text
    assert markup is not None
    assert [b.callback_data for b in markup.inline_keyboard[0]] == ["bs!:12", "bk:12"]


def test_the_summary_words_failures_and_offers_the_unknown_again() -> None:
    figures = BulkFigures(
        total=20,
        sent=14,
        delivered=10,
        read=4,
        failed=(("noAccount", 3), ("invalid_request", 1)),
        unknown=2,
    )
    text, markup = progress_text(
        "en", a_bulk(BulkState.DONE), BulkProgress(state=BulkState.DONE, figures=figures)
    )
    assert text.splitlines() == [
        "✅ <b>Bulk send finished</b> · Shop, +7 999 123-45-67",
        "👥 Recipients: 20",
        "✓ Sent: 14 · delivered: 10 · read: 4",
        "❌ Failed: 4",
        "   · 3 — this number has no WhatsApp account.",
        "   · 1 — the gateway refused the request (check the number and the text).",
        "⚠️ Unknown: 2. The gateway did not answer while these were being sent, so I don't "
        "know whether they got it, and I did not send them again. If they did not, tap the "
        "button.",
        "The report (one row per recipient) follows as a CSV file.",
    ]
    assert markup is not None
    button = markup.inline_keyboard[0][0]
    assert (button.text, button.callback_data) == ("🔁 Send again to the unknown (2)", "ba:12")


@pytest.mark.parametrize(
    ("error", "words"),
    [
        ("yellowCard", "a “yellow card”"),
        ("uncertain", "unknown: the gateway did not answer"),
        ("stopped", "the bulk send was stopped"),
        ("line logged_out", "disconnected or lost"),
        ("gateway_down", "stayed unreachable"),
        ("something new", "the gateway reported “something new”"),
    ],
)
def test_reasons_in_words(error: str, words: str) -> None:
    assert words in reason_words("en", error, "wapp.im")


def test_bulk_buttons_parse_back_and_forged_ones_do_not() -> None:
    markups = [
        keyboards.bulk_prompt("en", 4),
        keyboards.bulk_preview("ru", 4),
        keyboards.bulk_again("en", 4, 2),
        keyboards.bulk_list(
            "en", [(4, 1, BulkState.RUNNING), (5, 2, BulkState.PAUSED), (6, 3, BulkState.ASKING)]
        ),
    ]
    for state in (BulkState.RUNNING, BulkState.PAUSED, BulkState.ASKING):
        markup = keyboards.bulk_progress("en", 4, state)
        assert markup is not None
        markups.append(markup)
    assert keyboards.bulk_progress("en", 4, BulkState.DONE) is None
    for markup in markups:
        for row in markup.inline_keyboard:
            for button in row:
                assert isinstance(button.callback_data, str)
                assert keyboards.parse(button.callback_data) is not None, button.callback_data
    for forged in ("bp", "bp:", "bp:x", "bgo:-1", "bs!:1;2", "bn:7x"):
        press = keyboards.parse(forged)
        assert press is None or press.action == "bn", forged
