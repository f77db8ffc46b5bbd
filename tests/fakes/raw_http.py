"""A raw HTTP/1.1 server on 127.0.0.1 whose answers a test scripts, the broken ones included.

The gateway emulators are aiohttp applications, and an aiohttp application always answers in
good HTTP; the transport's tests need what a real network also does: an answer late, none at all,
cut short, garbage, a reset, a body that never ends, a request body never taken.

`RawHttpServer` reads each request itself (head, then a `Content-Length` or chunked body, unless
the answer is to leave it `unread`), records it, and answers with the next scripted `Answer`
whose `path_contains` matches (else 200 with a small JSON body), on a thread and event loop of
its own, like `BackgroundServer`. It also counts what the transport's limits are about: requests
being answered at once (`peak_in_flight`), connections open at once (`peak_connections`), and
the bytes of endless bodies written before the client closed.

`unaccepting_port()` gives the other failure before a request leaves: a port whose listener never
accepts, so a connection attempt hangs until the client's connect timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

AnswerKind = Literal[
    "ok", "late", "close", "cut", "garbage", "reset", "endless", "redirect", "unread"
]
JSON_OK = b'{"ok":true}'


@dataclass
class Answer:
    kind: AnswerKind
    path_contains: str = ""
    times: int = 1
    status: int = 200
    body: bytes = JSON_OK
    seconds: float = 0.0  # `late`: how long before answering
    location: str = ""  # `redirect`


@dataclass(frozen=True)
class RawRequest:
    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]  # names lower-cased
    body: bytes


@dataclass
class RawHttpServer:
    requests: list[RawRequest] = field(default_factory=list)
    connections: int = 0  # opened so far
    open_connections: int = 0
    peak_connections: int = 0  # open at once, at most
    in_flight: int = 0
    peak_in_flight: int = 0
    endless_written: int = 0  # bytes of `endless` bodies written so far
    endless_closed: bool = False  # the client closed an endless body

    def __post_init__(self) -> None:
        self._script: list[Answer] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._stopping: asyncio.Event | None = None
        self.url = ""

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> None:
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def stop(self) -> None:
        """Every connection is cut and every handler returns (none is cancelled), then the loop
        stops."""

        async def close() -> None:
            assert self._server is not None and self._stopping is not None
            self._server.close()
            self._stopping.set()
            for writer in list(self._writers):
                writer.transport.abort()
            if self._handlers:
                await asyncio.wait(self._handlers, timeout=5)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    # ------------------------------------------------------------------ the test's side

    def script(self, *answers: Answer) -> None:
        """Answers for the next matching requests, used in order."""

        async def add() -> None:
            self._script.extend(answers)

        asyncio.run_coroutine_threadsafe(add(), self._loop).result(10)

    def requests_to(self, path_contains: str) -> list[RawRequest]:
        return [r for r in list(self.requests) if path_contains in r.target]

    # ------------------------------------------------------------------ the server's side

    async def _pause(self, seconds: float | None) -> None:
        """Sleep `seconds` (None: until the server stops), or less when it stops."""
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        self._writers.add(writer)
        self.connections += 1
        self.open_connections += 1
        self.peak_connections = max(self.peak_connections, self.open_connections)
        try:
            while True:
                head = await _read_head(reader)
                if head is None:
                    return
                answer = self._next_answer(head)
                if answer.kind == "unread":  # the body stays in the socket, unread, for ever
                    self.requests.append(head)
                    await self._pause(None)
                    return
                request = await _read_body(reader, head)
                self.requests.append(request)
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                try:
                    if not await self._answer(answer, writer):
                        return
                finally:
                    self.in_flight -= 1
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.open_connections -= 1
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()  # the socket is closed before the handler returns
            self._writers.discard(writer)
            self._handlers.discard(handler)

    def _next_answer(self, request: RawRequest) -> Answer:
        for answer in self._script:
            if answer.path_contains in request.target:
                answer.times -= 1
                if answer.times <= 0:
                    self._script.remove(answer)
                return answer
        return Answer("ok")

    async def _answer(self, answer: Answer, writer: asyncio.StreamWriter) -> bool:
        """Give `answer`; False when the connection is finished with."""
        if answer.kind == "late":
            await self._pause(answer.seconds)
        if writer.is_closing():
            return False
        if answer.kind in ("ok", "late"):
            writer.write(_head(answer.status, len(answer.body)) + answer.body)
        elif answer.kind == "redirect":
            writer.write(_head(answer.status, 0, f"Location: {answer.location}\r\n"))
        elif answer.kind == "close":
            return False
        elif answer.kind == "cut":
            writer.write(_head(200, len(answer.body) * 2) + answer.body)
            await writer.drain()
            return False
        elif answer.kind == "garbage":
            writer.write(b"THIS IS NOT HTTP\r\n\r\n")
            await writer.drain()
            return False
        elif answer.kind == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            writer.transport.abort()
            return False
        elif answer.kind == "endless":
            await self._endless(writer)
            return False
        await writer.drain()
        return True

    async def _endless(self, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nConnection: close\r\n\r\n")
        chunk = b"v" * 65536
        assert self._stopping is not None
        try:
            while not self._stopping.is_set():
                writer.write(chunk)
                await writer.drain()  # waits while the client does not read
                self.endless_written += len(chunk)
        except ConnectionError:
            self.endless_closed = True


def _head(status: int, length: int, extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n{extra}\r\n"
    ).encode()


async def _read_head(reader: asyncio.StreamReader) -> RawRequest | None:
    """A request's line and headers (its body not yet read); None when the client closed the
    connection between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    line, *fields = head.decode("latin-1").split("\r\n")
    method, target, _ = line.split(" ", 2)
    headers = {}
    for entry in fields:
        if ":" in entry:
            name, value = entry.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return RawRequest(method, target, headers, b"")


async def _read_body(reader: asyncio.StreamReader, head: RawRequest) -> RawRequest:
    if head.headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            body += (await reader.readexactly(size + 2))[:-2]  # each chunk ends with CRLF
        await reader.readuntil(b"\r\n")
    else:
        body = await reader.readexactly(int(head.headers.get("content-length", "0")))
    return dataclasses.replace(head, body=body)


@contextlib.contextmanager
def unaccepting_port() -> Iterator[int]:
    """A port whose listener never accepts, its backlog full: a new connection attempt hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for sock in [*fillers, listener]:
            sock.close()


def closed_port() -> int:
    """A port nothing listens on: connection refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
