"""How fast incoming WhatsApp messages reach Telegram: the real bot against the local fakes.

N lines are linked at the wapp.im emulator directly (spare, QR, scan: no Telegram involved) and
written into the bot's database as linked; the bot then polls every line, waiting one
INCOMING_POLL_INTERVAL between empty polls. Once every line has been polled (the pollers start
spread over one interval) and two more intervals went by, R messages a second in all arrive on
random lines; a message's latency runs from the moment the emulator holds it to the moment the
fake Bot API receives the sendMessage that shows it. A line that has just been polled is looked
at again one interval later, so the tail cannot beat one interval; the target is p99 at most 1.25
intervals.

Two ways to run it:

- the bot, the fake Bot API and the wapp.im emulator in this one process (the default up to 1,000
  lines): they share its cores and its GIL, so the latencies are an upper bound;
- `--split` (the default above 1,000 lines): the bot in a process of its own
  (`bench.bot_process`, python-telegram-bot's rate limiter off, its Telegram calls counted
  instead; its peak RSS and CPU reported), the fakes in another (`bench.fakes_process`), this
  process mostly waiting; time stamps are compared on the machine's one monotonic clock. The
  target there is the issue's: 10,000 lines, INCOMING_POLL_INTERVAL 5, 20 messages a second,
  p99 at most 1.25 intervals and peak RSS under 400 MiB. `--profile DIR` samples the bot with
  py-spy during the messages (raw stacks for `bench.profile_top`).

With --threads the bot's Threaded Mode is on (the fake Bot API with topics in private chats): each
line's contact first writes once (a warm-up: every conversation gets its topic), then one message
in ten comes from a new contact (a topic is made: createForumTopic and its header before the
message). Besides the latency it prints the Telegram calls per incoming message, for the
conversations that already have their topic (target: at most 1) and for the new ones.

    .venv/bin/python -m bench.incoming_latency [--lines 100] [--rate 10] [--seconds 30]
                                               [--interval 2.0] [--threads]
                                               [--split | --one-process] [--profile DIR]
    .venv/bin/python -m bench.incoming_latency --lines 10000 --interval 5 --rate 20 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import re
import resource
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

os.environ.setdefault("PTB_TIMEDELTA", "true")

from pydantic import SecretStr

from bench.fakes_process import FakesHost, FakesProcess, TelegramCall
from bench.harness import BotProcess, bot_env, machine, py_spy, stop_on_sigterm, store_lines
from bot.config import Settings

TARGET = 1.25  # p99 in poll intervals, the target
TARGET_RSS = 400.0  # MiB, the bot's peak RSS (split mode), the target
CALLS_TARGET = 1.0  # Telegram calls per message once its conversation has its topic (threads)
FIRST_USER = 20_000  # the Telegram id of the first line's owner; one owner per line
BENCH_TEXT = re.compile(r"\bbench (\d+)\b")
NEW_EVERY = 10  # threads: one message in ten from a new contact
HEADER = "Write here to answer"  # in the first message of every new topic
SPLIT_ABOVE = 1000  # lines: above this, the bot and the fakes run in processes of their own
TIMELINE = {  # the emulator: lines linked within a second of their spare
    "init_seconds": 0.1,
    "first_qr_seconds": 60.0,
    "rotate_seconds": 20.0,
    "max_qrs": 6,
    "pair_seconds": 0.1,
}


class Fakes(Protocol):
    addresses: Any

    async def acall(self, name: str, *args: Any) -> Any: ...

    def stop(self) -> None: ...


class LocalFakes:
    """The fakes in this process (`FakesHost`, as the fakes' process runs it), called the same
    way; each call runs in a worker thread, off the bot's event loop."""

    def __init__(self, instances: int, threaded: bool, timeline: dict[str, float]) -> None:
        self.host = FakesHost(instances, timeline, threaded=threaded)
        self.addresses = self.host.addresses()

    async def acall(self, name: str, *args: Any) -> Any:
        return await asyncio.to_thread(getattr(self.host, name), *args)

    def stop(self) -> None:
        self.host.stop()


class InProcessBot:
    """`bot.app.run` as a task of this process's event loop (python-telegram-bot's limiter on)."""

    def __init__(self, env: dict[str, str]) -> None:
        values: dict[str, Any] = {key.lower(): value for key, value in env.items()}
        for secret in ("telegram_bot_token", "encryption_key"):
            values[secret] = SecretStr(values[secret])
        self.settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        self.stop_event = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        from bot.app import run

        self.task = asyncio.create_task(run(self.settings, self.stop_event))

    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    async def failure(self) -> str:
        assert self.task is not None
        await self.task  # a start-up error shows here
        return "the bot stopped"

    async def stop(self) -> None:
        self.stop_event.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 30)


class SplitBot:
    """The bot as `python -m bench.bot_process --no-rate-limit` (see `bench.harness`)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = BotProcess(env, rate_limit=False)
        self.summary_rss = math.nan

    def start(self) -> None:
        self.process.start()

    def running(self) -> bool:
        return self.process.running()

    async def failure(self) -> str:
        return f"the bot exited:\n{self.process.log_tail()}"

    async def stop(self) -> None:
        summary = await asyncio.to_thread(self.process.stop)
        if summary is not None:
            self.summary_rss = summary.peak_rss_mib


def known_contact(instance: int) -> str:
    """The contact who writes to a line again and again (threads: its topic exists)."""
    return f"7900{instance:07d}"


def plan(
    instances: list[int], rate: float, seconds: float, *, new_every: int = 0
) -> tuple[list[tuple[int, str, str]], set[int]]:
    """Messages `bench 0`, `bench 1`, …, each on a random line, from the line's known contact,
    or with `new_every`, one in new_every (at random) from a contact never seen before:
    (instance, phone, text) of each, and the numbers of those from new contacts."""
    rng, messages, new = random.Random(1), [], set()
    for n in range(round(rate * seconds)):
        instance = rng.choice(instances)
        phone = known_contact(instance)
        if new_every and rng.randrange(new_every) == 0:
            phone = f"7901{n:07d}"
            new.add(n)
        messages.append((instance, phone, f"bench {n}"))
    return messages, new


async def warm_up(fakes: Fakes, bot: InProcessBot | SplitBot, instances: list[int]) -> None:
    """Threads: each line's known contact writes once, and its topic is made."""
    since = time.monotonic()
    await fakes.acall(
        "receive", [(i, known_contact(i), f"warm {n}") for n, i in enumerate(instances)]
    )
    deadline = time.monotonic() + 120 + len(instances) / 20
    while await fakes.acall("shown_count", "warm ", since) < len(instances):
        if not bot.running():
            raise SystemExit(await bot.failure())
        if time.monotonic() > deadline:
            raise SystemExit("the warm-up's topics were not all made in time")
        await asyncio.sleep(1.0)


def arrivals(calls: list[TelegramCall]) -> dict[int, list[float]]:
    """Message number → when each sendMessage showing it reached the fake Bot API."""
    seen: dict[int, list[float]] = {}
    for call in calls:
        if call.method == "sendMessage" and call.ok and (m := BENCH_TEXT.search(call.text)):
            seen.setdefault(int(m[1]), []).append(call.at)
    return seen


def calls_per_message(
    calls: list[TelegramCall], arrived: set[int], new: set[int]
) -> tuple[float, float]:
    """Telegram calls per message (of those that arrived) from a known contact and per message
    from a new one, during the run: a message's own sendMessage; a new contact's createForumTopic
    and header; anything else (a rename…) is counted against the known ones, to be safe."""
    known_calls = new_calls = 0
    for call in calls:
        match = BENCH_TEXT.search(call.text)
        if (
            call.method == "createForumTopic"
            or HEADER in call.text
            or (match and int(match[1]) in new)
        ):
            new_calls += 1
        else:
            known_calls += 1
    fresh = len(arrived & new)
    return known_calls / max(1, len(arrived) - fresh), new_calls / max(1, fresh)


def percentile(ordered: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def machine_cpu_seconds() -> float:
    """CPU time every process on the machine used since boot (Linux's /proc/stat), else NaN."""
    try:
        ticks = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    except OSError:
        return math.nan
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, ticks)
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    held: list[float]
    new: set[int]
    calls: list[TelegramCall]  # the bot's Telegram calls from the first message on
    polls: int
    wall: float
    cpu: float  # split: the bot's; one process: the whole process's
    loop_cpu: float  # one process: the bot's event loop thread's
    fakes_cpu: float  # split: the fakes' process's
    others: float  # the machine's CPU time besides the bot and the fakes (and this process)
    peak_rss: float  # split: the bot's (MiB)
    linked_in: float  # seconds to link the lines at the emulator and store them
    first_polls: float  # seconds from the bot's start to every line polled once


async def measure(args: argparse.Namespace, split: bool) -> Result:
    fakes: Fakes
    if split:
        fakes = FakesProcess(instances=args.lines, threaded=args.threads, **TIMELINE)
    else:
        fakes = LocalFakes(args.lines, args.threads, TIMELINE)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            database_url = f"sqlite://{Path(tmp) / 'bench.sqlite3'}"
            env = bot_env(
                fakes.addresses,
                database_url,
                incoming_poll_interval=args.interval,
                link_check_interval=3600,
            )
            return await measure_with(args, split, fakes, env, database_url)
    finally:
        fakes.stop()


async def measure_with(
    args: argparse.Namespace, split: bool, fakes: Fakes, env: dict[str, str], database_url: str
) -> Result:
    began = time.monotonic()
    spares: list[tuple[int, str]] = await fakes.acall("link", args.lines)
    instances = [instance for instance, _ in spares]
    # In a task of its own: Tortoise keeps its connections in a context variable.
    await asyncio.create_task(store_lines(database_url, env["ENCRYPTION_KEY"], spares, FIRST_USER))
    linked_in = time.monotonic() - began
    print(f"  … {args.lines} lines linked and stored in {linked_in:.0f} s", file=sys.stderr)

    bot: InProcessBot | SplitBot = SplitBot(env) if split else InProcessBot(env)
    bot_started = time.monotonic()
    bot.start()
    try:
        deadline = bot_started + 60 + 2 * args.interval + args.lines / 100
        while (polled := await fakes.acall("lines_polled", "/messages", bot_started)) < args.lines:
            if not bot.running():
                raise SystemExit(await bot.failure())
            if time.monotonic() > deadline:
                raise SystemExit(f"only {polled} of {args.lines} lines polled")
            await asyncio.sleep(0.5)
        first_polls = time.monotonic() - bot_started
        print(f"  … every line polled {first_polls:.1f} s after the start", file=sys.stderr)
        if args.threads:
            await warm_up(fakes, bot, instances)
        await asyncio.sleep(max(3.0, 2 * args.interval))  # the pollers settle into their pace

        messages, new = plan(
            instances, args.rate, args.seconds, new_every=NEW_EVERY if args.threads else 0
        )
        started = time.monotonic()
        machine0, fakes0 = machine_cpu_seconds(), 0.0
        if split:
            assert isinstance(bot, SplitBot)
            cpu0, fakes0 = bot.process.cpu_seconds(), await fakes.acall("cpu_seconds")
            loop0 = 0.0
        else:
            cpu0, loop0 = cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_THREAD)
        self0 = cpu_seconds(resource.RUSAGE_SELF)
        spy = None
        if args.profile is not None and isinstance(bot, SplitBot):
            args.profile.mkdir(parents=True, exist_ok=True)
            out = args.profile / f"incoming-{args.lines}{'-threads' if args.threads else ''}.txt"
            spy = py_spy(bot.process.pid, args.seconds, out)
            if spy is None:
                print("  (no py-spy found: no profile)", file=sys.stderr)
        held: list[float] = await fakes.acall("receive", messages, args.rate)
        grace = time.monotonic() + 3 * args.interval + 5
        while time.monotonic() < grace:
            calls = await fakes.acall("telegram_calls", started)
            if len(arrivals(calls)) >= len(held):
                break
            await asyncio.sleep(0.5)
        wall = time.monotonic() - started
        if split:
            assert isinstance(bot, SplitBot)
            cpu = bot.process.cpu_seconds() - cpu0
            fakes_cpu = await fakes.acall("cpu_seconds") - fakes0
            loop_cpu = 0.0
            peak_rss = bot.process.peak_rss_mib()
        else:
            cpu = cpu_seconds(resource.RUSAGE_SELF) - cpu0
            loop_cpu, fakes_cpu = cpu_seconds(resource.RUSAGE_THREAD) - loop0, 0.0
            peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        own = cpu_seconds(resource.RUSAGE_SELF) - self0 if split else 0.0
        # /proc/stat ticks are coarse: a second or so of noise
        others = max(0.0, machine_cpu_seconds() - machine0 - cpu - fakes_cpu - own)
        calls = await fakes.acall("telegram_calls", started)
        polls = (await fakes.acall("request_counts", started)).get("messages", 0)
        if spy is not None:
            await asyncio.to_thread(spy.wait)
    finally:
        await bot.stop()
    if split and isinstance(bot, SplitBot) and not math.isnan(bot.summary_rss):
        peak_rss = max(peak_rss, bot.summary_rss)
    return Result(
        held,
        new,
        calls,
        polls,
        wall,
        cpu,
        loop_cpu,
        fakes_cpu,
        others,
        peak_rss,
        linked_in,
        first_polls,
    )


def report(args: argparse.Namespace, split: bool, r: Result) -> None:
    interval, lines = args.interval, args.lines
    seen = arrivals(r.calls)
    held = r.held
    latencies = sorted(seen[n][0] - at for n, at in enumerate(held) if n in seen)
    fresh = sorted(seen[n][0] - at for n, at in enumerate(held) if n in seen and n in r.new)
    lost = len(held) - len(latencies)
    duplicated = sum(len(times) - 1 for times in seen.values())
    mode = "threads: a topic per conversation" if args.threads else "flat"
    where = (
        "the bot in one process (rate limiter off, Telegram calls counted), the fakes in another"
        if split
        else "the bot and the fakes in one process"
    )
    print(f"lines linked:              {lines}  (INCOMING_POLL_INTERVAL {interval:g}s; {mode})")
    print(f"processes:                 {where}")
    print(f"machine:                   {machine()}")
    print(
        f"set-up:                    {r.linked_in:.0f}s to link and store the lines; every line "
        f"polled {r.first_polls:.1f}s after the bot's start"
    )
    print(f"messages:                  {len(held)}  ({args.rate:g}/s in all for {args.seconds:g}s)")
    print(
        f"lost / twice:              {lost} / {duplicated}  (lost: not in Telegram "
        f"{3 * interval + 5:g}s after the last message)"
    )
    print(
        f"polls of the gateway:      {r.polls / r.wall:.1f}/s  (expected about "
        f"{lines / interval + args.rate:.1f}/s: each line once an interval, and once more right "
        "after each message)"
    )
    if not latencies:
        raise SystemExit("no message reached Telegram")
    late = f"  (of the {len(latencies)} that arrived)" if lost else ""
    print(f"latency          seconds   intervals{late}")
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)):
        value = percentile(latencies, q)
        print(f"  {name}           {value:7.3f}   {value / interval:9.2f}")
    p99 = percentile(latencies, 0.99) / interval
    met = p99 <= TARGET and not lost and (not split or r.peak_rss < TARGET_RSS)
    rss = f", peak RSS < {TARGET_RSS:.0f} MiB" if split else ""
    print(
        f"target p99 <= {TARGET} intervals{rss}: {'met' if met else 'MISSED'}  "
        f"(p99 {p99:.2f}, lost {lost}" + (f", peak RSS {r.peak_rss:.0f} MiB)" if split else ")")
    )
    methods = Counter(c.method for c in r.calls)
    calls = ", ".join(f"{name} {count}" for name, count in sorted(methods.items()))
    print(f"Telegram calls in the run:  {calls or 'none'}")
    print(f"Telegram calls per message: {len(r.calls) / max(1, len(held)):.2f} in all")
    if args.threads:
        if fresh:
            print(
                f"  from new contacts ({len(fresh)}): p50 {percentile(fresh, 0.5) / interval:.2f}, "
                f"p99 {percentile(fresh, 0.99) / interval:.2f} intervals (their topic made first)"
            )
        per_known, per_new = calls_per_message(r.calls, set(seen), r.new)
        verdict = "met" if per_known <= CALLS_TARGET else "MISSED"
        print(
            f"  {per_known:.2f} once the conversation has its topic (target <= {CALLS_TARGET:g}: "
            f"{verdict}), {per_new:.2f} from a new contact"
        )
    if split:
        print(
            f"the bot:                   peak RSS {r.peak_rss:.0f} MiB; CPU {r.cpu:.1f}s in "
            f"{r.wall:.1f}s ({r.cpu / r.wall * 100:.0f} % of a core)"
        )
        print(
            f"the fakes:                 CPU {r.fakes_cpu:.1f}s ({r.fakes_cpu / r.wall * 100:.0f} %"
            " of a core; near 100 %: they were the bottleneck)"
        )
    else:
        print(
            f"CPU time:                  {r.cpu:.1f}s in {r.wall:.1f}s for the whole process (bot "
            f"and fakes), {r.loop_cpu:.1f}s of it on the bot's event loop (SQLite runs in its own "
            f"thread); peak RSS {r.peak_rss:.0f} MiB (bot and fakes)"
        )
    print(
        f"other processes' CPU time: {r.others:.1f}s meanwhile (more than ~1s: the figures are "
        "noisy)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--threads", action="store_true", help="Threaded Mode on: topics")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--split",
        action="store_true",
        default=None,
        help=f"the bot and the fakes in processes of their own (default above {SPLIT_ABOVE} lines)",
    )
    where.add_argument("--one-process", dest="split", action="store_false")
    parser.add_argument("--profile", type=Path, help="split: a folder for a py-spy profile")
    args = parser.parse_args()
    split = args.split if args.split is not None else args.lines > SPLIT_ABOVE
    stop_on_sigterm()
    result = asyncio.run(measure(args, split))
    report(args, split, result)


if __name__ == "__main__":
    main()
