"""A gateway outage does not fail the queue: messages wait for the gateway for SEND_RETRY_FOR,
each one's confirmation says so once, and when the gateway is back they go out once each, in
order per recipient, paced.

The outage here lasts OUTAGE seconds, several times what the old rule (SEND_MAX_ATTEMPTS tries
with backoff) took to fail every message; the retry waits and the breaker's cooldown are scaled
down alike (`bench/outage.py` runs the same with the real figures: a 2-minute outage).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

import pytest

from bot.config import Settings
from bot.storage.models import MessageStatus, OutgoingMessage
from tests.conftest import USER, RunningBot, db, in_thread, make_settings
from tests.e2e.test_send import link
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim
from tests.faults.ledger import ledger

OUTAGE = 6.0  # seconds; the old rule failed every message within ~1.5 s at these waits
RECIPIENTS = ["79001230001", "79001230002", "79001230003", "79001230004"]
WAITING = "waiting for wapp.im, will send when it is back"


@pytest.fixture
def settings(
    telegram: FakeTelegram, wappim: FakeWappim, database_url: str, tmp_path: Path
) -> Settings:
    return make_settings(
        telegram,
        wappim,
        database_url,
        tmp_path,
        send_retry_backoff=0.1,
        send_retry_max_wait=1.0,
        send_max_attempts=5,
        send_rate_per_minute=600,  # 0.1 s apart: the drain is visibly paced
        gateway_breaker_seconds=1.0,
    )


async def test_twenty_queued_messages_outlive_an_outage_and_go_out_once_in_order(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    await link(telegram, wappim)
    wappim.fail_next("", status=503, times=10**9)  # every call of the bot, until it ends
    started = time.monotonic()
    texts: dict[str, str] = {}  # text → recipient, in the order written
    sent_ids = []
    for n in range(20):
        recipient = RECIPIENTS[n % len(RECIPIENTS)]
        text = f"outage note {n:02d}"
        texts[text] = recipient
        sent_ids.append(telegram.send_text(USER, f"/send {recipient} {text}"))

    # Every message says once that it waits for the gateway (its own confirmation).
    def waiting() -> list[int]:
        return [
            m.message_id for m in telegram.messages(USER) if WAITING in (m.history[0]["text"] or "")
        ]

    await in_thread(telegram.wait_for, lambda: len(waiting()) == len(texts), 15)
    await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - started)))
    assert not wappim.sent, "nothing reached WhatsApp during the outage"
    rows = await db(settings, lambda: OutgoingMessage.filter(text__in=list(texts)))
    assert all(r.status is MessageStatus.QUEUED for r in rows), [r.status for r in rows]
    wappim.clear_faults("")
    back = time.monotonic()

    await in_thread(
        telegram.wait_for,
        lambda: sum("✓ Sent to" in telegram.message(USER, i).content for i in waiting()) == 20,
        30,
    )
    drained = time.monotonic() - back
    await asyncio.sleep(0.3)  # time for a second WhatsApp message, if one were coming
    bodies = [m.body for m in wappim.sent]
    assert sorted(bodies) == sorted(texts), "each message delivered once"
    by_recipient: dict[str, list[str]] = defaultdict(list)
    for message in wappim.sent:
        by_recipient[message.chat_id.removesuffix("@c.us")].append(message.body)
    for recipient in RECIPIENTS:
        written = [text for text, to in texts.items() if to == recipient]
        assert by_recipient[recipient] == written, "in the order written, per recipient"
    # Paced: 20 messages at 600 a minute take at least 1.9 s after the gateway came back.
    at_gateway = [r.at for r in wappim.requests_to("sendMessage") if r.at >= back]
    assert max(at_gateway) - min(at_gateway) >= 19 * 0.1 * 0.9
    # One confirmation per message: waiting, then edited to ✓, never a message per retry.
    confirmations = [telegram.message(USER, i) for i in waiting()]
    assert all(c.content.startswith("✓ Sent to") for c in confirmations)
    since_first_send = [m for m in telegram.messages(USER) if m.message_id > sent_ids[0]]
    assert len(since_first_send) == len(confirmations) == 20
    figures = await ledger(settings, telegram, wappim, *texts)
    assert (figures.accepted, figures.delivered, figures.duplicated) == (20, 20, 0)
    print(
        f"\noutage {OUTAGE:.0f} s, 20 messages: delivered 20, duplicated 0, "
        f"drained {drained:.2f} s after the gateway came back"
    )
