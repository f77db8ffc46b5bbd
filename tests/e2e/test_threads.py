"""Threads end to end: the real bot against the fake Bot API in threaded mode (topics in private
chats) and the gateway emulators. Each WhatsApp conversation gets one topic, named after the
contact; what arrives lands there, what the person writes there goes out, with reactions for the
ticks; deleted and self-made topics; /send echoed; a restart; THREADS=off; isolation."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.config import Settings
from bot.storage.models import Conversation, OutgoingMessage
from tests.conftest import (
    OTHER_USER,
    USER,
    RunningBot,
    assigned_instance,
    db,
    in_thread,
    make_settings,
    reply,
    wait_until,
)
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


async def link_line(
    telegram: FakeTelegram, wappim: FakeWappim, user: int, name: str, number: str
) -> int:
    """Another line for `user` (`link` is for the first one: it reads the first QR)."""
    before = max((m.message_id for m in telegram.messages(user)), default=0)
    telegram.send_text(user, "/connect")
    await arrives(telegram, user, "Linked devices", thread=0, photo=True, after=before)
    instance = assigned_instance(wappim)
    wappim.scan(instance, name=name, number=number)
    await arrives(telegram, user, "connected as", thread=0, after=before)
    return instance


async def test_two_lines_two_people_each_topic_goes_out_through_its_own_line(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    shop = await link_line(telegram, wappim, USER, "Shop", "79990000001")
    home = await link_line(telegram, wappim, USER, "Home", "79990000002")
    bobs = await link_line(telegram, wappim, OTHER_USER, "Bob", "79990000003")
    for instance, body in ((shop, "to the shop"), (home, "to home"), (bobs, "to Bob")):
        wappim.receive(instance, phone=IVAN, body=body, sender_name="Ivan")
    # Ann has two lines: the line is in each topic's name. Bob has one: no line.
    at_shop = await topic(telegram, USER, "· Shop")
    at_home = await topic(telegram, USER, "· Home")
    at_bob = await topic(telegram, OTHER_USER, "Ivan")
    assert at_shop.name == "Ivan · +7 900 123-45-67 · Shop"
    assert at_bob.name == "Ivan · +7 900 123-45-67"
    await arrives(telegram, USER, "to the shop", thread=at_shop.thread_id)
    await arrives(telegram, USER, "to home", thread=at_home.thread_id)
    await arrives(telegram, OTHER_USER, "to Bob", thread=at_bob.thread_id)
    for user, thread, text in (
        (USER, at_home.thread_id, "from home"),
        (USER, at_shop.thread_id, "from the shop"),
        (OTHER_USER, at_bob.thread_id, "from Bob"),
    ):
        telegram.send_text(user, text, thread=thread)
    await wait_until(lambda: len(wappim.sent) == 3, 10)
    assert {(s.instance_id, s.body) for s in wappim.sent} == {
        (home, "from home"),
        (shop, "from the shop"),
        (bobs, "from Bob"),
    }
    assert {s.chat_id for s in wappim.sent} == {f"{IVAN}@c.us"}
    # Bob never sees Ann's topics, and cannot take her conversation for a topic of his.
    assert set(telegram.topics(OTHER_USER)) == {at_bob.thread_id}
    anns = await db(bot.settings, lambda: Conversation.filter(user_id=USER).first())
    assert anns is not None
    mine = telegram.create_topic(OTHER_USER, "Ann's Ivan?")
    question = await arrives(telegram, OTHER_USER, "Whom is this topic for", thread=mine)
    # A forged button (callback data are ids): refused, it is not his.
    telegram.press(OTHER_USER, question.message_id, f"tbind:{anns.id}", must_exist=False)
    await arrives(telegram, OTHER_USER, "no longer in your address book", thread=mine)
    after = await db(bot.settings, lambda: Conversation.get(id=anns.id))
    assert after.topic_id == anns.topic_id


async def test_media_both_ways_in_a_topic(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim)
    picture = png("orange")
    wappim.receive(
        instance, phone=IVAN, type="image", caption="look", file=(picture, "a.png", "image/png")
    )
    ivan = await topic(telegram, USER, "Ivan")
    photo = await arrives(telegram, USER, "look", thread=ivan.thread_id, kind="photo")
    assert photo.data == picture
    mine = png("teal")
    telegram.send_photo(USER, mine, caption="and mine", thread=ivan.thread_id)
    voice = b"OggS" + bytes(64)
    said = telegram.send_voice(USER, voice, thread=ivan.thread_id)
    await wait_until(lambda: len(wappim.sent_files) == 2, 10)
    (sent_photo, sent_voice) = wappim.sent_files
    assert (sent_photo.chat_id, sent_photo.data, sent_photo.caption) == (
        f"{IVAN}@c.us",
        mine,
        "and mine",
    )
    assert (sent_voice.data, sent_voice.mime) == (voice, "audio/ogg")
    await reaction(telegram, USER, said, "👍")


def png(color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 32), color).save(out, format="PNG")
    return out.getvalue()


async def test_a_deleted_topic_is_replaced_and_nothing_is_lost(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim)
    wappim.receive(instance, phone=IVAN, body="first", sender_name="Ivan")
    first = await topic(telegram, USER, "Ivan")
    await arrives(telegram, USER, "first", thread=first.thread_id)
    telegram.delete_topic(USER, first.thread_id)  # Telegram tells the bot nothing
    wappim.receive(instance, phone=IVAN, body="after the deletion", sender_name="Ivan")
    shown = await arrives(telegram, USER, "after the deletion")
    (second,) = [t for t in telegram.topics(USER).values() if not t.deleted]
    assert second.thread_id != first.thread_id and second.name == first.name
    assert shown.thread_id == second.thread_id
    await arrives(telegram, USER, "Write here to answer", thread=second.thread_id)

    # The server bug of May 2026 (#854): a send into a deleted topic lands in the main chat
    # without an error. The stray copy is deleted, and the message goes to a new topic.
    telegram.set_deleted_topic_bug()
    telegram.delete_topic(USER, second.thread_id)
    wappim.receive(instance, phone=IVAN, body="during the bug", sender_name="Ivan")
    await wait_until(
        lambda: (
            len([t for t in telegram.topics(USER).values() if not t.deleted]) == 1
            and not any(
                t.thread_id in (first.thread_id, second.thread_id)
                for t in telegram.topics(USER).values()
                if not t.deleted
            )
        ),
        10,
    )
    (third,) = [t for t in telegram.topics(USER).values() if not t.deleted]
    live = await arrives(telegram, USER, "during the bug", thread=third.thread_id)
    strays = [m for m in telegram.messages(USER, thread=0) if "during the bug" in m.content]
    assert strays and all(m.deleted for m in strays)
    assert not live.deleted
    # Written in the new topic, it goes out.
    telegram.send_text(USER, "still here", thread=third.thread_id)
    await wait_until(lambda: any(s.body == "still here" for s in wappim.sent), 10)


async def test_a_topic_the_person_made_is_bound_by_name_and_by_phone(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim)
    wappim.receive(instance, phone=IVAN, body="old topic", sender_name="Ivan Petrov")
    old = await topic(telegram, USER, "Ivan Petrov")
    await arrives(telegram, USER, "old topic", thread=old.thread_id)

    made = telegram.create_topic(USER, "My Ivan")
    await arrives(telegram, USER, "Whom is this topic for", thread=made)
    telegram.send_text(USER, "are you there", thread=made)  # not an answer: not sent either
    await arrives(telegram, USER, "No contact named", thread=made)
    telegram.send_text(USER, "ivan p", thread=made)
    await arrives(telegram, USER, "now the conversation with Ivan Petrov", thread=made)
    await arrives(telegram, USER, "continues in the topic you chose", thread=old.thread_id)
    wappim.receive(instance, phone=IVAN, body="where do I land?", sender_name="Ivan Petrov")
    await arrives(telegram, USER, "where do I land?", thread=made)
    said = telegram.send_text(USER, "in my own topic", thread=made)
    await reaction(telegram, USER, said, "👍")
    assert [s.body for s in wappim.sent] == ["in my own topic"]
    assert telegram.topics(USER)[made].name == "My Ivan"  # the person's name stays
    assert not any(
        "where do I land" in m.content for m in telegram.messages(USER, thread=old.thread_id)
    )

    # By phone: a contact nobody wrote to yet.
    other = telegram.create_topic(USER, "Olga")
    await arrives(telegram, USER, "Whom is this topic for", thread=other)
    telegram.send_text(USER, "8 900 555 66 77", thread=other)
    await arrives(telegram, USER, "now the conversation with +7 900 555-66-77", thread=other)
    telegram.send_text(USER, "hi Olga", thread=other)
    await wait_until(lambda: len(wappim.sent) == 2, 10)
    assert (wappim.sent[-1].chat_id, wappim.sent[-1].body) == (f"{OLGA}@c.us", "hi Olga")


async def test_several_matching_names_are_offered_as_buttons(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim)
    wappim.receive(instance, phone=IVAN, body="one", sender_name="Ivan Petrov")
    wappim.receive(instance, phone=OLGA, body="two", sender_name="Ivan Sidorov")
    await topic(telegram, USER, "Sidorov")
    made = telegram.create_topic(USER, "which Ivan")
    await arrives(telegram, USER, "Whom is this topic for", thread=made)
    telegram.send_text(USER, "Ivan", thread=made)
    choice = await arrives(telegram, USER, "Several contacts match", thread=made)
    assert len(choice.buttons) == 2
    telegram.press(USER, choice.message_id, choice.button_data("Sidorov"))
    await arrives(telegram, USER, "now the conversation with Ivan Sidorov", thread=made)
    telegram.send_text(USER, "for Sidorov", thread=made)
    await wait_until(lambda: wappim.sent, 10)
    assert wappim.sent[-1].chat_id == f"{OLGA}@c.us"


async def test_send_in_the_general_part_is_echoed_in_the_topic_and_the_answer_lands_there(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim)
    confirmation = await reply(
        telegram, USER, "/send 8 900 123 45 67 hello from the general chat", "Sent to"
    )
    assert confirmation.thread_id is None
    fresh = await topic(telegram, USER, "+7 900 123-45-67")
    assert fresh.name == "+7 900 123-45-67"  # a phone alone until a name is known
    echo = await arrives(telegram, USER, "hello from the general chat", thread=fresh.thread_id)
    assert echo.content.startswith("↗️")
    wappim.receive(instance, phone=IVAN, body="got it", sender_name="Ivan Petrov")
    await arrives(telegram, USER, "got it", thread=fresh.thread_id)
    # Now the name is known: the topic is renamed, once.
    await wait_until(
        lambda: telegram.topics(USER)[fresh.thread_id].name == "Ivan Petrov · +7 900 123-45-67"
    )
    wappim.receive(instance, phone=IVAN, body="and again", sender_name="Ivan Petrov")
    await arrives(telegram, USER, "and again", thread=fresh.thread_id)
    assert len(telegram.calls_of("editForumTopic")) == 1
    # Plain text in the general part: one line on how to write to someone.
    hint = await reply(telegram, USER, "hello?", "open their topic")
    assert hint.thread_id is None


async def test_a_name_the_person_gives_the_topic_is_never_overwritten(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    instance = await link(telegram, wappim)
    wappim.receive(instance, phone=IVAN, body="hi", sender_name="Ivan")
    ivan = await topic(telegram, USER, "Ivan")
    telegram.rename_topic(USER, ivan.thread_id, "Plumber")
    await wait_until_db(settings, lambda: Conversation.filter(topic_named_by_user=True).exists())
    wappim.receive(instance, phone=IVAN, body="new name", sender_name="Ivan the Plumber")
    await arrives(telegram, USER, "new name", thread=ivan.thread_id)
    assert telegram.topics(USER)[ivan.thread_id].name == "Plumber"
    assert telegram.calls_of("editForumTopic") == []


async def wait_until_db(settings: Settings, query: Any, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await db(settings, query):
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_after_a_restart_the_conversation_goes_to_the_same_topic(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim)
    wappim.receive(instance, phone=IVAN, body="before", sender_name="Ivan")
    ivan = await topic(telegram, USER, "Ivan")
    await arrives(telegram, USER, "before", thread=ivan.thread_id)
    await bot.restart()
    wappim.receive(instance, phone=IVAN, body="after the restart", sender_name="Ivan")
    await arrives(telegram, USER, "after the restart", thread=ivan.thread_id)
    assert list(telegram.topics(USER)) == [ivan.thread_id]
    assert len(telegram.calls_of("createForumTopic")) == 1


async def test_mute_in_a_topic_mutes_that_conversation_only(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim)
    wappim.receive(instance, phone=IVAN, body="ivan 1", sender_name="Ivan")
    ivan = await topic(telegram, USER, "Ivan")
    await arrives(telegram, USER, "ivan 1", thread=ivan.thread_id)
    await arrives(
        telegram,
        USER,
        "Muted",
        thread=ivan.thread_id,
        after=telegram.send_text(USER, "/mute", thread=ivan.thread_id),
    )
    wappim.receive(instance, phone=IVAN, body="ivan while muted", sender_name="Ivan")
    wappim.receive(instance, phone=OLGA, body="olga meanwhile", sender_name="Olga")
    await arrives(telegram, USER, "olga meanwhile")  # after Ivan's: the line's worker is in order
    unmuted = telegram.send_text(USER, "/unmute", thread=ivan.thread_id)
    await arrives(telegram, USER, "forwarded here again", thread=ivan.thread_id, after=unmuted)
    wappim.receive(instance, phone=IVAN, body="ivan after", sender_name="Ivan")
    await arrives(telegram, USER, "ivan after", thread=ivan.thread_id)
    assert not any("while muted" in m.content for m in telegram.messages(USER))


async def test_a_failed_topic_message_is_told_in_words_and_sent_again_once(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    instance = await link(telegram, wappim)
    wappim.receive(instance, phone=IVAN, body="hi", sender_name="Ivan")
    ivan = await topic(telegram, USER, "Ivan")
    wappim.drop_next("sendMessage")  # the request leaves, no answer comes: unknown outcome
    said = telegram.send_text(USER, "did it go?", thread=ivan.thread_id)
    unsure = await arrives(telegram, USER, "don't know whether", thread=ivan.thread_id)
    assert unsure.reply_to_message_id == said
    data = unsure.button_data("Send again")
    telegram.set_delay("answerCallbackQuery", 0.2)  # both taps reach the outbox together
    telegram.press(USER, unsure.message_id, data)
    telegram.press(USER, unsure.message_id, data)
    await reaction(telegram, USER, said, "👍")  # on the person's own message
    await asyncio.sleep(0.5)
    assert sum(s.body == "did it go?" for s in wappim.sent) == 1
    rows = await db(settings, lambda: OutgoingMessage.filter(text="did it go?").order_by("id"))
    assert [(r.status, r.origin) for r in rows] == [("failed", "topic"), ("sent", "topic")]


async def test_threads_off_keeps_the_flat_chat(
    telegram: FakeTelegram, wappim: FakeWappim, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        telegram, wappim, database_url, tmp_path, threads="off", admin_user_ids=[USER]
    )
    running = RunningBot(settings, telegram)
    await running.start()
    try:
        instance = await link(telegram, wappim)
        wappim.receive(instance, phone=IVAN, body="flat as before", sender_name="Ivan")
        shown = await arrives(telegram, USER, "flat as before")
        assert shown.thread_id is None and telegram.topics(USER) == {}
        telegram.send_text(USER, "by reply", reply_to=shown.message_id)
        await arrives(telegram, USER, "Sent to +7 900 123-45-67", thread=0)
        admin = await reply(telegram, USER, "/admin", "Usage")
        assert "Threads: off (THREADS=off; Threaded Mode in @BotFather: on)" in admin.content
    finally:
        await running.stop()


@pytest.mark.parametrize(
    ("threaded", "setting", "says"),
    [
        (True, "auto", "Threads: on"),
        (False, "auto", "Threads: off (THREADS=auto; Threaded Mode in @BotFather: off)"),
    ],
    ids=["on", "off-in-botfather"],  # THREADS=off: test_threads_off_keeps_the_flat_chat
)
async def test_admin_says_whether_threads_are_on(
    telegram: FakeTelegram,
    wappim: FakeWappim,
    database_url: str,
    tmp_path: Path,
    setting: str,
    says: str,
) -> None:
    settings = make_settings(
        telegram, wappim, database_url, tmp_path, threads=setting, admin_user_ids=[USER]
    )
    running = RunningBot(settings, telegram)
    await running.start()
    try:
        assert says in (await reply(telegram, USER, "/admin", "Usage")).content
    finally:
        await running.stop()


async def test_threaded_mode_switched_off_at_run_time_delivers_flat(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim)
    wappim.receive(instance, phone=IVAN, body="in the topic", sender_name="Ivan")
    ivan = await topic(telegram, USER, "Ivan")
    await arrives(telegram, USER, "in the topic", thread=ivan.thread_id)
    telegram.set_threaded(False)  # the owner switches Threaded Mode off in @BotFather
    wappim.receive(instance, phone=IVAN, body="flat now", sender_name="Ivan")
    wappim.receive(instance, phone=OLGA, body="new and flat", sender_name="Olga")
    assert (await arrives(telegram, USER, "flat now")).thread_id is None
    assert (await arrives(telegram, USER, "new and flat")).thread_id is None
    telegram.set_threaded(True)  # and on again: later messages try topics again
    wappim.receive(instance, phone=IVAN, body="back in the topic", sender_name="Ivan")
    await arrives(telegram, USER, "back in the topic", thread=ivan.thread_id)
    # A server fault on topic calls (tdlib/telegram-bot-api#847): flat, then topics again.
    telegram.set_topic_outage(True)
    wappim.receive(instance, phone=IVAN, body="during the outage", sender_name="Ivan")
    assert (await arrives(telegram, USER, "during the outage")).thread_id is None
    telegram.set_topic_outage(False)
    wappim.receive(instance, phone=IVAN, body="after the outage", sender_name="Ivan")
    await arrives(telegram, USER, "after the outage", thread=ivan.thread_id)
    assert [t.thread_id for t in telegram.topics(USER).values()] == [ivan.thread_id]


async def test_a_person_who_blocked_the_bot_stalls_nobody_else(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    ann = await link_line(telegram, wappim, USER, "Ann", "79990000001")
    bob = await link_line(telegram, wappim, OTHER_USER, "Bob", "79990000002")
    telegram.block(USER)
    for n in range(3):
        wappim.receive(ann, phone=IVAN, body=f"to Ann {n}", sender_name="Ivan")
        wappim.receive(bob, phone=IVAN, body=f"to Bob {n}", sender_name="Ivan")
    at_bob = await topic(telegram, OTHER_USER, "Ivan")
    await arrives(telegram, OTHER_USER, "to Bob 2", thread=at_bob.thread_id)
    assert telegram.topics(USER) == {}


async def test_a_desk_take_and_transfer_move_the_conversation_between_topics(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    from tests.e2e.test_desk import NAMES, THIRD, card, said, team

    instance = await team(telegram, wappim)  # Ann's line; Bob and Carl joined
    bob, ann = OTHER_USER, USER
    wappim.receive(instance, phone=IVAN, body="Do you deliver?", sender_name="Maria")
    cards = {u: await card(telegram, u, "Do you deliver?") for u in (ann, bob, THIRD)}
    assert all(c.thread_id is None for c in cards.values())  # cards stay in the general part
    telegram.press(bob, cards[bob].message_id, cards[bob].button_data("Take"))
    # Bob's topic for Maria, with what she wrote so far.
    at_bob = await topic(telegram, bob, "Maria")
    header = await arrives(telegram, bob, "Write here to answer", thread=at_bob.thread_id)
    assert "Do you deliver?" in header.content
    wappim.receive(instance, phone=IVAN, body="Tomorrow at 5?", sender_name="Maria")
    followup = await arrives(telegram, bob, "Tomorrow at 5?", thread=at_bob.thread_id)
    assert "Transfer" in followup.buttons[0][0]
    said(telegram, bob, "/desk signature on")
    await card(telegram, bob, "signed")
    telegram.send_text(bob, "Yes, at 5", thread=at_bob.thread_id, first_name=NAMES[bob])
    await wait_until(lambda: wappim.sent, 10)
    assert wappim.sent[-1].body == "Yes, at 5\n— Bob"

    # Transfer to Ann: her topic, with the messages so far; one line in Bob's, then nothing.
    telegram.press(bob, followup.message_id, followup.button_data("Transfer"))
    chooser = await card(telegram, bob, "Hand it to", after=followup.message_id)
    telegram.press(bob, chooser.message_id, chooser.button_data("Ann"))
    at_ann = await topic(telegram, ann, "Maria")
    ann_header = await arrives(telegram, ann, "Write here to answer", thread=at_ann.thread_id)
    assert "Tomorrow at 5?" in ann_header.content
    await arrives(telegram, bob, "Ann answers this customer now", thread=at_bob.thread_id)
    wappim.receive(instance, phone=IVAN, body="Who is this?", sender_name="Maria")
    await arrives(telegram, ann, "Who is this?", thread=at_ann.thread_id)
    telegram.send_text(bob, "me again", thread=at_bob.thread_id, first_name=NAMES[bob])
    await arrives(telegram, bob, "Ann answers this customer, not you", thread=at_bob.thread_id)
    telegram.send_text(ann, "Ann here", thread=at_ann.thread_id, first_name=NAMES[ann])
    await wait_until(lambda: wappim.sent[-1].body == "Ann here", 10)
    assert not any(s.body == "me again" for s in wappim.sent)
    assert not any("Who is this?" in m.content for m in telegram.messages(bob))

    # Close: one line in Ann's topic; the next message waits in the queue again (cards).
    last = telegram.messages(ann, thread=at_ann.thread_id)[-1]
    owned = next(m for m in reversed(telegram.messages(ann, thread=at_ann.thread_id)) if m.buttons)
    telegram.press(ann, owned.message_id, owned.button_data("Close"))
    await arrives(
        telegram,
        ann,
        "Closed. The customer's next message",
        thread=at_ann.thread_id,
        after=last.message_id,
    )
    wappim.receive(instance, phone=IVAN, body="one more thing", sender_name="Maria")
    again = await card(telegram, THIRD, "one more thing")
    assert again.thread_id is None and "Take" in again.buttons[0][0]


async def test_a_message_held_back_by_pacing_shows_a_writing_hand_first(
    telegram: FakeTelegram, wappim: FakeWappim, database_url: str, tmp_path: Path
) -> None:
    # 20 a minute: a message right after another waits up to 3 s for its line's next slot.
    settings = make_settings(telegram, wappim, database_url, tmp_path, send_rate_per_minute=20)
    running = RunningBot(settings, telegram)
    await running.start()
    try:
        instance = await link(telegram, wappim)
        wappim.receive(instance, phone=IVAN, body="hi", sender_name="Ivan")
        ivan = await topic(telegram, USER, "Ivan")
        first = telegram.send_text(USER, "one", thread=ivan.thread_id)
        await reaction(telegram, USER, first, "👍")
        second = telegram.send_text(USER, "two", thread=ivan.thread_id)
        assert await reaction(telegram, USER, second, "👍") == ["✍", "👍"]
    finally:
        await running.stop()
