"""What the benchmarks share: the bot as a child process, settings for it, a database per run,
percentiles, and the line that says which machine the figures come from."""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from bench.fakes_process import Addresses

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:55433/postgres"


def stop_on_sigterm() -> None:
    """SIGTERM (a `timeout`, a Ctrl+C from a supervisor) unwinds like an exception, so the
    `finally` blocks stop the bot and the fakes instead of leaving them running."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, stop)


def machine() -> str:
    """The machine in one line: every figure depends on it."""
    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}"
    )


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def bot_env(fakes: Addresses, database_url: str, **settings: object) -> dict[str, str]:
    """The environment of a bot talking to the fakes: every setting as `python -m bot` reads it."""
    values: dict[str, object] = {
        "telegram_bot_token": fakes.token,
        "telegram_api_url": fakes.api_url,
        "telegram_file_url": fakes.file_url,
        "wapp_api_url": fakes.wapp_url,
        "database_url": database_url,
        "encryption_key": Fernet.generate_key().decode(),
        "log_level": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        **settings,
    }
    return {key.upper(): str(value) for key, value in values.items()}


@contextmanager
def sqlite_database() -> Iterator[str]:
    """A fresh SQLite file for one run."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        yield f"sqlite://{Path(tmp) / 'bench.sqlite3'}"


@contextmanager
def postgres_database(server: str = DEFAULT_POSTGRES) -> Iterator[str]:
    """A fresh PostgreSQL database on `server` for one run, dropped afterwards."""
    import asyncpg

    name = f"bench_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(server)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class BotSummary:
    peak_rss_mib: float
    cpu_seconds: float


class BotProcess:
    """`python -m bench.bot_process` (or another module) with `env` and `args`; stderr goes to a
    log file."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        rate_limit: bool = True,
        module: str = "bench.bot_process",
        log: Path | None = None,
        pace: dict[str, Any] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.env = {**os.environ, "PTB_TIMEDELTA": "true", **env}
        self.args = [sys.executable, "-m", module, *args]
        if not rate_limit:
            self.args.append("--no-rate-limit")
        if pace is not None:  # bench.bot_process: the connect queue's pace
            self.args += ["--pace", json.dumps(pace)]
        self.log = log or Path(tempfile.mkstemp(prefix="bench-bot-", suffix=".log")[1])
        self.proc: subprocess.Popen[str] | None = None
        self.started_at = 0.0

    def start(self) -> None:
        self.started_at = time.monotonic()
        with self.log.open("a") as err:
            self.proc = subprocess.Popen(
                self.args,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                cwd=Path(__file__).resolve().parent.parent,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_until(self, ready: Callable[[], Any], timeout: float) -> float:
        """Seconds since start until `ready()`; stops the run if the bot exits or is too slow."""
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.running():
                raise SystemExit(f"the bot exited:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise SystemExit(f"the bot was not ready after {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.02)
        return time.monotonic() - self.started_at

    def peak_rss_mib(self) -> float:
        """The process's peak resident set so far (VmHWM, what ru_maxrss reports at exit)."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return math.nan
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return math.nan

    def cpu_seconds(self) -> float:
        """CPU time the process used so far (user and system, all its threads)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return math.nan
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout: float = 120) -> BotSummary | None:
        """SIGTERM, a clean shutdown, and what the bot said about itself (None: it said nothing,
        or did not stop within `timeout` and was killed)."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"  (the bot did not stop within {timeout:.0f} s: killed)", file=sys.stderr)
            self.proc.kill()
            out, _ = self.proc.communicate()
        self.proc = None
        for line in reversed(out.splitlines()):
            if line.startswith("{"):
                return BotSummary(**json.loads(line))
        return None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """Sample `pid` with py-spy for `seconds` into `out`, when py-spy is there: a flame graph
    (`.svg`), or collapsed stacks for `bench.profile_top` (any other suffix).
    For the investigation only: py-spy is not a dependency of the project."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        return None
    fmt = "flamegraph" if out.suffix == ".svg" else "raw"
    return subprocess.Popen(
        [
            exe,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(round(seconds)),
            "--format",
            fmt,
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def store_lines(
    database_url: str,
    key: str,
    spares: list[tuple[int, str]],
    first_user: int,
    *,
    stay: bool = False,
) -> None:
    """The bot's database as after one successful /connect per line: an owner each (Telegram
    ids from `first_user`), linked and active, in one transaction. `stay`: Tortoise stays
    initialised for the caller's own queries."""
    from datetime import UTC, datetime

    from tortoise.transactions import in_transaction

    from bot.gateways.base import LineState
    from bot.storage.crypto import TokenCipher
    from bot.storage.db import close_db, init_db
    from bot.storage.models import User, WhatsAppChat

    await init_db(database_url)
    try:
        cipher, now = TokenCipher(key.encode()), datetime.now(UTC)
        async with in_transaction():  # one commit, not two per line
            for n, (instance, token) in enumerate(spares):
                owner = await User.create(id=first_user + n)
                chat = await WhatsAppChat.create(
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
                await User.filter(id=owner.id).update(active_chat_id=chat.id)
    finally:
        if not stay:
            await close_db()
