"""The address book through the real bot: everyone who wrote or was written to is a contact with
WhatsApp's name; /contacts lists them, /send NAME finds one (buttons when several match, keeping
the text), and /name gives a contact the person's own name (in threaded mode: typed in the
contact's topic, it renames the topic). Topics are off unless a test says otherwise."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import USER, RunningBot, in_thread, reply, wait_until
from tests.e2e.test_send import link
from tests.fakes.telegram import FakeMessage, FakeTelegram
from tests.fakes.wappim import FakeWappim

IVAN = "79001234567"
IVANA = "79001234568"
OLGA = "79001234569"


async def written_by(
    telegram: FakeTelegram, wappim: FakeWappim, instance: int, phone: str, name: str
) -> FakeMessage:
    wappim.receive(instance, phone=phone, body=f"hello from {name}", sender_name=name)
    return await in_thread(telegram.wait_message, USER, f"hello from {name}", timeout=10)


async def test_send_to_the_one_contact_of_that_name(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim)
    await written_by(telegram, wappim, instance, OLGA, "Olga Smirnova")
    await reply(telegram, USER, "/send smir Are you coming?", "Sent to +7 900 123-45-69")
    assert (wappim.sent[-1].chat_id, wappim.sent[-1].body) == (f"{OLGA}@c.us", "Are you coming?")


async def test_several_matches_give_buttons_and_the_text_waits_for_one(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim)
    await written_by(telegram, wappim, instance, IVAN, "Ivan Petrov")
    await written_by(telegram, wappim, instance, IVANA, "Ivana Petrova")
    question = await reply(telegram, USER, '/send "iva pet" the cake is ready', "Several")
    labels = [label for label, _ in question.buttons]
    assert labels == ["Ivana Petrova · +7 900 123-45-68", "Ivan Petrov · +7 900 123-45-67"]
    assert not any(m.body == "the cake is ready" for m in wappim.sent)
    data = question.button_data("Ivan Petrov · +7 900 123-45-67")
    telegram.press(USER, question.message_id, data)
    telegram.press(USER, question.message_id, data)  # a second tap sends nothing more
    await wait_until(lambda: any(m.body == "the cake is ready" for m in wappim.sent), 10)
    await asyncio.sleep(0.5)
    sent = [m for m in wappim.sent if m.body == "the cake is ready"]
    assert [m.chat_id for m in sent] == [f"{IVAN}@c.us"]


async def test_nobody_of_that_name_shows_the_phone_form(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    await link(telegram, wappim)
    answer = await reply(telegram, USER, "/send Boris hi", "nobody")
    assert "/send +7 987 274-50-52" in answer.content
    assert not wappim.sent


async def test_contacts_lists_newest_first_and_filters(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim)
    await written_by(telegram, wappim, instance, IVAN, "Ivan Petrov")
    await written_by(telegram, wappim, instance, OLGA, "Olga Smirnova")
    await reply(telegram, USER, "/send +49 1521 6896607 Guten Tag", "Sent to")
    listed = await reply(telegram, USER, "/contacts", "Your contacts")
    lines = listed.content.splitlines()[1:]
    assert [line.split(" · ")[0] for line in lines] == [
        "• +49 1521 6896607",
        "• Olga Smirnova",
        "• Ivan Petrov",
    ]
    by_name = await reply(telegram, USER, "/contacts olg", "matching")
    assert by_name.content.splitlines()[1].startswith("• Olga Smirnova · +7 900 123-45-69")
    by_digits = await reply(telegram, USER, "/contacts 4567", "matching")
    assert len(by_digits.content.splitlines()) == 2 and "Ivan Petrov" in by_digits.content
    nobody = await reply(telegram, USER, "/contacts zed", "No contact")
    assert "zed" in nobody.content


async def test_name_wins_over_whatsapps_name(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim)
    await written_by(telegram, wappim, instance, IVAN, "Ivan Petrov")
    done = await reply(telegram, USER, "/name +7 900 123-45-67 Baker Ivan", "Named")
    assert "Baker Ivan · +7 900 123-45-67" in done.content
    await written_by(telegram, wappim, instance, IVAN, "Ivan P.")  # WhatsApp's name changes
    listed = await reply(telegram, USER, "/contacts", "Your contacts")
    assert "Baker Ivan" in listed.content and "Ivan P." not in listed.content
    await reply(telegram, USER, "/send baker fresh bread?", "Sent to +7 900 123-45-67")


async def test_name_without_a_number_or_a_name_is_a_usage_error(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    await link(telegram, wappim)
    where = await reply(telegram, USER, "/name Ivan", "Usage")
    assert "topic" in where.content and "/name +7 987 274-50-52" in where.content
    missing = await reply(telegram, USER, "/name +7 900 123-45-67", "Usage")
    assert "name is missing" in missing.content


@pytest.mark.parametrize("threaded", [True])
async def test_name_in_a_topic_renames_its_topic_and_send_name_is_echoed_there(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, threaded: bool
) -> None:
    instance = await link(telegram, wappim)
    wappim.receive(instance, phone=IVAN, body="hello from Ivan", sender_name="Ivan Petrov")
    topic = await in_thread(telegram.wait_topic, USER, "Ivan Petrov")
    await in_thread(telegram.wait_message, USER, "hello from Ivan", thread=topic.thread_id)
    asked = telegram.send_text(USER, "/name Baker Ivan", thread=topic.thread_id)
    await in_thread(telegram.wait_message, USER, "Named", after=asked, timeout=10)
    await wait_until(
        lambda: telegram.topics(USER)[topic.thread_id].name == "Baker Ivan · +7 900 123-45-67", 10
    )
    assert len(telegram.topics(USER)) == 1  # renamed, not a new topic
    sent = telegram.send_text(USER, "/send baker Bread is ready")  # in the general part
    await wait_until(lambda: any(m.body == "Bread is ready" for m in wappim.sent), 10)
    echoed = await in_thread(
        telegram.wait_message, USER, "Bread is ready", thread=topic.thread_id, after=sent
    )
    assert echoed.thread_id == topic.thread_id
