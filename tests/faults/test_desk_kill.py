"""`kill -9` of the bot between an HCI Take request and HCI's answer: after the restart the
customer has exactly one owner, and the Take reached HCI once (the bot checks the contact's
operatorId in HCI before it would call again)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import OTHER_USER, USER
from tests.fakes.hci import CONTROLLER_PORT, HCI_TOKEN, MANAGER_NUMBER, FakeHci
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim
from tests.faults.test_kill import BotProcess

CUSTOMER = "5511988887777"


@pytest.fixture
def hci() -> Iterator[FakeHci]:
    fake = FakeHci()
    fake.start()
    yield fake
    fake.stop()


def test_kill_between_the_take_request_and_hcis_answer(
    telegram: FakeTelegram, wappim: FakeWappim, hci: FakeHci, tmp_path: Path
) -> None:
    area = hci.add_area("Ventas")
    ann, bob = hci.add_operator("Ann", area), hci.add_operator("Bob", area)
    env = {
        "HCI_API_URL": hci.url,
        "HCI_TOKEN": HCI_TOKEN,
        "HCI_MANAGER_NUMBER": MANAGER_NUMBER,
        "HCI_CONTROLLER_PORT": CONTROLLER_PORT,
        "ADMIN_USER_IDS": str(USER),
    }
    process = BotProcess(telegram, wappim, tmp_path, env=env)
    try:
        process.start()
        telegram.send_text(USER, "/connect hci", first_name="Ann")
        telegram.wait_message(USER, "connected as")
        telegram.send_text(OTHER_USER, "/start", first_name="Bob")
        telegram.wait_message(OTHER_USER, "Hi")
        for user, operator in ((USER, ann), (OTHER_USER, bob)):
            sent = telegram.send_text(USER, f"/desk operator {user} {operator}", first_name="Ann")
            telegram.wait_message(USER, "answers as HCI operator", after=sent)
        telegram.wait_for(
            lambda: len(hci.requests_with("POST", "api/area/operator")) >= 2, 10
        )  # a poll after the mapping: both are in the area
        hci.customer_writes(CUSTOMER, "¿Hay envío?", name="María")
        card = telegram.wait_message(OTHER_USER, "Hay envío", timeout=15)
        hci.delay_next("PUT /api/user/contact/operator/my", 1.5)
        telegram.press(OTHER_USER, card.message_id, card.button_data("Take"))
        telegram.wait_for(lambda: hci.requests_with("PUT", "api/user/contact/operator/my"), 10)
        process.kill()  # HCI has the request; the bot never sees the answer
        telegram.wait_for(lambda: hci.contact(CUSTOMER).operator_id == bob, 10)
        process.start()
        # The restarted bot settles the Take by asking HCI, without a second Take.
        hci.customer_writes(CUSTOMER, "¿y el precio?", name="María")
        telegram.wait_message(OTHER_USER, "y el precio", timeout=15)
        assert len(hci.requests_with("PUT", "api/user/contact/operator/my")) == 1
        assert not any("y el precio" in m.content for m in telegram.messages(USER))
        process.stop()
        assert "Traceback" not in process.stderr()
    finally:
        if process.proc is not None:
            process.proc.kill()
            process.proc.wait(10)
