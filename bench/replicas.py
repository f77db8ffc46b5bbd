"""Replicas: the same sends with 1 and 2 bot processes on one PostgreSQL database.

Each replica is `python -m bench.bot_process` in webhook mode (the only mode that runs several),
without python-telegram-bot's rate limiter: Telegram's 30 calls a second are per bot, and each
replica's limiter only knows its own calls, so with the limiter the figure would be 30 (or 60,
which Telegram would refuse) whatever the bot can do. The fakes run in a process of their own.

The fake Bot API pushes one update at a time and waits for each answer (Telegram keeps up to 40
in flight), so the pushes go to a small round-robin proxy in this process that answers the fake
at once and forwards each update to the next replica, up to 40 at a time, as Telegram's parallel
deliveries would reach a load balancer.

Two figures for each number of replicas:
- /send end to end: USERS people (a linked line each) send SENDS /send each at once; /sends
  confirmed a second, from the first /send to the last confirmation;
- the outbox alone: MESSAGES accepted rows written straight into the database, due at once;
  messages a second reaching the gateway, all replicas' workers together.

    .venv/bin/python -m bench.replicas [--users 200] [--sends 3] [--messages 3000]
                                       [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import threading
import time
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

from bench.fakes_process import FakesProcess
from bench.harness import (
    DEFAULT_POSTGRES,
    BotProcess,
    bot_env,
    machine,
    postgres_database,
    stop_on_sigterm,
)
from bench.send_throughput import FAST_TIMELINE, FIRST_USER, RECIPIENT, SENT, store_lines
from bot.storage.db import close_db, init_db
from bot.storage.models import OutgoingMessage, WhatsAppChat
from tests.fakes.server import BackgroundServer, free_port

IN_FLIGHT = 40  # updates Telegram pushes at once (setWebhook's default max_connections)


class Proxy:
    """Round-robin in front of the replicas: answers each push at once, forwards it after."""

    def __init__(self) -> None:
        app = web.Application()
        app.router.add_post("/telegram", self._push)
        app.on_cleanup.append(self._close)
        self._server = BackgroundServer(app)
        self.url = self._server.url + "/telegram"
        self.ports: list[int] = []
        self.failed = 0
        self._turn = 0
        self._lock = threading.Lock()
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    async def _push(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-tele")}
        with self._lock:
            port = self.ports[self._turn % len(self.ports)]
            self._turn += 1
        task = asyncio.get_running_loop().create_task(self._forward(port, body, headers))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.json_response({"ok": True})

    async def _forward(self, port: int, body: bytes, headers: dict[str, str]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._slots = asyncio.Semaphore(IN_FLIGHT)
        assert self._slots is not None
        headers["Content-Type"] = "application/json"
        async with self._slots:
            try:
                async with self._session.post(
                    f"http://127.0.0.1:{port}/telegram", data=body, headers=headers
                ) as reply:
                    if reply.status != 200:
                        self.failed += 1
            except aiohttp.ClientError:
                self.failed += 1

    async def _close(self, app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()


def start_replicas(
    fakes: FakesProcess, proxy: Proxy, database_url: str, key: str, count: int
) -> list[BotProcess]:
    secret = secrets.token_urlsafe(16)
    replicas = []
    for _ in range(count):
        port = free_port()
        env = bot_env(
            fakes.addresses,
            database_url,
            encryption_key=key,
            telegram_webhook_url=proxy.url,
            telegram_webhook_secret=secret,
            http_host="127.0.0.1",
            http_port=port,
            hook_secret=secrets.token_urlsafe(16),
            send_rate_per_minute=600,
            incoming_poll_interval=60,
            link_check_interval=3600,
        )
        replica = BotProcess(env, rate_limit=False)
        before = fakes.call("calls_of", "setWebhook")
        replica.start()
        replica.wait_until(lambda b=before: fakes.call("calls_of", "setWebhook") > b, 60)
        proxy.ports.append(port)
        replicas.append(replica)
    return replicas


def end_to_end(fakes: FakesProcess, users: int, sends: int) -> float:
    total = users * sends
    texts = [
        (FIRST_USER + u, f"/send {RECIPIENT} message {s} from {FIRST_USER + u}")
        for s in range(sends)
        for u in range(users)
    ]
    first = time.monotonic()
    fakes.call("send_texts", texts)
    deadline = first + 120
    while (done := fakes.call("shown_count", SENT, first)) < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"{done} of {total} /send confirmed after 120 s")
        time.sleep(0.1)
    confirmed = [c.at for c in fakes.call("telegram_calls", first) if c.ok and SENT in c.text]
    return total / (max(confirmed) - first)


async def write_due(database_url: str, count: int) -> None:
    """`count` accepted rows, due now, spread over the lines."""
    await init_db(database_url)
    try:
        chats = await WhatsAppChat.all().order_by("id").values("id", "owner_id")
        now = datetime.now(UTC)
        await OutgoingMessage.bulk_create(
            [
                OutgoingMessage(
                    chat_id=chats[n % len(chats)]["id"],
                    recipient=RECIPIENT,
                    text=f"outbox {n}",
                    next_attempt_at=now,
                    source_chat_id=chats[n % len(chats)]["owner_id"],
                    source_message_id=5_000_000 + n,
                )
                for n in range(count)
            ],
            batch_size=1000,
        )
    finally:
        await close_db()


def outbox(fakes: FakesProcess, database_url: str, messages: int) -> float:
    before = fakes.call("sent_count")
    first = time.monotonic()
    asyncio.run(write_due(database_url, messages))
    deadline = time.monotonic() + 300
    while fakes.call("sent_count") < before + messages:
        if time.monotonic() > deadline:
            raise SystemExit(f"outbox: {fakes.call('sent_count') - before} of {messages} sent")
        time.sleep(0.1)
    last = max(at for _, at in fakes.call("sent", first))
    return messages / (last - first)


def run_once(count: int, users: int, sends: int, messages: int, server: str) -> tuple[float, float]:
    from cryptography.fernet import Fernet

    with (
        FakesProcess(instances=users, **FAST_TIMELINE) as fakes,
        postgres_database(server) as database_url,
        contextlib.ExitStack() as stack,
    ):
        key = Fernet.generate_key().decode()
        spares = fakes.call("link", users)
        asyncio.run(store_lines(database_url, key, spares))
        proxy = Proxy()
        proxy.start()
        stack.callback(proxy.stop)
        for replica in start_replicas(fakes, proxy, database_url, key, count):
            stack.callback(replica.stop)
        time.sleep(1)
        sends_rate = end_to_end(fakes, users, sends)
        outbox_rate = outbox(fakes, database_url, messages)
        if proxy.failed:
            print(f"  ({proxy.failed} forwards to a replica failed)")
        return sends_rate, outbox_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--sends", type=int, default=3)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    args = parser.parse_args()
    stop_on_sigterm()
    results = {n: run_once(n, args.users, args.sends, args.messages, args.postgres) for n in (1, 2)}
    print(
        f"replicas on PostgreSQL, webhook mode, no rate limiter; machine: {machine()} "
        "(PostgreSQL, the fakes and every replica share them)"
    )
    print(
        f"  replicas | /send end to end ({args.users} x {args.sends}) | outbox alone "
        f"({args.messages} rows)"
    )
    for n, (sends_rate, outbox_rate) in results.items():
        print(f"  {n:8d} | {sends_rate:10.0f} /s {'':19s}| {outbox_rate:6.0f} messages/s")


if __name__ == "__main__":
    main()
