"""How many people can connect and send at once: the real bot against the local fakes.

N users send /connect at the same moment; we measure until every one of them sees a QR photo,
then every phone scans and we measure until every one is told "connected", then each sends
M messages and we measure until every confirmation says "Sent". Everything runs on this machine
(the bot, the fake Bot API and the wapp.im emulator share its cores), so the figures are a floor.

    .venv/bin/python -m bench.connect_capacity [--users 100] [--messages 5] [--poll 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "true")

from cryptography.fernet import Fernet

from bot.app import run
from bot.config import Settings
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim, WappimTimeline


async def wait_all(check: object, users: list[int], timeout: float) -> float:
    start = time.perf_counter()
    pending = set(users)
    while pending:
        pending = {u for u in pending if not check(u)}  # type: ignore[operator]
        if time.perf_counter() - start > timeout:
            raise SystemExit(f"{len(pending)} users still waiting after {timeout:.0f}s")
        await asyncio.sleep(0.05)
    return time.perf_counter() - start


def has(telegram: FakeTelegram, user: int, text: str, photo: bool = False) -> bool:
    return any(
        (text in (m.caption or m.text or "")) and (not photo or m.photo is not None)
        for m in telegram.messages(user)
    )


async def main(users: int, messages: int, poll: float) -> None:
    timeline = WappimTimeline(
        init_seconds=1.0, first_qr_seconds=60, rotate_seconds=20, max_qrs=6, pair_seconds=0.5
    )
    telegram, wappim = FakeTelegram(), FakeWappim(instances=users, timeline=timeline, seed=1)
    telegram.start()
    wappim.start()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            telegram_bot_token=telegram.token,
            telegram_api_url=telegram.api_url,
            telegram_file_url=telegram.file_url,
            wapp_api_url=wappim.url,
            database_url=f"sqlite://{Path(tmp) / 'bench.sqlite3'}",
            status_poll_interval=poll,
            encryption_key=Fernet.generate_key().decode(),
            send_rate_per_minute=600,
            log_level="WARNING",
        )
        stop = asyncio.Event()
        bot = asyncio.create_task(run(settings, stop))
        while not telegram.calls_of("deleteWebhook"):
            await asyncio.sleep(0.05)
        ids = [10_000 + i for i in range(users)]

        for user in ids:
            telegram.send_text(user, "/connect")
        qr_time = await wait_all(lambda u: has(telegram, u, "Linked devices", photo=True), ids, 300)

        for inst in wappim.instances():
            if inst.assigned:
                wappim.scan(inst.id, name=f"User {inst.id}", number=f"7999{inst.id:07d}")
        linked_time = await wait_all(lambda u: has(telegram, u, "connected as"), ids, 300)

        for user in ids:
            for n in range(messages):
                telegram.send_text(user, f"/send 89872745052 message {n} from {user}")
        sent_start = time.perf_counter()

        def all_sent(u: int) -> bool:
            return sum("Sent to" in (m.text or "") for m in telegram.messages(u)) >= messages

        send_time = await wait_all(all_sent, ids, 600)
        total = users * messages
        duplicates = total - len({s.body for s in wappim.sent})
        stop.set()
        await bot
    telegram.stop()
    wappim.stop()
    print(
        f"users connecting at once:     {users}  (status poll every {poll}s, emulator start 1.0s)"
    )
    print(f"all QR photos shown after:    {qr_time:.2f}s")
    print(f"all 'connected' after scan:   {linked_time:.2f}s")
    print(
        f"messages sent:                {total} in {send_time:.2f}s ({total / send_time:.0f}/s incl. Telegram confirmations)"
    )
    print(
        f"duplicates at the gateway:    {duplicates}  (elapsed since first /send {time.perf_counter() - sent_start:.1f}s)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--poll", type=float, default=0.5)
    args = parser.parse_args()
    asyncio.run(main(args.users, args.messages, args.poll))
