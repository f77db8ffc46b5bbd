"""/send, /chats, /status, /disconnect end to end, and two users kept apart."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.storage.models import MessageStatus, OutgoingMessage
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
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim


async def link(
    telegram: FakeTelegram,
    wappim: FakeWappim,
    user: int = USER,
    name: str = "Ivan",
    number: str = "79991234567",
) -> int:
    await reply(telegram, user, "/connect")
    await in_thread(telegram.wait_message, user, "Linked devices", photo=True)
    instance = assigned_instance(wappim)
    wappim.scan(instance, name=name, number=number)
    await in_thread(telegram.wait_message, user, "connected as")
    return instance


async def test_send_normalises_the_number_and_keeps_the_text_exactly(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    instance = await link(telegram, wappim)
    text = "Hello from *Telegram* <b>not html</b> & _under_\nsecond line 🙂\n\nthird"
    calls = len(telegram.calls)
    await reply(telegram, USER, f"/send 8 (987) 274 50 52 {text}")
    sent = await in_thread(telegram.wait_message, USER, "Sent to +7 987 274-50-52")
    # One Bot API call: the confirmation comes once the gateway took the message (each call
    # counts against Telegram's 30 a second); later news (ticks) edits it in place.
    assert sent.edits == 0
    said = [c.method for c in telegram.calls[calls:] if c.method != "getUpdates"]
    assert said == ["sendMessage"], said
    message = wappim.sent[-1]
    assert (message.instance_id, message.chat_id, message.body) == (
        instance,
        "79872745052@c.us",
        text,
    )
    stored = await db(settings, lambda: OutgoingMessage.all().order_by("-id").first())
    assert stored is not None
    assert (stored.status, stored.recipient, stored.text) == (
        MessageStatus.SENT,
        "79872745052",
        text,
    )
    assert stored.gateway_message_id and stored.gateway_message_id.startswith(
        "true_79872745052@c.us_"
    )


@pytest.mark.parametrize("typed", ["89872745052", "+7 987 274-50-52", "79872745052"])
async def test_every_russian_spelling_reaches_the_same_number(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, typed: str
) -> None:
    await link(telegram, wappim)
    await reply(telegram, USER, f"/send {typed} hi", "Sent to +7 987 274-50-52")
    assert wappim.sent[-1].chat_id == "79872745052@c.us"


async def test_german_number_and_reply_mode(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    await link(telegram, wappim)
    original = telegram.send_text(USER, "Text to forward\nwith two lines")
    await in_thread(telegram.wait_message, USER, "/send PHONE", after=original)
    telegram.send_text(USER, "/send +49 1521 6896607", reply_to=original)
    await in_thread(telegram.wait_message, USER, "Sent to +49 1521 6896607")
    assert (wappim.sent[-1].chat_id, wappim.sent[-1].body) == (
        "4915216896607@c.us",
        "Text to forward\nwith two lines",
    )


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("/send", "phone number is missing"),
        ("/send   ", "phone number is missing"),
        ("/send 12345 hi", "is not a valid phone number"),
        ("/send +7 987 hi", "is not a valid phone number"),
        ("/send 89872745052", "text is missing"),
        ("/send 89872745052    ", "text is missing"),
        ("/send <b>89872745052</b> hi", "is not a phone number"),
    ],
)
async def test_bad_send_forms_get_the_problem_and_an_example(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, command: str, problem: str
) -> None:
    answer = await reply(telegram, USER, command)
    assert problem in (answer.text or "")
    assert "Usage: /send PHONE TEXT" in (answer.text or "")
    assert "Example: /send +7 987 274-50-52 Hello!" in (answer.text or "")
    assert wappim.sent == []


async def test_send_without_a_chat_points_to_connect(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    answer = await reply(telegram, USER, "/send 89872745052 hi")
    assert "/connect" in (answer.text or "")
    assert wappim.sent == []


async def test_two_users_are_kept_apart(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    await link(telegram, wappim, USER, name="Owner")
    chats = await reply(telegram, USER, "/chats", "Owner")
    owner_chat_data = chats.buttons[0][1]
    assert owner_chat_data is not None and owner_chat_data.startswith("use:")

    assert "/connect" in ((await reply(telegram, OTHER_USER, "/send 89872745052 hi")).text or "")
    assert "no WhatsApp chats" in ((await reply(telegram, OTHER_USER, "/chats")).text or "")
    assert "No active" in ((await reply(telegram, OTHER_USER, "/status")).text or "")
    # Forged callback data naming someone else's chat is refused.
    before = len(telegram.messages(OTHER_USER))
    bait = telegram.send_text(OTHER_USER, "/help")
    await in_thread(telegram.wait_message, OTHER_USER, "What I can do", after=bait)
    help_message = telegram.last(OTHER_USER)
    assert help_message is not None and len(telegram.messages(OTHER_USER)) > before
    for forged in (
        owner_chat_data,
        owner_chat_data.replace("use:", "disc!:"),
        owner_chat_data.replace("use:", "disc:"),
    ):
        telegram.press(OTHER_USER, help_message.message_id, forged, must_exist=False)
    gone = await in_thread(telegram.wait_message, OTHER_USER, "not available any more")
    assert gone.text
    status = await reply(telegram, USER, "/status", "Owner")
    assert "connected" in (status.text or "")


async def test_everything_is_still_there_after_a_restart(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    await link(telegram, wappim, name="Persistent")
    await reply(telegram, USER, "/send 89872745052 before", "Sent to")
    await bot.restart()
    assert "Persistent" in ((await reply(telegram, USER, "/chats", "Persistent")).text or "")
    await reply(telegram, USER, "/send 89872745052 after", "Sent to")
    assert [m.body for m in wappim.sent] == ["before", "after"]


async def test_status_and_disconnect(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim, name="Leaving")
    status = await reply(telegram, USER, "/status", "Leaving")
    assert "State: connected" in (status.text or "")
    assert "Ready: /send works" in (status.text or "")
    assert "Incoming messages: forwarded here" in (status.text or "")
    confirm = await reply(telegram, USER, "/disconnect", "Disconnect")
    telegram.press(USER, confirm.message_id, confirm.buttons[0][1] or "")
    await in_thread(telegram.wait_message, USER, "Disconnected")
    await wait_until(lambda: not wappim.instance(instance).assigned)
    assert "/connect" in ((await reply(telegram, USER, "/send 89872745052 hi")).text or "")


async def test_wiped_line_is_reported_with_a_reconnect_button(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim)
    wappim.wipe(instance)
    await reply(telegram, USER, "/send 89872745052 hi")
    lost = await in_thread(telegram.wait_message, USER, "no longer linked")
    assert "Connect again" in str(lost.buttons)
    failed = await in_thread(telegram.wait_message, USER, "Not sent to")
    assert failed.text
    chats = await reply(telegram, USER, "/chats", "no longer linked")
    assert chats.text


async def test_only_allowed_users_get_in_and_admins_see_figures(
    settings: Settings, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    running = RunningBot(
        settings.model_copy(update={"allowed_user_ids": [USER], "admin_user_ids": [USER]}), telegram
    )
    await running.start()
    try:
        refused = await reply(telegram, OTHER_USER, "/connect", "private")
        assert str(OTHER_USER) in (refused.text or "")
        assert not any(i.assigned for i in wappim.instances()), "a refused user reaches no gateway"
        figures = await reply(telegram, USER, "/admin", "Usage")
        assert "Users: 1" in (figures.text or "")
    finally:
        await running.stop()


async def test_non_admin_gets_no_figures(bot: RunningBot, telegram: FakeTelegram) -> None:
    answer = await reply(telegram, USER, "/admin", "admins")
    assert "Users:" not in (answer.text or "")
