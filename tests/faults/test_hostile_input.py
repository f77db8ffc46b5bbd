"""Anything a person can type or tap: the bot always answers in words, never breaks its formatting,
never says "Something went wrong", and an edit or a group chat never sends a WhatsApp message."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from PIL import Image

from bot.config import Settings
from bot.telegram.keyboards import ACTIONS
from tests.conftest import USER, RunningBot, in_thread, make_settings, reply, wait_until
from tests.e2e.test_send import link
from tests.fakes.telegram import FakeMessage, FakeTelegram
from tests.fakes.wappim import FakeWappim

PHONE = "89872745052"
INTERNAL = ("Something went wrong", "что-то сломалось")
COMMANDS = [
    "/send",
    "/connect",
    "/chats",
    "/status",
    "/disconnect",
    "/cancel",
    "/help",
    "/start",
    "/code",
    "/sendfile",
    "/sendlink",
    "/admin",
    "/frobnicate",
    "/send@pocket_test_bot",
    "/SEND",
]
MARKUP = ["<b>", "</i>", "<a href='x'>", "&", "&amp;", "&#0;", "*", "_", "[", "]", "(", ")", "~"]
MARKUP += ["`", ">", "#", "+", "-", "=", "|", "{", "}", ".", "!", "\\", "<", "<<>>", "</b"]
ODD = ["\x00", "\x07", "\x1b[31m", "\u200b", "\u202e", "\ufeff", "\r\n", "\t", "\u2028", " "]
ODD += ["🙂", "👨‍👩‍👧", "ю", "\U0010ffff", "\n\n", PHONE, "+7 987 274-50-52", "0", "wappim"]
PIECES = st.one_of(st.text(max_size=30), st.sampled_from(MARKUP + ODD))
ARGUMENTS = st.one_of(
    st.lists(PIECES, max_size=8).map("".join),
    st.sampled_from(["", " ", "   ", "\n", "\t \n ", "\u3000"]),
    st.builds(lambda unit: unit * 10_000, st.sampled_from(["x", "<", "&", "ю", "🙂", " ", "9"])),
)
FUZZ = examples(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def settings(
    telegram: FakeTelegram, wappim: FakeWappim, database_url: str, tmp_path: Path
) -> Settings:
    return make_settings(telegram, wappim, database_url, tmp_path, send_daily_cap=1_000_000)


@pytest.fixture
async def linked(bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim) -> RunningBot:
    await link(telegram, wappim)
    return bot


def assert_sane(telegram: FakeTelegram) -> None:
    """Nothing the bot said so far was an internal error or markup Telegram refused."""
    for call in telegram.calls:
        assert not (call.status == 400 and "parse entities" in (call.description or "")), call
        assert not (call.status == 400 and "too long" in (call.description or "")), call
    for message in telegram.messages(USER):
        assert not any(words in message.content for words in INTERNAL), message.content
    assert telegram.internal_errors == []


async def answered(telegram: FakeTelegram, text: str, **kw: Any) -> FakeMessage:
    kw.setdefault("timeout", 4)  # a missing answer fails fast (and shrinks in reasonable time)
    answer = await reply(telegram, USER, text, **kw)
    assert answer.content.strip(), "an answer without words"
    assert not any(words in answer.content for words in INTERNAL), answer.content
    return answer


async def settle(telegram: FakeTelegram, answer: FakeMessage) -> None:
    """A /connect that really started is cancelled, so its QR messages don't mix with the next."""
    markup = answer.history[0].get("reply_markup") or {}
    buttons = [b for row in markup.get("inline_keyboard", []) for b in row]
    if any(b.get("callback_data") == "cancel" for b in buttons):  # a /connect that started
        # Not during the gateway call that gets the line: see test_cancel_during_line_acquisition.
        await in_thread(telegram.wait_message, USER, photo=True, after=answer.message_id - 1)
        await reply(telegram, USER, "/cancel", "cancelled")


# --- property tests


@FUZZ
@given(
    command=st.sampled_from(COMMANDS),
    separator=st.sampled_from([" ", "\n", "  ", ""]),
    argument=ARGUMENTS,
    language=st.sampled_from(["en", "ru", None]),
)
async def test_any_command_with_any_argument_gets_an_answer_in_words(
    linked: RunningBot,
    telegram: FakeTelegram,
    command: str,
    separator: str,
    argument: str,
    language: str | None,
) -> None:
    answer = await answered(telegram, command + separator + argument, language_code=language)
    await settle(telegram, answer)
    assert_sane(telegram)


@FUZZ
@given(text=ARGUMENTS)
async def test_send_keeps_any_text_exactly_or_says_what_is_missing(
    linked: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, text: str
) -> None:
    # What split_recipient keeps; NUL is dropped (PostgreSQL cannot store it, WhatsApp drops it).
    expected = text.replace("\x00", "").lstrip(" \t").removeprefix("\n").rstrip()
    before = len(wappim.sent)
    answer = await answered(telegram, f"/send {PHONE} {text}")
    if not expected:
        assert "text is missing" in answer.content, answer.content
    else:
        assert "Sent to +7 987 274-50-52" in (answer.history[0].get("text") or "")
        await wait_until(lambda: len(wappim.sent) > before, 5)
        assert [m.body for m in wappim.sent[before:]] == [expected]
    assert_sane(telegram)


@FUZZ
@given(
    data=st.one_of(
        st.text(min_size=1, max_size=80),
        st.builds(
            "{}:{}".format,
            st.sampled_from([*sorted(ACTIONS - {"connect", "disc!"}), "x", ""]),
            st.one_of(st.text(max_size=20), st.integers(-(2**70), 2**70).map(str)),
        ),
    )
)
async def test_any_callback_data_is_answered_and_harmless(
    linked: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, data: str
) -> None:
    if data.partition(":")[0] in ("connect", "disc!"):
        data = "x" + data  # real buttons of those kinds start or end things; tested elsewhere
    board = telegram.last(USER)
    assert board is not None
    sent = len(wappim.sent)
    query = telegram.press(USER, board.message_id, data, must_exist=False)
    await in_thread(
        telegram.wait_for,
        lambda: any(a["callback_query_id"] == query for a in telegram.callback_answers),
        10,
    )
    await asyncio.sleep(0.02)
    assert len(wappim.sent) == sent
    assert_sane(telegram)


# --- explicit cases


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 80), "navy").save(buffer, format="PNG")
    return buffer.getvalue()


def raw_message(
    message_id: int, chat: dict[str, Any] | None = None, **content: Any
) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "from": {"id": USER, "is_bot": False, "first_name": "Test", "language_code": "en"},
        "chat": chat or {"id": USER, "type": "private", "first_name": "Test"},
        "date": int(time.time()),
        **content,
    }


async def test_stickers_photos_voice_and_files_get_words(
    bot: RunningBot, telegram: FakeTelegram
) -> None:
    sticker = {
        "file_id": "CAACAgIAAxkBAAIBc2ZzAAE",
        "file_unique_id": "AgADsticker",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": "🙂",
    }
    voice = {"file_id": "AwACAgIAAxkBAAIBdGZz", "file_unique_id": "AgADvoice", "duration": 3}
    location = {"latitude": 55.75, "longitude": 37.62}
    for n, content in enumerate([{"sticker": sticker}, {"voice": voice}, {"location": location}]):
        after = max((m.message_id for m in telegram.messages(USER)), default=0)
        sent = telegram.send_update({"message": raw_message(9000 + n, **content)})
        assert sent
        answer = await in_thread(
            telegram.wait_message, USER, "To send this to WhatsApp", after=max(after, 9000 + n)
        )
        assert "/send" in answer.content
    # A photo captioned /send is a send: without a linked chat, the answer points to /connect.
    after = max(m.message_id for m in telegram.messages(USER))
    photo = telegram.send_photo(USER, png(), caption=f"/send {PHONE} from a caption")
    await in_thread(telegram.wait_message, USER, "/connect", after=max(after, photo))
    after = max(m.message_id for m in telegram.messages(USER))
    document = telegram.send_document(USER, b"%PDF-1.4", "a.pdf")
    await in_thread(
        telegram.wait_message, USER, "To send this to WhatsApp", after=max(after, document)
    )
    # /send as a reply to something without text says so instead of sending nothing.
    answer = await answered(telegram, f"/send {PHONE}", reply_to=9000)
    assert "has no text to send" in answer.content
    assert_sane(telegram)


async def test_an_edited_send_is_not_sent_again(
    linked: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    original = telegram.send_text(USER, f"/send {PHONE} first version")
    await in_thread(telegram.wait_message, USER, "Sent to", after=original)
    assert [m.body for m in wappim.sent] == ["first version"]
    edited = raw_message(
        original,
        text=f"/send {PHONE} second version",
        entities=[{"type": "bot_command", "offset": 0, "length": 5}],
        edit_date=int(time.time()),
    )
    telegram.send_update({"edited_message": edited})
    messages = len(telegram.messages(USER))
    await answered(telegram, "/help", contains="What I can do")  # a barrier: the edit was seen
    await asyncio.sleep(0.3)
    assert [m.body for m in wappim.sent] == ["first version"]
    assert len(telegram.messages(USER)) == messages + 1, "the edit was answered"
    assert telegram.pending_updates == []
    assert_sane(telegram)


async def test_groups_get_a_pointer_to_the_private_chat_and_channels_nothing(
    linked: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    group, channel = -100500, -100700
    telegram.send_text(USER, "hello everyone", chat_id=group, chat_type="group")
    telegram.send_text(USER, f"/send {PHONE} from a group", chat_id=group, chat_type="supergroup")
    pointer = await in_thread(telegram.wait_message, group, "private chat only")
    assert "@pocket_test_bot" in pointer.content
    post = {
        "message_id": 77,
        "chat": {"id": channel, "type": "channel", "title": "News"},
        "date": int(time.time()),
        "text": f"/send {PHONE} from a channel",
        "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
    }
    telegram.send_update({"channel_post": post})
    await answered(telegram, "/start", contains="Hi!")  # a barrier
    await asyncio.sleep(0.3)
    assert [m.content for m in telegram.messages(group)] == [pointer.content]
    assert telegram.messages(channel) == []
    assert wappim.sent == []
    assert telegram.pending_updates == []
    assert_sane(telegram)


async def test_unknown_commands_and_ten_thousand_characters(
    linked: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    answer = await answered(telegram, "/frobnicate now")
    assert "I don't know the command /frobnicate" in answer.content
    answer = await answered(telegram, "/" + "a" * 60)
    assert "I don't know the command" in answer.content
    # Telegram caps a message at 4096 characters; the bot must still answer sensibly.
    long_text = "<b>&" + "ю" * 9_996
    answer = await answered(telegram, f"/send {PHONE} {long_text}")
    assert "Sent to" in (answer.history[0].get("text") or "")
    await wait_until(lambda: wappim.sent, 5)
    assert wappim.sent[-1].body == long_text
    await in_thread(telegram.wait_message, USER, "Sent to", after=answer.message_id - 1)
    answer = await answered(telegram, "x" * 10_000)
    assert "/send PHONE" in answer.content
    answer = await answered(telegram, f"/send {'9' * 10_000} hi")
    assert "Usage: /send" in answer.content and len(answer.content) < 1000
    answer = await answered(telegram, f"/connect {'<' * 10_000}")
    assert "no gateway called" in answer.content and len(answer.content) < 4096
    assert_sane(telegram)


async def test_empty_and_blank_arguments(linked: RunningBot, telegram: FakeTelegram) -> None:
    expectations = {
        "/send": "phone number is missing",
        "/send \u3000": "phone number is missing",
        f"/send {PHONE} \n\t ": "text is missing",
        "/sendfile": "phone number is missing",
        f"/sendfile {PHONE}": "URL is missing",
        "/sendlink": "phone number is missing",
        f"/sendlink {PHONE} \n": "URL is missing",
        "/code   ": "phone number is missing",
        "/chats \n": "Your WhatsApp chats",
        "/status\t": "State: connected",
        "/disconnect  ": "Disconnect",
        "/cancel ": "Nothing to cancel",
        "/help \n ": "What I can do",
    }
    for text, words in expectations.items():
        answer = await answered(telegram, text)
        assert words in answer.content, (text, answer.content)
    answer = await answered(telegram, "/connect  \n ")
    assert "free WhatsApp slot" in (answer.history[0].get("text") or "")
    await settle(telegram, answer)
    assert_sane(telegram)


async def test_cancel_during_line_acquisition(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    wappim.delay_next("chat/spare", 0.5)
    progress = await answered(telegram, "/connect")
    assert "free WhatsApp slot" in progress.content
    try:
        # The attempt is cancelled while chat/spare is still being answered.
        telegram.send_text(USER, "/cancel")
        await in_thread(
            telegram.wait_for,
            lambda: "cancelled" in telegram.message(USER, progress.message_id).content,
            5,
        )
    finally:
        await asyncio.sleep(0.8)  # the held chat/spare answers meanwhile
        leaked = [i.id for i in wappim.instances() if i.assigned]
        stuck = telegram.message(USER, progress.message_id)
    assert leaked == [], f"lines {leaked} handed out and never released"
    assert "Cancel" not in str(stuck.buttons), stuck.content


async def test_typed_text_is_echoed_as_typed_and_every_usage_error_is_explained(
    linked: RunningBot, telegram: FakeTelegram
) -> None:
    answer = await answered(telegram, "/send <b>&amp;</b> hi")  # a name, looked up as typed
    assert "I know nobody called “<b>&amp;</b>”" in answer.content, answer.content
    answer = await answered(telegram, "/connect <i>x</i>")
    assert "no gateway called “<i>x</i>”" in answer.content, answer.content
    answer = await answered(telegram, "/sendfile nonsense")
    assert "is not a phone number" in answer.content
    answer = await answered(telegram, f"/sendfile {PHONE} ftp://<x>")
    assert "“ftp://<x>” is not a web address" in answer.content, answer.content
    for url in ("https://", "http://[", "https://a.example/\x07x"):
        answer = await answered(telegram, f"/sendfile {PHONE} {url} caption")
        assert "is not a web address" in answer.content, (url, answer.content)
    answer = await answered(telegram, "/code 12")
    assert "is not a valid phone number" in answer.content
    assert_sane(telegram)
