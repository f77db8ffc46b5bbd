"""Connect capacity: N people send /connect at the same moment, and one bot process takes each of
them to a QR photo, then (once their phones scan) to their name and phone.

The bot runs as `python -m bench.bot_process` (the real `bot.app.run`) against the wapp.im
emulator and the fake Bot API, which run in a process of their own (`bench.fakes_process`), so
the bot has a core to itself and its peak RSS is its own. The bot's rate limiter is off unless
`--rate-limit`: with it, Telegram's 30 calls a second would be all we measured (10,000 connects
take minutes of Telegram calls); the Telegram calls per connect are counted instead, and the
wait they mean at 30 calls a second is worked out from them. Without the limiter the connect
queue admits everybody at once (`--admission paced` keeps its pace, 5 a second, anyway).

With the limiter on, the connect queue paces the attempts, and the run checks what it promises
(`--scan-after 10`: each phone scans its QR 10 s after it reached Telegram, as people do):
every QR photo that reaches the fake Bot API is read back and compared with the validity window
the emulator gave it (still valid when shown?); everybody whose QR came more than 20 s after
their /connect should have had the photo with their place in line before it; and every
`--probe-every` seconds somebody who is not connecting sends /help, and the wait for the answer
is measured (what the rate limiter's lanes are for).

Poll schedule lag: each attempt asks the gateway for its line's status, waits
STATUS_POLL_INTERVAL, asks again. From the emulator's request log (arrival times, one clock for
all processes), for every line, the gap between two consecutive status requests minus the
interval is how late the second one came: the bot's event loop being busy, the gateway call, the
database, and, when a new QR came, showing it in Telegram. The first gap of each line (the
waking `status` right before the first poll) is left out. `hold` keeps everybody looking at their
QR for a while before the scans, so the schedule is measured in its steady state too.

    .venv/bin/python -m bench.connect_scale [--users 1000,5000,10000] [--poll 5] [--hold 30]
                                            [--rate-limit] [--scan-after 10] [--profile DIR]
                                            [--admission auto|paced|unpaced] [--probe-every 5]
                                            [--transport aiohttp|httpcore]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bench.fakes_process import FakesProcess, QrCheck, TelegramCall
from bench.harness import (
    BotProcess,
    bot_env,
    machine,
    percentile,
    py_spy,
    sqlite_database,
    stop_on_sigterm,
)

FIRST_USER = 10_000_000  # the Telegram id of the first person
FIRST_PROBE = 90_000_000  # the Telegram id of the first person sending /help meanwhile
QR_CAPTION = "Linked devices"  # in the caption of every QR photo
IN_LINE = "in line for a QR code"  # in the caption of the photo that shows a place in line
LINKED = "connected as"  # in the message that names the linked account
ANSWER = "What I can do"  # in the answer to /help
TELL_AFTER = 20.0  # a QR further away than this from the /connect: the place must be told
SLACK = 5.0  # seconds of tolerance on that
TELEGRAM_LIMIT = 30.0  # Bot API calls a second, per bot
TARGET_LAG, TARGET_RSS = 0.250, 400.0  # the targets at 10,000: p99 lag (s), MiB
PROFILE_SECONDS = 30  # --profile samples the bot from the /connect burst on, this long (default)


@dataclass
class Run:
    people: int
    qr_seconds: list[float]  # per person: from the /connect burst to their QR photo
    linked_seconds: list[float]  # per person: from the scans to "connected as"
    stages: dict[str, list[float]]  # per person: seconds from the burst to each step
    lags: list[float]  # every status poll's lateness (s), whole run
    hold_lags: list[float]  # the same, while everybody looked at their QR
    calls: list[TelegramCall]
    status_polls: int
    wall: float
    peak_rss: float
    cpu: float  # the bot's CPU seconds
    fakes_cpu: float  # the fakes' CPU seconds during the run
    complete: bool
    started: float  # monotonic, the /connect burst
    checks: list[QrCheck]  # every QR photo that reached Telegram, checked (--scan-after, limiter)
    probes: list[float | None]  # seconds to the answer of each probing /help (None: none came)


def wait_shown(
    fakes: FakesProcess, bot: BotProcess, marker: str, people: int, since: float, deadline: float
) -> dict[int, float]:
    """chat → when `marker` first reached it, once every person has it (or at the deadline)."""
    said = time.monotonic()
    while True:
        shown: dict[int, float] = fakes.call("chats_shown", marker, since)
        if len(shown) >= people or time.monotonic() > deadline or not bot.running():
            return shown
        if time.monotonic() - said > 10:  # progress, for runs that take minutes
            print(f"  … {len(shown)} of {people} shown {marker!r}", file=sys.stderr)
            said = time.monotonic()
        time.sleep(min(2.0, 0.5 + people / 5000))  # reading every call costs the fakes' CPU


class Probes:
    """Every `every` seconds, somebody new sends /help; `answers` tells how long each waited."""

    def __init__(self, fakes: FakesProcess, every: float) -> None:
        self.fakes, self.every = fakes, every
        self.sent: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        if self.every > 0:
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            user = FIRST_PROBE + len(self.sent)
            self.sent[user] = time.monotonic()
            self.fakes.call("send_texts", [(user, "/help")])

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def answers(self, since: float) -> list[float | None]:
        answered: dict[int, float] = self.fakes.call("chats_shown", ANSWER, since)
        return [answered[user] - at if user in answered else None for user, at in self.sent.items()]


def lateness(
    polls: dict[int, list[float]], interval: float, within: tuple[float, float]
) -> tuple[list[float], list[float]]:
    """Every line's gaps between status polls minus the interval; all, and those within."""
    lags, held = [], []
    for times in polls.values():
        times.sort()
        for before, after in itertools.pairwise(times[1:]):
            lags.append(after - before - interval)
            if within[0] <= before and after <= within[1]:
                held.append(after - before - interval)
    return lags, held


def run_once(
    people: int,
    poll: float,
    hold: float,
    rate_limit: bool,
    timeout: float,
    profile: Path | None,
    scan_after: float | None = None,
    admission: str = "auto",
    probe_every: float = 0.0,
    profile_seconds: float = PROFILE_SECONDS,
    transport: str = "aiohttp",
) -> Run:
    fakes = FakesProcess(
        instances=people,
        init_seconds=1.0,
        first_qr_seconds=60.0,
        rotate_seconds=20.0,
        max_qrs=6,
        pair_seconds=1.0,
    )
    try:
        with sqlite_database() as database_url, contextlib.ExitStack() as stack:
            env = bot_env(
                fakes.addresses,
                database_url,
                status_poll_interval=poll,
                connect_timeout=3600,
                link_check_interval=3600,
                incoming_poll_interval=60,  # the linked lines' pollers: not what is measured
            )
            pace = None if admission == "auto" else {"unpaced": admission == "unpaced"}
            bot = BotProcess(env, rate_limit=rate_limit, pace=pace, args=["--transport", transport])
            bot.start()
            stack.callback(bot.stop)
            bot.wait_until(lambda: fakes.call("calls_of", "deleteWebhook") > 0, 60)
            if rate_limit or scan_after is not None:
                fakes.call("watch_qrs", QR_CAPTION, scan_after)
            users = [FIRST_USER + n for n in range(people)]
            fakes_cpu = fakes.call("cpu_seconds")
            started = time.monotonic()
            fakes.call("send_texts", [(user, "/connect") for user in users])
            probes = Probes(fakes, probe_every)
            probes.start()
            spy = (
                py_spy(bot.pid, profile_seconds, profile / f"connect-{people}.txt")
                if profile
                else None
            )
            deadline = started + timeout
            qrs = wait_shown(fakes, bot, QR_CAPTION, people, started, deadline)
            hold_from = time.monotonic()
            if scan_after is None:  # everybody looks at their QR, then all scan at once
                time.sleep(hold if len(qrs) >= people else 0)
                fakes.call("scan_assigned")
            hold_to = scanned = time.monotonic()
            if scan_after is not None:  # the phones scan as their QRs come: linked from the start
                scanned = started
            last = max(deadline, time.monotonic() + 60)
            linked = wait_shown(fakes, bot, LINKED, people, scanned, last)
            probes.stop()
            wall = time.monotonic() - started
            fakes_cpu = fakes.call("cpu_seconds") - fakes_cpu
            if spy is not None:
                spy.wait()
            peak_rss, cpu = bot.peak_rss_mib(), bot.cpu_seconds()
            bot.stop()
        polls = fakes.call("request_times", "/status", started)
        calls = fakes.call("telegram_calls", started)
        spares = fakes.call("arrivals", "chat/spare", started)
        calls = [c for c in calls if c.chat_id is None or c.chat_id < FIRST_PROBE]
        checks = fakes.call("qr_report")
        answers = probes.answers(started)
    finally:
        fakes.stop()
    lags, hold_lags = lateness(polls, poll, (hold_from, hold_to))
    return Run(
        people=people,
        stages=stages(calls, spares, started),
        qr_seconds=[at - started for at in qrs.values()],
        linked_seconds=[at - scanned for at in linked.values()],
        lags=lags,
        hold_lags=hold_lags,
        calls=calls,
        status_polls=sum(len(times) for times in polls.values()),
        wall=wall,
        peak_rss=peak_rss,
        cpu=cpu,
        fakes_cpu=fakes_cpu,
        complete=len(qrs) >= people and len(linked) >= people,
        started=started,
        checks=checks,
        probes=answers,
    )


def stages(
    calls: list[TelegramCall], spares: list[float], started: float
) -> dict[str, list[float]]:
    """Seconds from the /connect burst to each step of every person's way to the QR."""
    first: dict[str, dict[int, float]] = {"message": {}, "place": {}, "QR": {}}
    for call in calls:
        if call.chat_id is None or not call.ok or call.chat_id >= FIRST_PROBE:
            continue
        if call.method in ("sendMessage", "sendPhoto"):
            first["message"].setdefault(call.chat_id, call.at - started)
        if IN_LINE in call.text:
            first["place"].setdefault(call.chat_id, call.at - started)
        if QR_CAPTION in call.text:
            first["QR"].setdefault(call.chat_id, call.at - started)
    found = {
        "first message": list(first["message"].values()),
        "place in line": list(first["place"].values()),
        "line from the gateway": [at - started for at in spares],
        "QR shown": list(first["QR"].values()),
    }
    return {name: times for name, times in found.items() if times}


def untold(calls: list[TelegramCall], started: float) -> tuple[int, int]:
    """(people whose QR came more than TELL_AFTER after their /connect, those of them who had
    no photo with their place in line before it)."""
    told: dict[int, float] = {}
    shown: dict[int, float] = {}
    for call in sorted(calls, key=lambda c: c.at):
        if call.chat_id is None or not call.ok:
            continue
        if IN_LINE in call.text:
            told.setdefault(call.chat_id, call.at)
        if QR_CAPTION in call.text:
            shown.setdefault(call.chat_id, call.at)
    far = [chat for chat, at in shown.items() if at - started > TELL_AFTER + SLACK]
    return len(far), sum(1 for chat in far if told.get(chat, shown[chat]) >= shown[chat])


def calls_before_qr(calls: list[TelegramCall]) -> float:
    """Telegram calls per person up to and including the one that showed their first QR."""
    seen: Counter[int] = Counter()
    before: dict[int, int] = {}
    for call in sorted(calls, key=lambda c: c.at):
        if call.chat_id is None or call.chat_id in before:
            continue
        seen[call.chat_id] += 1
        if call.ok and QR_CAPTION in call.text:
            before[call.chat_id] = seen[call.chat_id]
    return sum(before.values()) / max(1, len(before))


def header(poll: float, hold: float, rate_limit: bool, scan_after: float | None) -> list[str]:
    limiter = "on (30 calls/s)" if rate_limit else "off (Telegram calls counted instead)"
    scans = (
        f"each QR scanned {scan_after:g} s after it reached Telegram"
        if scan_after is not None
        else f"QRs held {hold:g} s before the scans"
    )
    return [
        f"connect capacity: N people send /connect at once; STATUS_POLL_INTERVAL {poll:g} s; "
        f"{scans}; rate limiter {limiter}",
        f"machine: {machine()}; the bot in one process, the fakes in another",
        "  people | QR shown p50 / max | linked max | poll lag p50 / p99 / max | "
        "lag p99 (QR held) | peak RSS | CPU bot / fakes | Telegram calls/connect (to the QR)",
    ]


def report(
    runs: list[Run],
    poll: float,
    hold: float,
    rate_limit: bool,
    scan_after: float | None = None,
    out: TextIO = sys.stdout,
) -> None:
    for line in header(poll, hold, rate_limit, scan_after):
        print(line, file=out)
    for r in runs:
        p = percentile
        print(
            f"  {r.people:6d} | {p(r.qr_seconds, 0.5):6.1f} s / {max(r.qr_seconds, default=0):5.1f} s"
            f" | {max(r.linked_seconds, default=0):6.1f} s"
            f" | {p(r.lags, 0.5) * 1000:6.0f} / {p(r.lags, 0.99) * 1000:6.0f} /"
            f" {max(r.lags, default=0) * 1000:6.0f} ms"
            + (f" | {p(r.hold_lags, 0.99) * 1000:10.0f} ms" if r.hold_lags else " |          —   ")
            + f" | {r.peak_rss:4.0f} MiB | {r.cpu / r.wall * 100:3.0f} / {r.fakes_cpu / r.wall * 100:3.0f} %"
            f" | {len(r.calls) / r.people:5.2f} ({calls_before_qr(r.calls):.2f})"
            + ("" if r.complete else "  INCOMPLETE"),
            file=out,
        )
    for r in runs:
        steps = "; ".join(
            f"{name} {percentile(times, 0.5):.1f} / {max(times, default=0):.1f} s"
            for name, times in r.stages.items()
        )
        print(f"  {r.people}: p50 / max from the burst: {steps}", file=out)
    for r in runs:
        methods = Counter(c.method for c in r.calls)
        per = ", ".join(f"{m} {n / r.people:.2f}" for m, n in methods.most_common())
        print(
            f"  {r.people}: {r.status_polls} status polls in {r.wall:.0f} s; "
            f"{len(r.qr_seconds)} QRs shown, {len(r.linked_seconds)} linked; calls/connect: {per}",
            file=out,
        )
    for r in runs:
        queue_report(r, out)
    first = runs[0]
    before = calls_before_qr(first.calls)
    print(
        f"at Telegram's {TELEGRAM_LIMIT:g} calls/s, the last of 1,000 people connecting at once "
        f"waits at least {1000 * before / TELEGRAM_LIMIT:.0f} s for the QR "
        f"({before:.2f} calls each up to the QR), "
        f"{1000 * len(first.calls) / first.people / TELEGRAM_LIMIT:.0f} s for all calls of "
        "1,000 connects",
        file=out,
    )
    biggest = runs[-1]
    met = (
        biggest.people >= 10_000
        and biggest.complete
        and percentile(biggest.lags, 0.99) < TARGET_LAG
        and biggest.peak_rss < TARGET_RSS
    )
    print(
        f"target (10,000 at once, p99 lag < {TARGET_LAG * 1000:.0f} ms, RSS < {TARGET_RSS:.0f} "
        f"MiB): {'met' if met else 'MISSED'}",
        file=out,
    )


def queue_report(r: Run, out: TextIO) -> None:
    """What the connect queue promises: QRs valid when shown, places told, answers first."""
    p = percentile
    if r.checks:
        left = [c.left for c in r.checks]
        stale = sum(1 for c in r.checks if c.instance is None or c.left <= 0)
        print(
            f"  {r.people}: {len(r.checks)} QR photos reached Telegram, {stale} of them no longer "
            f"valid; validity left when shown p1 / p50 / min {p(left, 0.01):.1f} / "
            f"{p(left, 0.5):.1f} / {min(left):.1f} s",
            file=out,
        )
    far, untold_ = untold(r.calls, r.started)
    firsts = r.stages.get("first message", [])
    print(
        f"  {r.people}: first message after the /connect p50 / p99 / max "
        f"{p(firsts, 0.5):.1f} / {p(firsts, 0.99):.1f} / {max(firsts, default=0):.1f} s; "
        f"{far} waited more than {TELL_AFTER + SLACK:g} s for their QR, {untold_} of them "
        "without their place in line before it",
        file=out,
    )
    if r.probes:
        waits = [w for w in r.probes if w is not None]
        print(
            f"  {r.people}: /help from someone not connecting, every few seconds: answered "
            f"{len(waits)} of {len(r.probes)}, after p50 / max {p(waits, 0.5):.2f} / "
            f"{max(waits, default=0):.2f} s",
            file=out,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="1000", help="comma-separated, e.g. 1000,5000,10000")
    parser.add_argument("--poll", type=float, default=5.0)
    parser.add_argument("--hold", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run, at most")
    parser.add_argument("--rate-limit", action="store_true")
    parser.add_argument("--profile", type=Path, help="a folder for py-spy profiles of the bot")
    parser.add_argument(
        "--scan-after",
        type=float,
        help="each phone scans its QR this many seconds after it reached Telegram "
        "(default: all scan together once every QR was shown and held)",
    )
    parser.add_argument(
        "--admission",
        choices=["auto", "paced", "unpaced"],
        default="auto",
        help="the connect queue: paced with the limiter, everybody at once without (auto)",
    )
    parser.add_argument("--probe-every", type=float, default=5.0, help="0: no /help probes")
    parser.add_argument("--profile-seconds", type=float, default=PROFILE_SECONDS)
    parser.add_argument(
        "--transport",
        choices=["aiohttp", "httpcore"],
        default="aiohttp",
        help="the bot's HTTP transport: its own (aiohttp), or httpx's own (before)",
    )
    args = parser.parse_args()
    stop_on_sigterm()
    runs = []
    for people in (int(n) for n in args.users.split(",")):
        runs.append(
            run_once(
                people,
                args.poll,
                args.hold,
                args.rate_limit,
                args.timeout,
                args.profile,
                args.scan_after,
                args.admission,
                args.probe_every,
                args.profile_seconds,
                args.transport,
            )
        )
        print(f"  … {people}: done", file=sys.stderr)
        report(runs[-1:], args.poll, args.hold, args.rate_limit, args.scan_after, sys.stderr)
        print(file=sys.stderr)
    report(runs, args.poll, args.hold, args.rate_limit, args.scan_after)


if __name__ == "__main__":
    main()
