"""A gateway outage with the real figures: the queue waits and drains once, in order.

The real bot (`bot.app.run`, default settings: SEND_RETRY_BACKOFF 2 s, SEND_RETRY_MAX_WAIT 60 s,
SEND_RETRY_FOR 1 h, the transport's breaker pausing calls for 30 s after 5 failures in a row)
against the fake Bot API and the wapp.im emulator in this process. wapp.im answers every call
with 503 for `--outage` seconds (default 120); meanwhile one person queues `--messages` sends
(default 20) to four recipients. We print how long the outage lasted, how many messages were
delivered and duplicated, whether each recipient got them in the order written, how each
confirmation read, and how long the queue took to drain once wapp.im was back.

    .venv/bin/python -m bench.outage [--outage 120] [--messages 20]

`tests/faults/test_outage.py` is the same scenario with every wait scaled down.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "true")

from cryptography.fernet import Fernet

from bench.harness import machine
from bot.app import run
from bot.config import Settings
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim, WappimTimeline

USER = 1001
RECIPIENTS = ["79001230001", "79001230002", "79001230003", "79001230004"]
WAITING = "waiting for wapp.im"


async def until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.05)


async def main(outage: float, messages: int) -> None:
    telegram = FakeTelegram()
    wappim = FakeWappim(
        timeline=WappimTimeline(init_seconds=0.1, first_qr_seconds=0.3, rotate_seconds=5),
        seed=3,
    )
    telegram.start()
    wappim.start()
    folder = Path(tempfile.mkdtemp(prefix="outage-"))
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        telegram_bot_token=telegram.token,
        telegram_api_url=telegram.api_url,
        telegram_file_url=telegram.file_url,
        wapp_api_url=wappim.url,
        database_url=f"sqlite://{folder}/bot.sqlite3",
        encryption_key=Fernet.generate_key().decode(),
        status_poll_interval=0.2,
        link_check_interval=3600,
    )
    stop = asyncio.Event()
    bot = asyncio.create_task(run(settings, stop))
    try:
        await until(lambda: telegram.calls_of("deleteWebhook"), 30, "start")
        telegram.send_text(USER, "/connect")
        await until(lambda: any(m.photo for m in telegram.messages(USER)), 30, "the QR")
        instance = next(i.id for i in wappim.instances() if i.assigned)
        wappim.scan(instance, name="Shop", number="79991234567")
        await until(
            lambda: any("connected as" in m.content for m in telegram.messages(USER)), 30, "link"
        )

        wappim.fail_next("", status=503, times=10**9)
        down_at = time.monotonic()
        texts = {f"note {n:02d}": RECIPIENTS[n % len(RECIPIENTS)] for n in range(messages)}
        for text, recipient in texts.items():
            telegram.send_text(USER, f"/send {recipient} {text}")
            await asyncio.sleep(outage / 4 / messages)  # written during the first quarter

        def confirmations() -> list[str]:
            return [
                m.content
                for m in telegram.messages(USER)
                if any(WAITING in (h["text"] or "") for h in m.history)
            ]

        await asyncio.sleep(max(0.0, down_at + outage - time.monotonic()))
        during = len([m for m in wappim.sent if m.body in texts])
        wappim.clear_faults("")
        back_at = time.monotonic()
        await until(
            lambda: sum(c.startswith("✓") for c in confirmations()) == messages,
            outage + 180,
            "every confirmation says it was sent",
        )
        drained = time.monotonic() - back_at
        await asyncio.sleep(1.0)
        counts = Counter(m.body for m in wappim.sent if m.body in texts)
        order: dict[str, list[str]] = defaultdict(list)
        for message in wappim.sent:
            if message.body in texts:
                order[message.chat_id.removesuffix("@c.us")].append(message.body)
        in_order = all(order[r] == [t for t, to in texts.items() if to == r] for r in RECIPIENTS)
        print(f"machine: {machine()}")
        print(f"outage: {outage:.0f} s of 503 on every call ({len(wappim.requests)} requests)")
        print(f"messages queued: {messages}; sent during the outage: {during}")
        print(f"delivered: {len(counts)}; duplicated: {sum(c - 1 for c in counts.values())}")
        print(f"in order per recipient: {in_order}")
        print(f"confirmations that said '{WAITING}': {len(confirmations())}, all now ✓")
        floor = (messages - 1) * 60 / settings.send_rate_per_minute
        print(
            f"drained {drained:.1f} s after wapp.im was back (pacing alone: {floor:.0f} s at "
            f"{settings.send_rate_per_minute} a minute; retries are at most 60 s apart)"
        )
    finally:
        stop.set()
        await asyncio.wait_for(bot, 30)
        telegram.stop()
        wappim.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=120.0)
    parser.add_argument("--messages", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.outage, args.messages))
