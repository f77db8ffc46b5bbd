"""Webhook mode, health and metrics through the real bot.

Telegram (the fake) pushes updates to the bot's HTTP server: only with the secret header, garbage
is 400, and an update delivered twice does one thing. Polling comes back after a webhook run;
settings that cannot work are refused in one line; /healthz, /readyz and /metrics tell the truth
with no phone number, token or text in them; and a second polling replica is refused while the
first one lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tortoise.context import TortoiseContext

from bot.app import POLLING_LEASE, StartupError, _claim_polling
from bot.config import WAPP_TEST_TOKEN, Settings
from bot.services.health import Readiness
from bot.services.leases import Leases
from bot.storage.db import close_db, init_db, tortoise_config
from bot.storage.models import Lease, User
from tests.conftest import USER, RunningBot, db, in_thread, make_settings, reply, wait_until
from tests.e2e.test_send import link
from tests.fakes.server import free_port
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim

ROOT = Path(__file__).resolve().parents[2]  # `python -m bot` runs from the project root
HOOK_SECRET = "hook-secret-0123456789"
WEBHOOK_SECRET = "tg-webhook_Secret-0123456789"
PHONE = "89872745052"  # typed by the person; the bot sends to 79872745052
PRETTY = "+7 987 274-50-52"
ACCOUNT = "79991234567"  # the linked WhatsApp account
CONTACT = "79001234567"  # writes to the linked account
GREETING = "First step: /connect"
HELP = "What I can do"
POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgres")
postgres_only = pytest.mark.skipif(
    not POSTGRES, reason="needs TEST_DATABASE_URL=postgres://… (replicas share a server database)"
)


def webhook_settings(
    telegram: FakeTelegram, wappim: FakeWappim, database_url: str, tmp_path: Path, **extra: Any
) -> Settings:
    port = free_port()
    return make_settings(
        telegram,
        wappim,
        database_url,
        tmp_path,
        http_host="127.0.0.1",
        http_port=port,
        hook_secret=HOOK_SECRET,
        telegram_webhook_url=f"http://127.0.0.1:{port}/telegram/hook",
        telegram_webhook_secret=WEBHOOK_SECRET,
        **extra,
    )


@pytest.fixture
async def hooked(
    telegram: FakeTelegram, wappim: FakeWappim, database_url: str, tmp_path: Path
) -> AsyncIterator[RunningBot]:
    """The bot in webhook mode (RunningBot waits for its setWebhook)."""
    running = RunningBot(webhook_settings(telegram, wappim, database_url, tmp_path), telegram)
    await running.start()
    yield running
    await running.stop()


def server(bot: RunningBot) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{bot.settings.http_port}", timeout=10)


def text_update(update_id: int, message_id: int, text: str, user: int = USER) -> dict[str, Any]:
    """A person's private text message as Telegram POSTs it (for requests the test makes itself)."""
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": {"id": user, "type": "private", "first_name": "Test"},
        "from": {"id": user, "is_bot": False, "first_name": "Test", "language_code": "en"},
        "text": text,
    }
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"update_id": update_id, "message": message}


async def post_update(
    bot: RunningBot, body: bytes | dict[str, Any], secret: str | None = WEBHOOK_SECRET
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    path = "/telegram/hook"
    async with server(bot) as http:
        return await http.post(path, content=content, headers=headers)


def confirmed(telegram: FakeTelegram) -> set[int]:
    """The update ids the webhook has taken (answered 2xx) so far."""
    return {d.update_id for d in telegram.webhook_deliveries if d.ok}


def times_confirmed(telegram: FakeTelegram, update_id: int) -> int:
    return sum(1 for d in telegram.webhook_deliveries if d.ok and d.update_id == update_id)


async def push_text(telegram: FakeTelegram, text: str) -> int:
    """The person writes `text` and the webhook takes it; returns the update id."""
    known = confirmed(telegram)
    telegram.send_text(USER, text)
    fresh: set[int] = await wait_until(lambda: confirmed(telegram) - known)
    return max(fresh)


def count(telegram: FakeTelegram, contains: str) -> int:
    return sum(1 for m in telegram.messages(USER) if contains in m.content)


async def settle(telegram: FakeTelegram) -> None:
    """Let anything a duplicate would have started show: one more round trip through the
    webhook, then a short pause (handling runs in the background)."""
    await reply(telegram, USER, "/start", GREETING)
    await asyncio.sleep(0.3)


# --------------------------------------------------------------------------- webhook mode


async def test_webhook_mode_sets_the_hook_and_a_whole_session_comes_through_it(
    hooked: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    [call] = telegram.calls_of("setWebhook")
    assert call.ok
    assert call.params["url"] == hooked.settings.telegram_webhook_url
    assert call.params["secret_token"] == WEBHOOK_SECRET
    assert call.params["allowed_updates"] == ["message", "callback_query"]
    assert (telegram.webhook_url, telegram.webhook_secret) == (
        hooked.settings.telegram_webhook_url,
        WEBHOOK_SECRET,
    )

    greeting = await reply(telegram, USER, "/start", GREETING)
    assert "Hi!" in greeting.content
    await link(telegram, wappim, name="Hooked", number=ACCOUNT)
    chats = await reply(telegram, USER, "/chats", "Hooked")
    query = telegram.press(USER, chats.message_id, chats.button_data("Hooked"))  # callback_query
    await wait_until(
        lambda: any(a["callback_query_id"] == query for a in telegram.callback_answers)
    )
    await reply(telegram, USER, f"/send {PHONE} through the webhook", f"Sent to {PRETTY}")
    assert [(m.chat_id, m.body) for m in wappim.sent] == [
        ("79872745052@c.us", "through the webhook")
    ]

    # Five updates, each taken at the first POST (the fake records an answer once it read it).
    await wait_until(lambda: not telegram.pending_updates)
    assert [(d.update_id, d.status) for d in telegram.webhook_deliveries] == [
        (update_id, 200) for update_id in range(1, 6)
    ]
    assert telegram.calls_of("getUpdates") == [], "webhook mode never polls"
    assert telegram.calls_of("deleteWebhook") == []


async def test_the_webhook_refuses_strangers_and_garbage(
    hooked: RunningBot, telegram: FakeTelegram, settings: Settings
) -> None:
    greeting = text_update(900_000_001, 500_001, "/start")
    missing = await post_update(hooked, greeting, secret=None)
    wrong = await post_update(hooked, greeting, secret=WEBHOOK_SECRET + "x")
    wrong_and_garbage = await post_update(hooked, b"\x00{not json", secret="nope")
    assert (missing.status_code, wrong.status_code, wrong_and_garbage.status_code) == (403,) * 3

    garbage = [
        b"\x00{not json",
        b"",
        b"[1, 2, 3]",
        b'"an update"',
        json.dumps({"message": greeting["message"]}).encode(),  # no update_id
        json.dumps({**greeting, "update_id": "900000001"}).encode(),  # not an integer
        json.dumps({"update_id": 900_000_002, "message": {"text": "no chat"}}).encode(),
    ]
    for body in garbage:
        answer = await post_update(hooked, body)
        assert answer.status_code == 400, body

    # Nothing happened: no reply, nobody registered, and the update id is not used up.
    assert telegram.messages(USER) == []
    assert await db(settings, lambda: User.all().count()) == 0
    # The answer does not wait for the handling: Telegram's reply is slow here, the POST is not.
    telegram.set_delay("sendMessage", 1.5)
    started = time.monotonic()
    right = await post_update(hooked, greeting)
    assert (right.status_code, right.json()) == (200, {"ok": True})
    assert time.monotonic() - started < 1.0
    await in_thread(telegram.wait_message, USER, GREETING)
    telegram.set_delay("sendMessage", 0)
    assert count(telegram, GREETING) == 1


async def test_an_update_delivered_twice_does_one_thing(
    hooked: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    await link(telegram, wappim, number=ACCOUNT)

    # Telegram sends a /send again (its answer came late, say): one WhatsApp message.
    update_id = await push_text(telegram, f"/send {PHONE} only once")
    await in_thread(telegram.wait_message, USER, f"Sent to {PRETTY}")
    telegram.redeliver(update_id)
    await wait_until(lambda: times_confirmed(telegram, update_id) == 2)
    # … and a /help, which no outbox row would de-duplicate: one answer.
    help_id = await push_text(telegram, "/help")
    await in_thread(telegram.wait_message, USER, HELP)
    telegram.redeliver(help_id)
    await wait_until(lambda: times_confirmed(telegram, help_id) == 2)
    await settle(telegram)
    assert [m.body for m in wappim.sent] == ["only once"]
    assert count(telegram, f"Sent to {PRETTY}") == 1
    assert count(telegram, HELP) == 1

    # The same update POSTed twice at once (two replicas behind a balancer would see this).
    update = text_update(900_000_010, 500_010, "/send +49 1521 6896607 twice at once")
    first, second = await asyncio.gather(post_update(hooked, update), post_update(hooked, update))
    assert (first.status_code, second.status_code) == (200, 200)
    await in_thread(telegram.wait_message, USER, "Sent to +49 1521 6896607")
    again = await post_update(hooked, update)  # and once more, later
    assert again.status_code == 200
    await settle(telegram)
    assert [m.body for m in wappim.sent] == ["only once", "twice at once"]
    assert count(telegram, "Sent to +49 1521 6896607") == 1


async def test_a_redelivery_after_a_restart_is_still_handled_once(
    hooked: RunningBot, telegram: FakeTelegram
) -> None:
    help_id = await push_text(telegram, "/help")
    await in_thread(telegram.wait_message, USER, HELP)
    await hooked.restart()  # a deploy: Telegram may send what the old process took again
    telegram.redeliver(help_id)
    await wait_until(lambda: times_confirmed(telegram, help_id) == 2)
    await settle(telegram)
    assert count(telegram, HELP) == 1


async def test_polling_after_a_webhook_run_drops_the_hook_and_loses_nothing(
    hooked: RunningBot, telegram: FakeTelegram
) -> None:
    await reply(telegram, USER, "/start", GREETING)
    await hooked.stop()
    # Written while no process listens: the pushes are refused and the update waits.
    waiting = telegram.send_text(USER, "/help")
    await wait_until(lambda: any(not d.ok for d in telegram.webhook_deliveries))

    plain = hooked.settings.model_copy(
        update={"telegram_webhook_url": None, "telegram_webhook_secret": None}
    )
    polling = RunningBot(plain, telegram)
    await polling.start()  # waits for PTB's deleteWebhook before its first getUpdates
    try:
        assert telegram.webhook_url is None
        [dropped] = telegram.calls_of("deleteWebhook")
        assert dropped.ok and not dropped.params.get("drop_pending_updates")
        await in_thread(telegram.wait_message, USER, HELP, after=waiting)
        await reply(telegram, USER, "/start", GREETING)
        assert count(telegram, HELP) == 1
        assert any(c.ok for c in telegram.calls_of("getUpdates"))
    finally:
        await polling.stop()


# --------------------------------------------------------------------------- refused settings

TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuvwxyz"
WEBHOOK_URL = "https://bot.example.com/telegram"


@pytest.mark.parametrize(
    ("env", "name"),
    [
        pytest.param(
            {"TELEGRAM_WEBHOOK_URL": WEBHOOK_URL, "HTTP_PORT": "8080", "HOOK_SECRET": HOOK_SECRET},
            "TELEGRAM_WEBHOOK_SECRET",
            id="webhook-without-secret",
        ),
        pytest.param(
            {
                "TELEGRAM_WEBHOOK_URL": WEBHOOK_URL,
                "TELEGRAM_WEBHOOK_SECRET": "has spaces/and?slashes",
                "HTTP_PORT": "8080",
                "HOOK_SECRET": HOOK_SECRET,
            },
            "TELEGRAM_WEBHOOK_SECRET",
            id="webhook-secret-telegram-refuses",
        ),
        pytest.param(
            {"TELEGRAM_WEBHOOK_URL": WEBHOOK_URL, "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET},
            "HTTP_PORT",
            id="webhook-without-server",
        ),
        pytest.param({"HTTP_PORT": "8080"}, "HOOK_SECRET", id="server-without-hook-secret"),
        pytest.param(
            {"DATABASE_URL": "postgres://bot:pg-password@127.0.0.1:9/bot"},
            "ENCRYPTION_KEY",
            id="postgres-without-key",
        ),
    ],
)
def test_settings_that_cannot_work_are_refused_in_one_line(
    tmp_path: Path, env: dict[str, str], name: str
) -> None:
    data = tmp_path / "data"
    process = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": "http://127.0.0.1:9/bot",  # never reached: refused before
            "DATABASE_URL": f"sqlite://{data}/bot.sqlite3",
            **env,
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
    )
    stderr = process.stderr.decode()
    assert process.returncode == 2, stderr
    assert process.stdout == b""
    [line] = stderr.splitlines()
    assert line.startswith("bot: configuration error: ") and name in line
    for secret in (TOKEN, "TEST-token", HOOK_SECRET, WEBHOOK_SECRET, "pg-password", "spaces/and"):
        assert secret not in stderr
    assert not data.exists(), "nothing is written before the settings are good"


# --------------------------------------------------------------------------- health and metrics


def samples(page: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
    }


async def test_healthz_readyz_and_metrics_tell_the_truth_without_secrets(
    telegram: FakeTelegram, wappim: FakeWappim, database_url: str, tmp_path: Path
) -> None:
    # One message a minute per line: the second /send waits in the outbox while we look.
    settings = webhook_settings(telegram, wappim, database_url, tmp_path, send_rate_per_minute=1)
    running = RunningBot(settings, telegram)
    await running.start()
    try:
        async with server(running) as http:
            alive, ready = await http.get("/healthz"), await http.get("/readyz")
            assert (alive.status_code, alive.text) == (200, "ok\n")
            assert (ready.status_code, ready.text) == (200, "ready\n")
            before = samples((await http.get("/metrics")).text)

            instance = await link(telegram, wappim, name="Metered", number=ACCOUNT)
            first, second = "first secret words", "second secret words"
            await reply(telegram, USER, f"/send {PHONE} {first}", f"Sent to {PRETTY}")
            await reply(telegram, USER, f"/send {PHONE} {second}", f"Queued for {PRETTY}")
            said = "incoming private words"
            wappim.receive(instance, phone=CONTACT, body=said, sender_name="Zinaida Secretname")
            await in_thread(telegram.wait_message, USER, said)

            page = await http.get("/metrics")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/plain; version=")
        after = samples(page.text)
    finally:
        await running.stop()

    def grew(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        assert key in after, f"{name}{labels} is not in /metrics"
        return after[key] - before.get(key, 0.0)

    def now(name: str) -> float:
        return after[(name, frozenset())]

    sent = {"gateway": "wapp.im", "method": "sendMessage"}
    assert grew("bot_telegram_updates_total", kind="message") == 3  # /connect and two /send
    assert grew("bot_gateway_calls_total", **sent, outcome="ok") == 1
    assert grew("bot_gateway_call_seconds_bucket", **sent, le="+Inf") == 1
    assert grew("bot_gateway_call_seconds_count", **sent) == 1
    assert grew("bot_connect_flows_total", outcome="linked") == 1
    assert grew("bot_messages_total", status="sent") == 1
    assert grew("bot_incoming_forwarded_total", gateway="wappim") == 1
    assert now("bot_outbox_queued") == 1
    assert 0 < now("bot_outbox_oldest_queued_seconds") < 60

    instance_token = wappim.instance(instance).token
    for secret in (
        telegram.token,
        telegram.token.split(":")[1],
        instance_token,
        wappim.instance(instance).chat_key,
        WAPP_TEST_TOKEN,
        WEBHOOK_SECRET,
        HOOK_SECRET,
        ACCOUNT,
        ACCOUNT[1:],
        "79872745052",
        "9872745052",
        CONTACT,
        CONTACT[1:],
        "Secretname",
        "secret words",
        "private words",
    ):
        assert secret not in page.text, f"{secret!r} is in /metrics"


async def test_readiness_names_the_problem_in_one_line(tmp_path: Path, database_url: str) -> None:
    """Readiness against real connections: a database that cannot be opened, a good one before
    Telegram answered, a good one after. (The whole server with a database going away is the
    PostgreSQL test below; an open SQLite file cannot be taken away from the process.)"""

    async def problem(url: str, telegram_reached: bool) -> str | None:
        async with TortoiseContext() as ctx:
            await ctx.init(config=tortoise_config(url))
            try:
                readiness = Readiness()
                readiness.telegram_reached = telegram_reached
                return await readiness.problem()
            finally:
                await ctx.close_connections()

    def isolated(url: str, telegram_reached: bool) -> Awaitable[str | None]:
        return asyncio.create_task(problem(url, telegram_reached))

    gone = f"sqlite://{tmp_path}/no/such/folder/bot.sqlite3"
    assert await isolated(gone, True) == "the database does not answer (OperationalError)"
    assert await isolated(database_url, False) == "Telegram has not been reached yet"
    assert await isolated(database_url, True) is None


@postgres_only
async def test_readyz_is_503_with_a_reason_while_the_database_refuses_and_200_after(
    hooked: RunningBot, database_url: str
) -> None:
    import asyncpg

    name = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(os.environ["TEST_DATABASE_URL"])
    try:
        async with server(hooked) as http:
            assert (await http.get("/readyz")).status_code == 200
            # The database goes away for this bot: its connections are cut, new ones refused.
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                name,
            )
            down = await http.get("/readyz")
            assert down.status_code == 503
            assert down.text.startswith("not ready: the database does not answer (")
            assert down.text.count("\n") == 1 and down.text.endswith(")\n")
            assert (await http.get("/healthz")).status_code == 200  # the process still runs
            metrics = await http.get("/metrics")
            assert metrics.status_code == 200  # stale figures rather than none

            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await wait_for_status(http, "/readyz", 200)
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()


async def wait_for_status(http: httpx.AsyncClient, path: str, status: int) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while (await http.get(path)).status_code != status:
        assert asyncio.get_running_loop().time() < deadline, f"{path} never answered {status}"
        await asyncio.sleep(0.1)


# --------------------------------------------------------------------------- one polling replica
# With SQLite there is one process per database file by design: the bot clears every lease at
# start (a crashed run's claims are void), so "another replica" cannot exist there. The start-up
# refusal is therefore shown end to end on PostgreSQL, where replicas share the database; the
# claim itself (`_claim_polling`) is also checked directly, on whichever database the suite uses.


async def migrated(database_url: str) -> None:
    """Create the schema in a Tortoise context of its own (the bot's stays untouched)."""

    async def migrate() -> None:
        await init_db(database_url)
        await close_db()

    if database_url.startswith("sqlite://"):
        Path(database_url.removeprefix("sqlite://")).parent.mkdir(parents=True, exist_ok=True)
    await asyncio.create_task(migrate())


class OtherReplica:
    """A replica in polling mode elsewhere: it holds the polling lease and renews it as the bot
    does (`Leases.renew`, every lease_seconds / 3) until it dies; dying (`kill`) just stops the
    renewal, without handing the lease back (kill -9)."""

    def __init__(self, database_url: str, lease_seconds: float) -> None:
        self.database_url = database_url
        self.leases = Leases(lease_seconds, holder="other-replica")
        self._dead = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        holding = asyncio.Event()
        task = self._task = asyncio.create_task(self._live(holding))
        await wait_until(lambda: holding.is_set() or task.done())
        if task.done():
            await task  # re-raises what stopped it

    async def _live(self, holding: asyncio.Event) -> None:
        async with TortoiseContext() as ctx:
            await ctx.init(config=tortoise_config(self.database_url))
            try:
                assert await self.leases.claim(POLLING_LEASE)
                holding.set()
                while not self._dead.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._dead.wait(), self.leases.seconds / 3)
                    if not self._dead.is_set():
                        await self.leases.renew()
            finally:
                await ctx.close_connections()

    async def kill(self) -> None:
        self._dead.set()
        if self._task is not None:
            await self._task


async def lease_row(settings: Settings) -> Lease | None:
    return await db(settings, lambda: Lease.get_or_none(key=POLLING_LEASE))


@postgres_only
async def test_a_second_polling_replica_is_refused_until_the_first_one_dies(
    settings: Settings, telegram: FakeTelegram
) -> None:
    settings = settings.model_copy(update={"lease_seconds": 1.0})
    await migrated(settings.database_url)
    other = OtherReplica(settings.database_url, 1.0)
    await other.start()
    second = RunningBot(settings, telegram)
    try:
        with pytest.raises(StartupError) as refused:
            await second.start()
        line = str(refused.value)
        assert line.startswith("another replica is already polling Telegram")
        assert "TELEGRAM_WEBHOOK_URL" in line and "\n" not in line
        assert telegram.calls_of("getUpdates") == [] and telegram.calls_of("deleteWebhook") == []
        held = await lease_row(settings)
        assert held is not None and held.holder == "other-replica"
        assert held.expires_at > datetime.now(UTC), "still renewed by its holder"
    finally:
        await other.kill()

    # The first replica died without a word: its claim goes stale and the next start takes it.
    stale = await lease_row(settings)
    assert stale is not None and stale.holder == "other-replica"
    third = RunningBot(settings, telegram)
    await third.start()
    try:
        taken = await lease_row(settings)
        assert taken is not None and taken.holder not in ("other-replica", "")
        await reply(telegram, USER, "/start", GREETING)
        await asyncio.sleep(0.5)  # a renewal (every lease_seconds / 3) keeps it ours
        renewed = await lease_row(settings)
        assert renewed is not None and renewed.holder == taken.holder
        assert renewed.expires_at > taken.expires_at
    finally:
        await third.stop()
    assert await lease_row(settings) is None, "a clean stop hands the claim back"


async def test_claim_polling_refuses_a_live_holder_and_waits_out_a_dead_one(
    database_url: str,
) -> None:
    await migrated(database_url)
    other = OtherReplica(database_url, 0.5)
    await other.start()

    async def claim(stop: asyncio.Event | None = None) -> bool:
        async with TortoiseContext() as ctx:
            await ctx.init(config=tortoise_config(database_url))
            try:
                return await _claim_polling(
                    Leases(0.5, holder="this-replica"), stop or asyncio.Event()
                )
            finally:
                await ctx.close_connections()

    def isolated(stop: asyncio.Event | None = None) -> Awaitable[bool]:
        return asyncio.create_task(claim(stop))

    try:
        with pytest.raises(StartupError, match="another replica is already polling Telegram"):
            await isolated()
        asked_to_stop = asyncio.Event()
        waiting = isolated(asked_to_stop)
        await asyncio.sleep(0.2)
        asked_to_stop.set()
        assert await waiting is False  # Ctrl+C while waiting: no claim, no error
    finally:
        await other.kill()
    started = time.monotonic()
    assert await isolated() is True  # the claim ran out (0.5 s) and is taken over
    assert time.monotonic() - started < 2.5
