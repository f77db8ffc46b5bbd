"""Two-way messaging on Green-API through the real bot: the notification queue (a receipt is
deleted only once the message is in Telegram, also across a Telegram outage), answers quoting
the message, files uploaded with their bytes, delivery ticks on the confirmation, a logout
reported, and a webhookUrl that blocks the queue explained in /status. The exchanges run flat and
threaded (in the contact's topic, the ticks as reactions 👍 → 👌 → 👀 on the person's message)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import USER, RunningBot, in_thread, make_settings, reply, wait_until
from tests.fakes.greenapi import FakeGreenApi, GreenTimeline
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim

CONTACT = "79001234567"
FLAT_ONLY = pytest.mark.parametrize("threaded", [False], ids=["flat"])


@pytest.fixture(params=[False, True], ids=["flat", "threads"])
def threaded(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def green() -> Iterator[FakeGreenApi]:
    fake = FakeGreenApi(
        timeline=GreenTimeline(
            create_seconds=0.05,
            start_seconds=0.05,
            qr_rotate_seconds=0.5,
            send_seconds=0.1,
            deliver_seconds=0.1,
            read_seconds=0.1,
        )
    )
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
async def green_bot(
    telegram: FakeTelegram,
    wappim: FakeWappim,
    green: FakeGreenApi,
    database_url: str,
    tmp_path: Path,
) -> AsyncIterator[RunningBot]:
    settings = make_settings(
        telegram, wappim, database_url, tmp_path, gateways=["greenapi"], green_api_url=green.url
    )
    running = RunningBot(settings, telegram)
    await running.start()
    yield running
    await running.stop()


async def link_green(telegram: FakeTelegram, green: FakeGreenApi) -> int:
    instance, token = green.add_instance()
    command = telegram.send_text(USER, f"/connect greenapi {instance} {token} {green.url}")
    await in_thread(telegram.wait_message, USER, "Linked devices", photo=True, after=command)
    green.scan(instance, phone="79990001122", name="Shop")
    await in_thread(telegram.wait_message, USER, "connected as")
    return instance


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "purple").save(out, format="PNG")
    return out.getvalue()


async def test_a_message_arrives_its_receipt_is_deleted_and_a_reply_quotes_it(
    green_bot: RunningBot, telegram: FakeTelegram, green: FakeGreenApi
) -> None:
    instance = await link_green(telegram, green)
    message_id = green.receive_text(
        instance, phone=CONTACT, text="Есть доставка?", sender_name="Ольга"
    )
    shown = await in_thread(telegram.wait_message, USER, "Есть доставка?")
    assert shown.content == "👤 Ольга · +7 900 123-45-67\nЕсть доставка?"
    await wait_until(lambda: not green.notifications(instance), 5)
    assert green.instance(instance).deleted_receipts, "the receipt was deleted once shown"
    said = telegram.send_text(USER, "Да, завтра", reply_to=shown.message_id)
    await wait_until(lambda: any(s.message == "Да, завтра" for s in green.sent), 10)
    sent = next(s for s in green.sent if s.message == "Да, завтра")
    assert (sent.chat_id, sent.quoted) == (f"{CONTACT}@c.us", message_id)
    if telegram.threaded:  # the reply landed in the topic: the ticks are reactions on it
        (topic,) = telegram.topics(USER).values()
        assert shown.thread_id == topic.thread_id
        await wait_until(lambda: telegram.reaction(USER, said) == "👀", 10)
        assert telegram.reactions(USER, said) == ["👍", "👌", "👀"]
        assert not any("Sent to" in m.content for m in telegram.messages(USER))
        return
    # The ticks: the confirmation moves ✓ → ✓✓ delivered → read.
    read = await in_thread(telegram.wait_message, USER, "· read", after=shown.message_id)
    assert read.content == "✓✓ Sent to +7 900 123-45-67 · read"
    assert [snap["text"] for snap in read.history][-3:] == [
        "✓ Sent to +7 900 123-45-67",
        "✓✓ Sent to +7 900 123-45-67 · delivered",
        "✓✓ Sent to +7 900 123-45-67 · read",
    ]


@FLAT_ONLY  # threaded: test_threads.py (media)
async def test_files_both_ways(
    green_bot: RunningBot, telegram: FakeTelegram, green: FakeGreenApi
) -> None:
    instance = await link_green(telegram, green)
    picture = png()
    green.receive_file(
        instance, data=picture, file_name="cat.png", mime_type="image/png", caption="кот"
    )
    photo = await in_thread(telegram.wait_message, USER, "кот", kind="photo")
    assert photo.data == picture
    voice = b"OggS" + bytes(100)
    green.receive_file(
        instance,
        data=voice,
        kind="audioMessage",
        file_name="note.ogg",
        mime_type="audio/ogg; codecs=opus",
    )
    await in_thread(telegram.wait_message, USER, "Ivan", kind="voice", after=photo.message_id)
    back = png()
    telegram.send_photo(USER, back, caption="а вот наш", reply_to=photo.message_id)
    await wait_until(lambda: any(s.method == "sendFileByUpload" for s in green.sent), 10)
    upload = next(s for s in green.sent if s.method == "sendFileByUpload")
    assert (upload.chat_id, upload.data, upload.fields.get("caption")) == (
        f"{CONTACT}@c.us",
        back,
        "а вот наш",
    )


async def test_a_telegram_outage_keeps_the_receipt_until_the_message_is_shown(
    green_bot: RunningBot, telegram: FakeTelegram, green: FakeGreenApi
) -> None:
    instance = await link_green(telegram, green)
    telegram.set_down(True)
    green.receive_text(instance, phone=CONTACT, text="during the outage")
    await asyncio.sleep(2.0)
    assert green.notifications(instance), "not deleted while Telegram is down"
    telegram.set_down(False)
    shown = await in_thread(telegram.wait_message, USER, "during the outage", timeout=20)
    await wait_until(lambda: not green.notifications(instance), 10)
    if telegram.threaded:  # its topic was made once Telegram was back, and it landed there
        (topic,) = telegram.topics(USER).values()
        assert shown.thread_id == topic.thread_id


@FLAT_ONLY
async def test_a_logout_on_the_phone_is_reported(
    green_bot: RunningBot, telegram: FakeTelegram, green: FakeGreenApi
) -> None:
    instance = await link_green(telegram, green)
    await asyncio.sleep(1.1)  # Green-API stamps whole seconds: the logout must be after the link
    green.set_state(instance, "notAuthorized")
    lost = await in_thread(telegram.wait_message, USER, "no longer linked")
    assert "Connect again" in lost.buttons[0][0]


@FLAT_ONLY
async def test_a_webhook_url_in_the_settings_is_explained(
    green_bot: RunningBot, telegram: FakeTelegram, green: FakeGreenApi
) -> None:
    instance = await link_green(telegram, green)
    green.set_webhook_url(instance, "https://example.com/hook")
    status = await reply(telegram, USER, "/status", "Incoming messages")
    assert "webhook URL" in status.content and "cannot be received" in status.content
