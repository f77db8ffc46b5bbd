"""Two-way messaging on ITD Chile, whose panel pushes to the bot's HTTP server: incoming through
the hook (only with the right secret), a shared line's routing, answers and photos out (fetched by
ITD from a link the bot serves), and the ticks of the status hook. The exchanges run flat and
threaded (each conversation in its topic; on a shared line, in each person's own topic)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from bot.services.phones import pretty
from tests.conftest import OTHER_USER, USER, RunningBot, in_thread, make_settings, reply, wait_until
from tests.fakes.itd import ITD_TOKEN, FakeItd, ItdTimeline
from tests.fakes.server import free_port
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim

SECRET = "hook-secret-0123456789"
CONTACT = "56987654321"
FLAT_ONLY = pytest.mark.parametrize("threaded", [False], ids=["flat"])


@pytest.fixture(params=[False, True], ids=["flat", "threads"])
def threaded(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def itd() -> Iterator[FakeItd]:
    fake = FakeItd(
        timeline=ItdTimeline(sent_seconds=0.2, delivered_seconds=0.3, read_seconds=0.4),
        push_retry_seconds=0.05,
    )
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
async def server_bot(
    telegram: FakeTelegram, wappim: FakeWappim, itd: FakeItd, database_url: str, tmp_path: Path
) -> AsyncIterator[RunningBot]:
    port = free_port()
    settings = make_settings(
        telegram,
        wappim,
        database_url,
        tmp_path,
        gateways=["itd"],
        itd_api_url=itd.url,
        itd_token=ITD_TOKEN,
        http_host="127.0.0.1",
        http_port=port,
        hook_secret=SECRET,
        public_url=f"http://127.0.0.1:{port}",
    )
    itd.incoming_hook_url = f"http://127.0.0.1:{port}/hooks/itd/{SECRET}/incoming"
    itd.status_hook_url = f"http://127.0.0.1:{port}/hooks/itd/{SECRET}/status"
    running = RunningBot(settings, telegram)
    await running.start()
    yield running
    await running.stop()


async def link_itd(telegram: FakeTelegram, user: int) -> None:
    await reply(telegram, user, "/connect itd", "connected as")


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), "green").save(out, format="PNG")
    return out.getvalue()


async def test_incoming_through_the_hook_then_answer_and_ticks(
    server_bot: RunningBot, telegram: FakeTelegram, itd: FakeItd
) -> None:
    await link_itd(telegram, USER)
    itd.receive(CONTACT, "¿Hola, están abiertos?", sender_name="Camila")
    shown = await in_thread(telegram.wait_message, USER, "están abiertos")
    assert shown.content == f"👤 Camila · {pretty(CONTACT)}\n¿Hola, están abiertos?"
    said = telegram.send_text(USER, "Sí, hasta las 20:00", reply_to=shown.message_id)
    await wait_until(lambda: itd.sent, 10)
    sent = itd.sent[-1]
    assert (sent.content_type, sent.prefijo, sent.phone, sent.content) == (
        "TEXT",
        "56",
        "987654321",
        "Sí, hasta las 20:00",
    )
    if telegram.threaded:  # in Camila's topic: the status hook's ticks are reactions
        assert shown.thread_id == (await in_thread(telegram.wait_topic, USER, "Camila")).thread_id
        await wait_until(lambda: telegram.reaction(USER, said) == "👀", 10)
        assert telegram.reactions(USER, said)[0] == "👍"
        return
    # The status hook: SENT, then READ, edit the confirmation in place.
    read = await in_thread(telegram.wait_message, USER, "· read", after=shown.message_id)
    assert read.content == f"✓✓ Sent to {pretty(CONTACT)} · read"
    assert read.edits >= 1


@FLAT_ONLY
async def test_a_wrong_secret_is_404_and_changes_nothing(
    server_bot: RunningBot, telegram: FakeTelegram, itd: FakeItd
) -> None:
    await link_itd(telegram, USER)
    port = server_bot.settings.http_port
    record = {"uuid": "u-1", "senderPhone": CONTACT, "content": "forged", "messageType": "chat"}
    async with httpx.AsyncClient() as client:
        wrong = await client.post(f"http://127.0.0.1:{port}/hooks/itd/nope/incoming", json=record)
        garbage = await client.post(
            f"http://127.0.0.1:{port}/hooks/itd/{SECRET}/incoming", content=b"\x00{not json"
        )
        right = await client.post(
            f"http://127.0.0.1:{port}/hooks/itd/{SECRET}/incoming", json=record
        )
    assert (wrong.status_code, garbage.status_code, right.status_code) == (404, 400, 200)
    await in_thread(telegram.wait_message, USER, "forged")
    assert sum("forged" in m.content for m in telegram.messages(USER)) == 1


async def test_a_shared_line_goes_to_whoever_wrote_to_the_contact(
    server_bot: RunningBot, telegram: FakeTelegram, itd: FakeItd
) -> None:
    await link_itd(telegram, USER)
    await link_itd(telegram, OTHER_USER)
    itd.receive(CONTACT, "first contact, nobody wrote to me yet")
    await in_thread(telegram.wait_message, USER, "nobody wrote")
    await in_thread(telegram.wait_message, OTHER_USER, "nobody wrote")
    await reply(telegram, OTHER_USER, f"/send +{CONTACT} I'll take care of you", "Sent to")
    itd.receive(CONTACT, "thanks, Bob")
    await in_thread(telegram.wait_message, OTHER_USER, "thanks, Bob")
    # The fake records a push once the bot answered it, which may be after the message showed.
    await wait_until(lambda: len(itd.pushes_of("incoming")) >= 2, 5)
    assert all(p.ok for p in itd.pushes_of("incoming"))
    assert not any("thanks, Bob" in m.content for m in telegram.messages(USER))
    if telegram.threaded:  # one conversation each, in each one's own topic
        assert len(telegram.topics(USER)) == len(telegram.topics(OTHER_USER)) == 1


@FLAT_ONLY  # the link ITD fetches: no topic in it
async def test_a_photo_goes_out_as_a_link_itd_fetches(
    server_bot: RunningBot, telegram: FakeTelegram, itd: FakeItd
) -> None:
    await link_itd(telegram, USER)
    itd.receive(CONTACT, "¿tiene foto?")
    shown = await in_thread(telegram.wait_message, USER, "tiene foto")
    picture = png()
    telegram.send_photo(USER, picture, caption="aquí", reply_to=shown.message_id)
    await wait_until(lambda: itd.sent and itd.sent[-1].fetch_done, 10)
    sent = itd.sent[-1]
    assert sent.content_type == "IMAGE"
    assert sent.content.startswith(f"http://127.0.0.1:{server_bot.settings.http_port}/media/")
    assert (sent.fetched, sent.caption) == (picture, "aquí")
    async with httpx.AsyncClient() as client:
        guessed = await client.get(
            f"http://127.0.0.1:{server_bot.settings.http_port}/media/x/a.jpg"
        )
    assert guessed.status_code == 404


@FLAT_ONLY
async def test_an_incoming_photo_from_itd_arrives_as_a_photo(
    server_bot: RunningBot, telegram: FakeTelegram, itd: FakeItd
) -> None:
    await link_itd(telegram, USER)
    picture = png()
    itd.receive(CONTACT, caption="mira", file=(picture, "foto.png", "image/png"))
    photo = await in_thread(telegram.wait_message, USER, "mira", kind="photo")
    assert photo.data == picture


@FLAT_ONLY
async def test_without_the_server_status_says_incoming_cannot_work(
    multi_itd: RunningBot, telegram: FakeTelegram
) -> None:
    await link_itd(telegram, USER)
    status = await reply(telegram, USER, "/status", "Incoming messages")
    assert "cannot be received" in status.content
    assert "HTTP_PORT" in status.content


@pytest.fixture
async def multi_itd(
    telegram: FakeTelegram, wappim: FakeWappim, itd: FakeItd, database_url: str, tmp_path: Path
) -> AsyncIterator[RunningBot]:
    settings = make_settings(
        telegram,
        wappim,
        database_url,
        tmp_path,
        gateways=["itd"],
        itd_api_url=itd.url,
        itd_token=ITD_TOKEN,
    )
    running = RunningBot(settings, telegram)
    await running.start()
    yield running
    await running.stop()
