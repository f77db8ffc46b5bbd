"""What the fault tests count: every accepted /send must end delivered, or failed and told.

`ledger()` counts and asserts that the books balance (nothing lost, nothing twice, every
accepted message delivered or failed-and-told): each test then states its own figures.

`accepted` are OutgoingMessage rows; `delivered` are rows whose text reached the gateway
(wappim.sent); `failed_told` are failed rows whose confirmation message says so ("Not sent to…"
or "don't know whether…"); `lost` is anything else; `duplicated` counts extra copies at the gateway.
Each test uses texts of its own, so a body identifies its row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from bot.config import Settings
from bot.storage.models import MessageStatus, OutgoingMessage
from tests.conftest import USER, db
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim

TOLD = ("Not sent to", "don't know whether")


@dataclass(frozen=True)
class Ledger:
    accepted: int
    delivered: int
    failed_told: int
    lost: int
    duplicated: int

    def assert_balanced(self) -> None:
        assert self.lost == 0, self
        assert self.duplicated == 0, self
        assert self.accepted == self.delivered + self.failed_told, self


async def ledger(
    settings: Settings, telegram: FakeTelegram, wappim: FakeWappim, *texts: str, user: int = USER
) -> Ledger:
    rows = await db(settings, lambda: OutgoingMessage.filter(text__in=list(texts)).all())
    at_gateway = Counter(m.body for m in wappim.sent if m.body in texts)
    delivered = failed_told = lost = 0
    for row in rows:
        if at_gateway[row.text]:
            delivered += 1
        elif row.status is MessageStatus.FAILED and _told(telegram, user, row):
            failed_told += 1
        else:
            lost += 1
    duplicated = sum(count - 1 for count in at_gateway.values() if count > 1)
    books = Ledger(len(rows), delivered, failed_told, lost, duplicated)
    books.assert_balanced()
    return books


def _told(telegram: FakeTelegram, user: int, row: OutgoingMessage) -> bool:
    if row.ui_message_id is None:
        return False
    shown = telegram.message(user, row.ui_message_id).content
    return any(words in shown for words in TOLD)
