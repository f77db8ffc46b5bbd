"""The team inbox over a wapp.im line, end to end: three members, invites, queue cards reaching
everyone, two Takes at once (one owner), answers by reply (with a signature), transfer to a
member and to an area, close and re-queue, and a removed member who sees nothing more. Run flat
and threaded (the cards stay in the general part of the chat; a taken customer's conversation
goes on in the taker's topic: see test_threads.py for what happens there)."""

from __future__ import annotations

import asyncio
import re

import pytest

from bot.config import Settings
from bot.storage.models import DeskContact
from tests.conftest import OTHER_USER, USER, RunningBot, db, in_thread, wait_until
from tests.e2e.test_send import link
from tests.fakes.telegram import FakeMessage, FakeTelegram
from tests.fakes.wappim import FakeWappim

THIRD = 3003
OUTSIDER = 4004
CUSTOMER = "79001234567"
NAMES = {USER: "Ann", OTHER_USER: "Bob", THIRD: "Carl", OUTSIDER: "Dave"}
FLAT_ONLY = pytest.mark.parametrize("threaded", [False], ids=["flat"])


@pytest.fixture(params=[False, True], ids=["flat", "threads"])
def threaded(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def said(telegram: FakeTelegram, user: int, text: str, reply_to: int | None = None) -> int:
    """The member writes (as Telegram names them: the desk shows and signs with that name)."""
    return telegram.send_text(user, text, first_name=NAMES[user], reply_to=reply_to)


async def answer_to(telegram: FakeTelegram, user: int, text: str, contains: str) -> FakeMessage:
    sent = said(telegram, user, text)
    return await in_thread(telegram.wait_message, user, contains, after=sent)


async def card(telegram: FakeTelegram, user: int, contains: str, after: int = 0) -> FakeMessage:
    return await in_thread(telegram.wait_message, user, contains, after=after)


async def invite(telegram: FakeTelegram) -> str:
    message = await answer_to(telegram, USER, "/desk invite", "start=desk-")
    found = re.search(r"start=(desk-[A-Za-z0-9_-]+)", message.content)
    assert found
    return found.group(1)


async def team(telegram: FakeTelegram, wappim: FakeWappim) -> int:
    """Ann links a line, makes it a desk, Bob and Carl join by invite links."""
    instance = await link(telegram, wappim, USER, name="Shop", number="79990000001")
    await answer_to(telegram, USER, "/desk on", "team desk")
    for member in (OTHER_USER, THIRD):
        token = await invite(telegram)
        await answer_to(telegram, member, f"/start {token}", "You joined")
    return instance


async def test_three_members_share_a_line(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    instance = await team(telegram, wappim)
    # A used link admits nobody.
    token = await invite(telegram)
    await answer_to(telegram, OUTSIDER, f"/start {token}", "You joined")
    await answer_to(telegram, USER, "/desk members", "Dave")
    await answer_to(telegram, OUTSIDER, f"/start {token}", "already used")

    # A customer writes: a card with Take reaches every member.
    wappim.receive(instance, phone=CUSTOMER, body="Do you deliver?", sender_name="Maria")
    cards = {u: await card(telegram, u, "Do you deliver?") for u in (USER, OTHER_USER, THIRD)}
    assert all(c.button_data("Take") == cards[USER].button_data("Take") for c in cards.values())

    # Bob and Carl press Take at the same moment: one owner, the others see who.
    take = cards[OTHER_USER].button_data("Take")
    telegram.press(OTHER_USER, cards[OTHER_USER].message_id, take)
    telegram.press(THIRD, cards[THIRD].message_id, take)
    await wait_until(
        lambda: all(telegram.message(u, c.message_id).edits for u, c in cards.items()), 10
    )
    contact = await db(settings, lambda: DeskContact.get(contact=CUSTOMER))
    owner = contact.owner_id  # type: ignore[attr-defined]
    assert owner in (OTHER_USER, THIRD)
    loser = THIRD if owner == OTHER_USER else OTHER_USER
    for user in (USER, loser):
        assert f"Taken by {NAMES[owner]}" in telegram.message(user, cards[user].message_id).content
    assert [label for label, _ in telegram.message(owner, cards[owner].message_id).buttons] == [
        "🔀 Transfer",
        "☑️ Close",
    ]

    # Only the owner answers, by replying; with a signature it ends "— NAME".
    refused = said(telegram, loser, "/desk signature on")
    await card(telegram, loser, "signed", after=refused)
    said(telegram, loser, "me too!", reply_to=cards[loser].message_id)
    await card(telegram, loser, f"{NAMES[owner]} answers this customer")
    await answer_to(telegram, owner, "/desk signature on", "signed")
    said(telegram, owner, "Yes, tomorrow", reply_to=cards[owner].message_id)
    await wait_until(lambda: wappim.sent, 10)
    assert (wappim.sent[-1].chat_id, wappim.sent[-1].body) == (
        f"{CUSTOMER}@c.us",
        f"Yes, tomorrow\n— {NAMES[owner]}",
    )
    assert not any(s.body.startswith("me too") for s in wappim.sent)

    # The customer's next message goes to the owner alone, with Transfer and Close.
    wappim.receive(instance, phone=CUSTOMER, body="Great, 5pm?", sender_name="Maria")
    followup = await card(telegram, owner, "Great, 5pm?")
    assert "Transfer" in followup.buttons[0][0]
    await asyncio.sleep(0.3)
    assert not any("Great, 5pm?" in m.content for m in telegram.messages(loser))

    # Transfer to Ann: she is told, and her reply goes to the customer.
    telegram.press(owner, followup.message_id, followup.button_data("Transfer"))
    chooser = await card(telegram, owner, "Hand it to", after=followup.message_id)
    telegram.press(owner, chooser.message_id, chooser.button_data("Ann"))
    handed = await card(telegram, USER, "handed you the conversation with Maria")
    await card(telegram, owner, "Handed to Ann")  # the transfer is complete (its card is stored)
    said(telegram, USER, "Ann here, 5pm is fine", reply_to=handed.message_id)
    await wait_until(lambda: wappim.sent[-1].body == "Ann here, 5pm is fine", 10)

    # Close: the next message waits in the queue again, as a card for everyone.
    telegram.press(USER, handed.message_id, handed.button_data("Close"))
    await card(telegram, USER, "Closed")
    wappim.receive(instance, phone=CUSTOMER, body="One more question", sender_name="Maria")
    for user in (USER, OTHER_USER, THIRD, OUTSIDER):
        again = await card(telegram, user, "One more question")
        assert "Take" in again.buttons[0][0]


@FLAT_ONLY  # threaded: test_threads.py (desk, blocked)
async def test_areas_transfer_and_removal(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await team(telegram, wappim)
    await answer_to(telegram, USER, "/desk area add Sales", "added")
    await answer_to(telegram, OTHER_USER, "/desk area join Sales", "area “Sales”")
    wappim.receive(instance, phone=CUSTOMER, body="price list please", sender_name="Maria")
    first = await card(telegram, THIRD, "price list please")
    # From a waiting card, Area… moves the customer to the Sales queue: Bob's card only.
    telegram.press(THIRD, first.message_id, first.button_data("Area"))
    chooser = await card(telegram, THIRD, "Hand it to", after=first.message_id)
    telegram.press(THIRD, chooser.message_id, chooser.button_data("Sales"))
    waiting = await card(telegram, OTHER_USER, "is waiting in Sales")
    await asyncio.sleep(0.3)
    assert not any("is waiting in Sales" in m.content for m in telegram.messages(THIRD))
    assert not any("is waiting in Sales" in m.content for m in telegram.messages(USER))
    listed = await answer_to(telegram, OTHER_USER, "/desk queue", "Waiting")
    assert "Maria" in listed.content

    # The owner removes Carl: nothing more reaches him.
    members = await answer_to(telegram, USER, "/desk members", "Carl")
    telegram.press(USER, members.message_id, members.button_data("Carl"))
    await card(telegram, USER, "no longer on the team")
    telegram.press(OTHER_USER, waiting.message_id, waiting.button_data("Take"))
    await wait_until(lambda: telegram.message(OTHER_USER, waiting.message_id).edits, 5)
    taken = telegram.message(OTHER_USER, waiting.message_id)
    telegram.press(OTHER_USER, waiting.message_id, taken.button_data("Close"))
    await card(telegram, OTHER_USER, "Closed")
    before = len(telegram.messages(THIRD))
    wappim.receive(instance, phone="79005556677", body="new customer", sender_name="Olga")
    await card(telegram, USER, "new customer")
    await asyncio.sleep(0.3)
    assert len(telegram.messages(THIRD)) == before


@FLAT_ONLY
async def test_desk_off_gives_everything_back_to_the_owner(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await team(telegram, wappim)
    await answer_to(telegram, USER, "/desk off", "yours alone again")
    wappim.receive(instance, phone=CUSTOMER, body="hello again", sender_name="Maria")
    shown = await card(telegram, USER, "hello again")
    assert not shown.buttons
    await asyncio.sleep(0.3)
    assert not any("hello again" in m.content for m in telegram.messages(OTHER_USER))
    # Only an owner invites: a member without a line of their own is told what is missing.
    await answer_to(telegram, OTHER_USER, "/desk invite", "linked WhatsApp line first")
    await answer_to(telegram, USER, "/desk invite", "not a team desk")


@FLAT_ONLY  # threaded: test_threads.py (desk, blocked)
async def test_the_team_goes_on_when_the_owner_blocked_the_bot(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    instance = await team(telegram, wappim)
    telegram.block(USER)
    wappim.receive(instance, phone=CUSTOMER, body="anyone there?", sender_name="Maria")
    first = await card(telegram, OTHER_USER, "anyone there?")
    await asyncio.sleep(1.5)  # a supervision pass: the line's worker keeps running
    wappim.receive(instance, phone=CUSTOMER, body="hello??", sender_name="Maria")
    await card(telegram, THIRD, "hello??")
    telegram.press(OTHER_USER, first.message_id, first.button_data("Take"))
    await wait_until(lambda: telegram.message(OTHER_USER, first.message_id).edits, 5)
    # Bob's answer is confirmed to Bob, whatever the owner did.
    answer = said(telegram, OTHER_USER, "Yes, Bob here", reply_to=first.message_id)
    await card(telegram, OTHER_USER, "Sent to", after=answer)
    assert wappim.sent[-1].body == "Yes, Bob here"
