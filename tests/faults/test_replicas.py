"""Replicas: two real `python -m bot` processes on one PostgreSQL act as one bot.

Each replica has its own HTTP port behind a round-robin balancer (`tests.fakes.balancer`), and
the fake Telegram pushes its updates to the balancer's address (webhook mode), so consecutive
updates reach different replicas. Work is claimed through the database with leases
(`bot.services.leases`), LEASE_SECONDS is 2 here, and one replica is killed with SIGKILL while it
holds connect flows, deliveries and a line's incoming poller: the other one takes them over.

The replica holding a piece of work is found in the database: a lease holder is
`host:pid:random`, and the pid names the process.

PostgreSQL only (TEST_DATABASE_URL): SQLite is one process by design.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cryptography.fernet import Fernet

from tests.fakes.balancer import Balancer
from tests.fakes.server import free_port
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim
from tests.faults.ledger import TOLD, Ledger
from tests.faults.test_kill import PHONE, BotProcess

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"),
    reason="replicas share a PostgreSQL database (set TEST_DATABASE_URL)",
)

LEASE = 2.0  # LEASE_SECONDS of every replica
TAKE_OVER = 2 * LEASE  # a dead replica's work is another's within this (lease + one pass)
HOLD = 4.0  # seconds the gateway holds the send in flight when its replica dies
CONTACT = "79001234567"
REFUSED = (
    "bot: another replica is already polling Telegram (Telegram allows one getUpdates "
    "consumer): run several replicas in webhook mode (TELEGRAM_WEBHOOK_URL)"
)


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


@pytest.fixture
def balancer() -> Iterator[Balancer]:
    front = Balancer()
    front.start()
    yield front
    front.stop()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.close()


@pytest.fixture
def cluster(
    telegram: FakeTelegram,
    wappim: FakeWappim,
    database_url: str,
    tmp_path: Path,
    balancer: Balancer,
) -> Iterator[Cluster]:
    replicas = Cluster(telegram, wappim, database_url, tmp_path, balancer)
    yield replicas
    replicas.close()


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


def test_replicas_started_together_on_an_empty_database_both_come_up(
    cluster: Cluster, telegram: FakeTelegram, balancer: Balancer
) -> None:
    """Both migrate the empty database at the same moment: the advisory lock lets one migrate and
    the other find the schema done, instead of dying on a duplicate key."""
    first, second = cluster.start_together("a", "b")

    assert first.proc is not None and first.proc.poll() is None
    assert second.proc is not None and second.proc.poll() is None
    assert len([c for c in telegram.calls_of("setWebhook") if c.ok]) == 2
    # Both serve: consecutive pushes go to each in turn, and each answers.
    for user in (3001, 3002):
        asked = telegram.send_text(user, "/help")
        telegram.wait_message(user, "/connect", after=asked)

    def both_answered() -> bool:
        answered = {port for port, _, status in balancer.forwarded if status == 200}
        return answered == {first.port, second.port}

    # The balancer records a forward once the replica answered it, which may be after the reply.
    telegram.wait_for(both_answered, 5)
    for replica in (first, second):
        assert "Traceback" not in replica.stderr()


def test_kill_a_replica_mid_connects_and_sends_the_other_takes_over(
    cluster: Cluster,
    telegram: FakeTelegram,
    wappim: FakeWappim,
    database: Database,
    balancer: Balancer,
) -> None:
    """Eight people /connect and two send eight messages through both replicas; the replica
    whose gateway send is in flight dies, while six attempts show QRs and two wait for the
    gateway to hand out a line. Every person still gets a QR, then one "connected as" with
    their name and phone; every message (and two sent after the kill) is delivered once, or its
    sender is told that nobody knows whether it went out (it is never sent again silently)."""
    wappim.set_free(12)
    first, second = cluster.start_together("a", "b")
    senders = [3101, 3102]
    for n, user in enumerate(senders):
        link(telegram, wappim, database, user, f"Sender {n}", f"7999765430{n}")

    showing = [3201 + n for n in range(6)]
    for user in showing:
        telegram.send_text(user, "/connect")
    telegram.wait_for(lambda: len(database.holders(showing)) == len(showing))
    telegram.wait_for(
        lambda: sum(any(m.photo for m in telegram.messages(u)) for u in showing) >= 3, 10
    )
    # Two pushes in a row go to the two replicas: each waits for a line from the gateway.
    spares = len(wappim.requests_to("chat/spare"))
    wappim.delay_next("chat/spare", HOLD, times=2)
    getting = [3207, 3208]
    for user in getting:
        telegram.send_text(user, "/connect")
    telegram.wait_for(lambda: len(wappim.requests_to("chat/spare")) == spares + 2, 5)
    people = showing + getting

    wappim.delay_next("sendMessage", HOLD)  # the first send stays in flight for a while
    texts = {f"replica note {user} {i}": user for i in range(4) for user in senders}
    for text, user in texts.items():
        telegram.send_text(user, f"/send {PHONE} {text}")
    held = telegram.wait_for(lambda: wappim.requests_to("sendMessage"), 5)[0].fields["body"]
    # Every /send handled: each has its confirmation on screen ("⏳ queued" when pacing holds it
    # back, else "✓ Sent" once the gateway took it), except the one held in flight.
    telegram.wait_for(
        lambda: sum(r["ui_message_id"] is not None for r in database.outbox(list(texts))) == 7, 5
    )
    (holder,) = [r["lease_holder"] for r in database.outbox([held])]
    victim, survivor = (first, second) if first.holds(holder) else (second, first)
    assert victim.holds(holder)
    orphaned = [u for u, h in database.holders(showing).items() if victim.holds(h)]
    assert orphaned, "the dying replica runs some of the connects"
    assert not database.holders(getting), "no line yet for the last two"
    (stalled,) = [u for u, h in database.acquiring().items() if victim.holds(h)]
    assert not any(m.body == held for m in wappim.sent), "the send is still in flight"

    victim.kill()
    killed_at = time.monotonic()

    def taken_over() -> bool:
        holders = database.holders(showing)
        return all(survivor.holds(holders[u]) for u in showing)

    telegram.wait_for(taken_over, TAKE_OVER + 2)
    # The QRs of the dead replica's attempts are replaced again (by the survivor).
    telegram.wait_for(lambda: all(seen(telegram, u, None, killed_at) for u in orphaned), LEASE + 1)
    last = max(seen(telegram, u, None, killed_at) or 0.0 for u in orphaned)
    report("QR rotating again, last of the dead replica's attempts", last, killed_at)
    telegram.wait_message(stalled, "Linked devices", photo=True, timeout=TAKE_OVER + 3)
    report(
        "QR of the attempt caught getting a line",
        seen(telegram, stalled, "Linked", killed_at),
        killed_at,
    )
    telegram.wait_message(texts[held], "don't know whether", timeout=TAKE_OVER + 2)
    report(
        "in-flight send told uncertain",
        seen(telegram, texts[held], "know whether", killed_at),
        killed_at,
    )

    # New work goes to the survivor: the balancer finds the dead replica's port closed.
    for user in senders:
        texts[f"replica note {user} after the kill"] = user
        telegram.send_text(user, f"/send {PHONE} replica note {user} after the kill")
    telegram.wait_for(lambda: (victim.port, "/telegram", 0) in balancer.forwarded, 5)

    # Every person got a QR; after the scan, their name and phone, once.
    for n, user in enumerate(people):
        telegram.wait_message(user, "Linked devices", photo=True, timeout=5)
        wappim.scan(database.instance_of(user), name=f"Person {n}", number=f"7999123450{n}")
    for n, user in enumerate(people):
        done = telegram.wait_message(user, "connected as", timeout=10)
        assert f"Person {n}" in done.content and f"+7 999 123-45-0{n}" in done.content
    time.sleep(0.3)  # time for a second "connected as", if one were coming
    for user in people:
        assert sum("connected as" in m.content for m in telegram.messages(user)) == 1

    # Every message ended: delivered once, or failed and its sender told.
    def settled() -> bool:
        rows = database.outbox(list(texts))
        final = len(rows) == len(texts) and all(
            r["status"] not in ("queued", "sending") for r in rows
        )
        return final and any(m.body == held for m in wappim.sent)  # the gateway let go too

    telegram.wait_for(settled, HOLD + 5)
    time.sleep(0.3)  # time for a second WhatsApp message, if one were coming
    books = ledger(database, telegram, wappim, texts)
    print(f"\nledger: {books}")
    assert books.accepted == len(texts) == 10
    # The in-flight one went out (the gateway finished it), yet its replica died not knowing:
    # failed as uncertain, and its sender told so, with "Send again".
    (unsure,) = database.outbox([held])
    assert (unsure["status"], unsure["error"]) == ("failed", "uncertain")
    confirmation = telegram.message(texts[held], unsure["ui_message_id"])
    assert "don't know whether" in confirmation.content
    assert "Send again" in str(confirmation.buttons)
    assert "Traceback" not in survivor.stderr()


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


def test_one_replica_polls_a_line_and_the_other_takes_it_over(
    cluster: Cluster, telegram: FakeTelegram, wappim: FakeWappim, database: Database
) -> None:
    """A linked line's incoming messages are polled by one replica: each arrives once. Its
    replica dies mid-stream; the other takes the line over and nothing is lost (at most one
    message shown twice for the crash)."""
    first, second = cluster.start_together("a", "b")
    user = 3301
    instance = link(telegram, wappim, database, user, "Reader", "79991112233")
    holder = telegram.wait_for(lambda: database.holders([user]).get(user), LEASE + 2)
    poller, other = (first, second) if first.holds(holder) else (second, first)

    calm = [f"calm {i}" for i in range(5)]
    for body in calm:
        wappim.receive(instance, phone=CONTACT, body=body)
    telegram.wait_for(lambda: all(shown(telegram, user, b) for b in calm), 5)
    time.sleep(0.5)  # time for a copy from the other replica, if one were coming
    assert [shown(telegram, user, b) for b in calm] == [1] * len(calm)

    storm = [f"storm {i:02d}" for i in range(20)]
    killed_at = 0.0
    for i, body in enumerate(storm):
        wappim.receive(instance, phone=CONTACT, body=body)
        if i == 6:
            poller.kill()
            killed_at = time.monotonic()
        time.sleep(0.05)
    telegram.wait_for(lambda: other.holds(database.holders([user]).get(user)), TAKE_OVER + 2)
    telegram.wait_for(lambda: all(shown(telegram, user, b) for b in storm), 10)
    report(
        "first message shown by the other replica", seen(telegram, user, None, killed_at), killed_at
    )
    report("every message shown", time.monotonic(), killed_at)
    time.sleep(0.5)  # time for late copies, if any were coming
    copies = [shown(telegram, user, b) for b in storm]
    assert min(copies) == 1 and sum(copies) - len(storm) <= 1, copies
    assert "Traceback" not in other.stderr()


def test_a_second_polling_replica_is_refused_at_start(
    cluster: Cluster, telegram: FakeTelegram
) -> None:
    """Telegram allows one getUpdates consumer: a second replica in polling mode stops at start
    with exit code 2 and one line that says to use webhook mode."""
    first = cluster.replica("poller", webhook=False)
    first.start()
    second = cluster.replica("second", webhook=False, LOG_LEVEL="WARNING")
    second.launch()

    code = second.wait_exit(LEASE + 15)

    waited = time.monotonic() - telegram.calls_of("getMe")[-1].at  # since it reached Telegram
    report("second polling replica refused after", waited, 0.0)
    assert code == 2
    assert second.stderr().strip().splitlines() == [REFUSED]
    assert waited < LEASE + 4  # its claim is retried for LEASE_SECONDS + 1, once a second
    assert first.proc is not None and first.proc.poll() is None
