"""Nothing lost under real faults, with two replicas on one PostgreSQL (see `cluster.py`):

- a blip of 503s from wapp.im fails none of the messages queued meanwhile;
- the updates a replica had answered 200 but not handled when it was killed are handled by the
  other one;
- a tick that reaches one replica while another sends the message's first confirmation makes
  no second confirmation;
- a /mute confirmed by one replica stops the poller on the other at once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator

import pytest

from bot.services.phones import pretty
from tests.fakes.balancer import Balancer
from tests.fakes.greenapi import FakeGreenApi, GreenTimeline
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim
from tests.faults.cluster import (
    LEASE,
    POSTGRES_ONLY,
    TAKE_OVER,
    Cluster,
    Database,
    Replica,
    ledger,
    link,
    report,
)

pytestmark = POSTGRES_ONLY

USER = 3401
CONTACT = "79001234567"
QUICK = {  # sends not held back by pacing; retries soon after a failure; a 2-second breaker
    "SEND_RATE_PER_MINUTE": "6000",
    "SEND_RETRY_BACKOFF": "0.2",
    "SEND_RETRY_MAX_WAIT": "2",
    "GATEWAY_BREAKER_SECONDS": "2",
}


def start(cluster: Cluster, **env: str) -> tuple[Replica, Replica]:
    replicas = [cluster.replica(name, **env) for name in ("a", "b")]
    for replica in replicas:
        replica.launch()
    for replica in replicas:
        replica.wait_started()
    return replicas[0], replicas[1]


def settled(database: Database, texts: list[str]) -> bool:
    rows = database.outbox(texts)
    return len(rows) == len(texts) and all(r["status"] not in ("queued", "sending") for r in rows)


def test_a_blip_of_503s_fails_none_of_sixty_messages(
    cluster: Cluster, telegram: FakeTelegram, wappim: FakeWappim, database: Database
) -> None:
    """60 /sends (to three people) while wapp.im answers 25 requests in a row with 503: the
    breaker opens on both replicas; every message waits for it and goes out once, in order per
    recipient, and its confirmation ends as the usual tick."""
    first, second = start(cluster, **QUICK)
    link(telegram, wappim, database, USER, "Shop", "79991234500")
    wappim.fail_next("", status=503, times=25)
    recipients = ["79001230001", "79001230002", "79001230003"]
    texts = {f"blip note {n:02d}": recipients[n % 3] for n in range(60)}
    started = time.monotonic()
    for text, recipient in texts.items():
        telegram.send_text(USER, f"/send {recipient} {text}")

    telegram.wait_for(lambda: settled(database, list(texts)), 60)
    report("sixty messages settled", time.monotonic(), started)
    time.sleep(0.5)  # time for a second WhatsApp message, if one were coming
    books = ledger(database, telegram, wappim, dict.fromkeys(texts, USER))
    assert (books.accepted, books.delivered, books.duplicated) == (60, 60, 0)
    assert all(r["status"] == "sent" for r in database.outbox(list(texts)))
    by_recipient: dict[str, list[str]] = defaultdict(list)
    for message in wappim.sent:
        if message.body in texts:
            by_recipient[message.chat_id.removesuffix("@c.us")].append(message.body)
    for recipient in recipients:
        assert by_recipient[recipient] == [t for t, r in texts.items() if r == recipient]
    for replica in (first, second):
        assert "Traceback" not in replica.stderr()


def test_updates_a_killed_replica_answered_are_handled_by_the_other(
    cluster: Cluster,
    telegram: FakeTelegram,
    wappim: FakeWappim,
    database: Database,
    balancer: Balancer,
) -> None:
    """30 /sends pushed to one replica, killed right after the last 200 while its handlers are
    still at work (their "queued" confirmations held by Telegram) and with no gateway request in
    flight (the line's pacing slot is taken for an hour): the other replica takes the stored
    updates over within LEASE_SECONDS and every message goes out exactly once."""
    first, second = start(cluster, **QUICK)
    link(telegram, wappim, database, USER, "Shop", "79991234500")
    database.rows("UPDATE whatsapp_chat SET next_send_at = now() + interval '1 hour'")
    balancer.only(first.port)
    telegram.set_delay("sendMessage", 30)  # every handler waits on Telegram, unfinished
    pushes = len(balancer.forwarded)
    texts = [f"kill note {n:02d}" for n in range(30)]
    for text in texts:
        telegram.send_text(USER, f"/send {CONTACT} {text}")
    telegram.wait_for(
        lambda: sum(status == 200 for _, path, status in balancer.forwarded[pushes:]) == 30, 10
    )
    stored = database.rows("SELECT count(*) AS n FROM telegram_update WHERE handled_at IS NULL")
    assert stored[0]["n"] == 30, "answered 200, stored, not handled yet"
    first.kill()
    killed_at = time.monotonic()
    assert not wappim.requests_to("sendMessage"), "no gateway request was in flight"
    telegram.set_delay("sendMessage", 0)
    balancer.only(None)
    database.rows("UPDATE whatsapp_chat SET next_send_at = NULL")

    telegram.wait_for(lambda: settled(database, texts), TAKE_OVER + 30)
    report("thirty messages sent by the other replica", time.monotonic(), killed_at)
    time.sleep(0.5)
    counts = Counter(m.body for m in wappim.sent if m.body in texts)
    assert counts == Counter(texts), "each message exactly once"
    handled = database.rows("SELECT count(*) AS n FROM telegram_update WHERE handled_at IS NULL")
    assert handled[0]["n"] == 0
    assert "Traceback" not in second.stderr()


@pytest.fixture
def green() -> Iterator[FakeGreenApi]:
    """Ticks as early as the gateway can send them: sent, delivered and read at once."""
    fake = FakeGreenApi(
        timeline=GreenTimeline(
            create_seconds=0.05,
            start_seconds=0.05,
            qr_rotate_seconds=5,
            send_seconds=0,
            deliver_seconds=0,
            read_seconds=0,
        )
    )
    fake.start()
    yield fake
    fake.stop()


def test_a_tick_on_another_replica_makes_no_second_confirmation(
    cluster: Cluster,
    telegram: FakeTelegram,
    green: FakeGreenApi,
    database: Database,
    balancer: Balancer,
) -> None:
    """Twelve messages on a Green-API line, sent by the replica that does not poll the line
    (the ticks arrive at the other one), and Telegram holds each first confirmation 0.5 s: the
    ticks come while it is on its way. Each message still has one confirmation, and it ends
    saying "read"."""
    first, second = start(cluster, GATEWAYS="greenapi", GREEN_API_URL=green.url, **QUICK)
    instance, token = green.add_instance()
    command = telegram.send_text(USER, f"/connect greenapi {instance} {token} {green.url}")
    telegram.wait_message(USER, "Linked devices", photo=True, after=command)
    green.scan(instance, phone="79990001122", name="Shop")
    telegram.wait_message(USER, "connected as")
    poller = telegram.wait_for(lambda: database.holders([USER]).get(USER), LEASE + 2)
    balancer.only((second if first.holds(poller) else first).port)
    telegram.set_delay("sendMessage", 0.5)
    recipients = [f"7900123{n:04d}" for n in range(12)]
    for n, recipient in enumerate(recipients):
        telegram.send_text(USER, f"/send {recipient} early tick {n}")

    def confirmations(recipient: str) -> list[str]:
        return [m.content for m in telegram.messages(USER) if pretty(recipient) in m.content]

    telegram.wait_for(
        lambda: all(any("· read" in c for c in confirmations(r)) for r in recipients), 30
    )
    time.sleep(1.0)  # time for a second confirmation, if one were coming
    assert [len(confirmations(r)) for r in recipients] == [1] * len(recipients)


def test_a_mute_on_one_replica_holds_at_once_on_the_others_poller(
    cluster: Cluster,
    telegram: FakeTelegram,
    wappim: FakeWappim,
    database: Database,
    balancer: Balancer,
) -> None:
    """A contact writes every 30 ms; /mute reaches the replica that does not poll the line.
    Nothing written after its confirmation reaches the user."""
    first, second = start(cluster)
    instance = link(telegram, wappim, database, USER, "Shop", "79991234500")
    holder = telegram.wait_for(lambda: database.holders([USER]).get(USER), LEASE + 2)
    other = second if first.holds(holder) else first
    written: dict[str, float] = {}
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            body = f"chatter {n:03d}"
            written[body] = time.monotonic()
            wappim.receive(instance, phone=CONTACT, body=body)
            n += 1
            time.sleep(0.03)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        telegram.wait_message(USER, "chatter", timeout=10)
        balancer.only(other.port)
        muted = telegram.send_text(USER, "/mute")
        confirmed = telegram.wait_message(USER, "Muted", after=muted, timeout=10)
        muted_at = confirmed.history[0]["at"]
        time.sleep(2.0)
    finally:
        stop.set()
        writer.join(5)
    late = [
        m.content
        for m in telegram.messages(USER)
        for body, at in written.items()
        if at > muted_at and m.content.endswith(f"\n{body}")
    ]
    assert not late, f"{len(late)} messages written after the mute was confirmed were shown"
    assert any(at > muted_at + 1 for at in written.values()), "the contact kept writing"
