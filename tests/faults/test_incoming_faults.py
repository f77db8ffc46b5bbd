"""Incoming messages under faults: a burst with `kill -9` in the middle, a Telegram outage, a
person who blocked the bot, and hostile messages (huge, marked up, empty, files at private
addresses or answering 500). Nothing is lost, at most one message is shown twice per crash, the
order holds, and the bot never dies."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiohttp import web

from bot.config import Settings
from bot.storage.models import InboundStatus, IncomingMessage
from tests.conftest import OTHER_USER, USER, RunningBot, db, in_thread, wait_until
from tests.e2e.test_send import link as link_in_process
from tests.fakes.server import BackgroundServer
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim
from tests.faults.test_kill import BotProcess, link

CONTACT = "79001234567"


def shown(telegram: FakeTelegram, user: int, prefix: str) -> list[str]:
    """The incoming texts starting with `prefix` the person was shown, in order (repeats kept)."""
    texts = []
    for message in telegram.messages(user):
        lines = message.content.splitlines()
        if len(lines) >= 2 and lines[1].startswith(prefix):
            texts.append(lines[1])
    return texts


def test_a_burst_of_30_survives_kill_9_in_the_middle(
    process: BotProcess, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    process.start()
    instance = link(telegram, wappim)
    telegram.set_delay("sendMessage", 0.05)  # 30 messages take a while: time to kill
    for n in range(30):
        wappim.receive(instance, phone=CONTACT, body=f"burst {n:02d}")
    telegram.wait_for(lambda: len(shown(telegram, USER, "burst")) >= 10, 15)
    process.kill()
    telegram.set_delay("sendMessage", 0)
    process.start()
    telegram.wait_for(lambda: "burst 29" in shown(telegram, USER, "burst"), 15)
    texts = shown(telegram, USER, "burst")
    expected = [f"burst {n:02d}" for n in range(30)]
    assert sorted(set(texts)) == expected, "nothing lost"
    assert len(texts) - len(set(texts)) <= 1, f"at most one shown twice: {texts}"
    first_seen = list(dict.fromkeys(texts))
    assert first_seen == expected, "in the order they arrived"
    process.stop()
    assert "Traceback" not in process.stderr()


async def test_a_telegram_outage_holds_the_messages_until_it_is_over(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    instance = await link_in_process(telegram, wappim)
    telegram.set_down(True)
    for n in range(5):
        wappim.receive(instance, phone=CONTACT, body=f"outage {n}")
    await asyncio.sleep(2.0)  # the outage: the bot keeps trying
    assert (
        await db(settings, lambda: IncomingMessage.filter(status=InboundStatus.FORWARDED).count())
        == 0
    )
    telegram.set_down(False)
    await wait_until(lambda: len(shown(telegram, USER, "outage")) == 5, 20)
    assert shown(telegram, USER, "outage") == [f"outage {n}" for n in range(5)]


async def test_a_person_who_blocked_the_bot_stalls_nobody_else(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    ann = await link_in_process(telegram, wappim, USER, name="Ann", number="79990000001")
    bob = await link_in_process(telegram, wappim, OTHER_USER, name="Bob", number="79990000002")
    telegram.block(USER)
    wappim.receive(ann, phone=CONTACT, body="for Ann, who blocked the bot")
    for n in range(3):
        wappim.receive(bob, phone=CONTACT, body=f"for Bob {n}")
    await wait_until(lambda: len(shown(telegram, OTHER_USER, "for Bob")) == 3, 10)
    # Ann's message waits; when she writes to the bot again, it arrives.
    telegram.unblock(USER)
    telegram.send_text(USER, "/start")
    await wait_until(lambda: shown(telegram, USER, "for Ann"), 10)
    assert shown(telegram, USER, "for Ann") == ["for Ann, who blocked the bot"]


@pytest.fixture
def elsewhere() -> Iterator[tuple[str, list[str]]]:
    """Another server on 127.0.0.1 (not the gateway's origin): it records every request."""
    hits: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=b"secret metadata", content_type="image/png")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = BackgroundServer(app)
    server.start()
    yield server.url, hits
    server.stop()


async def test_hostile_messages_are_shown_safely_or_told_in_words(
    bot: RunningBot,
    telegram: FakeTelegram,
    wappim: FakeWappim,
    elsewhere: tuple[str, list[str]],
) -> None:
    instance = await link_in_process(telegram, wappim)
    other, hits = elsewhere
    huge = "x" * 70_000 + " end"
    wappim.receive(instance, phone=CONTACT, body=huge, sender_name="<b>Big</b>")
    long = await in_thread(telegram.wait_message, USER, "A long message", kind="document")
    assert long.data == huge.encode()
    assert long.content.startswith("👤 <b>Big</b> · +7 900 123-45-67")
    wappim.receive(instance, phone=CONTACT, body="", sender_name="\u202eevil\u200bname")
    empty = await in_thread(telegram.wait_message, USER, "(an empty message)")
    assert empty.content.startswith("👤 evil\u200bname ·"), "direction overrides are dropped"
    for target in (f"{other}/private.png", "http://169.254.169.254/latest/meta-data/"):
        wappim.receive(instance, phone=CONTACT, type="image", body=target, caption="private")
        await in_thread(telegram.wait_message, USER, "did not open it", after=empty.message_id)
    wappim.fail_next("/files/", status=500, body="boom")
    wappim.receive(
        instance, type="image", caption="broken", file=(b"\x89PNG", "a.png", "image/png")
    )
    broken = await in_thread(telegram.wait_message, USER, "could not be downloaded")
    assert "broken" in broken.content
    wappim.receive(instance, phone=CONTACT, body="still alive after all that")
    await in_thread(telegram.wait_message, USER, "still alive after all that")
    assert hits == [], "nothing was fetched from a private address off the gateway's origin"
