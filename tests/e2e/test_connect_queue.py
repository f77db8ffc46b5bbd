"""The connect queue end to end: /connect attempts admitted at a pace, first come first served,
each person further than `tell_after` from their QR shown their place in one photo that is edited
as the line moves and becomes their QR. The pace is the bot's own shrunk (`Pace`): attempts
admitted 0.5 a second instead of 5, places told beyond 2.5 s instead of 20, edits at most every
second instead of every 10."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import pytest

from bot.config import Settings
from bot.services.admission import WINDOW, Pace
from bot.storage.models import ConnectTicket, WhatsAppChat
from tests.conftest import OTHER_USER, RunningBot, db, decode_qr, in_thread, reply, wait_until
from tests.fakes.telegram import JSON, FakeMessage, FakeTelegram
from tests.fakes.wappim import FakeWappim

PACE = Pace(calls_per_attempt=30.0, tell_after=2.5, edit_every=1.0)  # 0.5 attempts a second
GAP = 1 / PACE.per_second  # seconds between two admissions
PEOPLE = [3001 + n for n in range(6)]
QR = "Linked devices"  # in every QR caption
IN_LINE = "in line for a QR code"  # in every queue caption


@pytest.fixture
async def queued_bot(settings: Settings, telegram: FakeTelegram) -> AsyncIterator[RunningBot]:
    running = RunningBot(settings, telegram, pace=PACE)
    await running.start()
    yield running
    await running.stop()


def connect_all(telegram: FakeTelegram, people: list[int]) -> None:
    for user in people:
        telegram.send_text(user, "/connect")


def placeholder(telegram: FakeTelegram, user: int) -> FakeMessage | None:
    """The photo that showed the person's place in line (None: they were never told one)."""
    for message in telegram.messages(user):
        first = message.history[0]
        if first["has_photo"] and IN_LINE in (first["caption"] or ""):
            return message
    return None


def places(message: FakeMessage) -> list[tuple[float, str]]:
    """(when, caption) of the photo's versions before it became the QR."""
    return [
        (snapshot["at"], snapshot["caption"] or "")
        for snapshot in message.history
        if snapshot["photo_index"] == 0
    ]


def qr_shown_at(telegram: FakeTelegram, user: int) -> float | None:
    """When the person's first QR reached Telegram."""
    times = [
        snapshot["at"]
        for message in telegram.messages(user)
        for snapshot in message.history
        if snapshot["has_photo"] and QR in (snapshot["caption"] or "")
    ]
    return min(times, default=None)


def place_in(caption: str) -> int:
    return int(caption.split("number ", 1)[1].split(" ", 1)[0])


async def instance_of(settings: Settings, user: int) -> int:
    rows = await db(
        settings, lambda: WhatsAppChat.filter(owner_id=user).values_list("instance_id", flat=True)
    )
    assert len(rows) == 1, f"user {user} has {len(rows)} lines"
    return int(str(rows[0]))


async def line_order(settings: Settings) -> list[int]:
    """The people in the order the bot accepted their /connect (its tickets' order)."""
    rows = await db(
        settings, lambda: ConnectTicket.all().order_by("id").values_list("user_id", flat=True)
    )
    return [int(str(user)) for user in rows]


async def join(telegram: FakeTelegram, settings: Settings, people: list[int]) -> list[int]:
    """Everybody sends /connect at once; the line they make. Handled concurrently, /connect
    sent at the same moment may be accepted in any order: the line is the order of acceptance."""
    connect_all(telegram, people)
    order: list[int] = []

    async def everybody_in() -> bool:
        order[:] = await line_order(settings)
        return len(order) == len(people)

    deadline = asyncio.get_running_loop().time() + 10
    while not await everybody_in():
        assert asyncio.get_running_loop().time() < deadline, f"in line: {order}"
        await asyncio.sleep(0.05)
    assert sorted(order) == sorted(people)
    return order


async def wait_all_qrs(telegram: FakeTelegram, people: list[int], timeout: float) -> None:
    await in_thread(
        telegram.wait_for, lambda: all(qr_shown_at(telegram, u) for u in people), timeout
    )


def first_snapshot(message: FakeMessage) -> JSON:
    return message.history[0]


async def test_people_in_line_see_their_place_then_their_qr_first_come_first_served(
    queued_bot: RunningBot, settings: Settings, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    wappim.set_free(len(PEOPLE))
    order = await join(telegram, settings, PEOPLE)
    # Everybody is in line at once, but the gateway hands out lines only as turns come.
    await wait_until(lambda: placeholder(telegram, order[-1]), 10)
    assert len(wappim.requests_to("chat/spare")) <= 2
    await wait_all_qrs(telegram, PEOPLE, timeout=len(PEOPLE) * GAP + 15)

    # The first is not in a queue: as before, a text and then the QR photo.
    first = telegram.messages(order[0])
    assert "free WhatsApp slot" in (first[0].history[0]["text"] or "")
    assert placeholder(telegram, order[0]) is None
    # The last three wait longer than 2.5 s: one photo each, that becomes their QR.
    for user in order[-3:]:
        photo = placeholder(telegram, user)
        assert photo is not None, f"user {user} was not told their place"
        assert len(telegram.messages(user)) == 1, telegram.dump()
        told = places(photo)
        assert "about" in told[0][1] and "Cancel" in str(photo.history[0]["reply_markup"])
        # Edited as the line moved: the place goes down, at most one edit a second.
        numbers = [place_in(caption) for _, caption in told]
        assert numbers == sorted(numbers, reverse=True)
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(told)]
        assert all(gap >= PACE.edit_every - 0.05 for gap in gaps), gaps
        now = telegram.message(user, photo.message_id)
        assert QR in (now.caption or "")
        instance = await instance_of(settings, user)
        assert decode_qr(now.photo or b"") in wappim.instance(instance).qrs
    last = placeholder(telegram, order[-1])
    assert last is not None and len(places(last)) >= 2, "the last one's place was never updated"

    # First come, first served, at the pace: QRs in the order of the line; a spare line taken
    # per turn, turns GAP apart.
    shown = [qr_shown_at(telegram, user) or 0.0 for user in order]
    assert shown == sorted(shown)
    spares = sorted(r.at for r in wappim.requests_to("chat/spare"))
    assert len(spares) == len(PEOPLE)
    # (A turn late on a loaded machine is caught up, up to WINDOW: two turns may then come
    # GAP - WINDOW apart, never more of them than the pace allows.)
    gaps = [b - a for a, b in itertools.pairwise(spares)]
    assert all(gap >= GAP - WINDOW - 0.3 for gap in gaps), spares
    assert sum(gaps) >= (len(PEOPLE) - 1) * GAP - WINDOW - 0.3, spares
    tickets = await db(settings, lambda: ConnectTicket.all().order_by("id"))
    admitted = [t.admitted_at for t in tickets]
    assert all(admitted) and admitted == sorted(admitted)  # type: ignore[type-var]


async def test_cancel_while_waiting_leaves_the_line_and_takes_nothing(
    queued_bot: RunningBot, settings: Settings, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    people = PEOPLE[:5]
    wappim.set_free(len(people))
    order = await join(telegram, settings, people)
    leaving, behind = order[3], order[4]
    photo = await wait_until(lambda: placeholder(telegram, leaving), 10)
    telegram.press(leaving, photo.message_id, "cancel")
    await in_thread(telegram.wait_message, leaving, "Connecting cancelled")
    assert not telegram.message(leaving, photo.message_id).buttons

    stayed = [u for u in people if u != leaving]
    await wait_all_qrs(telegram, stayed, timeout=len(people) * GAP + 15)
    await asyncio.sleep(GAP + 0.5)  # a turn more: the cancelled attempt's, were it still there
    assert qr_shown_at(telegram, leaving) is None
    assert len(wappim.requests_to("chat/spare")) == len(stayed)
    # The one behind moved up past the empty place.
    told = placeholder(telegram, behind)
    if told is not None and len(places(told)) >= 2:
        assert place_in(places(told)[-1][1]) < place_in(places(told)[0][1])
    tickets = await db(settings, lambda: ConnectTicket.filter(user_id=leaving).all())
    assert [t.state.value for t in tickets] == ["cancelled"]
    # Out of the line, the person may join again.
    again = await reply(telegram, leaving, "/connect", QR, timeout=15)
    assert again.photo


async def test_a_restart_keeps_the_line_and_its_order(
    queued_bot: RunningBot, settings: Settings, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    wappim.set_free(len(PEOPLE))
    await join(telegram, settings, PEOPLE)
    await wait_until(lambda: sum(bool(placeholder(telegram, u)) for u in PEOPLE) >= 3, 10)
    before = {u: placeholder(telegram, u) for u in PEOPLE if placeholder(telegram, u)}
    await queued_bot.restart()

    await wait_all_qrs(telegram, PEOPLE, timeout=len(PEOPLE) * GAP + 20)
    shown = [qr_shown_at(telegram, user) or 0.0 for user in await line_order(settings)]
    assert shown == sorted(shown), "the order of the line was lost"
    for user, photo in before.items():  # the photo told before the restart became the QR
        assert photo is not None  # (which may have expired since: CONNECT_TIMEOUT is short here)
        history = telegram.message(user, photo.message_id).history
        assert any(QR in (snapshot["caption"] or "") for snapshot in history)
    assert len(wappim.requests_to("chat/spare")) == len(PEOPLE)


async def test_a_command_is_answered_while_many_people_connect(
    settings: Settings, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    """Telegram takes 4 calls a second here, and two dozen QRs rotating every half second want
    ten times that: the budget is used up. An answer to someone's /help still goes next."""
    pace = Pace(telegram_rate=4.0, calls_per_attempt=1.0, tell_after=2.0, edit_every=1.0)
    running = RunningBot(settings, telegram, pace=pace)
    await running.start()
    try:
        people = [4001 + n for n in range(24)]
        wappim.set_free(len(people))
        connect_all(telegram, people)
        await in_thread(
            telegram.wait_for,
            lambda: sum(1 for u in people if qr_shown_at(telegram, u)) >= 6,
            30,
        )
        await asyncio.sleep(2)
        asked = time.monotonic()
        calls_before = sum(1 for c in telegram.calls if asked - 2 <= c.at < asked)
        answer = await reply(telegram, OTHER_USER, "/help", "What I can do", timeout=10)
        waited = answer.history[0]["at"] - asked
        print(f"\n/help answered in {waited:.2f} s; {calls_before / 2:.1f} calls/s before")
        assert calls_before >= 2 * 0.75 * pace.telegram_rate, "the budget was not used up"
        assert waited < 1.5
    finally:
        await running.stop()
