"""/connect end to end: the real bot, the fake Bot API and the wapp.im emulator."""

from __future__ import annotations

from tests.conftest import USER, RunningBot, assigned_instance, decode_qr, in_thread, reply
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim


async def test_connect_shows_rotating_qr_and_reports_account(bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim) -> None:
    progress = await reply(telegram, USER, "/connect", "WhatsApp")
    assert "free WhatsApp slot" in (progress.history[0].get("text") or "")

    photo = await in_thread(telegram.wait_message, USER, "Linked devices", photo=True)
    instance = assigned_instance(wappim)
    assert decode_qr(photo.photo or b"") == wappim.current_qr(instance) or decode_qr(photo.photo or b"") in wappim.instance(instance).qrs
    assert "Cancel" in str(photo.buttons)

    # WhatsApp rotates the QR: the same message's photo is replaced, and it matches the gateway's.
    rotated = await in_thread(telegram.wait_for, lambda: len(telegram.message(USER, photo.message_id).photos) >= 2 and telegram.message(USER, photo.message_id), 10)
    shown = decode_qr(rotated.photos[-1])
    assert shown != decode_qr(rotated.photos[0])
    assert shown in wappim.instance(instance).qrs

    wappim.scan(instance, name="Ivan Petrov", number="79991234567")
    done = await in_thread(telegram.wait_message, USER, "connected as", timeout=10)
    assert "Ivan Petrov" in (done.text or "")
    assert "+7 999 123-45-67" in (done.text or "")
    assert telegram.message(USER, photo.message_id).deleted
