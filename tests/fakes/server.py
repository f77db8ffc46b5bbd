"""Run an aiohttp application on 127.0.0.1 in a daemon thread with its own event loop."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BackgroundServer:
    """Serves `app` on a free loopback port until `stop()`; `url` has no trailing slash."""

    def __init__(self, app: web.Application, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        if self._runner is not None:
            self.run(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()

    def run(self, coro: Awaitable[T], timeout: float = 10) -> T:
        """Run a coroutine on the server's loop from any other thread and return its result."""
        return asyncio.run_coroutine_threadsafe(_wrap(coro), self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        """Run a plain function on the server's loop (so it never races a request handler)."""
        return self.run(_call(fn))


async def _wrap(coro: Awaitable[T]) -> T:
    return await coro


async def _call(fn: Callable[[], T]) -> T:
    return fn()
