"""A bulk send on two replicas (real `python -m bot` processes on one PostgreSQL, webhook mode,
LEASE_SECONDS 2; see `tests.faults.cluster`): one replica runs the bulk (its lease), and when
that one is killed with SIGKILL mid-bulk the other takes it over: the same progress message goes
on, nobody gets it twice, and a recipient whose send was claimed by the dead replica is reported
as unknown, not sent again silently."""

from __future__ import annotations

from collections import Counter

from tests.fakes.telegram import FakeMessage, FakeTelegram
from tests.fakes.wappim import FakeWappim
from tests.faults.cluster import POSTGRES_ONLY, TAKE_OVER, Cluster, Database, link

pytestmark = POSTGRES_ONLY

OWNER = 3501
DIGITS = [f"7916555{i:04d}" for i in range(30)]


def said(telegram: FakeTelegram, text: str, contains: str) -> FakeMessage:
    after = max((m.message_id for m in telegram.messages(OWNER)), default=0)
    telegram.send_text(OWNER, text)
    return telegram.wait_message(OWNER, contains, after=after)


def test_one_replica_runs_a_bulk_and_the_other_takes_it_over(
    cluster: Cluster, telegram: FakeTelegram, wappim: FakeWappim, database: Database
) -> None:
    replicas = [cluster.replica(name, SEND_RATE_PER_MINUTE="300") for name in ("a", "b")]
    for replica in replicas:
        replica.launch()
    for replica in replicas:
        replica.wait_started()
    link(telegram, wappim, database, OWNER, "Shop", "79991234567")
    said(telegram, "/bulk", "Send the list")
    said(telegram, "\n".join("8" + digits[1:] for digits in DIGITS), "Now send")
    preview = said(telegram, "Saturday sale", "preview")
    telegram.press_button(OWNER, preview.message_id, "Start")
    telegram.wait_for(lambda: len(wappim.sent) >= 8, 15)

    holders = database.rows("SELECT holder FROM lease WHERE key LIKE 'bulk:%'")
    assert len(holders) == 1, "one replica runs the bulk"
    runner = next(r for r in replicas if r.holds(holders[0]["holder"]))
    other = next(r for r in replicas if r is not runner)
    edits_before = telegram.message(OWNER, preview.message_id).edits
    runner.kill()

    def summary() -> FakeMessage | None:
        shown = telegram.message(OWNER, preview.message_id)
        return shown if "Bulk send finished" in shown.content else None

    done = telegram.wait_for(summary, 30 + TAKE_OVER)
    holders = database.rows("SELECT holder FROM lease WHERE key LIKE 'bulk:%'")
    assert all(other.holds(row["holder"]) for row in holders), "the survivor runs it now"
    assert done.edits > edits_before, "the same progress message goes on"
    at_gateway = Counter(m.chat_id for m in wappim.sent)
    assert set(at_gateway.values()) == {1}, "nobody twice"
    rows = database.rows(
        "SELECT recipient, status, error FROM outgoing_message WHERE bulk_id IS NOT NULL"
    )
    unknown = {r["recipient"] for r in rows if r["error"] == "uncertain"}
    sent = {r["recipient"] for r in rows if r["status"] == "sent"}
    assert sent | unknown == set(DIGITS) and not sent & unknown
    assert {f"{d}@c.us" for d in sent} <= set(at_gateway)
    assert f"Sent: {len(sent)}" in done.content
    assert (f"Unknown: {len(unknown)}" in done.content) == bool(unknown)
    assert "Traceback" not in other.stderr()
