"""The real bot in a process of its own, for the benchmarks: `python -m bench.bot_process`.

It is `python -m bot` with differences that only a benchmark wants: `--no-rate-limit` runs
the bot without its rate limiter (which keeps it under Telegram's 30 calls a second,
so with it a benchmark would measure Telegram's limit instead of the bot; the connect queue then
admits everybody at once, unless `--pace JSON` gives it a pace, the fields of
`bot.services.admission.Pace`), and at exit it prints one JSON line on stdout with this process's
peak RSS and CPU time. For comparisons (they are not settings of the bot): `--transport httpcore`
puts httpx's own transport back under every client instead of `bot.transport`, and `--loop
uvloop` runs it on uvloop instead of asyncio's own loop. Settings come from the environment only
(no `.env`); SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource

os.environ.setdefault("PTB_TIMEDELTA", "true")

import httpx

import bot.transport


def httpcore_transport(
    *, limits: httpx.Limits = bot.transport.DEFAULT_LIMITS
) -> httpx.AsyncHTTPTransport:
    return httpx.AsyncHTTPTransport(limits=limits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-rate-limit", action="store_true")
    parser.add_argument("--pace", help="the connect queue's pace, JSON (bot.services.admission)")
    parser.add_argument("--transport", choices=["aiohttp", "httpcore"], default="aiohttp")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    if args.transport == "httpcore":  # before the modules that take the transport are imported
        bot.transport.AiohttpTransport = httpcore_transport  # type: ignore[misc,assignment]
    from bot.app import run
    from bot.config import Settings
    from bot.logs import setup_logging
    from bot.services.admission import Pace

    settings = Settings(_env_file=None)  # type: ignore[call-arg]  # from the environment
    setup_logging(settings.log_level)
    pace = Pace(**json.loads(args.pace)) if args.pace else None
    new_loop = asyncio.new_event_loop  # as `python -m bot` runs
    if args.loop == "uvloop":
        import uvloop

        new_loop = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=new_loop) as runner:
        runner.run(run(settings, rate_limit=not args.no_rate_limit, pace=pace))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    summary = {
        "peak_rss_mib": usage.ru_maxrss / 1024,  # Linux reports KiB
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
