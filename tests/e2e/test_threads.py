"""Threads end to end: the real bot against the fake Bot API in threaded mode (topics in private
chats) and the gateway emulators. Each WhatsApp conversation gets one topic, named after the
contact; what arrives lands there, what the person writes there goes out, with reactions for the
ticks; deleted and self-made topics; /send echoed; a restart; THREADS=off; isolation."""

from __future__ import annotations

import asyncio

import pytest

from bot.config import Settings
from bot.storage.models import Conversation, OutgoingMessage
from tests.conftest import OTHER_USER, USER, RunningBot, db, in_thread, reply, wait_until
from tests.e2e.test_send import link
from tests.fakes.telegram import FakeMessage, FakeTelegram, FakeTopic
from tests.fakes.wappim import FakeWappim

IVAN = "79001234567"
OLGA = "79005556677"


@pytest.fixture
def threaded() -> bool:
    return True


async def arrives(
    telegram: FakeTelegram, user: int, text: str, *, thread: int | None = None, **kw: object
) -> FakeMessage:
    return await in_thread(telegram.wait_message, user, text, thread=thread, timeout=10, **kw)


async def topic(telegram: FakeTelegram, user: int, name: str) -> FakeTopic:
    return await in_thread(telegram.wait_topic, user, name)


async def reaction(telegram: FakeTelegram, user: int, message_id: int, emoji: str) -> list[str]:
    await wait_until(lambda: telegram.reaction(user, message_id) == emoji, 10)
    return telegram.reactions(user, message_id)


async def test_two_contacts_two_topics_and_answers_in_them(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    instance = await link(telegram, wappim)
    wappim.receive(instance, phone=IVAN, body="hi, it's Ivan", sender_name="Ivan Petrov")
    wappim.receive(instance, phone=OLGA, body="Olga here", sender_name="Olga")
    ivan = await topic(telegram, USER, "Ivan Petrov")
    olga = await topic(telegram, USER, "Olga")
    assert (ivan.name, olga.name) == ("Ivan Petrov · +7 900 123-45-67", "Olga · +7 900 555-66-77")
    assert ivan.created_by == olga.created_by == "bot"
    # The header first (the topic shows in the client), then the message, in its topic only.
    header = await arrives(telegram, USER, "Write here to answer", thread=ivan.thread_id)
    shown = await arrives(telegram, USER, "hi, it's Ivan", thread=ivan.thread_id)
    assert header.message_id < shown.message_id
    assert shown.content == "👤 Ivan Petrov · +7 900 123-45-67\nhi, it's Ivan"
    await arrives(telegram, USER, "Olga here", thread=olga.thread_id)
    assert not any("Olga here" in m.content for m in telegram.messages(USER, thread=ivan.thread_id))
    assert not any("hi, it's" in m.content for m in telegram.messages(USER, thread=0))

    # Writing in a topic, no command, no reply: it goes to that contact; reactions follow.
    said = telegram.send_text(USER, "hello Olga", thread=olga.thread_id)
    await wait_until(lambda: any(s.body == "hello Olga" for s in wappim.sent), 10)
    assert wappim.sent[-1].chat_id == f"{OLGA}@c.us"
    assert await reaction(telegram, USER, said, "👍") == ["👍"]
    row = await db(settings, lambda: OutgoingMessage.get(text="hello Olga"))
    assert row.origin == "topic" and row.conversation_id is not None  # type: ignore[attr-defined]
    # No confirmation message: the reaction is the confirmation.
    assert not any("Sent to" in m.content for m in telegram.messages(USER))
