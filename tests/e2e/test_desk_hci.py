"""The team inbox with HCI Whats Center as its CRM, end to end: an admin links HCI's line, maps
three Telegram users to HCI operators, a waiting customer's card reaches the area's members, two
Takes at once give one owner and one Take request to HCI, the answer goes out base64-encoded,
transfers go to HCI, Close re-queues, an HCI refusal leaves no owner, an unmapped member gets
nothing more, operators mapped while the line is still linking are kept (and a re-mapped one
leaves the first operator's areas), and /desk queue lists a waiting customer to their area."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.storage.models import DeskContact, DeskMemberArea
from tests.conftest import OTHER_USER, USER, RunningBot, db, in_thread, make_settings, wait_until
from tests.fakes.hci import CONTROLLER_PORT, HCI_TOKEN, MANAGER_NUMBER, FakeHci
from tests.fakes.telegram import FakeMessage, FakeTelegram
from tests.fakes.wappim import FakeWappim

THIRD = 3003
CUSTOMER = "5511988887777"
NAMES = {USER: "Ann", OTHER_USER: "Bob", THIRD: "Carl"}
TAKE = "PUT /api/user/contact/operator/my"


@pytest.fixture
def hci() -> Iterator[FakeHci]:
    fake = FakeHci()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
async def hci_bot(
    telegram: FakeTelegram, wappim: FakeWappim, hci: FakeHci, database_url: str, tmp_path: Path
) -> AsyncIterator[RunningBot]:
    settings = make_settings(
        telegram,
        wappim,
        database_url,
        tmp_path,
        hci_api_url=hci.url,
        hci_token=HCI_TOKEN,
        hci_manager_number=MANAGER_NUMBER,
        hci_controller_port=CONTROLLER_PORT,
        admin_user_ids=[USER],
    )
    running = RunningBot(settings, telegram)
    await running.start()
    yield running
    await running.stop()


def said(telegram: FakeTelegram, user: int, text: str, reply_to: int | None = None) -> int:
    return telegram.send_text(user, text, first_name=NAMES[user], reply_to=reply_to)


async def told(telegram: FakeTelegram, user: int, text: str, contains: str) -> FakeMessage:
    sent = said(telegram, user, text)
    return await in_thread(telegram.wait_message, user, contains, after=sent)


async def desk(telegram: FakeTelegram, hci: FakeHci, settings: Settings) -> dict[int, str]:
    """HCI has an area "Ventas" with operators for Ann, Bob and Carl; Ann (an admin) links the
    line and maps them. Returns user → operator id."""
    area = hci.add_area("Ventas")
    operators = {user: hci.add_operator(name, area) for user, name in NAMES.items()}
    await mapped(telegram, settings, operators)
    return operators


async def mapped(telegram: FakeTelegram, settings: Settings, operators: dict[int, str]) -> None:
    """Ann (an admin) links HCI's line and maps each user to their operator; returns once a poll
    of HCI put every one of them in their areas (HCI lists who is where)."""
    await told(telegram, USER, "/connect hci", "connected as")
    for user, operator in operators.items():
        await told(telegram, user, "/start", "Hi")
        await told(telegram, USER, f"/desk operator {user} {operator}", "answers as HCI operator")

    async def in_areas() -> int:
        return len(set(await DeskMemberArea.all().values_list("member_id", flat=True)))

    for _ in range(200):
        if await db(settings, in_areas) == len(operators):
            break
        await asyncio.sleep(0.05)


async def test_three_operators_share_the_hci_line(
    hci_bot: RunningBot, telegram: FakeTelegram, hci: FakeHci, settings: Settings
) -> None:
    operators = await desk(telegram, hci, hci_bot.settings)
    hci.customer_writes(CUSTOMER, "¿Tienen stock?", name="María")
    cards = {
        user: await in_thread(telegram.wait_message, user, "Tienen stock", timeout=15)
        for user in NAMES
    }
    take = cards[OTHER_USER].button_data("Take")
    telegram.press(OTHER_USER, cards[OTHER_USER].message_id, take)
    telegram.press(THIRD, cards[THIRD].message_id, take)
    await wait_until(lambda: all(telegram.message(u, c.message_id).edits for u, c in cards.items()))
    contact = await db(hci_bot.settings, lambda: DeskContact.get(contact=CUSTOMER))
    owner = contact.owner_id  # type: ignore[attr-defined]
    assert owner in (OTHER_USER, THIRD)
    assert len(hci.requests_with("PUT", "api/user/contact/operator/my")) == 1, "one Take to HCI"
    assert hci.contact(CUSTOMER).operator_id == operators[owner]

    # The owner answers by reply: content is the text in base64, content2 the text.
    said(telegram, owner, "Sí, quedan 3", reply_to=cards[owner].message_id)
    await wait_until(lambda: hci.sent, 10)
    sent = hci.sent[-1]
    assert (sent.operator_id, sent.contact_number, sent.text) == (
        operators[owner],
        CUSTOMER,
        "Sí, quedan 3",
    )
    assert base64.b64decode(sent.fields["content"]).decode() == "Sí, quedan 3"
    assert sent.content2 == "Sí, quedan 3"

    # Transfer to Ann: HCI hears of it; her card lets her answer.
    telegram.press(owner, cards[owner].message_id, f"dt:{contact.id}")
    chooser = await in_thread(telegram.wait_message, owner, "Hand it to")
    telegram.press(owner, chooser.message_id, chooser.button_data("Ann"))
    handed = await in_thread(telegram.wait_message, USER, "handed you the conversation")
    await in_thread(telegram.wait_message, owner, "Handed to Ann")
    assert hci.contact(CUSTOMER).operator_id == operators[USER]
    # Close (ours alone): HCI still names Ann, but the next message waits in the queue.
    telegram.press(USER, handed.message_id, handed.button_data("Close"))
    await in_thread(telegram.wait_message, USER, "Closed", after=handed.message_id)
    hci.customer_writes(CUSTOMER, "otra pregunta", name="María")
    for user in NAMES:
        again = await in_thread(telegram.wait_message, user, "otra pregunta", timeout=15)
        assert "Take" in again.buttons[0][0]


async def test_an_hci_refusal_leaves_no_owner_and_is_told(
    hci_bot: RunningBot, telegram: FakeTelegram, hci: FakeHci
) -> None:
    await desk(telegram, hci, hci_bot.settings)
    hci.customer_writes(CUSTOMER, "hola", name="María")
    card = await in_thread(telegram.wait_message, OTHER_USER, "hola", timeout=15)
    hci.refuse_next(TAKE, data="Operator offline")
    telegram.press(OTHER_USER, card.message_id, card.button_data("Take"))
    await in_thread(
        telegram.wait_message, OTHER_USER, "HCI Whats Center said no", after=card.message_id
    )
    contact = await db(hci_bot.settings, lambda: DeskContact.get(contact=CUSTOMER))
    assert contact.owner_id is None  # type: ignore[attr-defined]
    assert hci.contact(CUSTOMER).operator_id == ""
    # A second try works.
    telegram.press(OTHER_USER, card.message_id, card.button_data("Take"))
    await wait_until(lambda: hci.contact(CUSTOMER).operator_id != "", 10)


async def test_an_unmapped_member_gets_nothing_more(
    hci_bot: RunningBot, telegram: FakeTelegram, hci: FakeHci
) -> None:
    await desk(telegram, hci, hci_bot.settings)
    await told(telegram, USER, f"/desk operator {THIRD} off", "no longer an HCI operator")
    await told(telegram, USER, f"/desk operator {THIRD} off", "was not an HCI operator")
    await told(telegram, USER, f"/desk operator {THIRD} {'9' * 33}", "Nothing changed")
    hci.customer_writes(CUSTOMER, "buenas", name="María")
    await in_thread(telegram.wait_message, OTHER_USER, "buenas", timeout=15)
    await asyncio.sleep(0.5)
    assert not any("buenas" in m.content for m in telegram.messages(THIRD))
    refused = await told(telegram, OTHER_USER, f"/desk operator {THIRD} 7", "admins")
    assert "Only the bot's admins" in refused.content


async def test_operators_mapped_while_the_line_links_get_the_first_card(
    hci_bot: RunningBot, telegram: FakeTelegram, hci: FakeHci
) -> None:
    area = hci.add_area("Ventas")
    operators = {user: hci.add_operator(name, area) for user, name in NAMES.items()}
    for user in (OTHER_USER, THIRD):
        await told(telegram, user, "/start", "Hi")
    # The admin does not wait for the line to link before mapping the operators.
    said(telegram, USER, "/connect hci")
    for user, operator in operators.items():
        said(telegram, USER, f"/desk operator {user} {operator}")
    await in_thread(telegram.wait_message, USER, "connected as")
    for operator in operators.values():
        await in_thread(telegram.wait_message, USER, f"as HCI operator {operator}")
    hci.customer_writes(CUSTOMER, "¿Tienen stock?", name="María")
    for user in NAMES:
        await in_thread(telegram.wait_message, user, "Tienen stock", timeout=15)


async def test_a_waiting_customer_is_in_the_queue_of_every_member_of_their_area(
    hci_bot: RunningBot, telegram: FakeTelegram, hci: FakeHci
) -> None:
    team = hci.two_areas()
    await mapped(
        telegram, hci_bot.settings, {USER: team.ana, OTHER_USER: team.bruno, THIRD: team.carla}
    )
    # Telegram stumbles over the first card: the customer still waits, and every card goes out.
    telegram.fail_next("sendMessage", status=502)
    hci.customer_writes(CUSTOMER, "¿Tienen stock?", name="María", area=team.sales)
    cards = {
        user: await in_thread(telegram.wait_message, user, "Tienen stock", timeout=15)
        for user in (USER, THIRD)
    }
    for user in (USER, THIRD):
        assert "María" in (await told(telegram, user, "/desk queue", "aiting")).content
    assert "Nobody" in (await told(telegram, OTHER_USER, "/desk queue", "aiting")).content

    telegram.press(THIRD, cards[THIRD].message_id, cards[THIRD].button_data("Take"))
    await wait_until(lambda: telegram.message(USER, cards[USER].message_id).edits)
    for user in NAMES:
        assert "Nobody" in (await told(telegram, user, "/desk queue", "aiting")).content


async def test_a_remapped_operator_leaves_the_first_operators_areas(
    hci_bot: RunningBot, telegram: FakeTelegram, hci: FakeHci
) -> None:
    team = hci.two_areas()
    await mapped(telegram, hci_bot.settings, {OTHER_USER: team.bruno, THIRD: team.carla})
    # Carl was mapped to the wrong operator: he works in Vendas only.
    await told(telegram, USER, f"/desk operator {THIRD} {team.ana}", "answers as HCI operator")

    async def carls_areas() -> list[str]:
        return list(
            await DeskMemberArea.filter(member__user_id=THIRD).values_list("area__name", flat=True)
        )

    for _ in range(200):
        if await db(hci_bot.settings, carls_areas) == ["Vendas"]:
            break
        await asyncio.sleep(0.05)
    hci.customer_writes(CUSTOMER, "¿Hacen soporte?", name="María", area=team.support)
    await in_thread(telegram.wait_message, OTHER_USER, "Hacen soporte", timeout=15)
    assert "Nobody" in (await told(telegram, THIRD, "/desk queue", "aiting")).content
    assert await db(hci_bot.settings, carls_areas) == ["Vendas"]


@pytest.mark.parametrize("threaded", [True], ids=["threads"])
async def test_in_threaded_mode_the_taker_answers_in_the_customers_topic(
    hci_bot: RunningBot, telegram: FakeTelegram, hci: FakeHci
) -> None:
    operators = await desk(telegram, hci, hci_bot.settings)
    hci.customer_writes(CUSTOMER, "¿Tienen stock?", name="María")
    card = await in_thread(telegram.wait_message, OTHER_USER, "Tienen stock", timeout=15)
    assert card.thread_id is None  # waiting: a card in the general part
    telegram.press(OTHER_USER, card.message_id, card.button_data("Take"))
    topic = await in_thread(telegram.wait_topic, OTHER_USER, "María")
    await in_thread(telegram.wait_message, OTHER_USER, "Tienen stock", thread=topic.thread_id)
    said_id = telegram.send_text(OTHER_USER, "Sí, quedan 3", thread=topic.thread_id)
    await wait_until(lambda: hci.sent, 10)
    sent = hci.sent[-1]
    assert (sent.operator_id, sent.contact_number, sent.content2) == (
        operators[OTHER_USER],
        CUSTOMER,
        "Sí, quedan 3",
    )
    await wait_until(lambda: telegram.reaction(OTHER_USER, said_id) == "👍", 10)
    hci.customer_writes(CUSTOMER, "¡gracias!", name="María")
    await in_thread(
        telegram.wait_message, OTHER_USER, "gracias", thread=topic.thread_id, timeout=15
    )
