"""Replicas: two real `python -m bot` processes on one PostgreSQL act as one bot.

Consecutive updates reach different replicas (see `tests.faults.cluster`). Work is claimed
through the database with leases (`bot.services.leases`), and one replica is killed with SIGKILL
while it holds connect flows, deliveries and a line's incoming poller: the other one takes them
over.
"""

from __future__ import annotations

import time

import pytest

from tests.fakes.balancer import Balancer
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim
from tests.faults.cluster import (
    LEASE,
    POSTGRES_ONLY,
    TAKE_OVER,
    Cluster,
    Database,
    ledger,
    link,
    report,
    seen,
    shown,
)
from tests.faults.test_kill import PHONE

pytestmark = POSTGRES_ONLY

HOLD = 4.0  # seconds the gateway holds the send in flight when its replica dies
CONTACT = "79001234567"
REFUSED = (
    "bot: another replica is already polling Telegram (Telegram allows one getUpdates "
    "consumer): run several replicas in webhook mode (TELEGRAM_WEBHOOK_URL)"
)


@pytest.mark.empty_database
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
    # Every one of them has its line (a QR on screen): the delays below go to the last two only.
    telegram.wait_for(lambda: all(any(m.photo for m in telegram.messages(u)) for u in showing), 15)
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

    # Every /send handled: each is in the outbox, and the other sender's have their "✓ Sent" on
    # screen. The held sender's next three wait behind the one in flight (a recipient's messages
    # go out in order), their confirmation comes once they go out.
    def handled() -> bool:
        rows = database.outbox(list(texts))
        others = [r for r in rows if texts[r["text"]] != texts[held]]
        return len(rows) == len(texts) and all(r["ui_message_id"] for r in others)

    telegram.wait_for(handled, 5)
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
