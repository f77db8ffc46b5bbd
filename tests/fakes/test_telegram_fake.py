"""Tests of the fake Telegram Bot API, driven by the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import io
import itertools
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web
from multidict import CIMultiDict
from PIL import Image
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaAudio,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
    ReactionTypeEmoji,
    ReplyParameters,
    Update,
)
from telegram.constants import ParseMode, ReactionEmoji
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakes.server import free_port
from tests.fakes.telegram import REACTION_EMOJI, FakeTelegram

USER = 42


def png(color: str, size: tuple[int, int] = (120, 120)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in pairs])


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    fake = FakeTelegram()
    fake.start()
    yield fake
    fake.stop()
    assert fake.internal_errors == []


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.api_url, base_file_url=fake.file_url) as bot:
        yield bot


async def test_get_me(fake: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.username == "pocket_test_bot"
    assert me.is_bot
    assert bot.username == "pocket_test_bot"
    assert fake.calls_of("getMe")[0].status == 200


async def test_long_poll_returns_update_sent_while_waiting(fake: FakeTelegram, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    assert not poll.done()  # held open: nothing to deliver yet
    sent_at = time.monotonic()
    message_id = fake.send_text(USER, "/start@pocket_test_bot hi", language_code="ru")
    updates = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - sent_at < 0.5
    [update] = updates
    assert update.update_id == 1
    message = update.message
    assert message is not None and message.from_user is not None
    assert (message.message_id, message.chat.id) == (message_id, USER)
    assert message.text == "/start@pocket_test_bot hi"
    assert message.from_user.language_code == "ru"
    assert message.chat.type == "private"
    [entity] = message.entities
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 22)


async def test_long_poll_returns_empty_after_timeout(fake: FakeTelegram, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=timedelta(seconds=0.3)) == ()
    assert 0.25 <= time.monotonic() - started < 0.9


async def test_offset_confirms_and_unconfirmed_updates_are_redelivered(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.send_text(USER, "one")
    fake.send_text(USER, "two")
    first = await bot.get_updates()
    assert [u.message.text for u in first if u.message] == ["one", "two"]
    # Not confirmed yet: the same updates again.
    assert [u.update_id for u in await bot.get_updates()] == [1, 2]
    # offset confirms everything below it.
    [second] = await bot.get_updates(offset=2)
    assert second.message is not None and second.message.text == "two"
    # A restarted bot (new client) still gets the unconfirmed update.
    async with Bot(fake.token, base_url=fake.api_url, base_file_url=fake.file_url) as restarted:
        assert [u.update_id for u in await restarted.get_updates()] == [2]
        assert await restarted.get_updates(offset=3) == ()
    assert fake.pending_updates == []


async def test_allowed_updates_filter(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(USER, "ignored")
    fake.send_update(
        {"edited_message": {"message_id": 9, "date": 0, "chat": {"id": 1, "type": "private"}}}
    )
    updates = await bot.get_updates(allowed_updates=["edited_message"])
    assert [u.update_id for u in updates] == [2]


async def test_send_photo_then_edit_media(fake: FakeTelegram, bot: Bot) -> None:
    first, second = png("black"), png("white", (200, 100))
    sent = await bot.send_photo(USER, photo=first, filename="qr.png", caption="Scan me")
    assert sent.photo[-1].width == 120 and sent.caption == "Scan me"
    upload = fake.calls_of("sendPhoto")[0].files["photo"]
    assert (upload.filename, upload.data) == ("qr.png", first)

    edited = await bot.edit_message_media(
        media=InputMediaPhoto(second, filename="qr2.png", caption="Scan the new code"),
        chat_id=USER,
        message_id=sent.message_id,
        reply_markup=keyboard(("Cancel", "cancel")),
    )
    assert isinstance(edited, type(sent))
    assert (edited.photo[-1].width, edited.photo[-1].height) == (200, 100)
    msg = fake.message(USER, sent.message_id)
    assert msg.photos == [first, second] and msg.photo == second
    assert msg.caption == "Scan the new code" and msg.edits == 1
    assert msg.buttons == [("Cancel", "cancel")]
    media_call = fake.calls_of("editMessageMedia")[0]
    attach = media_call.params["media"]["media"]
    assert attach.startswith("attach://")
    assert media_call.files[attach.removeprefix("attach://")].filename == "qr2.png"

    # getFile + download serve the current bytes.
    file = await bot.get_file(edited.photo[-1].file_id)
    assert bytes(await file.download_as_bytearray()) == second


async def test_invalid_photo_is_rejected(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)image_process_failed"):
        await bot.send_photo(USER, photo=b"not an image", filename="x.png")


async def test_edit_message_text_errors(fake: FakeTelegram, bot: Bot) -> None:
    markup = keyboard(("OK", "ok"))
    text = await bot.send_message(USER, "Hello", reply_markup=markup)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "Hello", chat_id=USER, message_id=text.message_id, reply_markup=markup
        )
    photo = await bot.send_photo(USER, photo=png("red"), caption="pic")
    with pytest.raises(BadRequest, match=r"(?i)there is no text in the message to edit"):
        await bot.edit_message_text("x", chat_id=USER, message_id=photo.message_id)
    with pytest.raises(BadRequest, match=r"(?i)there is no caption in the message to edit"):
        await bot.edit_message_caption(chat_id=USER, message_id=text.message_id, caption="c")
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=999)
    # Same text without reply_markup is a change: Telegram removes the keyboard.
    await bot.edit_message_text("Hello", chat_id=USER, message_id=text.message_id)
    current = fake.message(USER, text.message_id)
    assert current.reply_markup is None and current.edits == 1
    assert [h["text"] for h in current.history] == ["Hello", "Hello"]


async def test_delete_message(fake: FakeTelegram, bot: Bot) -> None:
    keep = await bot.send_message(USER, "keep")
    gone = await bot.send_message(USER, "gone")
    assert await bot.delete_message(USER, gone.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(USER, gone.message_id)
    assert [m.deleted for m in fake.messages(USER)] == [False, True]
    last = fake.last(USER)
    assert last is not None and last.message_id == keep.message_id


async def test_unknown_method_and_wrong_token(fake: FakeTelegram) -> None:
    base = fake.api_url
    async with httpx.AsyncClient() as client:
        unknown = await client.post(f"{base}{fake.token}/noSuchMethod")
        assert unknown.status_code == 404
        assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        wrong = await client.post(f"{base}999:wrong/getMe")
        assert wrong.status_code == 401
        assert wrong.json()["description"] == "Unauthorized"
        # Method names are case-insensitive; JSON bodies and query strings work too.
        assert (await client.get(f"{base}{fake.token}/GETME")).json()["ok"] is True
        sent = await client.post(
            f"{base}{fake.token}/sendMessage", json={"chat_id": 7, "text": "json"}
        )
        assert sent.json()["result"]["text"] == "json"
        queried = await client.get(f"{base}{fake.token}/sendMessage?chat_id=7&text=query")
        assert queried.json()["result"]["chat"]["id"] == 7
    assert [m.text for m in fake.messages(7)] == ["json", "query"]


async def test_429_surfaces_as_retry_after(
    fake: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without PTB_TIMEDELTA, RetryAfter.retry_after emits a PTBDeprecationWarning (an error here).
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake.fail_next("sendMessage", retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "flood")
    assert caught.value.retry_after == timedelta(seconds=7)
    failed = fake.calls_of("sendMessage")[0]
    assert (failed.status, failed.description) == (429, "Too Many Requests: retry after 7")
    assert fake.messages(USER) == []
    await bot.send_message(USER, "fine now")  # only the next call failed
    assert [m.text for m in fake.messages(USER)] == ["fine now"]


async def test_server_error_and_dropped_connection(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendMessage", status=500)
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(USER, "x")
    fake.drop_connection_next("sendMessage")
    with pytest.raises(NetworkError):
        await bot.send_message(USER, "y")
    assert [c.status for c in fake.calls_of("sendMessage")] == [500, 0]
    await bot.send_message(USER, "z")


async def test_blocked_user_is_forbidden(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(USER, "before")
    fake.block(USER)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "after")
    with pytest.raises(Forbidden):
        await bot.edit_message_text("edit", chat_id=USER, message_id=sent.message_id)
    with pytest.raises(Forbidden):
        await bot.send_chat_action(USER, "typing")
    await bot.send_message(USER + 1, "others still work")


async def test_html_parse_mode_is_stripped_into_entities(fake: FakeTelegram, bot: Bot) -> None:
    raw = '<b>Hi</b> &lt;3 <a href="https://wa.me/1">link</a>\n'
    sent = await bot.send_message(USER, raw, parse_mode=ParseMode.HTML)
    assert sent.text == "Hi <3 link"
    msg = fake.last(USER)
    assert msg is not None and msg.text == "Hi <3 link" and msg.raw == raw
    assert msg.entities == [
        {"type": "bold", "offset": 0, "length": 2},
        {"type": "text_link", "offset": 6, "length": 4, "url": "https://wa.me/1"},
    ]
    assert sent.text_html == '<b>Hi</b> &lt;3 <a href="https://wa.me/1">link</a>'
    for bad in ("<b>unclosed", "1 < 2", "<foo>x</foo>", "<b>x</i>"):
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await bot.send_message(USER, bad, parse_mode=ParseMode.HTML)


async def test_markdown_v2_requires_escaping(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)character '\.' is reserved"):
        await bot.send_message(USER, "Done.", parse_mode=ParseMode.MARKDOWN_V2)
    sent = await bot.send_message(USER, r"*Done*\. `+1 555`", parse_mode=ParseMode.MARKDOWN_V2)
    assert sent.text == "Done. +1 555"
    assert [e.type for e in sent.entities] == ["bold", "code"]


async def test_text_limits(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(USER, "  \n ")
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "x" * 4097)
    await bot.send_message(USER, "<b>" + "x" * 4096 + "</b>", parse_mode=ParseMode.HTML)


async def test_wait_message_sees_edits(fake: FakeTelegram, bot: Bot) -> None:
    waiter = asyncio.create_task(asyncio.to_thread(fake.wait_message, USER, "READY", timeout=3))
    await bot.send_message(USER, "working")
    loading = await bot.send_message(USER, "loading")
    await asyncio.sleep(0.1)
    await bot.edit_message_text("All ready now", chat_id=USER, message_id=loading.message_id)
    found = await waiter
    assert found.message_id == loading.message_id and found.text == "All ready now"
    photo = await bot.send_photo(USER, photo=png("blue"), caption="ready too")
    found = fake.wait_message(USER, "ready", photo=True, after=loading.message_id, timeout=1)
    assert found.message_id == photo.message_id
    with pytest.raises(AssertionError, match="sendPhoto"):  # the dump lists recent calls
        fake.wait_message(USER, "never sent", timeout=0.1)


async def test_press_and_answer_callback(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(USER, "Pick", reply_markup=keyboard(("Yes", "y"), ("No", "n")))
    with pytest.raises(AssertionError, match="no button"):
        fake.press(USER, sent.message_id, "maybe")
    query_id = fake.press_button(USER, sent.message_id, "no")
    [update] = await bot.get_updates()
    query = update.callback_query
    assert query is not None and query.message is not None
    assert (query.id, query.data, query.message.message_id) == (query_id, "n", sent.message_id)
    assert await bot.answer_callback_query(query.id, text="Noted")
    assert fake.callback_answers[0]["text"] == "Noted"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query.id)


async def test_reply_to_and_user_photo_download(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(USER, "Send me the QR")
    image = png("green")
    fake.send_photo(USER, image, caption="here")
    fake.send_text(USER, "and this", reply_to=sent.message_id)
    photo_update, reply_update = await bot.get_updates()
    assert photo_update.message is not None and reply_update.message is not None
    largest = photo_update.message.photo[-1]
    file = await bot.get_file(largest.file_id)
    assert bytes(await file.download_as_bytearray()) == image
    replied = reply_update.message.reply_to_message
    assert replied is not None and replied.text == "Send me the QR"
    reply = await bot.send_message(
        USER, "thanks", reply_to_message_id=reply_update.message.message_id
    )
    assert (
        fake.message(USER, reply.message_id).reply_to_message_id == reply_update.message.message_id
    )


async def test_commands_by_language(fake: FakeTelegram, bot: Bot) -> None:
    await bot.set_my_commands([("start", "Start"), ("link", "Link WhatsApp")])
    await bot.set_my_commands([("start", "Начать")], language_code="ru")
    assert [c["command"] for c in fake.commands[None]] == ["start", "link"]
    assert fake.commands["ru"] == [{"command": "start", "description": "Начать"}]
    assert [c.command for c in await bot.get_my_commands(language_code="ru")] == ["start"]
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([("Start", "uppercase is refused")])


async def test_second_poller_conflicts(fake: FakeTelegram, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    async with Bot(fake.token, base_url=fake.api_url, base_file_url=fake.file_url) as other:
        assert await other.get_updates() == ()
    with pytest.raises(Conflict, match=r"(?i)terminated by other getupdates request"):
        await asyncio.wait_for(first, 2)


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_html(
        "<b>Welcome</b>", reply_markup=keyboard(("Link", "link"))
    )


async def _button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("Linking…")
    await query.edit_message_text("Scan the QR code")


async def test_real_application_round_trip(fake: FakeTelegram) -> None:
    app = (
        Application.builder()
        .token(fake.token)
        .base_url(fake.api_url)
        .base_file_url(fake.file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", _start))
    app.add_handler(CallbackQueryHandler(_button))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=timedelta(seconds=1))
        fake.send_text(USER, "/start")
        menu = await asyncio.to_thread(fake.wait_message, USER, "welcome", timeout=3)
        assert menu.entities == [{"type": "bold", "offset": 0, "length": 7}]
        fake.press(USER, menu.message_id, menu.button_data("link"))
        edited = await asyncio.to_thread(fake.wait_message, USER, "scan the qr", timeout=3)
        assert edited.message_id == menu.message_id and edited.reply_markup is None
        assert fake.callback_answers[0]["text"] == "Linking…"
        await app.updater.stop()
        await app.stop()
    assert fake.pending_updates == []  # the stopped updater confirmed what it handled


async def test_odd_input_answers_400_without_crashing(fake: FakeTelegram) -> None:
    url = f"{fake.api_url}{fake.token}"
    odd_requests: list[tuple[str, dict[str, object]]] = [
        ("sendMessage", {"data": {"chat_id": "abc", "text": "x"}}),
        ("sendMessage", {"data": {"chat_id": "1", "text": "x", "reply_markup": "{not json"}}),
        (
            "sendMessage",
            {"json": {"chat_id": 1, "text": "x", "reply_markup": {"inline_keyboard": 5}}},
        ),
        (
            "sendMessage",
            {
                "json": {
                    "chat_id": 1,
                    "text": "x",
                    "reply_markup": {"inline_keyboard": [[{"text": "t"}]]},
                }
            },
        ),
        (
            "sendMessage",
            {
                "json": {
                    "chat_id": 1,
                    "text": "x",
                    "reply_markup": {
                        "inline_keyboard": [[{"text": "t", "callback_data": "x" * 65}]]
                    },
                }
            },
        ),
        ("sendMessage", {"json": {"chat_id": 1, "text": {"nested": True}, "parse_mode": "HTML"}}),
        ("sendMessage", {"content": b"[1, 2]", "headers": {"content-type": "application/json"}}),
        ("sendPhoto", {"data": {"chat_id": "1"}}),
        ("sendPhoto", {"data": {"chat_id": "1", "photo": "no-such-file-id"}}),
        ("editMessageMedia", {"data": {"chat_id": "1", "message_id": "1", "media": "[]"}}),
        ("deleteMessages", {"data": {"chat_id": "1", "message_ids": "7"}}),
        ("getUpdates", {"data": {"offset": "soon"}}),
        ("setMyCommands", {"json": {"commands": [{"command": "ok"}]}}),
        ("getFile", {"data": {}}),
    ]
    async with httpx.AsyncClient() as client:
        for method, kwargs in odd_requests:
            answer = await client.post(f"{url}/{method}", **kwargs)  # type: ignore[arg-type]
            assert answer.status_code == 400, (method, kwargs, answer.text)
            body = answer.json()
            assert body["ok"] is False and body["description"].startswith("Bad Request: ")
    assert fake.messages(1) == []


# --------------------------------------------------------------------------- media both ways


async def test_bot_sends_voice_audio_and_video(fake: FakeTelegram, bot: Bot) -> None:
    asked = await bot.send_message(USER, "Which file?")
    voice = await bot.send_voice(
        USER,
        voice=b"OggS voice bytes",
        filename="note.ogg",
        caption="<b>Voice</b> from +7 987",
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard(("Reply", "reply:1")),
        reply_parameters=ReplyParameters(asked.message_id),
    )
    assert voice.voice is not None and voice.caption == "Voice from +7 987"
    assert (voice.voice.mime_type, voice.voice.file_size) == ("audio/ogg", 16)
    assert voice.voice.file_id.startswith("AwAC")
    assert voice.reply_to_message is not None
    assert voice.reply_to_message.message_id == asked.message_id
    audio = await bot.send_audio(
        USER, audio=b"ID3 song", filename="song.mp3", title="Song", performer="Band", duration=3
    )
    assert audio.audio is not None
    assert (audio.audio.file_name, audio.audio.title, audio.audio.performer) == (
        "song.mp3",
        "Song",
        "Band",
    )
    assert audio.audio.mime_type == "audio/mpeg"
    video = await bot.send_video(
        USER, video=b"\x00\x00\x00\x18ftypmp42", filename="clip.mp4", width=320, height=240
    )
    assert video.video is not None
    assert (video.video.width, video.video.height, video.video.file_name) == (320, 240, "clip.mp4")
    assert (video.video.mime_type, video.video.file_size) == ("video/mp4", 12)

    [stored] = fake.messages_of_kind(USER, "voice")
    assert (stored.message_id, stored.data, stored.kind) == (
        voice.message_id,
        b"OggS voice bytes",
        "voice",
    )
    assert stored.content == "Voice from +7 987" and stored.entities[0]["type"] == "bold"
    assert stored.reply_to_message_id == asked.message_id
    assert stored.buttons == [("Reply", "reply:1")] and stored.mime_type == "audio/ogg"
    assert [m.kind for m in fake.messages(USER)] == ["text", "voice", "audio", "video"]
    assert fake.messages_of_kind(USER, "audio")[0].data == b"ID3 song"
    assert fake.messages_of_kind(USER, "video")[0].file_name == "clip.mp4"
    # The bot's own files can be fetched back, like any file.
    file = await bot.get_file(voice.voice.file_id)
    assert file.file_path is not None and file.file_path.endswith("/voice/file_1.oga")
    assert bytes(await file.download_as_bytearray()) == b"OggS voice bytes"


async def test_captions_of_media_are_edited_and_limited(fake: FakeTelegram, bot: Bot) -> None:
    voice = await bot.send_voice(USER, voice=b"ogg", filename="v.ogg", caption="first")
    edited = await bot.edit_message_caption(
        chat_id=USER, message_id=voice.message_id, caption="<i>second</i>", parse_mode="HTML"
    )
    assert isinstance(edited, type(voice)) and edited.voice is not None
    assert edited.caption == "second"
    msg = fake.message(USER, voice.message_id)
    assert (msg.caption, msg.edits, msg.kind, msg.data) == ("second", 1, "voice", b"ogg")
    with pytest.raises(BadRequest, match=r"(?i)there is no text in the message to edit"):
        await bot.edit_message_text("x", chat_id=USER, message_id=voice.message_id)
    with pytest.raises(BadRequest, match=r"(?i)there is no media in the message to edit"):
        await bot.edit_message_media(
            InputMediaAudio(b"mp3", filename="a.mp3"), chat_id=USER, message_id=voice.message_id
        )
    # 1024 characters after entity parsing are fine, 1025 are not (sending or editing).
    await bot.send_video(USER, video=b"mp4", caption="<b>" + "x" * 1024 + "</b>", parse_mode="HTML")
    for send in (bot.send_voice, bot.send_audio, bot.send_video, bot.send_document):
        with pytest.raises(BadRequest, match=r"^Message caption is too long$"):
            await send(USER, b"data", caption="x" * 1025)
    with pytest.raises(BadRequest, match=r"^Message caption is too long$"):
        await bot.edit_message_caption(
            chat_id=USER, message_id=voice.message_id, caption="y" * 1025
        )
    with pytest.raises(BadRequest, match=r"^File must be non-empty$"):
        await bot.send_voice(USER, voice=b"", filename="empty.ogg")
    assert len(fake.messages(USER)) == 2


async def test_edit_media_to_video_and_audio(fake: FakeTelegram, bot: Bot) -> None:
    photo = await bot.send_photo(USER, photo=png("black"), caption="qr")
    edited = await bot.edit_message_media(
        InputMediaVideo(b"mp4 bytes", filename="v.mp4", caption="now a video", width=8, height=6),
        chat_id=USER,
        message_id=photo.message_id,
    )
    assert isinstance(edited, type(photo)) and edited.video is not None
    assert (edited.video.width, edited.video.file_name) == (8, "v.mp4") and edited.photo == ()
    msg = fake.message(USER, photo.message_id)
    assert (msg.kind, msg.data, msg.photo, msg.caption) == (
        "video",
        b"mp4 bytes",
        None,
        "now a video",
    )
    assert [h["kind"] for h in msg.history] == ["photo", "video"]
    await bot.edit_message_media(
        InputMediaAudio(b"mp3 bytes", filename="a.mp3"), chat_id=USER, message_id=photo.message_id
    )
    assert fake.message(USER, photo.message_id).kind == "audio"
    # Sending a file again by file_id shows what Telegram knows of it.
    again = await bot.send_video(USER, video=edited.video.file_id)
    assert again.video is not None and again.video.to_dict() == edited.video.to_dict()
    assert fake.messages_of_kind(USER, "video")[-1].data == b"mp4 bytes"


async def test_user_voice_is_downloaded_and_quotes_the_bot(fake: FakeTelegram, bot: Bot) -> None:
    question = await bot.send_voice(USER, voice=b"bot voice", filename="q.ogg", caption="Answer?")
    sound = bytes(range(256)) * 40
    message_id = fake.send_voice(USER, sound, duration=3, reply_to=question.message_id)
    [update] = await bot.get_updates()
    message = update.message
    assert message is not None and message.message_id == message_id and message.voice is not None
    assert (message.voice.mime_type, message.voice.file_size) == ("audio/ogg", len(sound))
    quoted = message.reply_to_message
    assert quoted is not None and quoted.message_id == question.message_id
    assert quoted.voice is not None and quoted.caption == "Answer?"
    file = await bot.get_file(message.voice.file_id)
    assert file.file_size == len(sound)
    assert bytes(await file.download_as_bytearray()) == sound


async def test_user_media_objects(
    fake: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # reading .duration warns without it
    greeting = fake.send_text(USER, "hi")
    fake.send_audio(USER, b"mp3", filename="s.mp3", title="T", performer="P", duration=61)
    fake.send_video(USER, b"mp4", filename=None, width=1280, height=720, caption="/send now")
    fake.send_document(USER, b"%PDF", "a.pdf", mime_type="application/pdf", reply_to=greeting)
    fake.send_photo(USER, png("red", (300, 200)), file_size=3_000_000)
    _, audio, video, document, photo = [u.message for u in await bot.get_updates()]
    assert audio is not None and audio.audio is not None
    assert (audio.audio.file_name, audio.audio.title, audio.audio.performer) == ("s.mp3", "T", "P")
    assert audio.audio.duration == timedelta(seconds=61)
    assert video is not None and video.video is not None
    assert (video.video.width, video.video.height, video.video.file_name) == (1280, 720, None)
    assert video.caption == "/send now" and video.caption_entities[0].type == "bot_command"
    assert document is not None and document.document is not None
    assert document.document.mime_type == "application/pdf"
    assert document.reply_to_message is not None and document.reply_to_message.text == "hi"
    assert photo is not None and photo.photo[-1].file_size == 3_000_000
    assert (photo.photo[-1].width, photo.photo[-1].height) == (300, 200)


async def test_get_file_refuses_files_over_20_mb(
    fake: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert FakeTelegram.max_download == 20 * 1024 * 1024
    fake.send_voice(USER, b"short", file_size=25 * 1024 * 1024)
    fake.send_document(USER, b"zip", "big.zip", file_size=20 * 1024 * 1024)
    big, limit = [u.message for u in await bot.get_updates()]
    assert big is not None and big.voice is not None
    assert big.voice.file_size == 25 * 1024 * 1024
    with pytest.raises(BadRequest, match=r"^File is too big$"):
        await bot.get_file(big.voice.file_id)
    assert fake.calls_of("getFile")[-1].description == "Bad Request: file is too big"
    assert limit is not None and limit.document is not None
    assert (await bot.get_file(limit.document.file_id)).file_size == 20 * 1024 * 1024
    # The real size counts too.
    monkeypatch.setattr(fake, "max_download", 1000)
    fake.send_video(USER, b"v" * 1001)
    [*_, update] = await bot.get_updates()
    assert update.message is not None and update.message.video is not None
    with pytest.raises(BadRequest, match=r"^File is too big$"):
        await bot.get_file(update.message.video.file_id)


async def test_uploads_over_50_mb_are_refused_with_413(
    fake: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert FakeTelegram.max_upload == 50 * 1024 * 1024
    monkeypatch.setattr(fake, "max_upload", 4096)
    await bot.send_document(USER, document=b"x" * 4096, filename="fits.bin")
    # PTB has no special class for 413: a NetworkError carrying Telegram's description.
    for send in (bot.send_document, bot.send_video, bot.send_voice, bot.send_audio):
        with pytest.raises(NetworkError, match=r"^Request Entity Too Large$"):
            await send(USER, b"x" * 4097, filename="big.bin")
    assert [c.status for c in fake.calls][-4:] == [413] * 4
    assert [m.document_name for m in fake.messages(USER)] == ["fits.bin"]
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{fake.api_url}{fake.token}/sendVoice",
            data={"chat_id": str(USER)},
            files={"voice": ("v.ogg", b"x" * 5000, "audio/ogg")},
        )
    assert answer.status_code == 413
    assert answer.json() == {
        "ok": False,
        "error_code": 413,
        "description": "Request Entity Too Large",
    }


async def test_photos_over_10_mb_are_refused(
    fake: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert FakeTelegram.max_photo == 10 * 1024 * 1024
    image = png("navy")
    monkeypatch.setattr(fake, "max_photo", len(image) - 1)
    with pytest.raises(BadRequest) as caught:
        await bot.send_photo(USER, photo=image, filename="qr.png")
    assert caught.value.message == (
        f"File of size {len(image)} bytes is too big for a photo; "
        f"the maximum size is {len(image) - 1} bytes"
    )
    assert fake.messages(USER) == []
    # The same bytes as a document are fine.
    await bot.send_document(USER, document=image, filename="qr.png")
    assert fake.messages_of_kind(USER, "document")[0].mime_type == "image/png"


async def test_outage_answers_502_and_keeps_updates(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_photo(USER, photo=png("olive"))
    photo_file = await bot.get_file(sent.photo[-1].file_id)
    held = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)  # nothing to deliver: held open
    fake.set_down(True)
    with pytest.raises(NetworkError, match=r"^Bad Gateway$"):
        await asyncio.wait_for(held, 1)  # a held poll ends at once
    fake.send_text(USER, "written during the outage")
    with pytest.raises(NetworkError, match=r"^Bad Gateway$"):
        await bot.get_updates()
    with pytest.raises(NetworkError, match=r"^Bad Gateway$"):
        await bot.send_message(USER, "lost")
    with pytest.raises(NetworkError, match=r"^Bad Gateway$"):
        await photo_file.download_as_bytearray()
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{fake.api_url}{fake.token}/getMe")
    assert (answer.status_code, answer.json()) == (
        502,
        {"ok": False, "error_code": 502, "description": "Bad Gateway"},
    )
    outage = fake.calls[-5:]
    assert [(c.method, c.status) for c in outage] == [
        ("getUpdates", 502),
        ("getUpdates", 502),
        ("sendMessage", 502),
        ("file", 502),
        ("getMe", 502),
    ]
    assert outage[2].params["text"] == "lost"
    assert [m.content for m in fake.messages(USER)] == [""]  # only the photo
    assert "the API is down" in fake.dump()

    fake.set_down(False)
    [update] = await bot.get_updates()
    assert update.message is not None and update.message.text == "written during the outage"
    await bot.send_message(USER, "back")
    assert bytes(await photo_file.download_as_bytearray()) == png("olive")

    fake.set_down(True, status=503)
    with pytest.raises(NetworkError, match=r"^Service Unavailable$"):
        await bot.get_me()
    fake.set_down(False)


async def test_wait_message_by_kind(fake: FakeTelegram, bot: Bot) -> None:
    waiter = asyncio.create_task(
        asyncio.to_thread(fake.wait_message, USER, kind="voice", timeout=3)
    )
    await bot.send_message(USER, "voice coming")
    await bot.send_photo(USER, photo=png("teal"), caption="voice? no, a photo")
    voice = await bot.send_voice(USER, voice=b"ogg", caption="the voice")
    found = await waiter
    assert found.message_id == voice.message_id and found.data == b"ogg"
    assert fake.wait_message(USER, "voice", kind="photo", timeout=1).kind == "photo"
    assert fake.wait_message(USER, "voice", photo=False, timeout=1).kind == "text"
    with pytest.raises(AssertionError, match="kind=video"):
        fake.wait_message(USER, kind="video", timeout=0.1)


async def _echo_voice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    assert message is not None and message.voice is not None
    file = await message.voice.get_file()
    data = bytes(await file.download_as_bytearray())
    await message.reply_voice(
        data, filename="echo.ogg", caption=f"{len(data)} bytes", do_quote=True
    )


async def test_real_application_echoes_a_voice_note(fake: FakeTelegram) -> None:
    app = (
        Application.builder()
        .token(fake.token)
        .base_url(fake.api_url)
        .base_file_url(fake.file_url)
        .build()
    )
    app.add_handler(MessageHandler(filters.VOICE, _echo_voice))
    note = b"OggS" + bytes(range(256)) * 8
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=timedelta(seconds=1))
        fake.send_voice(USER, note)
        echo = await asyncio.to_thread(fake.wait_message, USER, kind="voice", timeout=3)
        await app.updater.stop()
        await app.stop()
    assert (echo.data, echo.caption, echo.file_name) == (note, f"{len(note)} bytes", None)
    assert echo.reply_to_message_id == 1  # the person's voice note


# --------------------------------------------------------------------------- webhook mode


@dataclass
class Post:
    headers: CIMultiDict[str]
    body: dict[str, Any]


class Receiver:
    """A webhook endpoint on the test's own loop (where a bot's web server would run).

    Records every POST, waits `delay` seconds, then answers the next of `answers`, or `status`
    once they are used up.  With `secret` it answers 403 to a request without that
    X-Telegram-Bot-Api-Secret-Token, like PTB's webhook handler; with `forward` it hands each
    accepted body on (to an Application's update queue).
    """

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.answers: list[int] = []
        self.status = 200
        self.delay = 0.0
        self.secret: str | None = None
        self.forward: Callable[[dict[str, Any]], Awaitable[None]] | None = None
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.posts.append(Post(request.headers.copy(), body))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.secret is not None and (
            request.headers.get("X-Telegram-Bot-Api-Secret-Token") != self.secret
        ):
            return web.Response(status=403)
        if self.forward is not None:
            await self.forward(body)
        return web.Response(status=self.answers.pop(0) if self.answers else self.status)

    async def wait_posts(self, count: int, timeout: float = 3.0) -> list[Post]:
        deadline = time.monotonic() + timeout
        while len(self.posts) < count:
            assert time.monotonic() < deadline, f"{len(self.posts)} of {count} posts arrived"
            await asyncio.sleep(0.02)
        return self.posts


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


async def deliveries(fake: FakeTelegram, count: int, *, ok: bool | None = None) -> None:
    """Wait (off the loop, which serves the receiver) until `count` attempts (or confirmations
    with ok=True, failures with ok=False) are recorded."""

    def enough() -> bool:
        found = [d for d in fake.webhook_deliveries if ok is None or d.ok == ok]
        return len(found) >= count

    await asyncio.to_thread(fake.wait_for, enough, 3)


async def test_webhook_pushes_updates_in_order_with_the_secret(
    fake: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    fake.send_text(USER, "written before the webhook")
    assert (fake.webhook_url, fake.webhook_secret) == (None, None)
    assert await bot.set_webhook(
        receiver.url, secret_token="s3cret_-Token", allowed_updates=["message"]
    )
    assert (fake.webhook_url, fake.webhook_secret) == (receiver.url, "s3cret_-Token")
    fake.send_text(USER, "hello")
    fake.send_update({"callback_query": {"id": "7", "data": "not allowed"}})
    fake.send_text(USER, "third")
    posts = await receiver.wait_posts(3)
    await deliveries(fake, 3, ok=True)
    assert [p.body["message"]["text"] for p in posts] == [
        "written before the webhook",
        "hello",
        "third",
    ]
    assert posts[0].headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cret_-Token"
    assert posts[0].headers["Content-Type"] == "application/json"
    update = Update.de_json(posts[1].body, bot)
    assert update.update_id == 2 and update.message is not None
    assert (update.message.text, update.message.chat.id) == ("hello", USER)
    # The callback query (update 3) is of a type the bot did not ask for: never sent.
    assert [(d.update_id, d.status, d.error) for d in fake.webhook_deliveries] == [
        (1, 200, None),
        (2, 200, None),
        (4, 200, None),
    ]
    assert fake.pending_updates == []
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count, info.has_custom_certificate) == (
        receiver.url,
        0,
        False,
    )
    assert (info.max_connections, info.ip_address, info.allowed_updates) == (
        40,
        "127.0.0.1",
        ("message",),
    )
    assert info.last_error_date is None and info.last_error_message is None


async def test_webhook_retries_until_a_2xx_answer(
    fake: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    receiver.status = 500
    await bot.set_webhook(receiver.url)
    fake.send_text(USER, "first")
    fake.send_text(USER, "second")
    await deliveries(fake, 2, ok=False)
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 2
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
    assert info.last_error_date is not None
    assert abs((datetime.now(UTC) - info.last_error_date).total_seconds()) < 5
    receiver.answers = [503]
    receiver.status = 200
    await deliveries(fake, 2, ok=True)
    attempts = fake.webhook_deliveries
    # In order: the second update waits until the first is confirmed.
    first_ok = next(i for i, d in enumerate(attempts) if d.ok)
    assert {d.update_id for d in attempts[: first_ok + 1]} == {1}
    assert [(d.update_id, d.status) for d in attempts[first_ok:]] == [(1, 200), (2, 200)]
    assert attempts[first_ok - 1].status == 503
    assert all(
        later.at - earlier.at >= 0.08
        for earlier, later in itertools.pairwise(attempts[: first_ok + 1])
    )
    assert [p.body["update_id"] for p in receiver.posts] == [d.update_id for d in attempts]
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 0
    # Telegram keeps reporting the last error after a success.
    assert info.last_error_message == "Wrong response from the webhook: 503 Service Unavailable"


async def test_webhook_connection_refused_and_timeout(
    fake: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    await bot.set_webhook(f"http://localhost:{free_port()}/nobody-listens")
    fake.send_text(USER, "knock knock")
    await deliveries(fake, 2)
    assert {(d.update_id, d.status, d.error) for d in fake.webhook_deliveries} == {
        (1, 0, "Connection refused")
    }
    assert (await bot.get_webhook_info()).last_error_message == "Connection refused"

    # A webhook that answers too late: the update counts as not delivered and comes again.
    fake.webhook_timeout = 0.2
    receiver.delay = 0.4
    await bot.set_webhook(receiver.url)
    assert (await bot.get_webhook_info()).last_error_message is None  # a new webhook
    await receiver.wait_posts(2)
    assert [p.body["update_id"] for p in receiver.posts[:2]] == [1, 1]
    assert (await bot.get_webhook_info()).last_error_message == "Read timeout expired"
    receiver.delay = 0
    await deliveries(fake, 1, ok=True)
    late = [d for d in fake.webhook_deliveries if d.error == "Read timeout expired"]
    assert late and all(d.status == 0 for d in late)
    assert fake.pending_updates == []


async def test_get_updates_conflicts_with_a_webhook(
    fake: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    held = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    await bot.set_webhook(receiver.url)
    with pytest.raises(Conflict, match=r"^Conflict: terminated by setWebhook request$"):
        await asyncio.wait_for(held, 2)
    active = (
        "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first"
    )
    with pytest.raises(Conflict, match=f"^{re.escape(active)}$"):
        await bot.get_updates()
    assert fake.calls_of("getUpdates")[-1].status == 409


async def test_delete_webhook_stops_pushes_and_get_updates_takes_over(
    fake: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    receiver.status = 500
    await bot.set_webhook(receiver.url, secret_token="abc")
    fake.send_text(USER, "one")
    fake.send_text(USER, "two")
    await deliveries(fake, 1)
    assert await bot.delete_webhook()
    assert fake.webhook_url is None and fake.webhook_secret is None
    await asyncio.sleep(0.2)  # a push already on its way may finish
    attempts = len(fake.webhook_deliveries)
    await asyncio.sleep(0.4)
    assert len(fake.webhook_deliveries) == attempts == len(receiver.posts)
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count) == ("", 2)
    assert info.last_error_message is None and info.max_connections is None
    updates = await bot.get_updates()
    assert [u.message.text for u in updates if u.message] == ["one", "two"]
    assert await bot.get_updates(offset=3) == ()

    await bot.set_webhook(receiver.url)
    fake.send_text(USER, "dropped")
    await deliveries(fake, attempts + 1)
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert fake.pending_updates == []
    assert await bot.get_updates() == ()


async def test_redeliver_sends_a_confirmed_update_again(
    fake: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    await bot.set_webhook(receiver.url)
    fake.send_text(USER, "once")
    await deliveries(fake, 1, ok=True)
    fake.redeliver(1)
    await deliveries(fake, 2, ok=True)
    first, second = receiver.posts
    assert first.body == second.body and first.body["update_id"] == 1
    assert fake.pending_updates == []
    with pytest.raises(ValueError, match="update 9 was never confirmed"):
        fake.redeliver(9)


async def test_set_down_pauses_webhook_pushes(
    fake: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    await bot.set_webhook(receiver.url)
    fake.set_down(True)
    fake.send_text(USER, "written during the outage")
    await asyncio.sleep(0.4)
    assert receiver.posts == [] and fake.webhook_deliveries == []
    fake.set_down(False)
    [post] = await receiver.wait_posts(1)
    assert post.body["message"]["text"] == "written during the outage"


async def test_set_webhook_refuses_what_telegram_refuses(fake: FakeTelegram, bot: Bot) -> None:
    local = "http://127.0.0.1:8080/hook"
    refused: list[tuple[dict[str, Any], str]] = [
        ({"url": "not a url"}, "invalid webhook URL specified"),
        ({"url": "ftp://127.0.0.1/hook"}, "invalid webhook URL specified"),
        ({"url": "http://example.com/hook"}, "bad webhook: An HTTPS URL must be provided"),
        ({"url": "https://example.com/hook"}, "bad webhook: Failed to resolve host"),
        ({"url": local, "secret_token": "with space"}, "secret token contains unallowed char"),
        ({"url": local, "secret_token": "x" * 257}, "secret token is too long"),
        ({"url": local, "ip_address": "1.2.3"}, "bad webhook: Invalid IP address specified"),
    ]
    for kwargs, description in refused:  # PTB lowercases the description after its first letter
        with pytest.raises(BadRequest, match=f"(?i){re.escape(description)}"):
            await bot.set_webhook(**kwargs)
    assert fake.webhook_url is None

    # The fake's allowance: any loopback URL, https too (the certificate is not checked).
    await bot.set_webhook(
        "https://localhost:9/hook", secret_token="a" * 256, max_connections=500, ip_address="::1"
    )
    info = await bot.get_webhook_info()
    assert (info.url, info.max_connections, info.ip_address) == (
        "https://localhost:9/hook",
        100,
        "::1",
    )
    assert await bot.set_webhook("")  # an empty URL removes the webhook
    assert fake.webhook_url is None


async def test_real_application_in_webhook_mode(fake: FakeTelegram, receiver: Receiver) -> None:
    app = (
        Application.builder()
        .token(fake.token)
        .base_url(fake.api_url)
        .base_file_url(fake.file_url)
        .updater(None)
        .build()
    )
    app.add_handler(CommandHandler("start", _start))
    app.add_handler(CallbackQueryHandler(_button))

    async def forward(body: dict[str, Any]) -> None:
        await app.update_queue.put(Update.de_json(body, app.bot))

    receiver.secret, receiver.forward = "pocket-secret", forward
    async with app:
        await app.start()
        await app.bot.set_webhook(receiver.url, secret_token="pocket-secret")
        fake.send_text(USER, "/start")
        menu = await asyncio.to_thread(fake.wait_message, USER, "welcome", timeout=3)
        fake.press(USER, menu.message_id, menu.button_data("link"))
        edited = await asyncio.to_thread(fake.wait_message, USER, "scan the qr", timeout=3)
        assert edited.message_id == menu.message_id
        await app.stop()
    await deliveries(fake, 2, ok=True)  # recorded once the answer came, maybe after the edit
    assert fake.pending_updates == []
    assert [(d.update_id, d.status) for d in fake.webhook_deliveries] == [(1, 200), (2, 200)]


# --------------------------------------------------------------------------- topics in private chats


async def take_messages(bot: Bot) -> list[Message]:
    """The pending messages (updates confirmed)."""
    updates = await bot.get_updates()
    if updates:
        await bot.get_updates(offset=updates[-1].update_id + 1)
    return [u.message for u in updates if u.message is not None]


async def test_threaded_mode_shows_in_get_me_and_can_be_flipped(
    fake: FakeTelegram, bot: Bot
) -> None:
    me = await bot.get_me()
    assert (me.has_topics_enabled, me.allows_users_to_create_topics) == (False, False)
    with FakeTelegram(threaded=True, users_can_create_topics=False) as threaded:
        async with Bot(threaded.token, base_url=threaded.api_url) as other:
            me = await other.get_me()
            assert (me.has_topics_enabled, me.allows_users_to_create_topics) == (True, False)
            threaded.set_threaded(True, users_can_create_topics=True)
            me = await other.get_me()
            assert (me.has_topics_enabled, me.allows_users_to_create_topics) == (True, True)
            threaded.set_threaded(False)  # the owner turns it off in BotFather
            me = await other.get_me()
            assert (me.has_topics_enabled, me.allows_users_to_create_topics) == (False, False)
            assert not threaded.threaded
    # Only getMe says it: a message's "from" (the bot) doesn't.
    sent = await bot.send_message(USER, "hi")
    assert sent.from_user is not None and sent.from_user.has_topics_enabled is None


async def test_create_forum_topic_in_a_private_chat(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"^The chat is not a forum$"):
        await bot.create_forum_topic(USER, "Alice")
    fake.set_threaded(True)
    before = await bot.send_message(USER, "lobby")
    topic = await bot.create_forum_topic(USER, "  Alice \n\n  Smith ")
    assert (topic.name, topic.icon_color) == ("Alice Smith", 7322096)
    # A thread id of the user's side: never 1, never the bot-side message ids around it.
    after = await bot.send_message(USER, "next")
    assert topic.message_thread_id not in (1, before.message_id, after.message_id)
    [stored] = fake.topics(USER).values()
    assert (stored.thread_id, stored.created_by, stored.deleted) == (
        topic.message_thread_id,
        "bot",
        False,
    )
    assert stored.service_message_id == before.message_id + 1  # the creation took a message id
    yellow = await bot.create_forum_topic(USER, "x" * 200, icon_color=0xFFD67E)
    assert (yellow.name, yellow.icon_color) == ("x" * 128, 16766590)
    assert yellow.message_thread_id != topic.message_thread_id
    with pytest.raises(BadRequest, match=r"^Name must be non-empty$"):
        await bot.create_forum_topic(USER, " \n\u200b ")
    for color in (123, -1, 0x1000000):
        with pytest.raises(BadRequest, match=r"^Invalid icon color specified$"):
            await bot.create_forum_topic(USER, "Bob", icon_color=color)
    # The service message about the creation can't be deleted (Bot API docs).
    with pytest.raises(BadRequest, match=r"^Message can't be deleted$"):
        await bot.delete_message(USER, stored.service_message_id)
    fake.block(USER)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.create_forum_topic(USER, "Carol")
    assert len(fake.topics(USER)) == 2


async def test_edit_forum_topic(fake: FakeTelegram, bot: Bot) -> None:
    fake.set_threaded(True)
    topic = await bot.create_forum_topic(USER, "Alice")
    thread = topic.message_thread_id
    assert await bot.edit_forum_topic(USER, thread, name="Alice (work)")
    with pytest.raises(BadRequest, match=r"(?i)^topic_not_modified$"):
        await bot.edit_forum_topic(USER, thread, name=" Alice  (work) ")
    assert await bot.edit_forum_topic(USER, thread, icon_custom_emoji_id="5312536423851630001")
    assert fake.topics(USER)[thread].icon_custom_emoji_id == "5312536423851630001"
    assert await bot.edit_forum_topic(USER, thread, icon_custom_emoji_id="")  # removes it
    assert fake.topics(USER)[thread].icon_custom_emoji_id is None
    # Nothing to change: True at once, even for a topic that doesn't exist.
    assert await bot.edit_forum_topic(USER, 999_999)
    with pytest.raises(BadRequest, match=r"(?i)^topic_id_invalid$"):
        await bot.edit_forum_topic(USER, 999_999, name="Nobody")
    with pytest.raises(BadRequest, match=r"^Invalid forum topic identifier specified$"):
        await bot.edit_forum_topic(USER, 0, name="Nobody")
    with pytest.raises(BadRequest, match=r"^Name must be non-empty$"):
        await bot.edit_forum_topic(USER, thread, name="   ")
    await bot.delete_forum_topic(USER, thread)
    with pytest.raises(BadRequest, match=r"(?i)^topic_id_invalid$"):
        await bot.edit_forum_topic(USER, thread, name="Alice again")
    assert fake.topics(USER)[thread].names == ["Alice", "Alice (work)"]


async def test_delete_forum_topic_takes_its_messages(fake: FakeTelegram, bot: Bot) -> None:
    fake.set_threaded(True)
    doomed = (await bot.create_forum_topic(USER, "Doomed")).message_thread_id
    kept = (await bot.create_forum_topic(USER, "Kept")).message_thread_id
    in_doomed = await bot.send_message(USER, "one", message_thread_id=doomed)
    in_kept = await bot.send_message(USER, "two", message_thread_id=kept)
    lobby = await bot.send_message(USER, "three")
    user_said = fake.send_text(USER, "from the user", thread=doomed)
    assert await bot.delete_forum_topic(USER, doomed)
    assert fake.topics(USER)[doomed].deleted_by == "bot"
    gone = {m.message_id for m in fake.messages(USER) if m.deleted}
    assert gone == {in_doomed.message_id}
    assert not fake.message(USER, in_kept.message_id).deleted
    assert not fake.message(USER, lobby.message_id).deleted
    with pytest.raises(BadRequest, match=r"^Message thread not found$"):
        await bot.send_message(USER, "again", message_thread_id=doomed)
    with pytest.raises(BadRequest, match=r"^Message to be replied not found$"):
        await bot.send_message(USER, "re", reply_parameters=ReplyParameters(user_said))
    with pytest.raises(BadRequest, match=r"(?i)^topic_id_invalid$"):
        await bot.delete_forum_topic(USER, doomed)
    # unpinAllForumTopicMessages checks the topic too (the fake has no pins).
    assert await bot.unpin_all_forum_topic_messages(USER, kept)
    with pytest.raises(BadRequest, match=r"(?i)^topic_id_invalid$"):
        await bot.unpin_all_forum_topic_messages(USER, doomed)


async def test_close_and_reopen_are_refused_in_private_chats(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"^The chat is not a forum$"):
        await bot.close_forum_topic(USER, 5)
    fake.set_threaded(True)
    thread = (await bot.create_forum_topic(USER, "Alice")).message_thread_id
    with pytest.raises(BadRequest, match=r"^The chat is not a supergroup forum$"):
        await bot.close_forum_topic(USER, thread)
    with pytest.raises(BadRequest, match=r"^The chat is not a supergroup forum$"):
        await bot.reopen_forum_topic(USER, thread)


async def test_every_send_method_takes_message_thread_id(fake: FakeTelegram, bot: Bot) -> None:
    fake.set_threaded(True)
    thread = (await bot.create_forum_topic(USER, "Alice")).message_thread_id
    sent = [
        await bot.send_message(USER, "text", message_thread_id=thread),
        await bot.send_photo(USER, png("red"), message_thread_id=thread),
        await bot.send_document(USER, b"doc", filename="a.txt", message_thread_id=thread),
        await bot.send_video(USER, b"video", filename="v.mp4", message_thread_id=thread),
        await bot.send_voice(USER, b"OggS", message_thread_id=thread),
        await bot.send_audio(USER, b"ID3", filename="a.mp3", message_thread_id=thread),
    ]
    assert [(m.message_thread_id, m.is_topic_message) for m in sent] == [(thread, True)] * 6
    lobby = await bot.send_message(USER, "outside")
    assert (lobby.message_thread_id, lobby.is_topic_message) == (None, None)
    assert [m.message_id for m in fake.messages(USER, thread=thread)] == [
        m.message_id for m in sent
    ]
    assert [m.text for m in fake.messages(USER, thread=0)] == ["outside"]
    assert fake.message(USER, sent[0].message_id).thread_id == thread
    # Edits keep the topic.
    edited = await bot.edit_message_text("text, edited", USER, sent[0].message_id)
    assert isinstance(edited, Message) and edited.message_thread_id == thread
    captioned = await bot.edit_message_caption(USER, sent[1].message_id, caption="red")
    assert isinstance(captioned, Message) and captioned.is_topic_message
    # sendChatAction never checks the thread (tdlib/telegram-bot-api#732).
    assert await bot.send_chat_action(USER, "typing", message_thread_id=thread)
    assert await bot.send_chat_action(USER, "typing", message_thread_id=987_654)
    last = fake.last(USER, thread=thread)
    assert last is not None and last.kind == "audio"


async def test_bad_message_thread_ids(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"^Message thread not found$"):
        await bot.send_message(USER, "threaded mode is off", message_thread_id=5)
    fake.set_threaded(True)
    thread = (await bot.create_forum_topic(USER, "Alice")).message_thread_id
    for unknown in (1, thread + 1000):
        with pytest.raises(BadRequest, match=r"^Message thread not found$"):
            await bot.send_message(USER, "x", message_thread_id=unknown)
        with pytest.raises(BadRequest, match=r"^Message thread not found$"):
            await bot.send_photo(USER, png("red"), message_thread_id=unknown)
    # A group without topics ignores the id.
    group = await bot.send_message(-100, "group", message_thread_id=thread)
    assert group.message_thread_id is None
    url = f"{fake.api_url}{fake.token}/sendMessage"
    async with httpx.AsyncClient() as client:
        # Read like td::to_integer: junk and negatives are no thread, trailing junk is dropped.
        for junk in ("abc", "-5", "0", ""):
            answer = await client.post(
                url, data={"chat_id": str(USER), "text": junk or "-", "message_thread_id": junk}
            )
            assert answer.status_code == 200, answer.text
            assert "message_thread_id" not in answer.json()["result"]
        answer = await client.post(
            url, data={"chat_id": str(USER), "text": "t", "message_thread_id": f"{thread}xyz"}
        )
        assert answer.json()["result"]["message_thread_id"] == thread
    fake.set_threaded(False)
    with pytest.raises(BadRequest, match=r"^Message thread not found$"):
        await bot.send_message(USER, "off again", message_thread_id=thread)
    fake.set_threaded(True)  # the topics come back with the mode
    assert (await bot.send_message(USER, "on", message_thread_id=thread)).is_topic_message


async def test_replies_follow_the_topic_of_the_replied_message(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.set_threaded(True)
    alice = (await bot.create_forum_topic(USER, "Alice")).message_thread_id
    bob = (await bot.create_forum_topic(USER, "Bob")).message_thread_id
    fake.send_text(USER, "hi Alice", thread=alice)
    [incoming] = await take_messages(bot)
    assert (incoming.message_thread_id, incoming.is_topic_message) == (alice, True)
    assert incoming.reply_to_message is None  # no implicit reply in private chats
    # PTB's reply_* pass message_thread_id by themselves for topic messages.
    answered = await incoming.reply_text("taken")
    assert answered.message_thread_id == alice
    # A reply without message_thread_id goes into the replied message's topic.
    quoted = await bot.send_message(
        USER, "quoted", reply_parameters=ReplyParameters(incoming.message_id)
    )
    assert quoted.message_thread_id == alice
    assert quoted.reply_to_message is not None and quoted.external_reply is None
    # A reply from another topic shows as an external reply.
    across = await bot.send_message(
        USER, "across", message_thread_id=bob, reply_parameters=ReplyParameters(incoming.message_id)
    )
    assert across.message_thread_id == bob and across.reply_to_message is None
    assert across.external_reply is not None
    assert across.external_reply.message_id == incoming.message_id
    # The user answers the bot's message from the lobby: it lands in that topic as well.
    fake.send_text(USER, "thanks", reply_to=answered.message_id)
    [reply] = await take_messages(bot)
    assert reply.message_thread_id == alice
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.message_id == answered.message_id


async def test_user_side_topics(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(AssertionError, match="threaded mode is off"):
        fake.create_topic(USER, "Shopping")
    fake.set_threaded(True)
    fake.send_text(USER, "typed in the lobby")
    thread = fake.create_topic(USER, "Shopping")
    fake.send_text(USER, "milk", thread=thread)
    fake.send_photo(USER, png("white"), caption="this one", thread=thread)
    renamed = fake.rename_topic(USER, thread, "Groceries")
    implicit = fake.create_topic(USER, "what about the invoice from last week", implicit=True)
    lobby, created, milk, photo, edited, unnamed = await take_messages(bot)
    assert (lobby.message_thread_id, lobby.is_topic_message) == (None, None)
    assert created.forum_topic_created is not None
    assert (created.forum_topic_created.name, created.forum_topic_created.icon_color) == (
        "Shopping",
        7322096,
    )
    assert created.message_thread_id == thread and created.is_topic_message
    assert created.message_id != thread  # the thread id is of the user's side
    assert (milk.text, milk.message_thread_id, milk.is_topic_message) == ("milk", thread, True)
    assert photo.photo and photo.message_thread_id == thread
    assert filters.IS_TOPIC_MESSAGE.check_update(Update(1, message=milk))
    assert edited.message_id == renamed and edited.message_thread_id == thread
    assert edited.forum_topic_edited is not None
    assert edited.forum_topic_edited.name == "Groceries"
    assert unnamed.forum_topic_created is not None
    assert unnamed.forum_topic_created.is_name_implicit
    topics = fake.topics(USER)
    assert (topics[thread].name, topics[thread].created_by) == ("Groceries", "user")
    assert topics[implicit].is_name_implicit
    # The bot answers in the user's topic; then the user deletes it: no update at all.
    await bot.send_message(USER, "noted", message_thread_id=thread)
    fake.delete_topic(USER, thread)
    assert await take_messages(bot) == []
    assert fake.topics(USER)[thread].deleted_by == "user"
    assert all(m.deleted for m in fake.messages(USER, thread=thread))
    with pytest.raises(AssertionError, match="was deleted"):
        fake.send_text(USER, "into the void", thread=thread)
    with pytest.raises(BadRequest, match=r"^Message thread not found$"):
        await bot.send_message(USER, "where?", message_thread_id=thread)
    fake.set_threaded(True, users_can_create_topics=False)
    with pytest.raises(AssertionError, match="doesn't allow users"):
        fake.create_topic(USER, "Not allowed")
    with pytest.raises(AssertionError, match="doesn't allow users"):
        fake.delete_topic(USER, implicit)


async def test_wait_message_and_wait_topic(fake: FakeTelegram, bot: Bot) -> None:
    fake.set_threaded(True)
    waiter = asyncio.create_task(asyncio.to_thread(fake.wait_topic, USER, "alice", timeout=3))
    await asyncio.sleep(0.05)
    topic = await bot.create_forum_topic(USER, "Alice Smith")
    assert (await waiter).thread_id == topic.message_thread_id
    await bot.send_message(USER, "hello there")
    waiter = asyncio.create_task(
        asyncio.to_thread(
            fake.wait_message, USER, "hello", thread=topic.message_thread_id, timeout=3
        )
    )
    sent = await bot.send_message(USER, "hello Alice", message_thread_id=topic.message_thread_id)
    assert (await waiter).message_id == sent.message_id
    with pytest.raises(AssertionError, match=f"thread={topic.message_thread_id}"):
        fake.wait_message(USER, "there", thread=topic.message_thread_id, timeout=0.1)
    with pytest.raises(AssertionError, match="no topic 'bob'"):
        fake.wait_topic(USER, "bob", timeout=0.1)


async def test_deleted_topic_bug_puts_the_message_in_the_main_chat(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.set_threaded(True)
    thread = fake.create_topic(USER, "Alice")
    fake.delete_topic(USER, thread)
    fake.set_deleted_topic_bug()
    stray = await bot.send_message(USER, "for Alice", message_thread_id=thread)
    # No error, but the message is outside the requested topic: the bot must notice…
    assert (stray.message_thread_id, stray.is_topic_message) == (None, None)
    assert [m.text for m in fake.messages(USER, thread=0)] == ["for Alice"]
    # … delete the stray copy, recreate the topic and send again.
    assert await bot.delete_message(USER, stray.message_id)
    again = await bot.create_forum_topic(USER, "Alice")
    resent = await bot.send_message(USER, "for Alice", message_thread_id=again.message_thread_id)
    assert resent.message_thread_id == again.message_thread_id != thread
    assert fake.message(USER, stray.message_id).deleted
    # Unknown topics still fail, and without the bug a deleted one fails too.
    with pytest.raises(BadRequest, match=r"^Message thread not found$"):
        await bot.send_message(USER, "x", message_thread_id=thread + 1000)
    fake.set_deleted_topic_bug(False)
    with pytest.raises(BadRequest, match=r"^Message thread not found$"):
        await bot.send_message(USER, "x", message_thread_id=thread)


async def test_topic_outage_breaks_only_sends_into_topics(fake: FakeTelegram, bot: Bot) -> None:
    fake.set_threaded(True)
    thread = (await bot.create_forum_topic(USER, "Alice")).message_thread_id
    fake.set_topic_outage()
    with pytest.raises(BadRequest, match=r"^Message thread not found$"):
        await bot.send_message(USER, "x", message_thread_id=thread)
    with pytest.raises(BadRequest, match=r"(?i)^bot_forum_create_forbidden$"):
        await bot.create_forum_topic(USER, "Bob")
    assert (await bot.send_message(USER, "degraded: [Alice] x")).message_thread_id is None
    fake.send_text(USER, "still threaded", thread=thread)
    [incoming] = await take_messages(bot)
    assert incoming.message_thread_id == thread
    fake.set_topic_outage(False)
    assert (await bot.send_message(USER, "x", message_thread_id=thread)).is_topic_message


async def test_set_message_reaction(fake: FakeTelegram, bot: Bot) -> None:
    assert {e.value.replace("\ufe0f", "") for e in ReactionEmoji} == REACTION_EMOJI
    fake.set_threaded(True)
    thread = fake.create_topic(USER, "Alice")
    said = fake.send_text(USER, "send this to Alice", thread=thread)
    for emoji in ("👍", "👌", "👀"):
        assert await bot.set_message_reaction(USER, said, emoji)
    assert fake.reactions(USER, said) == ["👍", "👌", "👀"]
    assert fake.reaction(USER, said) == "👀"
    # PTB spells some emoji with U+FE0F; they are the same reactions.
    assert await bot.set_message_reaction(USER, said, ReactionEmoji.HEART_ON_FIRE, is_big=True)
    assert await bot.set_message_reaction(USER, said, [])  # removes the reaction
    assert fake.reaction(USER, said) is None and fake.reactions(USER, said)[-1] == ""
    with pytest.raises(BadRequest, match=r"(?i)^reaction_invalid$"):
        await bot.set_message_reaction(USER, said, ReactionTypeEmoji("🦜"))
    with pytest.raises(BadRequest, match=r"(?i)^reactions_too_many$"):
        await bot.set_message_reaction(USER, said, ["👍", "👀"])
    # PTB turns an unknown emoji string into a custom emoji id, which the Bot API can't parse.
    with pytest.raises(BadRequest, match=r"^Can't parse reactiontype"):
        await bot.set_message_reaction(USER, said, "🦜")
    for missing in (999, 0):
        with pytest.raises(BadRequest, match=r"^Message to react not found$"):
            await bot.set_message_reaction(USER, missing, "👍")
    fake.delete_topic(USER, thread)
    with pytest.raises(BadRequest, match=r"^Message to react not found$"):
        await bot.set_message_reaction(USER, said, "👍")
    assert len(fake.reactions(USER, said)) == 5
    # The Bot API's own parse errors for a malformed `reaction`.
    lobby = fake.send_text(USER, "in the lobby")
    url = f"{fake.api_url}{fake.token}/setMessageReaction"
    malformed = {
        "{not json": "can't parse reaction types JSON object",
        '{"type": "emoji"}': "expected an Array of ReactionType",
        "[5]": "can't parse ReactionType: expected an Object",
        '[{"type": "paid"}]': "can't parse ReactionType: invalid reaction type specified",
        '[{"type": "emoji", "emoji": ""}]': "invalid reaction type specified",
    }
    async with httpx.AsyncClient() as client:
        for reaction, error in malformed.items():
            answer = await client.post(
                url, data={"chat_id": str(USER), "message_id": str(lobby), "reaction": reaction}
            )
            assert answer.json()["description"] == f"Bad Request: {error}", reaction
    assert fake.reactions(USER, lobby) == []


async def _ack_in_topic(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    assert message is not None
    await message.set_reaction(ReactionEmoji.THUMBS_UP)
    await message.reply_text(f"got it in topic {message.message_thread_id}")


async def test_real_application_answers_in_the_topic(fake: FakeTelegram) -> None:
    fake.set_threaded(True)
    app = (
        Application.builder()
        .token(fake.token)
        .base_url(fake.api_url)
        .base_file_url(fake.file_url)
        .build()
    )
    app.add_handler(MessageHandler(filters.IS_TOPIC_MESSAGE & filters.TEXT, _ack_in_topic))
    thread = fake.create_topic(USER, "Alice")
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=timedelta(seconds=1))
        said = fake.send_text(USER, "hello", thread=thread)
        answer = await asyncio.to_thread(fake.wait_message, USER, "got it", thread=thread)
        await app.updater.stop()
        await app.stop()
    assert answer.text == f"got it in topic {thread}"
    assert fake.reactions(USER, said) == ["👍"]
