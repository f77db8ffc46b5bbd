"""Send throughput, in two parts: the outbox pipeline alone, and /send end to end through Telegram.

(a) The pipeline alone: from an accepted outbox row to the gateway's request. The bot's own
    classes (`SendService`, the wapp.im driver, `TelegramViews`, the database), wired as
    `bot.app` wires them, run in this process; the wapp.im emulator and the fake Bot API run in a
    process of their own (`bench.fakes_process`). LINES linked lines; rows are stored as
    `SendService.accept` stores them, then each is released (`SendService.release`, what the
    /send handler calls next), so the worker is woken the way it is in the bot. Pacing is out of
    the way (SEND_RATE_PER_MINUTE 1,000,000) and python-telegram-bot has no rate limiter: each
    message still costs its confirmation's Bot API call, which the fake answers at once.
    - latency: messages released one by one at `--rate` a second; from the release to the
      request reaching the emulator (one clock for both processes), p50/p99;
    - throughput: `--messages` released at once; messages a second from the first release to
      the last request;
    - the floor: a bare `httpx.AsyncClient` loop over the bot's transport (`bot/transport.py`)
      posting the same sendMessage requests to the same emulator, as many at a time as the
      driver's pool allows (50).
(b) End to end through Telegram: USERS people, each with a linked line, send SENDS /send each at
    the same moment, to the real bot (`python -m bench.bot_process`, with its rate limiter, which
    keeps it under Telegram's 30 calls a second). Reported: Bot API calls per /send (from the
    fake's log; target 1), and /sends confirmed a second as a fraction of 30 (target 0.9).

    .venv/bin/python -m bench.send_throughput [--lines 100] [--messages 5000] [--rate 200]
                                              [--users 200] [--sends 3] [--postgres URL]
                                              [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "true")

import httpx
from cryptography.fernet import Fernet
from pydantic import SecretStr
from telegram.ext import ExtBot

from bench.fakes_process import FakesProcess
from bench.harness import (
    BotProcess,
    bot_env,
    machine,
    percentile,
    postgres_database,
    py_spy,
    sqlite_database,
    stop_on_sigterm,
    store_lines,
)
from bot.app import TELEGRAM_CONNECTIONS, telegram_request
from bot.config import Settings
from bot.gateways.registry import build_gateways
from bot.services.confirmations import Confirmations
from bot.services.leases import Leases
from bot.services.lines import Lines
from bot.services.media_links import MediaLinks
from bot.services.pacing import Pacing
from bot.services.retry_policy import RetryPolicy
from bot.services.sender import SendService
from bot.storage.crypto import TokenCipher
from bot.storage.db import close_db
from bot.storage.models import OutgoingMessage, WhatsAppChat
from bot.telegram.files import TelegramFiles
from bot.telegram.rate_limiter import PriorityRateLimiter
from bot.telegram.views import TelegramViews
from bot.transport import AiohttpTransport
from tests.fakes.wappim import TASK_TOKEN

FIRST_USER = 30_000  # the Telegram id of the first line's owner; one owner per line
RECIPIENT = "79872745052"
TELEGRAM_LIMIT = 30.0  # Bot API calls a second, per bot
SENT = "Sent to"  # in every confirmation of a message the gateway took
POOL = 50  # the driver's connections to a gateway (bot.gateways.http)
HANDLERS = 256  # updates python-telegram-bot handles at once (concurrent_updates=True)
FAST_TIMELINE = {"init_seconds": 0.1, "pair_seconds": 0.1, "first_qr_seconds": 60.0}


@contextlib.contextmanager
def database(postgres: str | None) -> Iterator[str]:
    if postgres:
        with postgres_database(postgres) as url:
            yield url
    else:
        with sqlite_database() as url:
            yield url


# --------------------------------------------------------------------------- (a) the pipeline


async def accepted(count: int, label: str, first_id: int) -> list[OutgoingMessage]:
    """`count` rows as `SendService.accept` leaves them (queued, not yet released), spread
    over the lines; the text names the row so the emulator's log can be matched to it."""
    later = datetime.now(UTC) + timedelta(hours=1)
    chats = await WhatsAppChat.all().order_by("id").values("id", "owner_id")
    rows = [
        OutgoingMessage(
            chat_id=chats[n % len(chats)]["id"],
            # One recipient each (a recipient's messages go out one by one), new in every phase.
            recipient=f"79{first_id % 97:02d}{n:07d}",
            text=f"{label} {n}",
            next_attempt_at=later,
            source_chat_id=chats[n % len(chats)]["owner_id"],
            source_message_id=first_id + n,
        )
        for n in range(count)
    ]
    await OutgoingMessage.bulk_create(rows, batch_size=500)
    return await OutgoingMessage.filter(text__startswith=f"{label} ").order_by("id")


async def wait_sent(fakes: FakesProcess, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while await fakes.acall("sent_count") < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {await fakes.acall('sent_count')} of {count} messages sent")
        await asyncio.sleep(0.05)


async def pipeline(
    fakes: FakesProcess,
    database_url: str,
    lines: int,
    messages: int,
    rate: float,
    profile: Path | None,
) -> dict[str, float]:
    spares = await asyncio.to_thread(fakes.call, "link", lines)
    key = Fernet.generate_key().decode()
    await store_lines(database_url, key, spares, FIRST_USER, stay=True)
    figures: dict[str, float] = {}
    try:
        for limited in (True, False):
            mode = "limited" if limited else "unlimited"
            sender, close = await outbox(fakes, database_url, key, limited)
            try:
                if limited:  # latency: one release at a time, at `rate` a second
                    steady = await accepted(round(rate * 5), "steady", 1)
                    released: dict[str, float] = {}
                    start = time.monotonic()
                    for n, row in enumerate(steady):
                        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
                        released[row.text] = time.monotonic()
                        await sender.release(row)
                    await wait_sent(fakes, len(steady))
                    arrived = dict(await fakes.acall("sent"))
                    latencies = [arrived[text] - at for text, at in released.items()]
                    figures["latency_p50"] = percentile(latencies, 0.5)
                    figures["latency_p99"] = percentile(latencies, 0.99)
                # Throughput: everything released at once.
                burst = await accepted(messages, mode, 1_000_000 * (2 if limited else 3))
                before = await fakes.acall("sent_count")
                spy = py_spy(os.getpid(), 15, profile / f"pipeline-{mode}.txt") if profile else None
                first = time.monotonic()
                await release_all(sender, burst)
                figures[f"release_{mode}"] = time.monotonic() - first
                await wait_sent(fakes, before + len(burst))
                last = max(at for _, at in await fakes.acall("sent", first))
                figures[f"rate_{mode}"] = len(burst) / (last - first)
                calls = await fakes.acall("telegram_calls", first)
                figures[f"calls_{mode}"] = len(calls) / len(burst)
                if spy is not None:
                    spy.wait()
            finally:
                await close()
    finally:
        await close_db()
    figures["bare_rate"] = await bare_loop(fakes, spares, messages)
    return figures


async def release_all(sender: SendService, rows: list[OutgoingMessage]) -> None:
    """Release every row at once, HANDLERS at a time: what that many /send handlers running
    together (python-telegram-bot's concurrent updates) do after accepting their message."""
    slots = asyncio.Semaphore(HANDLERS)

    async def release(row: OutgoingMessage) -> None:
        async with slots:
            await sender.release(row)

    await asyncio.gather(*(release(row) for row in rows))


async def outbox(
    fakes: FakesProcess, database_url: str, key: str, limited: bool
) -> tuple[SendService, Callable[[], Awaitable[None]]]:
    """The outbox as `bot.app` wires it (pacing out of the way), its worker running; and how
    to close it. `limited`: the Bot API calls go through the bot's rate limiter,
    as in the bot (the confirmations trail the gateway calls at 30 a second)."""
    addresses = fakes.addresses
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        telegram_bot_token=SecretStr(addresses.token),
        wapp_api_url=addresses.wapp_url,
        database_url=database_url,
        encryption_key=SecretStr(key),
        send_rate_per_minute=1_000_000,
        send_daily_cap=10**9,
    )
    bot = ExtBot(
        addresses.token,
        base_url=addresses.api_url,
        base_file_url=addresses.file_url,
        request=telegram_request(TELEGRAM_CONNECTIONS),  # the bot's pool and transport
        rate_limiter=PriorityRateLimiter(max_retries=3) if limited else None,
    )
    await bot.initialize()
    gateways = build_gateways(settings)
    views = TelegramViews(bot)
    lines = Lines(gateways, TokenCipher(key.encode()), "wappim")
    sender = SendService(
        lines,
        Confirmations(views, lines, claim_seconds=4 * settings.lease_seconds),
        views,
        TelegramFiles(bot),
        MediaLinks(None),
        Leases(settings.lease_seconds),
        pacing=Pacing(settings.send_rate_per_minute),
        retry=RetryPolicy(
            backoff=settings.send_retry_backoff,
            max_wait=settings.send_retry_max_wait,
            retry_for=settings.send_retry_for,
            max_attempts=settings.send_max_attempts,
        ),
        daily_cap=settings.send_daily_cap,
    )
    await sender.start()

    async def close() -> None:
        await sender.stop()  # confirmations still waiting for the rate limiter are dropped
        for gateway in gateways.values():
            await gateway.aclose()
        await bot.shutdown()

    return sender, close


async def bare_loop(fakes: FakesProcess, spares: list[tuple[int, str]], count: int) -> float:
    """The floor: the same sendMessage requests from a bare client with the bot's own transport
    (`bot/transport.py` under httpx), POOL at a time."""
    before = await fakes.acall("sent_count")
    tokens = dict(spares)
    instances = [instance for instance, _ in spares]
    limits = httpx.Limits(max_connections=POOL, max_keepalive_connections=20)
    async with httpx.AsyncClient(
        base_url=fakes.addresses.wapp_url + "/",
        headers={"X-Tasktest-Token": TASK_TOKEN},
        transport=AiohttpTransport(limits=limits),
    ) as http:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(count):
            queue.put_nowait(n)

        async def worker() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                instance = instances[n % len(instances)]
                reply = await http.post(
                    f"instance{instance}/sendMessage",
                    params={"token": tokens[instance]},
                    data={"phone": RECIPIENT, "body": f"bare {n}"},
                )
                reply.raise_for_status()

        first = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(POOL)))
        elapsed = time.monotonic() - first
    await wait_sent(fakes, before + count)
    return count / elapsed


# --------------------------------------------------------------------------- (b) end to end


def end_to_end(
    fakes: FakesProcess, database_url: str, users: int, sends: int, profile: Path | None
) -> dict[str, float]:
    spares = fakes.call("link", users)
    key = Fernet.generate_key().decode()
    asyncio.run(store_lines(database_url, key, spares, FIRST_USER))
    env = bot_env(
        fakes.addresses,
        database_url,
        encryption_key=key,
        send_rate_per_minute=600,  # pacing out of the way: SENDS messages of one person at once
        incoming_poll_interval=60,  # the lines' incoming pollers: not what is measured
        link_check_interval=3600,
    )
    bot = BotProcess(env, rate_limit=True)
    bot.start()
    try:
        bot.wait_until(lambda: fakes.call("calls_of", "deleteWebhook") > 0, 60)
        time.sleep(1)  # the lines' pollers start
        total = users * sends
        texts = [
            (FIRST_USER + u, f"/send {RECIPIENT} message {s} from {FIRST_USER + u}")
            for s in range(sends)
            for u in range(users)
        ]
        spy = py_spy(bot.pid, 20, profile / "end_to_end.txt") if profile else None
        first = time.monotonic()
        fakes.call("send_texts", texts)
        deadline = first + 60 + total / 10
        while fakes.call("shown_count", SENT, first) < total:
            if time.monotonic() > deadline or not bot.running():
                raise SystemExit(
                    f"{fakes.call('shown_count', SENT, first)} of {total} /send confirmed\n"
                    + bot.log_tail()
                )
            time.sleep(0.1)
        calls = fakes.call("telegram_calls", first)
        confirmed = [c.at for c in calls if c.ok and SENT in c.text]
        elapsed = max(confirmed) - first
        time.sleep(2)  # anything said after the confirmations (there should be nothing)
        calls = fakes.call("telegram_calls", first)
        if spy is not None:
            spy.wait()
    finally:
        bot.stop()
    methods = Counter(c.method for c in calls)
    figures = {"sends": float(total), "elapsed": elapsed, "calls_per_send": len(calls) / total}
    figures.update({f"calls_{m}": n / total for m, n in methods.items()})
    figures["rate"] = total / elapsed
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--sends", type=int, default=3)
    parser.add_argument("--postgres", help="a PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--profile", type=Path, help="a folder for py-spy profiles")
    parser.add_argument("--part", choices=["a", "b", "both"], default="both")
    args = parser.parse_args()
    stop_on_sigterm()
    db_name = "PostgreSQL" if args.postgres else "SQLite"
    print(f"send throughput; machine: {machine()}; database: {db_name}")
    if args.part in ("a", "both"):
        with (
            FakesProcess(instances=args.lines, **FAST_TIMELINE) as fakes,
            database(args.postgres) as url,
        ):
            a = asyncio.run(
                pipeline(fakes, url, args.lines, args.messages, args.rate, args.profile)
            )
        verdict = (
            "met"
            if a["rate_limited"] >= 1000 and a["rate_limited"] >= a["bare_rate"] / 2
            else "MISSED"
        )
        print(
            f"(a) pipeline alone, {args.lines} lines, pacing out of the way, the fakes in another "
            "process"
        )
        print(
            f"    added latency at {args.rate:g} messages/s: p50 "
            f"{a['latency_p50'] * 1000:.1f} ms, p99 {a['latency_p99'] * 1000:.1f} ms "
            "(release → request at the gateway)"
        )
        print(
            f"    {args.messages} messages at once, confirmations through the rate limiter as "
            f"in the bot: {a['rate_limited']:.0f}/s "
            f"(releasing them took {a['release_limited']:.2f} s)"
        )
        print(
            f"    the same, every confirmation sent at once (no rate limiter): "
            f"{a['rate_unlimited']:.0f}/s ({a['calls_unlimited']:.2f} Bot API calls each)"
        )
        print(f"    bare httpx loop, {POOL} at a time: {a['bare_rate']:.0f}/s")
        print(
            f"    target (>= 1,000/s and >= half the bare loop's "
            f"{a['bare_rate'] / 2:.0f}/s): {verdict}"
        )
    if args.part in ("b", "both"):
        with (
            FakesProcess(instances=args.users, **FAST_TIMELINE) as fakes,
            database(args.postgres) as url,
        ):
            b = end_to_end(fakes, url, args.users, args.sends, args.profile)
        fraction = b["rate"] / TELEGRAM_LIMIT
        per = ", ".join(
            f"{k.removeprefix('calls_')} {v:.2f}"
            for k, v in sorted(b.items())
            if k.startswith("calls_") and k != "calls_per_send"
        )
        verdict = "met" if b["calls_per_send"] <= 1.0 and fraction >= 0.9 else "MISSED"
        print(
            f"(b) end to end: {args.users} people x {args.sends} /send at once, the bot with its "
            "rate limiter (Telegram's 30 calls/s)"
        )
        print(f"    Bot API calls per /send: {b['calls_per_send']:.2f} ({per})")
        print(
            f"    {b['sends']:.0f} confirmed in {b['elapsed']:.1f} s: {b['rate']:.1f} /send a "
            f"second = {fraction:.2f} of the ceiling"
        )
        print(f"    target (1 call per /send, >= 0.9 of the ceiling): {verdict}")


if __name__ == "__main__":
    main()
