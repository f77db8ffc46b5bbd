"""Fair use of the gateway's spare lines: MAX_LINES_PER_USER and CONNECTS_PER_HOUR, refused in
words that name the limit, counted in the database, admins exempt. A refused /connect takes no
spare line (the emulator's chat/spare requests are counted)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.storage.models import ConnectTicket
from tests.conftest import (
    USER,
    RunningBot,
    assigned_instance,
    db,
    in_thread,
    make_settings,
    reply,
)
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim


async def link(telegram: FakeTelegram, wappim: FakeWappim, user: int, number: str) -> None:
    """/connect, the QR, the scan: one linked line more."""
    first = await reply(telegram, user, "/connect")
    photo = await in_thread(
        telegram.wait_message, user, "Linked devices", photo=True, after=first.message_id - 1
    )
    wappim.scan(assigned_instance(wappim), name="Line", number=number)
    await in_thread(telegram.wait_message, user, "connected as", after=photo.message_id)


async def test_lines_per_user_are_capped_and_the_refusal_takes_no_spare_line(
    telegram: FakeTelegram, wappim: FakeWappim, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(telegram, wappim, database_url, tmp_path, max_lines_per_user=2)
    bot = RunningBot(settings, telegram)
    await bot.start()
    try:
        wappim.set_free(5)
        await link(telegram, wappim, USER, "79990000001")
        await link(telegram, wappim, USER, "79990000002")
        spares = len(wappim.requests_to("chat/spare"))

        refused = await reply(telegram, USER, "/connect", "WhatsApp lines")
        assert "already hold 2 WhatsApp lines" in refused.content
        assert "the most one person may have" in refused.content
        assert "/disconnect" in refused.content
        assert len(wappim.requests_to("chat/spare")) == spares, "a refused /connect took a line"

        # Restarted, the bot counts the same lines (they are in the database).
        await bot.restart()
        await reply(telegram, USER, "/connect", "already hold 2 WhatsApp lines")
        assert len(wappim.requests_to("chat/spare")) == spares
        # The refused attempt held nothing: /cancel has nothing to stop.
        await reply(telegram, USER, "/cancel", "Nothing to cancel")
    finally:
        await bot.stop()


async def test_connects_per_hour_are_capped_and_the_refusal_says_when_to_try_again(
    telegram: FakeTelegram, wappim: FakeWappim, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(telegram, wappim, database_url, tmp_path, connects_per_hour=2)
    bot = RunningBot(settings, telegram)
    await bot.start()
    try:
        wappim.set_free(5)
        for _ in range(2):  # two attempts, each cancelled once its QR is there
            first = await reply(telegram, USER, "/connect")
            photo = await in_thread(
                telegram.wait_message,
                USER,
                "Linked devices",
                photo=True,
                after=first.message_id - 1,
            )
            telegram.press(USER, photo.message_id, "cancel")
            await in_thread(telegram.wait_message, USER, "cancelled", after=photo.message_id)
        await bot.restart()  # the count is in the database
        spares = len(wappim.requests_to("chat/spare"))

        refused = await reply(telegram, USER, "/connect", "in the last hour")
        assert "started 2 connections in the last hour" in refused.content
        assert "the most allowed per hour" in refused.content
        first = await db(
            settings, lambda: ConnectTicket.filter(user_id=USER).order_by("id").first()
        )
        assert first is not None
        again = first.created_at + timedelta(hours=1)
        minutes = re.search(r"Try again in (\d+) minutes", refused.content)
        assert minutes is not None and int(minutes.group(1)) in (59, 60)
        told = re.search(r"at (\d\d:\d\d) UTC", refused.content)
        assert told is not None
        assert told.group(1) in {
            again.astimezone(UTC).strftime("%H:%M"),
            (again + timedelta(minutes=1)).astimezone(UTC).strftime("%H:%M"),
        }
        assert len(wappim.requests_to("chat/spare")) == spares, "a refused /connect took a line"

        # An hour later the oldest attempt has left the window: one more fits.
        await db(
            settings,
            lambda: ConnectTicket.filter(id=first.id).update(
                created_at=datetime.now(UTC) - timedelta(hours=1, seconds=1)
            ),
        )
        await reply(telegram, USER, "/connect")
        await in_thread(
            telegram.wait_message, USER, "Linked devices", photo=True, after=refused.message_id
        )
    finally:
        await bot.stop()


async def test_admins_are_exempt_from_both_limits(
    telegram: FakeTelegram, wappim: FakeWappim, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        telegram,
        wappim,
        database_url,
        tmp_path,
        max_lines_per_user=1,
        connects_per_hour=1,
        admin_user_ids=str(USER),
    )
    bot = RunningBot(settings, telegram)
    await bot.start()
    try:
        wappim.set_free(5)
        await link(telegram, wappim, USER, "79990000001")
        await link(telegram, wappim, USER, "79990000002")  # a second line, a second attempt
        await link(telegram, wappim, USER, "79990000003")
        assert len(wappim.requests_to("chat/spare")) == 3
    finally:
        await bot.stop()
