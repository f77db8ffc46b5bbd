"""Start-up: seconds from starting `python -m bot` to the first update handled.

A person's /start waits in the fake Bot API before the bot starts; the clock runs from the spawn
of `python -m bot` (the real entry point, settings from the environment) to the moment its
answer reaches the fake. The fakes run in a process of their own. Each case runs `--runs` times
(median shown): a fresh database (migrations run) and one the bot has used before, on SQLite and
on PostgreSQL. The steps in between come from the fake's log: the first Bot API call (getMe,
after the imports, the settings and the database), the first getUpdates (the bot is polling).

    .venv/bin/python -m bench.startup [--runs 3] [--postgres URL]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bench.fakes_process import FakesProcess
from bench.harness import (
    DEFAULT_POSTGRES,
    BotProcess,
    bot_env,
    machine,
    postgres_database,
    sqlite_database,
    stop_on_sigterm,
)

USER = 4242


@contextlib.contextmanager
def database(kind: str, server: str) -> Iterator[str]:
    if kind == "sqlite":
        with sqlite_database() as url:
            yield url
    else:
        with postgres_database(server) as url:
            yield url


def first_at(fakes: FakesProcess, method: str, since: float) -> float:
    calls = [c for c in fakes.call("all_calls", since) if c[0].lower() == method.lower()]
    return min((at for _, at in calls), default=float("nan")) - since


def start_once(fakes: FakesProcess, env: dict[str, str]) -> dict[str, float]:
    """One start: /start waiting, `python -m bot`, until its answer; the steps' seconds."""
    before = fakes.call("calls_of", "sendMessage")
    fakes.call("send_texts", [(USER, "/start")])
    bot = BotProcess(env, module="bot")
    bot.start()
    try:
        answered = bot.wait_until(lambda: fakes.call("calls_of", "sendMessage") > before, 60)
        spawn = bot.started_at
        steps = {
            "getMe": first_at(fakes, "getMe", spawn),
            "getUpdates": first_at(fakes, "getUpdates", spawn),
            "answer": answered,
        }
    finally:
        bot.stop()
    return steps


def imports_seconds() -> float:
    """How long `import bot.app` takes in a fresh interpreter (part of every start)."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-c", "import bot.app"],
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    args = parser.parse_args()
    stop_on_sigterm()
    rows: list[tuple[str, dict[str, float]]] = []
    with FakesProcess() as fakes:
        for kind in ("sqlite", "postgres"):
            fresh, used = [], []
            for n in range(args.runs):
                with database(kind, args.postgres) as url:
                    env = bot_env(fakes.addresses, url)
                    fresh.append(start_once(fakes, env))
                    if n == args.runs - 1:
                        used = [start_once(fakes, env) for _ in range(args.runs)]
            for state, runs in (("fresh database", fresh), ("database used before", used)):
                median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                rows.append((f"{kind}, {state}", median))
    imports = statistics.median(imports_seconds() for _ in range(args.runs))
    print(f"start-up of python -m bot to the first update handled; machine: {machine()}")
    print("  case                              | first Bot API call | polling | /start answered")
    for name, steps in rows:
        print(
            f"  {name:33s} | {steps['getMe']:15.2f} s | {steps['getUpdates']:5.2f} s |"
            f" {steps['answer']:13.2f} s"
        )
    print(f"  of which `import bot.app` in a fresh interpreter: {imports:.2f} s")


if __name__ == "__main__":
    main()
