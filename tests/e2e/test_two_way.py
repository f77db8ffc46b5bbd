"""Two-way messaging on wapp.im through the real bot: what contacts write arrives in Telegram (text,
groups, files), a plain reply answers through the line it came from, files go out with their
bytes, /mute stops forwarding, and two people never see each other's messages.

The exchanges threads change run twice: flat (as before threads) and threaded (the bot's Threaded
Mode on: each conversation in its topic, where a reply lands too, and a reaction confirms what was
sent); what test_threads.py covers in threaded mode runs flat only here."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from bot.config import Settings
from bot.storage.models import InboundStatus, IncomingMessage, WhatsAppChat
from tests.conftest import OTHER_USER, USER, RunningBot, db, in_thread, reply, wait_until
from tests.e2e.test_send import link
from tests.fakes.telegram import FakeMessage, FakeTelegram
from tests.fakes.wappim import FakeWappim

CONTACT = "79001234567"
FLAT_ONLY = pytest.mark.parametrize("threaded", [False], ids=["flat"])


@pytest.fixture(params=[False, True], ids=["flat", "threads"])
def threaded(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def png(color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, format="PNG")
    return out.getvalue()


async def incoming(
    telegram: FakeTelegram, user: int, contains: str, *, kind: str | None = None, after: int = 0
) -> FakeMessage:
    return await in_thread(
        telegram.wait_message, user, contains, kind=kind, after=after, timeout=10
    )


def newest(telegram: FakeTelegram, user: int) -> int:
    return max((m.message_id for m in telegram.messages(user)), default=0)


async def confirmed(telegram: FakeTelegram, user: int, said: int, phone: str) -> None:
    """The person's message `said` was sent: a reaction on it in a topic, else "Sent to"."""
    if telegram.threaded:
        await wait_until(lambda: telegram.reaction(user, said) == "👍", 10)
    else:
        await incoming(telegram, user, f"Sent to {phone}", after=said)


@FLAT_ONLY  # threaded: test_threads.py
async def test_a_contacts_message_arrives_with_sender_and_exact_text(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim)
    text = "Привет! <b>not bold</b> *_[x]_* & \u202eevil\u200b\nsecond line"
    wappim.receive(instance, phone=CONTACT, body=text, sender_name="Ivan Petrov")
    shown = await incoming(telegram, USER, "second line")
    assert shown.content == f"👤 Ivan Petrov · +7 900 123-45-67\n{text}"
    assert not shown.buttons


async def test_group_messages_show_the_group_and_the_author(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim)
    wappim.receive(
        instance,
        phone=CONTACT,
        body="see you at 8",
        sender_name="Anna",
        group=("120363025246125244", "Family"),
    )
    shown = await incoming(telegram, USER, "see you at 8")
    assert shown.content.splitlines()[0] == "👥 Family · Anna (+7 900 123-45-67)"


@FLAT_ONLY
async def test_history_and_own_messages_are_not_forwarded(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim)
    wappim.history(instance, ("from before the link",))
    wappim.receive(instance, phone=CONTACT, body="typed on my phone", from_me=True)
    wappim.receive(instance, phone=CONTACT, body="the only new one")
    await incoming(telegram, USER, "the only new one")
    contents = [m.content for m in telegram.messages(USER)]
    assert not any("from before the link" in c or "typed on my phone" in c for c in contents)


@FLAT_ONLY  # threaded: test_threads.py
async def test_a_photo_and_a_voice_note_arrive_as_such_with_their_bytes(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim)
    picture = png()
    wappim.receive(instance, type="image", caption="look", file=(picture, "cat.png", "image/png"))
    photo = await incoming(telegram, USER, "look", kind="photo")
    assert photo.data == picture
    assert photo.content.startswith("👤 Ivan · +7 900 123-45-67")
    voice = b"OggS" + bytes(range(200))
    wappim.receive(instance, type="ptt", body="", file=(voice, "note.ogg", "audio/ogg"))
    note = await incoming(telegram, USER, "Ivan", kind="voice", after=photo.message_id)
    assert note.data == voice


async def test_a_plain_reply_answers_the_contact_quoting_the_message(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim)
    message_id = wappim.receive(instance, phone=CONTACT, body="are you there?")
    shown = await incoming(telegram, USER, "are you there?")
    said = telegram.send_text(USER, "yes, here", reply_to=shown.message_id)
    await confirmed(telegram, USER, said, "+7 900 123-45-67")
    sent = wappim.sent[-1]
    assert (sent.instance_id, sent.chat_id, sent.body) == (instance, f"{CONTACT}@c.us", "yes, here")
    assert sent.fields.get("quotedMsgId") == message_id


async def test_a_reply_to_a_confirmation_goes_to_that_recipient(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    await link(telegram, wappim)
    confirmation = await reply(telegram, USER, "/send +49 1521 6896607 hello", "Sent to")
    telegram.send_text(USER, "and one more thing", reply_to=confirmation.message_id)
    await wait_until(lambda: len(wappim.sent) == 2)
    assert (wappim.sent[-1].chat_id, wappim.sent[-1].body) == (
        "4915216896607@c.us",
        "and one more thing",
    )


@FLAT_ONLY  # threaded: test_threads.py
async def test_a_photo_reply_goes_out_with_its_bytes(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await link(telegram, wappim)
    wappim.receive(instance, phone=CONTACT, body="send me the picture")
    shown = await incoming(telegram, USER, "send me the picture")
    picture = png("blue")
    telegram.send_photo(USER, picture, caption="here it is", reply_to=shown.message_id)
    await wait_until(lambda: wappim.sent_files, 10)
    sent = wappim.sent_files[-1]
    assert sent.chat_id == f"{CONTACT}@c.us"
    assert sent.caption == "here it is"
    assert sent.filename.endswith(".jpg")
    assert sent.data == picture  # the fake keeps a person's photo as sent


@FLAT_ONLY
async def test_a_voice_note_captioned_send_goes_to_a_new_contact(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    await link(telegram, wappim)
    voice = b"OggS-voice-bytes"
    telegram.send_voice(USER, voice, caption="/send 89872745052 listen")
    await wait_until(lambda: wappim.sent_files, 10)
    sent = wappim.sent_files[-1]
    assert (sent.chat_id, sent.data, sent.caption) == ("79872745052@c.us", voice, "listen")
    assert sent.mime == "audio/ogg"


@FLAT_ONLY
async def test_a_file_over_20_mb_is_refused_in_words(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    await link(telegram, wappim)
    sent = telegram.send_document(
        USER, b"x" * 10, "big.zip", caption="/send 89872745052", file_size=25 * 1024 * 1024
    )
    answer = await incoming(telegram, USER, "larger than 20 MB", after=sent)
    assert "Telegram" in answer.content
    assert wappim.sent_files == []


@FLAT_ONLY
async def test_mute_stops_forwarding_and_unmute_does_not_replay(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    instance = await link(telegram, wappim)
    await reply(telegram, USER, "/mute", "Muted")
    polls = len(wappim.requests_to("/messages"))
    wappim.receive(instance, phone=CONTACT, body="while muted")
    # Two more polls: the muted message was seen (and skipped) before /unmute.
    await wait_until(lambda: len(wappim.requests_to("/messages")) >= polls + 2, 5)
    await reply(telegram, USER, "/unmute", "forwarded again")
    wappim.receive(instance, phone=CONTACT, body="after unmute")
    await incoming(telegram, USER, "after unmute")
    assert not any("while muted" in m.content for m in telegram.messages(USER))
    # Kept, but skipped on purpose: the mute is read right before a message would be shown.
    expected = [("while muted", InboundStatus.SKIPPED), ("after unmute", InboundStatus.FORWARDED)]
    rows: list[tuple[str, InboundStatus]] = []
    for _ in range(100):  # the row is marked forwarded a moment after Telegram has it
        rows = list(
            await db(
                settings,
                lambda: IncomingMessage.all().order_by("id").values_list("text", "status"),
            )
        )
        if rows == expected:
            break
        await asyncio.sleep(0.05)
    assert rows == expected


@FLAT_ONLY  # threaded: test_threads.py
async def test_two_people_never_see_each_others_messages(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    ann = await link(telegram, wappim, USER, name="Ann", number="79990000001")
    bob = await link(telegram, wappim, OTHER_USER, name="Bob", number="79990000002")
    wappim.receive(ann, phone=CONTACT, body="for Ann only")
    wappim.receive(bob, phone="79005556677", body="for Bob only")
    ann_sees = await incoming(telegram, USER, "for Ann only")
    bob_sees = await incoming(telegram, OTHER_USER, "for Bob only")
    assert not any("for Bob" in m.content for m in telegram.messages(USER))
    assert not any("for Ann" in m.content for m in telegram.messages(OTHER_USER))
    # Message ids are per chat: whatever Bob answers, it never goes out through Ann's line.
    telegram.send_text(OTHER_USER, "not through Ann", reply_to=ann_sees.message_id)
    telegram.send_text(OTHER_USER, "to my contact", reply_to=bob_sees.message_id)
    await wait_until(lambda: any(s.body == "to my contact" for s in wappim.sent))
    await wait_until(lambda: len(telegram.messages(OTHER_USER)) >= 4)
    assert ann not in {s.instance_id for s in wappim.sent}
    assert ("79005556677@c.us", "to my contact") in [(s.chat_id, s.body) for s in wappim.sent]


async def test_a_line_of_rows_is_forwarded_once_and_in_order(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    wappim.inclusive_bound = True  # the last message comes again with every poll
    instance = await link(telegram, wappim)
    for n in range(10):
        wappim.receive(instance, phone=CONTACT, body=f"burst {n}")
    await incoming(telegram, USER, "burst 9")
    await wait_until(lambda: len(wappim.requests_to("/messages")) > 5)
    shown = [m.content.splitlines()[1] for m in telegram.messages(USER) if "burst" in m.content]
    assert shown == [f"burst {n}" for n in range(10)]
    statuses = await db(settings, lambda: IncomingMessage.all().values_list("status", flat=True))
    assert set(statuses) == {InboundStatus.FORWARDED}
    if telegram.threaded:  # ten messages of a new contact at once: one topic, all of them in it
        (topic,) = telegram.topics(USER).values()
        inside = [m.content for m in telegram.messages(USER, thread=topic.thread_id)]
        assert sum("burst" in c for c in inside) == 10
    chat = await db(settings, lambda: WhatsAppChat.get(instance_id=str(instance)))
    assert chat.incoming_cursor == "10"
