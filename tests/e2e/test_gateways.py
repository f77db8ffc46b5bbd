"""The other gateways through the real bot: Green-API (the person's own instance), ITD Chile
(the operator's line) and whinmovilla (slots), with the same commands as wapp.im."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import USER, RunningBot, decode_qr, in_thread, make_settings, reply
from tests.fakes.greenapi import FakeGreenApi, GreenTimeline
from tests.fakes.itd import ITD_TOKEN, FakeItd
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim
from tests.fakes.whinmovilla import WHIN_TOKEN, FakeWhinmovilla


@pytest.fixture
def green() -> Iterator[FakeGreenApi]:
    fake = FakeGreenApi(
        timeline=GreenTimeline(
            create_seconds=0.05,
            start_seconds=0.05,
            qr_rotate_seconds=0.5,
            send_seconds=0.05,
            deliver_seconds=0.05,
            read_seconds=0.05,
        )
    )
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def itd() -> Iterator[FakeItd]:
    fake = FakeItd()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def whin() -> Iterator[FakeWhinmovilla]:
    fake = FakeWhinmovilla()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
async def multi(
    telegram: FakeTelegram,
    wappim: FakeWappim,
    green: FakeGreenApi,
    itd: FakeItd,
    whin: FakeWhinmovilla,
    database_url: str,
    tmp_path: Path,
) -> AsyncIterator[RunningBot]:
    settings = make_settings(
        telegram,
        wappim,
        database_url,
        tmp_path,
        gateways=["wappim", "greenapi", "itd", "whinmovilla"],
        green_api_url=green.url,
        itd_api_url=itd.url,
        itd_token=ITD_TOKEN,
        whin_api_url=whin.url,
        whin_token=WHIN_TOKEN,
    )
    running = RunningBot(settings, telegram)
    await running.start()
    yield running
    await running.stop()


async def test_connect_offers_every_enabled_gateway(
    multi: RunningBot, telegram: FakeTelegram
) -> None:
    choice = await reply(telegram, USER, "/connect", "Which WhatsApp gateway")
    assert [data for _, data in choice.buttons] == [
        "connect:wappim",
        "connect:greenapi",
        "connect:itd",
        "connect:whinmovilla",
    ]
    unknown = await reply(telegram, USER, "/connect nosuch", "no gateway called")
    assert "Usage: /connect" in (unknown.text or "")


async def test_green_api_with_own_credentials(
    multi: RunningBot, telegram: FakeTelegram, green: FakeGreenApi
) -> None:
    instance, token = green.add_instance()
    command = telegram.send_text(USER, f"/connect greenapi {instance} {token} {green.url}")
    photo = await in_thread(
        telegram.wait_message, USER, "Linked devices", photo=True, after=command
    )
    assert telegram.wait_for(
        lambda: any(
            c.method.lower() == "deletemessage" and str(c.params.get("message_id")) == str(command)
            for c in telegram.calls
        )
    ), "the message carrying the token is deleted"
    assert decode_qr(photo.photo or b"") == green.current_qr(instance)
    green.scan(instance, phone="79001234567")
    done = await in_thread(telegram.wait_message, USER, "connected as")
    assert "+7 900 123-45-67" in (done.text or "")
    await reply(telegram, USER, "/send 89872745052 Привет из Telegram", "Sent to +7 987 274-50-52")
    assert (green.sent[-1].chat_id, green.sent[-1].message) == (
        "79872745052@c.us",
        "Привет из Telegram",
    )
    url = "https://cdn.example.com/files/report.pdf"
    await reply(telegram, USER, f"/sendfile 89872745052 {url}\nОтчёт\nза май", "Sent to +7 987")
    assert (green.sent[-1].method, green.sent[-1].fields) == (
        "sendFileByUrl",
        {
            "chatId": "79872745052@c.us",
            "urlFile": url,
            "fileName": "report.pdf",
            "caption": "Отчёт\nза май",
        },
    )
    page = "https://example.com/news"
    await reply(telegram, USER, f"/sendlink 89872745052 {page} Почитай", "Sent to +7 987")
    assert (green.sent[-1].method, green.sent[-1].fields["message"]) == (
        "sendMessage",
        f"Почитай\n{page}",  # Green-API has no link type: the text carries it (preview by default)
    )
    green.set_state(instance, "yellowCard")
    status = await reply(telegram, USER, "/status", "State")
    assert "yellowCard" in (status.text or "") and "/reboot" in (status.text or "")


async def test_green_api_wrong_token_is_explained(
    multi: RunningBot, telegram: FakeTelegram, green: FakeGreenApi
) -> None:
    instance, _ = green.add_instance()
    telegram.send_text(USER, f"/connect greenapi {instance} wrongtoken {green.url}")
    failed = await in_thread(telegram.wait_message, USER, "Could not connect")
    assert "key" in (failed.text or "")
    half = await reply(telegram, USER, "/connect greenapi 1101", "Usage")
    assert "idInstance apiTokenInstance [apiUrl]" in (half.text or "")


async def test_green_api_asks_for_credentials_and_deletes_them(
    multi: RunningBot, telegram: FakeTelegram, green: FakeGreenApi
) -> None:
    asked = await reply(telegram, USER, "/connect greenapi", "Send me your Green-API instance")
    assert "idInstance apiTokenInstance [apiUrl]" in (asked.text or "")
    instance, token = green.add_instance(phone="79001112233")  # already linked on the phone
    secret = telegram.send_text(USER, f"{instance} {token} {green.url}")
    done = await in_thread(telegram.wait_message, USER, "connected as", after=secret)
    assert "+7 900 111-22-33" in (done.text or "")
    assert any(
        c.method == "deleteMessage" and str(c.params.get("message_id")) == str(secret)
        for c in telegram.calls
    )
    assert token not in str([c.params for c in telegram.calls if c.method != "getUpdates"]), (
        "the token is never echoed"
    )


async def test_credentials_asked_for_before_a_restart_are_still_taken(
    multi: RunningBot, telegram: FakeTelegram, green: FakeGreenApi
) -> None:
    await reply(telegram, USER, "/connect greenapi", "Send me your Green-API instance")
    await multi.restart()
    instance, token = green.add_instance(phone="79001112233")
    secret = telegram.send_text(USER, f"{instance} {token} {green.url}")
    await in_thread(telegram.wait_message, USER, "connected as", after=secret)
    assert any(
        c.method == "deleteMessage" and str(c.params.get("message_id")) == str(secret)
        for c in telegram.calls
    ), "the message carrying the token is deleted"
    answer = await reply(telegram, USER, "hello")
    assert "connected as" not in answer.content, "the question was used up"


async def test_itd_operator_line_sends_and_reports_credits(
    multi: RunningBot, telegram: FakeTelegram, itd: FakeItd
) -> None:
    await reply(telegram, USER, "/connect itd")
    await in_thread(telegram.wait_message, USER, "connected as")
    await reply(telegram, USER, "/send +56 9 8765 4321 Hola", "Sent to +56 9 8765 4321")
    message = itd.sent[-1]
    assert (message.content_type, message.content, message.phone, message.prefijo) == (
        "TEXT",
        "Hola",
        "987654321",
        "56",
    )
    page = "https://example.cl/noticias"
    await reply(telegram, USER, f"/sendlink +56987654321 {page}\nLee esto", "Sent to +56 9")
    await reply(telegram, USER, f"/sendfile +56987654321 {page}/foto.png", "Sent to +56 9")
    link, image = itd.sent[-2:]
    assert (link.content_type, link.content, link.caption) == ("LINK", page, "Lee esto")
    assert (image.content_type, image.content) == ("IMAGE", f"{page}/foto.png")
    status = await reply(telegram, USER, "/status", "State")
    assert "credits" in (status.text or "").lower()
    itd.set_credits(0)
    await reply(telegram, USER, "/send +56 9 8765 4321 sin créditos")
    failed = await in_thread(telegram.wait_message, USER, "Not sent")
    assert "limit" in (failed.text or "")
    sends = [r.fields.get("content") for r in itd.requests if "sendWhatsapp" in r.path]
    assert len(sends) == 4, sends  # 502 NOT_CREDITS is never retried


async def test_whinmovilla_slot_qr_sleep_resume_and_no_send(
    multi: RunningBot, telegram: FakeTelegram, whin: FakeWhinmovilla
) -> None:
    await reply(telegram, USER, "/connect whinmovilla")
    photo = await in_thread(telegram.wait_message, USER, "Linked devices", photo=True)
    slot = next(s for s in whin.slot_ids if whin.current_qr(s))
    assert decode_qr(photo.photo or b"") == whin.current_qr(slot)
    whin.scan(slot, "34666123456")
    done = await in_thread(telegram.wait_message, USER, "connected as")
    assert "+34 666 12 34 56" in (done.text or "")
    assert "Done: /sleep" in ((await reply(telegram, USER, "/sleep", "sleep")).text or "")
    assert whin.slot(slot).status == "sleeping"
    assert "Done: /resume" in ((await reply(telegram, USER, "/resume", "resume")).text or "")
    await reply(telegram, USER, "/resume", "Could not")
    await reply(telegram, USER, "/send 34666000111 hola")
    answer = await in_thread(telegram.wait_message, USER, "Not sent")
    assert "cannot do that" in (answer.text or "")
