"""Two replicas share one connect queue (PostgreSQL): people's /connect land on either, yet
turns come first come first served at one pace for the whole bot, each attempt is admitted once,
each person gets one photo that shows their place and becomes their QR. The replica telling
places dies midway: the other one takes the line, its telling and its attempts over."""

from __future__ import annotations

import itertools

from bot.services.admission import NEWS, WINDOW, Pace
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim
from tests.faults.cluster import POSTGRES_ONLY, TAKE_OVER, Cluster, Database

pytestmark = POSTGRES_ONLY

PACE = Pace(calls_per_attempt=30.0, tell_after=2.5, edit_every=1.0)  # 0.5 attempts a second
GAP = 1 / PACE.per_second
QR = "Linked devices"
IN_LINE = "in line for a QR code"


def qr_messages(telegram: FakeTelegram, user: int) -> list[int]:
    """Ids of the person's messages that ever showed a QR."""
    return [
        m.message_id
        for m in telegram.messages(user)
        if any(QR in (s["caption"] or "") for s in m.history)
    ]


def placeholders(telegram: FakeTelegram, user: int) -> list[int]:
    return [
        m.message_id
        for m in telegram.messages(user)
        if m.history[0]["has_photo"] and IN_LINE in (m.history[0]["caption"] or "")
    ]


def qr_at(telegram: FakeTelegram, user: int) -> float:
    return min(
        s["at"]
        for m in telegram.messages(user)
        for s in m.history
        if s["has_photo"] and QR in (s["caption"] or "")
    )


def test_two_replicas_share_one_line_and_one_pace(
    cluster: Cluster, telegram: FakeTelegram, wappim: FakeWappim, database: Database
) -> None:
    cluster.pace = PACE
    first, second = cluster.start_together("a", "b")
    people = [3401 + n for n in range(8)]
    wappim.set_free(len(people))
    for user in people:  # the balancer hands consecutive updates to the two replicas in turn
        telegram.send_text(user, "/connect")
    telegram.wait_for(lambda: sum(bool(qr_messages(telegram, u)) for u in people) >= 3, 20)
    telegram.wait_for(lambda: any(placeholders(telegram, u) for u in people), 5)

    (news,) = database.rows("SELECT holder FROM lease WHERE key = $1", NEWS)
    victim, survivor = (first, second) if first.holds(news["holder"]) else (second, first)
    victim.kill()

    telegram.wait_for(
        lambda: all(qr_messages(telegram, u) for u in people), len(people) * GAP + TAKE_OVER + 15
    )
    tickets = database.rows("SELECT user_id, state, admitted_at FROM connect_ticket ORDER BY id")
    assert sorted(t["user_id"] for t in tickets) == people
    assert all(t["state"] == "admitted" for t in tickets)
    # First come, first served across both replicas: turns in the order the tickets were
    # taken, and the QRs in that order too; one pace for the whole bot, not one per replica.
    # (An idle clock lets up to WINDOW of turns go at once: a turn late by that much is caught
    # up, so two turns may come GAP - WINDOW apart, never more of them than the pace allows.)
    admitted = [t["admitted_at"] for t in tickets]
    assert admitted == sorted(admitted)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(admitted)]
    assert all(gap >= GAP - WINDOW - 0.3 for gap in gaps), gaps
    assert sum(gaps) >= (len(people) - 1) * GAP - WINDOW - 0.3, gaps
    order = [t["user_id"] for t in tickets]
    assert [qr_at(telegram, u) for u in order] == sorted(qr_at(telegram, u) for u in order)
    assert len(wappim.requests_to("chat/spare")) == len(people)
    # One message per person: the photo that showed the place (if any) is the one with the QR.
    for user in people:
        shown, told = qr_messages(telegram, user), placeholders(telegram, user)
        assert len(shown) == 1, f"user {user}: QRs in {shown}"
        assert len(told) <= 1 and set(told) <= set(shown), f"user {user}: {told} / {shown}"
    assert sum(bool(placeholders(telegram, u)) for u in people) >= 3

    for n, user in enumerate(people):
        instance = database.instance_of(user)
        wappim.scan(instance, name=f"Queued {n}", number=f"7999200000{n}")
    for n, user in enumerate(people):
        done = telegram.wait_message(user, "connected as", timeout=TAKE_OVER + 10)
        assert f"Queued {n}" in done.content
    assert "Traceback" not in survivor.stderr()


def test_a_replica_dying_while_it_gets_a_line_for_a_turn_leaves_nobody_behind(
    cluster: Cluster, telegram: FakeTelegram, wappim: FakeWappim, database: Database
) -> None:
    """The gateway takes 3 s to hand out each line. A replica dies while it gets one for a
    person who waited in line (their photo shows the place): the other replica starts that
    attempt again, and its QR still comes in the person's one photo; the dead replica's
    people still in line get their turns from the other one."""
    cluster.pace = PACE
    first, second = cluster.start_together("a", "b")
    people = [3501 + n for n in range(6)]
    wappim.set_free(2 * len(people))  # a line handed to the dead replica is lost with it
    wappim.delay_next("chat/spare", 3.0, times=2 * len(people))
    for user in people:
        telegram.send_text(user, "/connect")

    def caught() -> tuple[int, str] | None:
        """A person who waited in line, whose line a replica is getting right now."""
        for user, holder in database.acquiring().items():
            if placeholders(telegram, user):
                return user, holder
        return None

    user, holder = telegram.wait_for(caught, 20)
    victim, survivor = (first, second) if first.holds(holder) else (second, first)
    victim.kill()

    telegram.wait_for(
        lambda: all(qr_messages(telegram, u) for u in people), len(people) * GAP + TAKE_OVER + 20
    )
    for person in people:
        shown, told = qr_messages(telegram, person), placeholders(telegram, person)
        assert len(shown) == 1, f"user {person}: QRs in {shown}"
        assert set(told) <= set(shown), f"user {person}: place in {told}, QR in {shown}"
    assert placeholders(telegram, user) == qr_messages(telegram, user)
    tickets = database.rows("SELECT state FROM connect_ticket")
    assert [t["state"] for t in tickets] == ["admitted"] * len(people)
    assert "Traceback" not in survivor.stderr()
