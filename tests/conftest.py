"""Shared fixtures: the fakes (real HTTP servers on 127.0.0.1), a database per test (SQLite file,
or PostgreSQL when TEST_DATABASE_URL points at a server), and the real bot running against them."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import zxingcpp
from cryptography.fernet import Fernet
from PIL import Image

# PTB 22 warns on reading RetryAfter.retry_after unless timedelta mode is on; warnings are errors here.
os.environ.setdefault("PTB_TIMEDELTA", "true")

from bot.app import run
from bot.config import Settings
from bot.services.admission import Pace
from tests.fakes.raw_http import RawHttpServer
from tests.fakes.telegram import FakeMessage, FakeTelegram
from tests.fakes.wappim import FakeWappim, WappimTimeline

T = TypeVar("T")
USER = 1001
OTHER_USER = 2002


@pytest.fixture
def threaded() -> bool:
    """The bot owner's Threaded Mode in @BotFather (the fake's `threaded`); with the default
    THREADS=auto the bot then puts each conversation in a topic. A module that runs in both
    modes overrides this fixture with params (see `tests/e2e/test_two_way.py`)."""
    return False


@pytest.fixture
def telegram(threaded: bool) -> Iterator[FakeTelegram]:
    fake = FakeTelegram(threaded=threaded)
    fake.start()
    yield fake
    fake.stop()


def fast_timeline() -> WappimTimeline:
    return WappimTimeline(
        init_seconds=0.1, first_qr_seconds=0.8, rotate_seconds=0.5, max_qrs=50, pair_seconds=0.1
    )


@pytest.fixture
def server() -> Iterator[RawHttpServer]:
    """A bare HTTP server on 127.0.0.1 whose answers the test scripts (transport and driver
    tests); a module may mean another server by the name (its own fixture wins)."""
    fake = RawHttpServer()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def wappim() -> Iterator[FakeWappim]:
    fake = FakeWappim(timeline=fast_timeline(), seed=7)
    fake.start()
    yield fake
    fake.stop()


def _migrate(database_url: str) -> None:
    """Run the bot's migrations in a process of its own (Tortoise's state stays out of ours)."""
    code = "import asyncio, sys; from bot.storage.db import init_db, close_db\n"
    code += "async def main():\n    await init_db(sys.argv[1])\n    await close_db()\n"
    code += "asyncio.run(main())"
    subprocess.run([sys.executable, "-c", code, database_url], check=True)


def _postgres(server: str, *statements: str) -> None:
    import asyncpg

    async def run() -> None:
        admin = await asyncpg.connect(server)
        try:
            for statement in statements:
                await admin.execute(statement)
        finally:
            await admin.close()

    asyncio.run(run())


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The schema, made once per test process and copied for each test: the migrations cost
    almost a second of CPU, most of the suite's time if every test ran them."""
    server = os.environ.get("TEST_DATABASE_URL", "")
    if not server.startswith("postgres"):
        path = tmp_path_factory.mktemp("template") / "bot.sqlite3"
        _migrate(f"sqlite://{path}")
        yield str(path)
        return
    name = f"template_{uuid.uuid4().hex[:12]}"
    _postgres(server, f'CREATE DATABASE "{name}"')
    _migrate(server.rsplit("/", 1)[0] + "/" + name)
    yield name
    _postgres(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_template: str
) -> AsyncIterator[str]:
    """A database of the test's own, migrated; empty for a test marked `empty_database` (one
    that checks the migrations themselves)."""
    empty = request.node.get_closest_marker("empty_database") is not None
    server = os.environ.get("TEST_DATABASE_URL", "")
    if not server.startswith("postgres"):
        path = tmp_path / "db" / "bot.sqlite3"
        if not empty:
            path.parent.mkdir()
            shutil.copyfile(migrated_template, path)
        yield f"sqlite://{path}"
        return
    import asyncpg  # a fresh database per test on the CI PostgreSQL

    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server)
    template = "" if empty else f' TEMPLATE "{migrated_template}"'
    await admin.execute(f'CREATE DATABASE "{name}"{template}')
    await admin.close()
    yield server.rsplit("/", 1)[0] + "/" + name
    admin = await asyncpg.connect(server)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture
def settings(
    telegram: FakeTelegram, wappim: FakeWappim, database_url: str, tmp_path: Path
) -> Settings:
    return make_settings(telegram, wappim, database_url, tmp_path)


def make_settings(
    telegram: FakeTelegram, wappim: FakeWappim, database_url: str, tmp_path: Path, **extra: Any
) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": telegram.token,
        "telegram_api_url": telegram.api_url,
        "telegram_file_url": telegram.file_url,
        "wapp_api_url": wappim.url,
        "database_url": database_url,
        "status_poll_interval": 0.05,
        "connect_timeout": 8.0,
        "encryption_key": Fernet.generate_key().decode(),
        "send_rate_per_minute": 6000,
        "link_check_interval": 3600,
        "incoming_poll_interval": 0.05,
    }
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class RunningBot:
    """The real bot (`bot.app.run`) as a task on the test's loop; stop() is a clean shutdown.
    `pace`: how fast its connect queue moves (the bot's own when None)."""

    def __init__(
        self, settings: Settings, telegram: FakeTelegram, *, pace: Pace | None = None
    ) -> None:
        self.settings = settings
        self.telegram = telegram
        self.pace = pace
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # The fake lists a call once answered, and the first getUpdates is a long poll; the
        # deleteWebhook just before polling starts is the sign that the bot is up (in webhook
        # mode: the setWebhook after the HTTP server is listening).
        sign = "setWebhook" if self.settings.telegram_webhook_url else "deleteWebhook"
        signs_before = len(self.telegram.calls_of(sign))
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(run(self.settings, self._stop, pace=self.pace))
        await wait_until(
            lambda: len(self.telegram.calls_of(sign)) > signs_before or self._task_failed(),
            15,
        )
        if self._task_failed():
            await self._task  # type: ignore[misc]  # re-raises the start-up error

    def _task_failed(self) -> bool:
        return self._task is not None and self._task.done()

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stop.set()
        await asyncio.wait_for(self._task, 20)
        self._task = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@pytest.fixture
async def bot(settings: Settings, telegram: FakeTelegram) -> AsyncIterator[RunningBot]:
    running = RunningBot(settings, telegram)
    await running.start()
    yield running
    await running.stop()


async def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call a blocking fake helper (wait_message, …) without blocking the bot's loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def reply(
    telegram: FakeTelegram,
    user: int,
    text: str,
    contains: str | None = None,
    *,
    timeout: float = 10,
    **kw: Any,
) -> FakeMessage:
    """The user sends `text`; return the bot's first message after it (matching `contains`)."""
    after = max((m.message_id for m in telegram.messages(user)), default=0)
    sent_id = telegram.send_text(user, text, **kw)
    return await in_thread(
        telegram.wait_message, user, contains, timeout=timeout, after=max(after, sent_id)
    )


def decode_qr(png: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert results, "the photo holds no readable QR code"
    return str(results[0].text)


def assigned_instance(wappim: FakeWappim) -> int:
    taken = [inst.id for inst in wappim.instances() if inst.assigned]
    assert taken, "no instance was handed out"
    return taken[-1]


async def db(settings: Settings, query: Callable[[], Awaitable[T]]) -> T:
    """Run ORM code against the bot's database from the test, in a Tortoise context of its own."""
    from tortoise.context import TortoiseContext

    from bot.storage.db import tortoise_config

    async def isolated() -> T:
        async with TortoiseContext() as ctx:
            await ctx.init(config=tortoise_config(settings.database_url))
            try:
                return await query()
            finally:
                await ctx.close_connections()

    return await asyncio.create_task(isolated())
