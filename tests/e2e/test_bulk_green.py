"""A bulk send on Green-API, the gateway that reports ticks: the summary counts delivered and
read; a yellow card (WhatsApp's spam warning, reported as a tick's failure) pauses the bulk by
itself, with the reason in its progress message; so does an account that is not ready (the
instance restarting): what it refused goes on Resume, nobody twice."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import USER, RunningBot, in_thread, make_settings
from tests.e2e.test_bulk import pasted_list, preview_of, start, stays_false, summary_of
from tests.e2e.test_two_way_green import link_green
from tests.fakes.greenapi import FakeGreenApi, GreenTimeline
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim


@pytest.fixture
def green() -> Iterator[FakeGreenApi]:
    """Ticks come slowly here (delivered after 2 s): a failure is believed only before then."""
    fake = FakeGreenApi(
        timeline=GreenTimeline(
            create_seconds=0.05,
            start_seconds=1.0,  # a restart (set_state "starting") refuses sends this long
            qr_rotate_seconds=0.5,
            send_seconds=0.1,
            deliver_seconds=2.0,
            read_seconds=0.5,
        )
    )
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
async def green_paced(
    telegram: FakeTelegram,
    wappim: FakeWappim,
    green: FakeGreenApi,
    database_url: str,
    tmp_path: Path,
) -> AsyncIterator[RunningBot]:
    settings = make_settings(
        telegram,
        wappim,
        database_url,
        tmp_path,
        gateways=["greenapi"],
        green_api_url=green.url,
        send_rate_per_minute=300,
    )
    running = RunningBot(settings, telegram)
    await running.start()
    yield running
    await running.stop()


async def test_a_yellow_card_pauses_the_bulk_and_the_summary_counts_ticks(
    green_paced: RunningBot, telegram: FakeTelegram, green: FakeGreenApi
) -> None:
    await link_green(telegram, green)
    preview = await preview_of(telegram, pasted_list())
    assert "Through Shop, +7 999 000-11-22" in preview.content
    await start(telegram, preview)
    await in_thread(telegram.wait_for, lambda: len(green.sent) >= 4, 10)
    green.set_message_status(green.sent[-1].id_message, "yellowCard")
    paused = await in_thread(
        telegram.wait_message, USER, "Paused by itself", after=preview.message_id - 1
    )
    assert "WhatsApp gave your number a “yellow card”" in paused.content
    at_pause = len(green.sent)
    await stays_false(lambda: len(green.sent) > at_pause + 1, 1.0)

    telegram.press_button(USER, preview.message_id, "Stop")
    await in_thread(
        lambda: telegram.wait_for(
            lambda: "Yes, stop" in str(telegram.message(USER, preview.message_id).buttons)
        )
    )
    telegram.press_button(USER, preview.message_id, "Yes, stop")
    summary = await summary_of(telegram, preview)
    text = summary.content
    sent = len(green.sent)
    assert f"Sent: {sent - 1}" in text
    assert "Failed: 1" in text
    assert "1 — WhatsApp paused sending from your number for suspected spam" in text
    assert f"Not sent, because the bulk send was stopped: {30 - sent}" in text
    # Green-API reports ticks: the summary keeps up with them after the end.
    ticks = f"✓ Sent: {sent - 1} · delivered: {sent - 1} · read: {sent - 1}"
    try:
        await in_thread(
            lambda: telegram.wait_for(
                lambda: ticks in telegram.message(USER, preview.message_id).content, 15
            )
        )
    except AssertionError:
        shown = telegram.message(USER, preview.message_id).content
        raise AssertionError(f"{ticks!r} not in {shown!r}") from None


async def test_an_account_not_ready_pauses_the_bulk_and_resume_sends_the_rest_once(
    green_paced: RunningBot, telegram: FakeTelegram, green: FakeGreenApi
) -> None:
    instance = await link_green(telegram, green)
    preview = await preview_of(telegram, pasted_list())
    await start(telegram, preview)
    await in_thread(telegram.wait_for, lambda: len(green.sent) >= 3, 10)
    green.set_state(instance, "starting")  # a restart: sends refused ("instance in starting …")
    paused = await in_thread(
        telegram.wait_message, USER, "Paused by itself", after=preview.message_id - 1
    )
    assert "the gateway says WhatsApp is not authorised on this line" in paused.content
    at_pause = len(green.sent)
    await stays_false(lambda: len(green.sent) > at_pause, 1.5)  # back from its restart by now
    telegram.press_button(USER, preview.message_id, "Resume")
    summary = await summary_of(telegram, preview)
    assert "Sent: 30" in summary.content and "Failed" not in summary.content
    recipients = [m.chat_id for m in green.sent]
    assert len(recipients) == len(set(recipients)) == 30, "each once, the refused one included"
