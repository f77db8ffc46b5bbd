"""Bot API faults: flood control, a failing or cut getUpdates, a person who blocks the bot mid-connect."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from bot.app import StartupError, run
from bot.config import Settings
from bot.gateways.base import LineState
from bot.storage.models import User, WhatsAppChat
from tests.conftest import (
    OTHER_USER,
    USER,
    RunningBot,
    assigned_instance,
    db,
    in_thread,
    reply,
    wait_until,
)
from tests.e2e.test_send import link
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim


def greetings(telegram: FakeTelegram, user: int) -> int:
    return sum(1 for m in telegram.messages(user) if m.content.startswith("👋 Hi!"))


async def test_429_retry_after_is_respected_and_the_message_still_arrives(
    bot: RunningBot, telegram: FakeTelegram
) -> None:
    telegram.fail_next("sendMessage", status=429, retry_after=1)
    await reply(telegram, USER, "/start", "Hi!")
    sends = telegram.calls_of("sendMessage")
    assert [c.status for c in sends] == [429, 200]
    assert sends[1].at - sends[0].at >= 1.0, "sent again before retry_after had passed"
    assert greetings(telegram, USER) == 1


async def test_429_on_the_confirmation_still_shows_the_outcome(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    await link(telegram, wappim)
    sends = len(telegram.calls_of("sendMessage"))
    telegram.fail_next("sendMessage", status=429, retry_after=1)
    confirmation = await reply(telegram, USER, "/send 89872745052 flood", "Sent to")
    assert confirmation.content.startswith("✓ Sent to")
    assert [c.status for c in telegram.calls_of("sendMessage")[sends:]] == [429, 200]
    assert [m.body for m in wappim.sent] == ["flood"]


async def test_polling_survives_5xx_on_get_updates(bot: RunningBot, telegram: FakeTelegram) -> None:
    # The long poll now held already passed the fault check: the faults hit the next two polls.
    telegram.fail_next("getUpdates", status=500, description="Internal Server Error")
    telegram.fail_next("getUpdates", status=502, description="Bad Gateway")
    await reply(telegram, USER, "/start", "Hi!")
    await in_thread(
        telegram.wait_for,
        lambda: sum(c.status >= 500 for c in telegram.calls_of("getUpdates")) == 2,
        10,
    )
    await reply(telegram, USER, "/help", "What I can do", timeout=10)
    assert greetings(telegram, USER) == 1, "an update is handled once, however polling fared"


async def test_polling_survives_a_dropped_get_updates_connection(
    bot: RunningBot, telegram: FakeTelegram
) -> None:
    telegram.drop_connection_next("getUpdates")
    await reply(telegram, USER, "/start", "Hi!")
    await in_thread(
        telegram.wait_for,
        lambda: any(c.status == 0 for c in telegram.calls_of("getUpdates")),
        10,
    )
    await reply(telegram, USER, "/help", "What I can do", timeout=10)
    # The dropped poll was the one confirming /start: it stays handled once.
    assert greetings(telegram, USER) == 1
    assert telegram.pending_updates == []


async def test_blocking_the_bot_during_connect_stops_the_watcher_and_frees_the_line(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    await reply(telegram, USER, "/connect")
    await in_thread(telegram.wait_message, USER, "Linked devices", photo=True)
    instance = assigned_instance(wappim)
    telegram.block(USER)
    # The next QR rotation cannot be shown (403): the attempt is abandoned, the line given back.
    await wait_until(lambda: not wappim.instance(instance).assigned, 5)
    polls = len(wappim.requests_to(f"instance{instance}/status"))
    refused = sum(c.status == 403 for c in telegram.calls)
    await asyncio.sleep(0.6)  # a dozen poll intervals
    assert len(wappim.requests_to(f"instance{instance}/status")) == polls, "watcher still polls"
    assert sum(c.status == 403 for c in telegram.calls) == refused, "still talking to a wall"
    assert refused <= 2, f"{refused} calls answered 403: a retry loop"
    user = await db(settings, lambda: User.get(id=USER))
    assert (user.blocked_bot, user.connecting) == (True, False)
    chat = await db(settings, lambda: WhatsAppChat.get(owner_id=USER))
    assert chat.state is LineState.RELEASED
    assert not bot._task_failed()

    # Everyone else is still served, and the person is welcome back once they unblock.
    await reply(telegram, OTHER_USER, "/start", "Hi!")
    telegram.unblock(USER)
    await reply(telegram, USER, "/connect", "free WhatsApp slot")
    await in_thread(telegram.wait_message, USER, "Linked devices", photo=True)
    user = await db(settings, lambda: User.get(id=USER))
    assert not user.blocked_bot


async def test_telegram_down_at_start_is_waited_out(
    settings: Settings, telegram: FakeTelegram
) -> None:
    telegram.drop_connection_next("getMe")  # first attempt: no answer; the next one, a second later
    running = RunningBot(settings, telegram)
    await running.start()
    try:
        assert [c.status for c in telegram.calls_of("getMe")][:2] == [0, 200]
        await reply(telegram, USER, "/start", "Hi!")
    finally:
        await running.stop()


async def test_a_rejected_token_stops_the_start_with_one_line_and_no_token(
    settings: Settings, telegram: FakeTelegram
) -> None:
    wrong = "123456:" + "W" * 35
    bad = settings.model_copy(update={"telegram_bot_token": SecretStr(wrong)})
    with pytest.raises(StartupError) as caught:
        await asyncio.wait_for(run(bad, asyncio.Event()), 10)
    assert "TELEGRAM_BOT_TOKEN" in str(caught.value) and "@BotFather" in str(caught.value)
    assert wrong not in str(caught.value) and "W" * 35 not in str(caught.value)
    assert telegram.calls_of("getUpdates") == []


async def test_a_telegram_outage_during_connect_does_not_end_it(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    await reply(telegram, USER, "/connect")
    await in_thread(telegram.wait_message, USER, "Linked devices", photo=True)
    instance = assigned_instance(wappim)
    telegram.set_down(True)  # the QR rotates meanwhile: showing it fails for a while
    await asyncio.sleep(1.5)
    telegram.set_down(False)
    await asyncio.sleep(1.5)  # polling and the connect watcher come back
    wappim.scan(instance, name="After Outage", number="79990001122")
    done = await in_thread(telegram.wait_message, USER, "connected as", timeout=20)
    assert "After Outage" in done.content
