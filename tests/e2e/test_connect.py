"""/connect end to end: the real bot, the fake Bot API and the wapp.im emulator."""

from __future__ import annotations

from bot.config import Settings
from tests.conftest import (
    USER,
    RunningBot,
    assigned_instance,
    decode_qr,
    in_thread,
    reply,
    wait_until,
)
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim


async def test_connect_shows_rotating_qr_and_reports_account(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    progress = await reply(telegram, USER, "/connect", "WhatsApp")
    assert "free WhatsApp slot" in (progress.history[0].get("text") or "")

    photo = await in_thread(telegram.wait_message, USER, "Linked devices", photo=True)
    # Two Bot API calls up to the QR (each counts against the bot's 30 a second).
    assert not telegram.calls_of("editMessageText")
    instance = assigned_instance(wappim)
    assert (
        decode_qr(photo.photo or b"") == wappim.current_qr(instance)
        or decode_qr(photo.photo or b"") in wappim.instance(instance).qrs
    )
    assert "Cancel" in str(photo.buttons)

    # WhatsApp rotates the QR: the same message's photo is replaced, and it matches the gateway's.
    rotated = await in_thread(
        telegram.wait_for,
        lambda: (
            len(telegram.message(USER, photo.message_id).photos) >= 2
            and telegram.message(USER, photo.message_id)
        ),
        10,
    )
    shown = decode_qr(rotated.photos[-1])
    assert shown != decode_qr(rotated.photos[0])
    assert shown in wappim.instance(instance).qrs

    wappim.scan(instance, name="Ivan Petrov", number="79991234567")
    done = await in_thread(telegram.wait_message, USER, "connected as", timeout=10)
    assert "Ivan Petrov" in (done.text or "")
    assert "+7 999 123-45-67" in (done.text or "")
    assert telegram.message(USER, photo.message_id).deleted


async def test_connect_via_qr_code_html_and_short_spare_reply(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    wappim.qr_style = "qr_code"
    wappim.spare_shape = "short"
    await reply(telegram, USER, "/connect")
    photo = await in_thread(telegram.wait_message, USER, "Linked devices", photo=True)
    instance = assigned_instance(wappim)
    assert decode_qr(photo.photo or b"") in wappim.instance(instance).qrs
    wappim.scan(instance, name="Anna", number="4915216896607")
    done = await in_thread(telegram.wait_message, USER, "connected as")
    assert "+49 1521 6896607" in (done.text or "")


async def test_no_free_chats_is_explained_and_blocks_nothing(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    wappim.set_free(0)
    await reply(telegram, USER, "/connect")
    failed = await in_thread(telegram.wait_message, USER, "no free WhatsApp slots")
    assert "Try again" in str(failed.buttons)
    wappim.set_free(2)
    telegram.press(USER, failed.message_id, "connect")
    photo = await in_thread(telegram.wait_message, USER, "Linked devices", photo=True)
    assert photo.photo


async def test_connect_times_out_and_offers_a_new_attempt(
    settings: Settings, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    running = RunningBot(settings.model_copy(update={"connect_timeout": 1.2}), telegram)
    await running.start()
    try:
        await reply(telegram, USER, "/connect")
        expired = await in_thread(telegram.wait_message, USER, "expired", timeout=10)
        assert "New QR code" in str(expired.buttons)
        instance = (
            assigned_instance(wappim) if any(i.assigned for i in wappim.instances()) else None
        )
        assert instance is None, "the expired line was given back to the gateway"
        # The lock is released: a new attempt starts at once.
        telegram.press(USER, expired.message_id, "connect")
        await in_thread(
            telegram.wait_message, USER, "Linked devices", photo=True, after=expired.message_id
        )
    finally:
        await running.stop()


async def test_cancel_button_stops_the_attempt(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    await reply(telegram, USER, "/connect")
    photo = await in_thread(telegram.wait_message, USER, "Linked devices", photo=True)
    telegram.press(USER, photo.message_id, "cancel")
    await in_thread(telegram.wait_message, USER, "cancelled")
    await wait_until(lambda: not any(i.assigned for i in wappim.instances()))
    again = await reply(telegram, USER, "/cancel", "Nothing to cancel")
    assert again.text


async def test_second_connect_while_running_is_refused(
    bot: RunningBot, telegram: FakeTelegram
) -> None:
    await reply(telegram, USER, "/connect")
    answer = await reply(telegram, USER, "/connect", "already connecting")
    assert "/cancel" in (answer.text or "")


async def test_restart_in_the_middle_of_a_connect_still_reports_the_account(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    await reply(telegram, USER, "/connect")
    photo = await in_thread(telegram.wait_message, USER, "Linked devices", photo=True)
    await bot.stop()
    instance = assigned_instance(wappim)
    wappim.scan(instance, name="After Restart", number="79990001122")
    await bot.start()
    done = await in_thread(telegram.wait_message, USER, "connected as", after=photo.message_id)
    assert "After Restart" in (done.text or "")


async def test_russian_user_gets_russian_texts(bot: RunningBot, telegram: FakeTelegram) -> None:
    greeting = await reply(telegram, USER, "/start", language_code="ru")
    assert "Привет" in (greeting.text or "")
    commands_ru = telegram.commands_for(language_code="ru")
    assert any(c["command"] == "send" for c in commands_ru)
    assert "Отправить" in str(commands_ru)


async def test_help_lists_every_command_with_examples(
    bot: RunningBot, telegram: FakeTelegram
) -> None:
    text = (await reply(telegram, USER, "/help", "What I can do")).text or ""
    for command in (
        "/start",
        "/connect",
        "/send PHONE TEXT",
        "/chats",
        "/status",
        "/disconnect",
        "/cancel",
    ):
        assert command in text
    assert "Example: /send +7 987 274-50-52 Hello!" in text
    unknown = await reply(telegram, USER, "/frobnicate now", "don't know the command")
    assert "/frobnicate" in (unknown.text or "") and "/help" in (unknown.text or "")
