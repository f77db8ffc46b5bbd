"""Replicas of the bot for the fault tests: real `python -m bot` processes on one PostgreSQL
database, each with its own HTTP port behind a round-robin balancer (`tests.fakes.balancer`), the
fake Telegram pushing its updates to the balancer's address (webhook mode), LEASE_SECONDS 2.

The replica holding a piece of work is found in the database: a lease holder is
`host:pid:random`, and the pid names the process. PostgreSQL only (TEST_DATABASE_URL): SQLite is
one process by design.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cryptography.fernet import Fernet

from bot.services.admission import Pace
from tests.fakes.balancer import Balancer
from tests.fakes.server import free_port
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim
from tests.faults.ledger import TOLD, Ledger
from tests.faults.test_kill import BotProcess

POSTGRES_ONLY = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"),
    reason="replicas share a PostgreSQL database (set TEST_DATABASE_URL)",
)
LEASE = 2.0  # LEASE_SECONDS of every replica
TAKE_OVER = 2 * LEASE  # a dead replica's work is another's within this (lease + one pass)


class Database:
    """The replicas' database, read straight from the test thread (its own loop and connection)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._loop = asyncio.new_event_loop()
        self._connection: asyncpg.Connection | None = None

    def rows(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async def fetch() -> list[asyncpg.Record]:
            if self._connection is None:
                self._connection = await asyncpg.connect(self.url)
            return list(await self._connection.fetch(query, *args))

        return self._loop.run_until_complete(fetch())

    def close(self) -> None:
        if self._connection is not None:
            self._loop.run_until_complete(self._connection.close())
        self._loop.close()

    # --- what the tests look at

    def instance_of(self, user: int) -> int:
        found = self.rows(
            "SELECT instance_id FROM whatsapp_chat WHERE owner_id = $1 ORDER BY id DESC LIMIT 1",
            user,
        )
        assert found, f"user {user} has no line"
        return int(found[0]["instance_id"])

    def holders(self, users: list[int]) -> dict[int, str | None]:
        """The lease holder of each user's newest line."""
        rows = self.rows(
            "SELECT DISTINCT ON (owner_id) owner_id, lease_holder, lease_until > now() AS live "
            "FROM whatsapp_chat WHERE owner_id = ANY($1) ORDER BY owner_id, id DESC",
            users,
        )
        return {int(r["owner_id"]): r["lease_holder"] if r["live"] else None for r in rows}

    def acquiring(self) -> dict[int, str]:
        """Who holds each user's attempt while the gateway is handing out its line."""
        rows = self.rows("SELECT key, holder FROM lease WHERE key LIKE 'connect-acquiring:%'")
        return {int(r["key"].split(":")[1]): r["holder"] for r in rows}

    def outbox(self, texts: list[str]) -> list[asyncpg.Record]:
        return self.rows(
            "SELECT text, status, ui_message_id, lease_holder, error FROM outgoing_message "
            "WHERE text = ANY($1)",
            texts,
        )


class Replica(BotProcess):
    """One replica: its own HTTP port, the cluster's database, key and secrets."""

    def __init__(self, *args: Any, port: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.port = port
        self.pid = 0

    def launch(self) -> None:
        super().launch()
        assert self.proc is not None
        self.pid = self.proc.pid

    def holds(self, holder: str | None) -> bool:
        """Whether a lease `holder` (`host:pid:random`) is this process."""
        return holder is not None and holder.split(":")[-2] == str(self.pid)


class Cluster:
    """Replicas of the bot on one PostgreSQL database, behind one balancer."""

    def __init__(
        self,
        telegram: FakeTelegram,
        wappim: FakeWappim,
        database_url: str,
        workdir: Path,
        balancer: Balancer,
    ) -> None:
        self.telegram, self.wappim, self.workdir = telegram, wappim, workdir
        self.database_url = database_url
        self.balancer = balancer
        self.shared = {
            "ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "HOOK_SECRET": secrets.token_urlsafe(24),
            "TELEGRAM_WEBHOOK_URL": f"{balancer.url}/telegram",
            "TELEGRAM_WEBHOOK_SECRET": secrets.token_urlsafe(24),
            "HTTP_HOST": "127.0.0.1",
            "LEASE_SECONDS": str(LEASE),
            "SEND_RATE_PER_MINUTE": "60",  # a message a second per line: some wait their turn
            "CONNECT_TIMEOUT": "60",
        }
        self.replicas: list[Replica] = []
        self.pace: Pace | None = None  # the replicas' connect queue (None: the bot's own pace)

    def replica(self, name: str, *, webhook: bool = True, **env: str) -> Replica:
        port = free_port()
        values = {**self.shared, "HTTP_PORT": str(port), **env}
        if not webhook:
            del values["TELEGRAM_WEBHOOK_URL"], values["TELEGRAM_WEBHOOK_SECRET"]
        replica = Replica(
            self.telegram,
            self.wappim,
            self.workdir,
            values.pop("LOG_LEVEL", "INFO"),
            database_url=self.database_url,
            name=name,
            env=values,
            port=port,
            pace=self.pace,
        )
        self.balancer.add(port)
        self.replicas.append(replica)
        return replica

    def start_together(self, *names: str) -> list[Replica]:
        """Start the replicas at the same moment; return once every one of them is up."""
        started = [self.replica(name) for name in names]
        for replica in started:
            replica.launch()
        for replica in started:
            replica.wait_started()
        return started

    def close(self) -> None:
        for replica in self.replicas:
            if replica.proc is not None:
                replica.proc.kill()
                replica.proc.wait(10)


def link(
    telegram: FakeTelegram,
    wappim: FakeWappim,
    database: Database,
    user: int,
    name: str,
    number: str,
) -> int:
    telegram.send_text(user, "/connect")
    telegram.wait_message(user, "Linked devices", photo=True)
    instance = database.instance_of(user)
    wappim.scan(instance, name=name, number=number)
    telegram.wait_message(user, "connected as")
    return instance


def shown(telegram: FakeTelegram, user: int, body: str) -> int:
    """How many times an incoming WhatsApp message with this body reached the user."""
    return sum(1 for m in telegram.messages(user) if m.content.endswith(f"\n{body}"))


def seen(telegram: FakeTelegram, user: int, contains: str | None, after: float) -> float | None:
    """When (monotonic) the bot first sent or edited, after `after`, a message to `user` that
    says `contains` (None: any); None when it has not."""
    return min(
        (
            snapshot["at"]
            for message in telegram.messages(user)
            for snapshot in message.history
            if snapshot["at"] > after
            and (contains is None or contains in (snapshot["text"] or snapshot["caption"] or ""))
        ),
        default=None,
    )


def report(what: str, at: float | None, since: float) -> None:
    assert at is not None, f"{what}: never"
    print(f"\n{what}: {at - since:.2f} s")  # the figures of `pytest -s`


def ledger(
    database: Database, telegram: FakeTelegram, wappim: FakeWappim, texts: dict[str, int]
) -> Ledger:
    """`tests.faults.ledger.ledger` for rows read from PostgreSQL; `texts` maps to the sender."""
    rows = database.outbox(list(texts))
    at_gateway = Counter(m.body for m in wappim.sent if m.body in texts)
    delivered = failed_told = lost = 0
    for row in rows:
        if at_gateway[row["text"]]:
            delivered += 1
        elif row["status"] == "failed" and _told(telegram, texts[row["text"]], row):
            failed_told += 1
        else:
            lost += 1
    duplicated = sum(count - 1 for count in at_gateway.values() if count > 1)
    books = Ledger(len(rows), delivered, failed_told, lost, duplicated)
    books.assert_balanced()
    return books


def _told(telegram: FakeTelegram, user: int, row: asyncpg.Record) -> bool:
    if row["ui_message_id"] is None:
        return False
    confirmation = telegram.message(user, row["ui_message_id"]).content
    return any(words in confirmation for words in TOLD)
