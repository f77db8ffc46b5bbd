"""A bulk send survives `kill -9` of the real `python -m bot`: after the restart it goes on where
it was, every recipient reaches the gateway exactly once, the one whose request was in flight is
reported as unknown (progress, summary, report) and not sent again, and the progress message is
still the same one, edited.

On SQLite (the process's own file) and, with TEST_DATABASE_URL, on PostgreSQL, where the dead
process's leases run out (LEASE_SECONDS 3) before the restarted one takes its work over."""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import USER
from tests.fakes.telegram import FakeMessage, FakeTelegram
from tests.fakes.wappim import FakeWappim
from tests.faults.test_kill import BotProcess, link

TYPED = [f"8916555{i:04d}" for i in range(30)]
DIGITS = [f"7916555{i:04d}" for i in range(30)]


@pytest.fixture
def bulk_process(
    telegram: FakeTelegram, wappim: FakeWappim, tmp_path: Path, database_url: str
) -> Iterator[BotProcess]:
    postgres = os.environ.get("TEST_DATABASE_URL", "").startswith("postgres")
    bot = BotProcess(
        telegram,
        wappim,
        tmp_path,
        database_url=database_url if postgres else None,
        env={"SEND_RATE_PER_MINUTE": "600", "LEASE_SECONDS": "3"},
    )
    yield bot
    if bot.proc is not None:
        bot.proc.kill()
        bot.proc.wait(10)


def said(telegram: FakeTelegram, text: str, contains: str) -> FakeMessage:
    """The person writes `text`; the bot's answer that contains `contains`."""
    after = max((m.message_id for m in telegram.messages(USER)), default=0)
    telegram.send_text(USER, text)
    return telegram.wait_message(USER, contains, after=after)


def test_kill_9_mid_bulk_then_every_recipient_exactly_once(
    bulk_process: BotProcess, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    process = bulk_process
    process.start()
    link(telegram, wappim)
    said(telegram, "/bulk", "Send the list")
    said(telegram, "\n".join(["phone; name", *(f"{p}; N{i}" for i, p in enumerate(TYPED))]), "Now")
    preview = said(telegram, "Hi {name}", "preview")
    telegram.press_button(USER, preview.message_id, "Start")
    telegram.wait_for(lambda: len(wappim.sent) >= 10, 15)
    # The next request is held by the gateway: the bot dies while it is in flight.
    in_flight = len(wappim.requests_to("sendMessage")) + 1
    wappim.delay_next("sendMessage", 1.5)
    telegram.wait_for(lambda: len(wappim.requests_to("sendMessage")) >= in_flight, 5)
    progress_before = telegram.message(USER, preview.message_id)
    assert "📤" in progress_before.content
    process.kill()
    telegram.wait_for(lambda: len(wappim.sent) >= in_flight, 5)  # the gateway completes it
    sent_at_kill = len(wappim.sent)

    process.start()

    def summary() -> FakeMessage | None:
        shown = telegram.message(USER, preview.message_id)
        return shown if "Bulk send finished" in shown.content else None

    done = telegram.wait_for(summary, 30)
    bodies = Counter(m.chat_id for m in wappim.sent)
    assert sorted(bodies) == sorted(f"{d}@c.us" for d in DIGITS)
    assert set(bodies.values()) == {1}, "a recipient got the bulk twice"
    assert len(wappim.sent) > sent_at_kill, "it went on after the restart"
    # The same progress message, edited after the restart; the in-flight one is unknown.
    assert done.edits > progress_before.edits
    assert "Sent: 29" in done.content and "Unknown: 1" in done.content
    assert "Send again to the unknown (1)" in str(done.buttons)
    others = [m for m in telegram.messages(USER) if m.message_id != preview.message_id]
    assert not [m for m in others if any("📤" in (h.get("text") or "") for h in m.history)], (
        "a second progress message"
    )
    report = telegram.wait_message(USER, "report", kind="document")
    assert report.data is not None
    rows = list(csv.DictReader(io.StringIO(report.data.decode("utf-8-sig"))))
    assert Counter(row["state"] for row in rows) == {"sent": 29, "unknown": 1}
    process.stop()
    assert "Traceback" not in process.stderr()
