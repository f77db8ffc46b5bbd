"""A load balancer in front of bot replicas, for tests: one port on 127.0.0.1 that forwards each
request to the next replica in turn (round-robin), the way Telegram's webhook pushes reach a
deployment of several replicas.

A replica that refuses the connection (dead, or not up yet) is skipped, as a real balancer's
health check would take it out; a replica that dies while holding a request leaves it
unanswered: 502, and the client (Telegram) sends it again. Each request opens a connection of
its own, so a killed replica is noticed at the next request. `forwarded` lists where each
request went: (replica port, path, status answered; 0 for a replica that refused it).
"""

from __future__ import annotations

import threading

import aiohttp
from aiohttp import web

from tests.fakes.server import BackgroundServer

# Headers that belong to one connection, not to the request; aiohttp sets its own.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade"}
)
UPSTREAM_TIMEOUT = 10.0  # seconds a replica may take to answer one request


class Balancer:
    def __init__(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        app.on_cleanup.append(self._close)
        self._server = BackgroundServer(app)
        self.url = self._server.url
        self._lock = threading.Lock()
        self._ports: list[int] = []
        self._pinned: int | None = None
        self._turn = 0
        self._forwarded: list[tuple[int, str, int]] = []
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def add(self, port: int) -> None:
        """Send requests to the replica listening on `port` too."""
        with self._lock:
            self._ports.append(port)

    def only(self, port: int | None) -> None:
        """Send every request to the replica on `port` alone (None: all of them again)."""
        with self._lock:
            self._pinned = port

    @property
    def forwarded(self) -> list[tuple[int, str, int]]:
        with self._lock:
            return list(self._forwarded)

    def _next_ports(self) -> list[int]:
        """Every replica, starting with the one whose turn it is."""
        with self._lock:
            if self._pinned is not None:
                return [self._pinned]
            ports = self._ports[self._turn :] + self._ports[: self._turn]
            self._turn = (self._turn + 1) % max(len(self._ports), 1)
        return ports

    async def _forward(self, request: web.Request) -> web.Response:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True),
                timeout=aiohttp.ClientTimeout(total=UPSTREAM_TIMEOUT),
                auto_decompress=False,
            )
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        for port in self._next_ports():
            try:
                async with self._session.request(
                    request.method,
                    f"http://127.0.0.1:{port}{request.path_qs}",
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                ) as upstream:
                    answer = await upstream.read()
                    status = upstream.status
                    kept = {
                        k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP
                    }
            except aiohttp.ClientConnectorError:
                self._record(port, request.path, 0)
                continue  # not listening: the next replica
            except (aiohttp.ClientError, TimeoutError):
                self._record(port, request.path, 502)
                return web.Response(status=502, text="502 Bad Gateway")
            self._record(port, request.path, status)
            return web.Response(status=status, body=answer, headers=kept)
        self._record(0, request.path, 503)
        return web.Response(status=503, text="503 Service Unavailable: no replica answers")

    def _record(self, port: int, path: str, status: int) -> None:
        with self._lock:
            self._forwarded.append((port, path, status))

    async def _close(self, app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()
