"""A bulk send of 1,000 recipients through the real bot, with pacing out of the way.

The fakes (the Bot API and the wapp.im emulator) run in a process of their own
(`bench.fakes_process`), the bot in another (`bench.bot_process`, with python-telegram-bot's
rate limiter, as deployed), on a database holding one linked line. A person sends `/bulk`, a
CSV file of `--recipients` (phone, name, order), a text with two fields, and presses Start.
SEND_RATE_PER_MINUTE and SEND_DAILY_CAP are huge, so the pace is the bot's own.

Reported: the time from the Start press to the last gateway request (and to the first one:
storing the rows included), messages a second, the bot's peak RSS and CPU time, and every Bot
API call from the press to the report (the press's answer, the progress message's edits, the
summary, the CSV report). Targets: at least 500 messages a second, and at most one Telegram
call per 3 seconds of the bulk besides the report. For scale, the floor: a bare httpx loop
sending the same requests to the same emulator, 50 at a time (the gateway client's pool).

    .venv/bin/python -m bench.bulk_send [--recipients 1000] [--postgres URL] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import math
import os
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "true")

from cryptography.fernet import Fernet

from bench.fakes_process import FakesProcess
from bench.harness import BotProcess, bot_env, machine, py_spy, stop_on_sigterm
from bench.send_throughput import FAST_TIMELINE, FIRST_USER, bare_loop, database, store_lines

USER = FIRST_USER  # the line's owner (store_lines makes one owner per line)
HUGE = 1_000_000  # SEND_RATE_PER_MINUTE and SEND_DAILY_CAP: pacing out of the way


def the_list(count: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["phone", "name", "order"])
    for n in range(count):
        writer.writerow([f"+7916{n:07d}", f"Name {n}", f"{40000 + n}"])
    return out.getvalue().encode()


def wait_for(what: str, check: object, bot: BotProcess, timeout: float = 60) -> object:
    """Poll `check()` until it gives something, or stop the run (with the bot's log)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()  # type: ignore[operator]
        if value:
            return value
        if time.monotonic() > deadline or not bot.running():
            raise SystemExit(f"no {what} after {timeout:.0f} s\n{bot.log_tail()}")
        time.sleep(0.02)


def run(
    fakes: FakesProcess, database_url: str, count: int, profile: Path | None
) -> dict[str, float]:
    spares = fakes.call("link", 1)
    key = Fernet.generate_key().decode()
    asyncio.run(store_lines(database_url, key, spares))
    env = bot_env(
        fakes.addresses,
        database_url,
        encryption_key=key,
        send_rate_per_minute=HUGE,
        send_daily_cap=HUGE,
        bulk_max_recipients=max(count, 1000),
        incoming_poll_interval=60,  # the line's incoming poller: not what is measured
        link_check_interval=3600,
    )
    bot = BotProcess(env, rate_limit=True)
    bot.start()
    try:
        bot.wait_until(lambda: fakes.call("calls_of", "deleteWebhook") > 0, 60)
        fakes.call("send_texts", [(USER, "/bulk")])
        asked = wait_for("question", lambda: fakes.call("message_with", USER, "Send the list"), bot)
        fakes.call("send_document", USER, the_list(count), "customers.csv")
        wait_for("list read", lambda: fakes.call("message_with", USER, "Now send", asked), bot)
        fakes.call("send_texts", [(USER, "Hello {name}, your order {order} is ready")])
        preview = wait_for("preview", lambda: fakes.call("message_with", USER, "preview"), bot)
        before = fakes.call("sent_count")
        cpu_before = bot.cpu_seconds()
        spy = py_spy(bot.pid, 15, profile / "bulk_send.txt") if profile else None
        pressed = fakes.call("press_button", USER, preview, "Start")
        wait_for(
            "report",
            lambda: any(c.method == "sendDocument" for c in fakes.call("telegram_calls", pressed)),
            bot,
            timeout=60 + count / 20,
        )
        cpu = bot.cpu_seconds() - cpu_before
        sent = fakes.call("sent", pressed)
        calls = fakes.call("telegram_calls", pressed)
        summary = fakes.call("message_text", USER, preview)
        if spy is not None:
            spy.wait()
    finally:
        stopped = bot.stop()
    if len(sent) != count or fakes.call("sent_count") - before != count:
        raise SystemExit(f"{len(sent)} of {count} sent\n{summary}")
    floor = asyncio.run(bare_loop(fakes, spares, count))
    first, last = min(at for _, at in sent), max(at for _, at in sent)
    elapsed = last - pressed
    methods = Counter(c.method for c in calls)
    edits = sorted(c.at for c in calls if c.method == "editMessageText")
    return {
        "recipients": float(count),
        "first": first - pressed,
        "elapsed": elapsed,
        "rate": count / elapsed,
        "peak_rss": stopped.peak_rss_mib if stopped else math.nan,
        "cpu": cpu,
        "calls": float(len(calls)),
        "edits": float(len(edits)),
        "documents": float(methods["sendDocument"]),
        "answers": float(methods["answerCallbackQuery"]),
        "others": float(
            len(calls) - len(edits) - methods["sendDocument"] - methods["answerCallbackQuery"]
        ),
        "bulk_seconds": (edits[-1] - pressed) if edits else elapsed,
        "floor": floor,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--postgres", help="a PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--profile", type=Path, help="a folder for a py-spy profile")
    args = parser.parse_args()
    stop_on_sigterm()
    db_name = "PostgreSQL" if args.postgres else "SQLite"
    print(f"bulk send; machine: {machine()}; database: {db_name}")
    with FakesProcess(instances=1, **FAST_TIMELINE) as fakes, database(args.postgres) as url:
        f = run(fakes, url, args.recipients, args.profile)
    # Allowed: one call per started 3 s of the bulk (the progress), plus the report's (the
    # summary and the CSV document) and the press's answer.
    allowed = math.ceil(f["bulk_seconds"] / 3) + 3
    rate_verdict = "met" if f["rate"] >= 500 else "MISSED"
    calls_verdict = "met" if f["calls"] <= allowed else "MISSED"
    print(
        f"  {f['recipients']:.0f} recipients: Start → first gateway request {f['first']:.2f} s, "
        f"→ last {f['elapsed']:.2f} s: {f['rate']:.0f} messages/s (target >= 500: {rate_verdict})"
    )
    print(
        f"  the floor: a bare httpx loop, the same {f['recipients']:.0f} requests 50 at a time: "
        f"{f['floor']:.0f}/s"
    )
    print(
        f"  bot: peak RSS {f['peak_rss']:.0f} MiB, CPU {f['cpu']:.1f} s during the bulk "
        f"({f['cpu'] * 1000 / f['recipients']:.1f} ms a message)"
    )
    print(
        f"  Telegram calls from the press to the report: {f['calls']:.0f} (the press's answer "
        f"{f['answers']:.0f}, progress edits incl. the summary {f['edits']:.0f}, report "
        f"{f['documents']:.0f}, other {f['others']:.0f}); allowed {allowed}: {calls_verdict}"
    )


if __name__ == "__main__":
    main()
