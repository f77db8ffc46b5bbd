"""A bulk's Start against a real database (SQLite, and PostgreSQL when TEST_DATABASE_URL is
set): 1,000 recipients stored in one transaction in well under a second, a Start pressed twice
(at the same moment) makes them once, one bulk runs per line, held rows are not counted by the
daily cap, and Pause, Stop and "send again" move the rows as they should."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.gateways.base import LineState
from bot.services.bulk import BulkService, LineBusy
from bot.services.bulk_rows import figures_of
from bot.services.outbox_queue import used_today
from bot.services.sender import UNCERTAIN
from bot.storage.db import close_db, init_db
from bot.storage.models import Bulk, BulkState, MessageStatus, OutgoingMessage, User, WhatsAppChat

OWNER = 7001


class Runner:
    """What the service tells the runner: which bulks to look at."""

    def __init__(self) -> None:
        self.kicked: list[int] = []

    def kick(self, bulk_id: int) -> None:
        self.kicked.append(bulk_id)


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[BulkService]:
    await init_db(database_url)
    try:
        user = await User.create(id=OWNER)
        chat = await WhatsAppChat.create(
            owner=user,
            gateway="wappim",
            instance_id="1",
            token_secret="sealed",
            state=LineState.AUTHORIZED,
            account_name="Shop",
            account_phone="79991234567",
        )
        await User.filter(id=OWNER).update(active_chat_id=chat.id)
        yield BulkService(
            Runner(), region="RU", max_recipients=1000, rate_per_minute=20, daily_cap=500
        )
    finally:
        await close_db()


async def preview(service: BulkService, count: int) -> Bulk:
    """A bulk at its preview, the way the handler gets it there."""
    user = await User.get(id=OWNER)
    bulk = await service.begin(user)
    the_list = "\n".join(["phone;name", *(f"8916{i:07d};Name {i}" for i in range(count))])
    found = await service.take_list(bulk, the_list)
    assert found.ok and len(found.recipients) == count
    bulk = await Bulk.get(id=bulk.id)
    await service.take_text(bulk, "Hello {name}", None)
    return await Bulk.get(id=bulk.id)


async def test_a_thousand_recipients_are_stored_at_start_in_one_go(service: BulkService) -> None:
    bulk = await preview(service, 1000)
    user = await User.get(id=OWNER)
    began = time.perf_counter()
    started = await service.start(user, bulk.id)
    took = time.perf_counter() - began
    assert started is not None and started.state is BulkState.RUNNING
    assert took < 0.5, f"Start took {took:.2f} s"
    rows = await OutgoingMessage.filter(bulk_id=bulk.id).order_by("id")
    assert len(rows) == 1000
    assert {row.status for row in rows} == {MessageStatus.HELD}
    assert rows[7].text == "Hello Name 7" and rows[7].bulk_fields == {"name": "Name 7"}
    assert len({row.source_message_id for row in rows}) == 1000
    assert all(row.source_message_id > 2**31 for row in rows)  # no Telegram message's id
    assert started.active_line == started.chat.id and started.draft is None
    # Held rows are not the daily cap's until released.
    assert await used_today(started.chat.id) == 0
    assert (await figures_of(bulk.id)).held == 1000


async def test_start_pressed_twice_at_once_makes_the_rows_once(service: BulkService) -> None:
    bulk = await preview(service, 50)
    user = await User.get(id=OWNER)
    results = await asyncio.gather(*(service.start(user, bulk.id) for _ in range(3)))
    assert sum(result is not None for result in results) == 1
    assert await OutgoingMessage.filter(bulk_id=bulk.id).count() == 50


async def test_one_bulk_per_line(service: BulkService) -> None:
    user = await User.get(id=OWNER)
    first = await preview(service, 5)
    await service.start(user, first.id)
    with pytest.raises(LineBusy):
        await service.begin(user)
    # A preview made before the first started cannot start beside it either.
    await Bulk.filter(id=first.id).update(active_line=None, state=BulkState.PAUSED)
    second = await preview(service, 5)
    await Bulk.filter(id=first.id).update(active_line=first.chat_id, state=BulkState.RUNNING)  # type: ignore[attr-defined]
    with pytest.raises(LineBusy):
        await service.start(user, second.id)
    assert await OutgoingMessage.filter(bulk_id=second.id).count() == 0
    assert (await Bulk.get(id=second.id)).state is BulkState.PREVIEW


async def test_pause_holds_released_rows_and_stop_leaves_the_rest_unsent(
    service: BulkService,
) -> None:
    user = await User.get(id=OWNER)
    bulk = await preview(service, 10)
    await service.start(user, bulk.id)
    ids = await OutgoingMessage.filter(bulk_id=bulk.id).order_by("id").values_list("id", flat=True)
    now = datetime.now(UTC)
    await OutgoingMessage.filter(id__in=ids[:3]).update(status=MessageStatus.QUEUED, created_at=now)
    await OutgoingMessage.filter(id=ids[0]).update(status=MessageStatus.SENT)
    assert await used_today(bulk.chat_id) == 3  # type: ignore[attr-defined]

    paused = await service.pause(user, bulk.id)
    assert paused is not None and paused.state is BulkState.PAUSED
    figures = await figures_of(bulk.id)
    assert (figures.sent, figures.queued, figures.held) == (1, 0, 9)
    asked = await service.ask_stop(user, bulk.id)
    assert asked is not None and asked.state is BulkState.ASKING
    kept = await service.keep(user, bulk.id)
    assert kept is not None and kept.state is BulkState.PAUSED, "No goes back to the pause"
    await service.ask_stop(user, bulk.id)
    stopped = await service.stop(user, bulk.id)
    assert stopped is not None and stopped.state is BulkState.STOPPED
    assert stopped.active_line is None
    figures = await figures_of(bulk.id)
    assert (figures.sent, figures.stopped, figures.left) == (1, 9, 0)


async def test_send_again_to_the_unknown_only(service: BulkService) -> None:
    user = await User.get(id=OWNER)
    bulk = await preview(service, 4)
    await service.start(user, bulk.id)
    ids = await OutgoingMessage.filter(bulk_id=bulk.id).order_by("id").values_list("id", flat=True)
    await OutgoingMessage.filter(id__in=ids[:3]).update(status=MessageStatus.SENT)
    await OutgoingMessage.filter(id=ids[3]).update(status=MessageStatus.FAILED, error=UNCERTAIN)
    await Bulk.filter(id=bulk.id).update(
        state=BulkState.DONE, active_line=None, reported_at=datetime.now(UTC)
    )
    again = await service.send_again_unknown(user, bulk.id)
    assert again is not None and again.state is BulkState.RUNNING
    figures = await figures_of(bulk.id)
    assert (figures.sent, figures.held, figures.unknown) == (3, 1, 0)
    assert await service.send_again_unknown(user, bulk.id) is None  # once
