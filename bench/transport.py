"""The HTTP transport: CPU time per request of bare GET loops, and of the bot polling idle lines.

(a) Bare loops. A tiny HTTP/1.1 server (an asyncio protocol that answers every GET at once with a
    small JSON body, like a status poll's) runs in a process of its own; this process runs, for
    each candidate client, loops of `--requests` GETs with 5 and with 50 in flight (50: what
    `GatewayHttp` allows per gateway), and measures its own CPU time (`time.process_time`, every
    thread) over each loop. The candidates run interleaved, round after round, so a load that
    comes and goes on the machine touches them all alike; the table gives the median and the
    range over the rounds. Candidates, each on asyncio's own event loop (the bot's) and on
    uvloop (a dev dependency, for this comparison; skipped where it is not installed):
    - `httpx (httpcore)`: `httpx.AsyncClient` with its default transport (before this change);
    - `httpx + bot.transport`: the same client over `bot.transport.AiohttpTransport` (what the
      bot uses now);
    - `httpx + httpx-aiohttp`: over that package's `AiohttpTransport` 0.2.0, the first
      candidate (only where it is installed: it is not a dependency, see `bot/transport.py`);
    - `aiohttp alone`: one `aiohttp.ClientSession`, no httpx;
    - `GatewayHttp.request`: the drivers' whole call (our semaphore, breaker, metrics) over
      `bot.transport`.
(b) The bot from outside. `--lines` linked wapp.im lines, idle, each polled for incoming messages
    every `--interval` seconds by the real bot (`bench.bot_process`, SQLite); the lines' gateway
    is the same tiny server answering "no messages" after `--latency` (so that, as with a real
    gateway, tens of polls are in flight at once); the fake Bot API runs in another process.
    Over a `--window` after a warm-up: the bot's CPU time (from /proc) divided by the requests
    the server answered, for httpx's own transport on asyncio (`--transport httpcore`) and
    `bot.transport` on asyncio and on uvloop, interleaved round after round like (a).

    .venv/bin/python -m bench.transport [--part loops|bot|both] [--requests 2000] [--rounds 3]
                                        [--in-flight 5,50] [--lines 1000] [--interval 1]
                                        [--latency 0.03] [--window 20] [--bot-rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import cast

import aiohttp
import httpx
from cryptography.fernet import Fernet

from bench.fakes_process import FakesProcess
from bench.harness import BotProcess, bot_env, machine, sqlite_database, stop_on_sigterm
from bench.send_throughput import FAST_TIMELINE, store_lines
from bot.gateways.http import MAX_CONNECTIONS, GatewayHttp
from bot.transport import AiohttpTransport

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop does not build everywhere
    uvloop = None  # type: ignore[assignment]
try:
    import httpx_aiohttp
except ImportError:  # not a dependency
    httpx_aiohttp = None

STATUS = b'{"accountStatus":"authenticated","statusData":{"substatus":"normal","msg":""}}'
NO_MESSAGES = b'{"messages":[],"lastMessageNumber":0}'  # wapp.im's answer to an idle line's poll
LIMITS = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=20)

Get = Callable[[], Awaitable[None]]
Candidate = Callable[[str], AbstractAsyncContextManager[Get]]


# --------------------------------------------------------------------------- the server


class Answering(asyncio.Protocol):
    """Answers each request (GETs: no body) with `answer`, `delay` seconds after its head is
    complete (a gateway's latency)."""

    answered = 0  # requests, in this process

    def __init__(self, answer: bytes, delay: float) -> None:
        self.answer = answer
        self.delay = delay

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.pending = b""

    def data_received(self, data: bytes) -> None:
        self.pending += data
        heads = self.pending.count(b"\r\n\r\n")
        if heads:
            self.pending = self.pending[self.pending.rfind(b"\r\n\r\n") + 4 :]
            if self.delay:
                asyncio.get_running_loop().call_later(self.delay, self.write, heads)
            else:
                self.write(heads)

    def write(self, answers: int) -> None:
        if not self.transport.is_closing():
            self.transport.write(self.answer * answers)
            Answering.answered += answers


def serve(pipe: Connection, body: bytes, delay: float) -> None:
    """The server's process: sends its port, then answers "count" (requests so far) until "stop"
    (then its CPU time)."""
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: Answering(answer, delay), "127.0.0.1", 0)
        pipe.send(server.sockets[0].getsockname()[1])
        while await loop.run_in_executor(None, pipe.recv) == "count":
            pipe.send(Answering.answered)
        pipe.send(time.process_time())

    if uvloop is not None:  # the server's speed is not what is measured: the fastest there is
        uvloop.run(main())
    else:
        asyncio.run(main())


class Server:
    """`serve` in a process of its own."""

    def __init__(self, body: bytes, delay: float = 0.0) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipe, theirs = context.Pipe()
        self.process = context.Process(target=serve, args=(theirs, body, delay), daemon=True)
        self.process.start()
        self.url = f"http://127.0.0.1:{self.pipe.recv()}"

    def count(self) -> int:
        self.pipe.send("count")
        return int(self.pipe.recv())

    def stop(self) -> float:
        """Stops the server; its CPU seconds."""
        self.pipe.send("stop")
        cpu = float(self.pipe.recv())
        self.process.join(5)
        return cpu


# --------------------------------------------------------------------------- (a) the candidates


@contextlib.asynccontextmanager
async def httpx_client(url: str, transport: httpx.AsyncBaseTransport | None) -> AsyncIterator[Get]:
    async with httpx.AsyncClient(base_url=url, limits=LIMITS, transport=transport) as client:

        async def get() -> None:
            (await client.get("/status")).raise_for_status()

        yield get


def httpcore_default(url: str) -> AbstractAsyncContextManager[Get]:
    return httpx_client(url, None)


def ours(url: str) -> AbstractAsyncContextManager[Get]:
    return httpx_client(url, AiohttpTransport(limits=LIMITS))


def published(url: str) -> AbstractAsyncContextManager[Get]:
    assert httpx_aiohttp is not None
    return httpx_client(url, httpx_aiohttp.AiohttpTransport(limits=LIMITS))


@contextlib.asynccontextmanager
async def aiohttp_alone(url: str) -> AsyncIterator[Get]:
    connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS)
    async with aiohttp.ClientSession(url, connector=connector) as session:

        async def get() -> None:
            async with session.get("/status") as response:
                response.raise_for_status()
                await response.read()

        yield get


@contextlib.asynccontextmanager
async def gateway_http(url: str) -> AsyncIterator[Get]:
    http = GatewayHttp(url, name="bench")
    try:

        async def get() -> None:
            await http.request("GET", "status", idempotent=True)

        yield get
    finally:
        await http.aclose()


CANDIDATES: dict[str, Candidate] = {
    "httpx (httpcore)": httpcore_default,
    "httpx + bot.transport": ours,
    "httpx + httpx-aiohttp": published,
    "aiohttp alone": aiohttp_alone,
    "GatewayHttp.request": gateway_http,
}
if httpx_aiohttp is None:
    del CANDIDATES["httpx + httpx-aiohttp"]


# --------------------------------------------------------------------------- (a) the loops


@dataclass
class Loop:
    cpu_ms: float  # CPU time of this process per request
    rate: float  # requests a second (wall clock)


async def measure(candidate: Candidate, url: str, requests: int, in_flight: int) -> Loop:
    async with candidate(url) as get:

        async def worker(count: int) -> None:
            for _ in range(count):
                await get()

        async def loop(total: int) -> None:
            share, rest = divmod(total, in_flight)
            await asyncio.gather(*(worker(share + (n < rest)) for n in range(in_flight)))

        await loop(in_flight * 4)  # connections open, caches warm: not measured
        cpu, wall = time.process_time(), time.perf_counter()
        await loop(requests)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return Loop(cpu * 1000 / requests, requests / wall)


def loops() -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "asyncio": asyncio.new_event_loop
    }
    if uvloop is not None:
        factories["uvloop"] = uvloop.new_event_loop
    return factories


def spread(values: list[float], digits: int) -> str:
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:.{digits}f}"
    return f"{middle:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


# --------------------------------------------------------------------------- (b) the bot

BOT_VARIANTS = {  # (transport, event loop): the arguments of bench.bot_process
    ("httpx (httpcore)", "asyncio"): ["--transport", "httpcore", "--loop", "asyncio"],
    ("httpx + bot.transport", "asyncio"): ["--loop", "asyncio"],
    ("httpx + bot.transport", "uvloop"): ["--loop", "uvloop"],
}
if uvloop is None:
    del BOT_VARIANTS[("httpx + bot.transport", "uvloop")]
WARM_UP = 5.0  # seconds after start-up before the window: every poller has started


@dataclass
class Polling:
    cpu_ms: float  # the bot's CPU time per gateway request
    rate: float  # gateway requests a second
    cpu_share: float  # of one core


def bot_rounds(
    variants: dict[tuple[str, str], list[str]],
    lines: int,
    interval: float,
    latency: float,
    window: float,
    rounds: int,
) -> dict[tuple[str, str], list[Polling]]:
    """The bot's CPU per gateway request, each of `variants` in turn, `rounds` times. The lines'
    gateway is `serve` answering every poll with no messages (the wapp.im emulator cannot keep
    up with a thousand polls a second on a shared core); Telegram is the fake Bot API."""
    results: dict[tuple[str, str], list[Polling]] = {}
    gateway = Server(NO_MESSAGES, latency)
    try:
        with FakesProcess(instances=1, **FAST_TIMELINE) as fakes, sqlite_database() as url:
            key = Fernet.generate_key().decode()
            spares = [(n + 1, f"token-{n + 1:05d}") for n in range(lines)]
            asyncio.run(store_lines(url, key, spares))
            env = bot_env(
                fakes.addresses,
                url,
                encryption_key=key,
                wapp_api_url=gateway.url,
                incoming_poll_interval=interval,
                link_check_interval=3600,  # only the incoming pollers call the gateway
            )
            for _ in range(rounds):
                for variant, args in variants.items():
                    results.setdefault(variant, []).append(
                        poll_window(fakes, gateway, env, args, window)
                    )
    finally:
        gateway.stop()
    return results


def poll_window(
    fakes: FakesProcess, gateway: Server, env: dict[str, str], args: list[str], window: float
) -> Polling:
    started = fakes.call("calls_of", "deleteWebhook")
    bot = BotProcess(env, rate_limit=False, args=args)
    bot.start()
    try:
        bot.wait_until(lambda: fakes.call("calls_of", "deleteWebhook") > started, 60)
        time.sleep(WARM_UP)
        since, cpu, requests = time.monotonic(), bot.cpu_seconds(), gateway.count()
        time.sleep(window)
        cpu, requests = bot.cpu_seconds() - cpu, gateway.count() - requests
        elapsed = time.monotonic() - since
    finally:
        bot.stop()
    return Polling(cpu * 1000 / requests, requests / elapsed, cpu / elapsed)


# --------------------------------------------------------------------------- the report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["loops", "bot", "both"], default="both")
    parser.add_argument("--requests", type=int, default=2000, help="GETs per loop")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-flight", default="5,50", help="comma-separated")
    parser.add_argument("--only", default="", help="candidates whose name contains this")
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--latency", type=float, default=0.03, help="(b): the gateway's, s")
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--bot-rounds", type=int, default=2)
    args = parser.parse_args()
    stop_on_sigterm()
    print(f"transport; machine: {machine()}; load average {os.getloadavg()[0]:.1f} at the start")
    if args.part in ("loops", "both"):
        bare_loops(args)
    if args.part in ("bot", "both"):
        polling(args)


def polling(args: argparse.Namespace) -> None:
    variants = {key: value for key, value in BOT_VARIANTS.items() if args.only in key[0]}
    results = bot_rounds(
        variants, args.lines, args.interval, args.latency, args.window, args.bot_rounds
    )
    print(
        f"(b) the bot polling {args.lines} idle lines every {args.interval:g} s "
        f"({args.lines / args.interval:.0f} requests/s due) that answer in "
        f"{args.latency * 1000:.0f} ms, {args.window:g} s windows, {args.bot_rounds} rounds "
        f"interleaved; median (range); load average {os.getloadavg()[0]:.1f} at the end"
    )
    print("| bot's transport | event loop | bot CPU ms per gateway request | requests/s | ", end="")
    print("bot CPU, share of a core |\n|---|---|---|---|---|")
    for (name, loop_name), figures in results.items():
        cpu = spread([f.cpu_ms for f in figures], 2)
        rate = spread([f.rate for f in figures], 0)
        share = spread([f.cpu_share for f in figures], 2)
        print(f"| {name} | {loop_name} | {cpu} | {rate} | {share} |")


def bare_loops(args: argparse.Namespace) -> None:
    widths = [int(n) for n in args.in_flight.split(",")]
    chosen = {name: c for name, c in CANDIDATES.items() if args.only in name}
    server = Server(STATUS)
    results: dict[tuple[str, str, int], list[Loop]] = {}
    try:
        for _ in range(args.rounds):
            for loop_name, factory in loops().items():
                with asyncio.Runner(loop_factory=factory) as runner:
                    for name, candidate in chosen.items():
                        for width in widths:
                            figure = runner.run(
                                measure(candidate, server.url, args.requests, width)
                            )
                            results.setdefault((name, loop_name, width), []).append(figure)
    finally:
        server_cpu = server.stop()
    total = len(chosen) * len(loops()) * args.rounds * sum(args.requests + 4 * w for w in widths)
    print(
        f"(a) bare GET loops, {args.requests} GETs each, {args.rounds} rounds interleaved; "
        f"median (range); the server (another process) used {server_cpu * 1000 / total:.3f} ms "
        f"of CPU a request; load average {os.getloadavg()[0]:.1f} at the end"
    )
    head = " | ".join(f"CPU ms/request, {w} in flight" for w in widths)
    rates = " | ".join(f"requests/s, {w} in flight" for w in widths)
    print(f"| client | event loop | {head} | {rates} |")
    print("|---|---|" + "---|" * (2 * len(widths)))
    for name in chosen:
        for loop_name in loops():
            cpu = [spread([f.cpu_ms for f in results[(name, loop_name, w)]], 3) for w in widths]
            rate = [spread([f.rate for f in results[(name, loop_name, w)]], 0) for w in widths]
            print(f"| {name} | {loop_name} | {' | '.join(cpu)} | {' | '.join(rate)} |")
    if not {"httpx (httpcore)", "httpx + bot.transport"} <= set(chosen):
        return
    key = ("asyncio", max(widths))
    before = statistics.median(f.cpu_ms for f in results[("httpx (httpcore)", *key)])
    after = statistics.median(f.cpu_ms for f in results[("httpx + bot.transport", *key)])
    verdict = "met" if after <= before / 3 else "MISSED"
    print(
        f"target (httpx + bot.transport at {max(widths)} in flight, asyncio: at most a third of "
        f"httpcore's CPU per request): {after / before:.2f} of it, {verdict}"
    )


if __name__ == "__main__":
    main()
