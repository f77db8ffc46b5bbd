"""How fast incoming WhatsApp messages reach Telegram: the real bot against the local fakes.

N lines are linked at the wapp.im emulator directly (spare, QR, scan: no Telegram involved) and
written into the bot's database as linked; the bot then polls every line, waiting one
INCOMING_POLL_INTERVAL between empty polls. R messages a second in all arrive on random lines; a
message's latency runs from the moment the emulator holds it to the moment the fake Bot API
receives the sendMessage that shows it. A line that has just been polled is looked at again one
interval later, so the tail cannot beat one interval; the target is p99 at most 1.25 intervals.
Everything runs in this one process (the bot, the fake Bot API and the wapp.im emulator share its
cores and its GIL), so the latencies are an upper bound.

With --threads the bot's Threaded Mode is on (the fake Bot API with topics in private chats): each
line's contact first writes once (a warm-up: every conversation gets its topic), then one message
in ten comes from a new contact (a topic is made: createForumTopic and its header before the
message). Besides the latency it prints the Telegram calls per incoming message, for the
conversations that already have their topic (target: at most 1) and for the new ones.

    .venv/bin/python -m bench.incoming_latency [--lines 100] [--rate 10] [--seconds 30]
                                               [--interval 2.0] [--threads]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import re
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "true")

import httpx
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot.app import run
from bot.config import Settings
from bot.gateways.base import LineState
from bot.storage.crypto import TokenCipher
from bot.storage.db import close_db, init_db
from bot.storage.models import User, WhatsAppChat
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import TASK_TOKEN, FakeWappim, WappimTimeline

TARGET = 1.25  # p99 in poll intervals, the target
CALLS_TARGET = 1.0  # Telegram calls per message once its conversation has its topic (threads)
FIRST_USER = 20_000  # the Telegram id of the first line's owner; one owner per line
BENCH_TEXT = re.compile(r"\bbench (\d+)\b")
NEW_EVERY = 10  # threads: one message in ten from a new contact
HEADER = "Write here to answer"  # in the first message of every new topic


async def wait_status(http: httpx.AsyncClient, instance: int, token: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        reply = await http.get(f"instance{instance}/status", params={"token": token, "full": 1})
        if reply.json().get("accountStatus") == status:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"instance {instance} not {status!r} after 30s: {reply.text[:200]}")
        await asyncio.sleep(0.05)


async def link_at_gateway(wappim: FakeWappim, count: int) -> list[tuple[int, str]]:
    """(instance id, token) of `count` instances, each shown a QR and scanned by its phone."""
    headers = {"X-Tasktest-Token": TASK_TOKEN}
    async with httpx.AsyncClient(base_url=wappim.url + "/", headers=headers) as http:
        spares = []
        for _ in range(count):
            body = (await http.get("chat/spare", params={"crm": "TEST", "domain": "test"})).json()
            spares.append((int(body["id"]), str(body["token"])))
        await asyncio.gather(*(wait_status(http, i, t, "got qr code") for i, t in spares))
        for instance, _ in spares:
            wappim.scan(instance, name=f"Line {instance}", number=f"7999{instance:07d}")
        await asyncio.gather(*(wait_status(http, i, t, "authenticated") for i, t in spares))
    return spares


async def store_lines(database_url: str, key: str, spares: list[tuple[int, str]]) -> None:
    """The bot's database as after N successful /connect: one owner and one linked line each."""
    await init_db(database_url)
    try:
        cipher, now = TokenCipher(key.encode()), datetime.now(UTC)
        for n, (instance, token) in enumerate(spares):
            owner = await User.create(id=FIRST_USER + n)
            await WhatsAppChat.create(
                owner=owner,
                gateway="wappim",
                instance_id=str(instance),
                token_secret=cipher.encrypt(token),
                state=LineState.AUTHORIZED,
                state_raw="authenticated",
                account_name=f"Line {instance}",
                account_phone=f"7999{instance:07d}",
                linked_at=now,
            )
    finally:
        await close_db()


def polled(wappim: FakeWappim, since: float = 0.0) -> list[int]:
    """The instance of every `messages` poll that reached the emulator after `since`."""
    return [
        int(m[1])
        for r in wappim.requests_to("/messages")
        if r.at >= since and (m := re.search(r"instance(\d+)/", r.path))
    ]


def known_contact(instance: int) -> str:
    """The contact who writes to a line again and again (threads: its topic exists)."""
    return f"7900{instance:07d}"


def inject(
    wappim: FakeWappim,
    instances: list[int],
    rate: float,
    seconds: float,
    *,
    new_every: int = 0,
) -> tuple[list[float], set[int]]:
    """Messages `bench 0`, `bench 1`, … evenly spaced, each on a random line, from the line's
    known contact, or with `new_every`, one in new_every (at random) from a contact never seen
    before. When each was in, and the numbers of those from new contacts."""
    rng, held, new = random.Random(1), [], set()
    start = time.monotonic()
    for n in range(round(rate * seconds)):
        time.sleep(max(0.0, start + n / rate - time.monotonic()))
        instance = rng.choice(instances)
        phone = known_contact(instance)
        if new_every and rng.randrange(new_every) == 0:
            phone = f"7901{n:07d}"
            new.add(n)
        wappim.receive(instance, phone=phone, sender_name="Bench", body=f"bench {n}")
        held.append(time.monotonic())
    return held, new


async def warm_up(wappim: FakeWappim, telegram: FakeTelegram, instances: list[int]) -> None:
    """Threads: each line's known contact writes once, and its topic is made."""
    for n, instance in enumerate(instances):
        wappim.receive(
            instance, phone=known_contact(instance), sender_name="Bench", body=f"warm {n}"
        )
    deadline = time.monotonic() + 120
    while len(telegram.calls_of("createForumTopic")) < len(instances):
        if time.monotonic() > deadline:
            raise SystemExit("the warm-up's topics were not all made in 120 s")
        await asyncio.sleep(0.2)
    while sum(
        "warm " in str(c.params.get("text", "")) for c in telegram.calls_of("sendMessage")
    ) < len(instances):
        await asyncio.sleep(0.2)


def calls_per_message(
    telegram: FakeTelegram, since: float, new: set[int]
) -> tuple[float, float, dict[str, int]]:
    """Telegram calls (getUpdates aside) per message from a known contact and per message from
    a new one, during the run: a message's own sendMessage; a new contact's createForumTopic and
    header; anything else (a rename…) is counted against the known ones, to be safe."""
    known_calls = new_calls = 0
    methods: dict[str, int] = {}
    for call in telegram.calls:
        if call.at < since or call.method == "getUpdates":
            continue
        methods[call.method] = methods.get(call.method, 0) + 1
        text = str(call.params.get("text", ""))
        match = BENCH_TEXT.search(text)
        if call.method == "createForumTopic" or HEADER in text or (match and int(match[1]) in new):
            new_calls += 1
        else:
            known_calls += 1
    messages = len(arrivals(telegram))
    known = max(1, messages - len(new))
    return known_calls / known, new_calls / max(1, len(new)), methods


def arrivals(telegram: FakeTelegram) -> dict[int, list[float]]:
    """Message number → when each sendMessage showing it reached the fake Bot API."""
    seen: dict[int, list[float]] = {}
    for call in telegram.calls_of("sendMessage"):
        if call.ok and (m := BENCH_TEXT.search(str(call.params.get("text", "")))):
            seen.setdefault(int(m[1]), []).append(call.at)
    return seen


def percentile(ordered: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def machine_cpu_seconds() -> float:
    """CPU time every process on the machine used since boot (Linux's /proc/stat), else NaN."""
    try:
        ticks = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    except OSError:
        return math.nan
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, ticks)
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


async def main(lines: int, rate: float, seconds: float, interval: float, threads: bool) -> None:
    timeline = WappimTimeline(
        init_seconds=0.1, first_qr_seconds=60, rotate_seconds=20, max_qrs=6, pair_seconds=0.1
    )
    telegram = FakeTelegram(threaded=threads)
    wappim = FakeWappim(instances=lines, timeline=timeline, seed=1)
    telegram.start()
    wappim.start()
    spares = await link_at_gateway(wappim, lines)
    instances = [instance for instance, _ in spares]
    key = Fernet.generate_key().decode()
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite://{Path(tmp) / 'bench.sqlite3'}"
        # In a task of its own: Tortoise keeps its connections in a context variable.
        await asyncio.create_task(store_lines(database_url, key, spares))
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            telegram_bot_token=SecretStr(telegram.token),
            telegram_api_url=telegram.api_url,
            telegram_file_url=telegram.file_url,
            wapp_api_url=wappim.url,
            database_url=database_url,
            encryption_key=SecretStr(key),
            incoming_poll_interval=interval,
            link_check_interval=3600,
            log_level="WARNING",
        )
        stop = asyncio.Event()
        bot = asyncio.create_task(run(settings, stop))
        deadline = time.monotonic() + 60
        while len(set(polled(wappim))) < lines:
            if bot.done() or time.monotonic() > deadline:
                await bot  # a start-up error shows here
                raise SystemExit(f"only {len(set(polled(wappim)))} of {lines} lines polled")
            await asyncio.sleep(0.2)
        if threads:
            await warm_up(wappim, telegram, instances)
        await asyncio.sleep(max(3.0, 2 * interval))  # warm-up: the pollers settle into their pace

        started, cpu = time.monotonic(), cpu_seconds(resource.RUSAGE_SELF)
        machine = machine_cpu_seconds()
        loop_cpu = cpu_seconds(resource.RUSAGE_THREAD)  # this thread runs the bot's event loop
        held, new = await asyncio.to_thread(
            inject, wappim, instances, rate, seconds, new_every=NEW_EVERY if threads else 0
        )
        grace = time.monotonic() + 3 * interval + 5
        while len(arrivals(telegram)) < len(held) and time.monotonic() < grace:
            await asyncio.sleep(0.2)
        seen = arrivals(telegram)
        per_known, per_new, methods = calls_per_message(telegram, started, new)
        wall = time.monotonic() - started
        cpu = cpu_seconds(resource.RUSAGE_SELF) - cpu
        others = max(0.0, machine_cpu_seconds() - machine - cpu)  # /proc/stat ticks are coarse
        loop_cpu = cpu_seconds(resource.RUSAGE_THREAD) - loop_cpu
        polls = len(polled(wappim, since=started))
        stop.set()
        await asyncio.wait_for(bot, 30)
    telegram.stop()
    wappim.stop()

    latencies = sorted(seen[n][0] - at for n, at in enumerate(held) if n in seen)
    fresh = sorted(seen[n][0] - at for n, at in enumerate(held) if n in seen and n in new)
    lost = len(held) - len(latencies)
    duplicated = sum(len(times) - 1 for times in seen.values())
    mode = "threads: a topic per conversation" if threads else "flat"
    print(f"lines linked:              {lines}  (INCOMING_POLL_INTERVAL {interval}s; {mode})")
    print(f"messages:                  {len(held)}  ({rate:g}/s in all for {seconds:g}s)")
    print(f"lost / duplicated:         {lost} / {duplicated}  (grace {3 * interval + 5:g}s)")
    print(
        f"polls of the gateway:      {polls / wall:.1f}/s  (expected {lines / interval + rate:.1f}"
        "/s: each line once an interval, and once more right after each message)"
    )
    if not latencies:
        raise SystemExit("no message reached Telegram")
    print("latency          seconds   intervals")
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)):
        value = percentile(latencies, q)
        print(f"  {name}           {value:7.3f}   {value / interval:9.2f}")
    p99 = percentile(latencies, 0.99) / interval
    verdict = "met" if p99 <= TARGET and not lost else "MISSED"
    print(f"target p99 <= {TARGET} intervals: {verdict}  (p99 {p99:.2f}, lost {lost})")
    if threads:
        if fresh:
            print(
                f"  from new contacts ({len(fresh)}): p50 {percentile(fresh, 0.5) / interval:.2f}, "
                f"p99 {percentile(fresh, 0.99) / interval:.2f} intervals (their topic made first)"
            )
        calls = ", ".join(f"{name} {count}" for name, count in sorted(methods.items()))
        print(f"Telegram calls in the run:  {calls}")
        verdict = "met" if per_known <= CALLS_TARGET else "MISSED"
        print(
            f"Telegram calls per message: {per_known:.2f} once the conversation has its topic "
            f"(target <= {CALLS_TARGET:g}: {verdict}), {per_new:.2f} from a new contact"
        )
    print(
        f"CPU time:                  {cpu:.1f}s in {wall:.1f}s for the whole process (bot and "
        f"fakes), {loop_cpu:.1f}s of it on the bot's event loop (SQLite runs in its own thread)"
    )
    print(f"machine:                   {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"other processes' CPU time: {others:.1f}s meanwhile (more than ~1s: the figures are noisy)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--threads", action="store_true", help="Threaded Mode on: topics")
    args = parser.parse_args()
    asyncio.run(main(args.lines, args.rate, args.seconds, args.interval, args.threads))
