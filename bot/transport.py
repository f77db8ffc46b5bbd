"""The transport under every `httpx.AsyncClient` of the bot: httpx's API, aiohttp's connections.

Why: a request through httpx's own transport (httpcore) cost about 2 ms of CPU at 50 in flight,
most of it in httpcore's connection-pool bookkeeping; the same `httpx.AsyncClient` over aiohttp
costs a fifth of that (`bench.transport`, README "Benchmarks", **Transport**). The code still
calls httpx (`httpx.AsyncClient`, `httpx.Response`, httpx's exceptions); only what moves the
bytes changed. The gateway drivers (`gateways/http.py`, `gateways/media.py`) and
python-telegram-bot's requests (`app.py`) all use `AiohttpTransport`.

The errors are the ones httpx's own transport raises, with the same meaning, because the drivers
decide on them whether a send may be repeated:

    httpx.ConnectError          nothing left this machine: refused, unknown host, TLS handshake
    httpx.ConnectTimeout        nothing left: no connection within pool + connect timeout
    httpx.WriteTimeout          the request was leaving: the server stopped taking its body
    httpx.ReadTimeout           the request left; no answer within the read timeout
    httpx.RemoteProtocolError   the request left; the server closed without an answer, or
                                answered something that is not HTTP
    httpx.ReadError             the request left; the connection broke, or the body was cut short

Error texts keep scheme, host and port of a URL, never its path or query: aiohttp quotes the
whole URL, tokens included, in some of its messages.

Timeouts are httpx's, per request. aiohttp counts the wait for a pool slot and the connection in
one `connect` timeout: it gets pool + connect, and `sock_connect` the connect alone (a TLS
handshake keeps its 5 s under python-telegram-bot's 1 s pool timeout). `read` is aiohttp's
`sock_read`, which starts once the body is written; aiohttp has no write timeout, so a body of
more than `_PIECE` bytes goes out in pieces and the request fails with `WriteTimeout` when the
server takes no piece for `write` seconds (an upload to a server that stopped reading would wait
for ever otherwise).

Like httpx's own transport, this one never follows redirects (httpx decides, and by default it
does not), never repeats a request by itself (aiohttp would repeat a GET, PUT or DELETE whose
connection dropped: the drivers decide what may be repeated), keeps no cookies (httpx keeps
them) and leaves decompression to httpx. Proxies from the environment are httpx's business: it
mounts its own transports for them.

We tried the `httpx-aiohttp` package first (as fast as this module, `bench.transport`), but its
0.2.0 reports a server that closes after the request as `ConnectTimeout` (a send would look
unsent and go out twice), lets aiohttp's parse errors escape, quotes URLs with their tokens,
gives aiohttp's `connect` the pool timeout alone, has no write timeout and cannot reopen after
`aclose()`: correcting all that left nothing of it to use.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import aiohttp
import aiohttp.abc
import aiohttp.payload
import httpx
from yarl import URL

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
_PIECE = 64 * 1024  # bodies larger than this go out in pieces of this size, each timed
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_ERRORS = (aiohttp.ClientError, TimeoutError)
# Headers aiohttp adds when missing; httpx already set the ones it wants (or left them out).
_HTTPX_DECIDES = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


class AiohttpTransport(httpx.AsyncBaseTransport):
    """`httpx.AsyncClient(transport=AiohttpTransport(limits=...))`. `limits.max_connections`
    bounds the connections open at once (None: no bound); idle ones close after
    `limits.keepalive_expiry`. The aiohttp session opens at the first request (so the transport
    may be made outside the event loop) and again after `aclose()` (python-telegram-bot reopens
    its clients that way)."""

    def __init__(self, *, limits: httpx.Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.ssl_context = httpx.create_ssl_context()  # httpx's: certifi, SSL_CERT_FILE, …
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _open(self, request: httpx.Request) -> aiohttp.ClientSession:
        # A call that comes after aclose (a task finishing during shutdown) must not open a
        # session nobody closes: it fails as a request that never left.
        if self._closed:
            raise httpx.ConnectError("the transport is closed", request=request)
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.limits.max_connections or 0,  # aiohttp: 0 = no bound
                keepalive_timeout=self.limits.keepalive_expiry,
                ssl=self.ssl_context,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                skip_auto_headers=_HTTPX_DECIDES,
            )
            self._session._retry_connection = False  # see the module docstring
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._open(request)
        timeout = request.extensions.get("timeout", {})
        pool, connect = timeout.get("pool"), timeout.get("connect")
        headers = [(k, v) for k, v in request.headers.multi_items() if k != "transfer-encoding"]
        try:
            async with asyncio.timeout(None) as timer:
                writing = _Writing(timer, timeout.get("write"))
                try:
                    response = await session.request(
                        request.method,
                        URL(str(request.url), encoded=True),  # as httpx encoded it
                        headers=headers,
                        data=_body(request, writing),
                        allow_redirects=False,
                        timeout=aiohttp.ClientTimeout(
                            connect=None if pool is None or connect is None else pool + connect,
                            sock_connect=connect,
                            sock_read=timeout.get("read"),
                        ),
                        server_hostname=request.extensions.get("sni_hostname"),
                    )
                finally:
                    writing.answered = True  # a body still going out no longer moves `timer`
        except _ERRORS as exc:
            if timer.expired():
                writing.abort()
            raise _translated(exc, request, write_timeout=timer.expired()) from None
        reason = (response.reason or "").encode()
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()


class _Writing:
    """The write timeout: while the body goes out, the request's `timer` expires `seconds` after
    the last piece was taken; once the body is out (or the answer came), it no longer runs."""

    def __init__(self, timer: asyncio.Timeout, seconds: float | None) -> None:
        self.timer = timer
        self.seconds = seconds
        self.answered = False
        self.transport: asyncio.WriteTransport | None = None  # the connection the body goes on

    def taken(self) -> None:
        if not self.answered and self.seconds is not None:
            self.timer.reschedule(asyncio.get_running_loop().time() + self.seconds)

    def finished(self) -> None:
        if not self.answered:
            self.timer.reschedule(None)

    def abort(self) -> None:
        """The server stopped taking the body: drop the connection with what it still holds
        (aiohttp's close would keep the socket until the server reads, maybe for ever)."""
        if self.transport is not None:
            self.transport.abort()


class _Pieces(aiohttp.payload.AsyncIterablePayload):
    """A body aiohttp writes piece by piece; it tells `writing` which connection it goes on."""

    def __init__(self, pieces: AsyncIterator[bytes], writing: _Writing) -> None:
        super().__init__(pieces)
        self._writing = writing

    async def write_with_length(
        self, writer: aiohttp.abc.AbstractStreamWriter, content_length: int | None
    ) -> None:
        self._writing.transport = writer.transport
        await super().write_with_length(writer, content_length)


def _body(request: httpx.Request, writing: _Writing) -> bytes | _Pieces | None:
    """The request body for aiohttp: small bodies whole, larger ones (and streams) in pieces,
    each of which the server must take within the write timeout."""
    try:
        content = request.content
    except httpx.RequestNotRead:  # a stream (httpx's multipart bodies are)
        return _Pieces(_pieces(_stream_pieces(request), writing), writing)
    if len(content) <= _PIECE:
        return content or None
    return _Pieces(_pieces(_bytes_pieces(content), writing), writing)


async def _bytes_pieces(content: bytes) -> AsyncIterator[bytes]:
    view = memoryview(content)
    for start in range(0, len(content), _PIECE):
        yield bytes(view[start : start + _PIECE])


async def _stream_pieces(request: httpx.Request) -> AsyncIterator[bytes]:
    assert isinstance(request.stream, httpx.AsyncByteStream)
    async for chunk in request.stream:
        view = memoryview(chunk)
        for start in range(0, len(chunk), _PIECE):
            yield bytes(view[start : start + _PIECE])


async def _pieces(source: AsyncIterator[bytes], writing: _Writing) -> AsyncIterator[bytes]:
    """aiohttp asks for the next piece once the last one is written: each ask moves the write
    deadline; the end of the body stops it (aiohttp's read timeout runs from there)."""
    async for piece in source:
        writing.taken()
        yield piece
    writing.finished()


class _Body(httpx.AsyncByteStream):
    """An aiohttp response's body as httpx reads it, with errors translated the same way."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except _ERRORS as exc:
            raise _translated(exc, self._request) from None

    async def aclose(self) -> None:
        """Done with it: a body read to its end leaves the connection for the next request; one
        left unread (a download over its size cap) closes the connection, unread."""
        self._response.release()
        try:
            await self._response.wait_for_close()
        except _ERRORS as exc:
            raise _translated(exc, self._request) from None


def _translated(
    exc: BaseException, request: httpx.Request, *, write_timeout: bool = False
) -> httpx.TransportError:
    """The httpx error httpx's own transport raises for what aiohttp reported (see the table in
    the module docstring); its text without the URL's path and query."""
    kind: type[httpx.TransportError]
    if write_timeout:
        kind = httpx.WriteTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):  # DNS, refused, TLS: before sending
        kind = httpx.ConnectError
    elif isinstance(exc, aiohttp.ConnectionTimeoutError):  # no connection (or pool slot)
        kind = httpx.ConnectTimeout
    elif isinstance(exc, TimeoutError):  # aiohttp's SocketTimeoutError among them
        kind = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        kind = httpx.RemoteProtocolError
    elif isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        kind = httpx.UnsupportedProtocol
    elif isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientConnectionError):
        kind = httpx.ReadError
    else:
        kind = httpx.TransportError  # something else went wrong after sending began
    return kind(_without_urls(str(exc) or type(exc).__name__, request))


def _without_urls(text: str, request: httpx.Request) -> str:
    """`Connection timeout to host http://h:80/bot123:AA/getMe?token=x` → `… http://h:80`."""
    text = _URL.sub(lambda m: _origin(m.group()), text)
    for part in (request.url.raw_path.decode("ascii", "replace"), request.url.path):
        if len(part) > 1:
            text = text.replace(part, "")
    return text


def _origin(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<url>"
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii', 'replace')}"
