"""uvicorn serving a Starlette app inside the bot's event loop.

The socket is bound here, before uvicorn starts, so that a port already in use is one clear
start-up error instead of uvicorn's `sys.exit`; and uvicorn does not take over SIGINT/SIGTERM
(the bot owns them: `bot.app` stops the server with everything else).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator, Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the bot's own handlers stay in place


class WebServer:
    def __init__(self, host: str, port: int, routes: Sequence[BaseRoute]) -> None:
        self.host = host
        self.port = port
        self.app = Starlette(routes=list(routes))
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", server_header=False
        )
        self._server = _Server(config)
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind and serve; OSError when the address cannot be had (port in use, bad host)."""
        self._socket = socket.create_server((self.host, self.port), reuse_port=False)
        self.port = self._socket.getsockname()[1]  # the real one when port 0 was asked for
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                await self._task  # re-raises what stopped it
                raise OSError("the HTTP server stopped at start")
            await asyncio.sleep(0.01)
        log.info("HTTP server listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._task is not None:
            self._server.should_exit = True
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
