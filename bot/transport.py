"""The transport under every `httpx.AsyncClient` of the bot: httpx's API, aiohttp's connections.

Why: a request through httpx's own transport (httpcore) cost 1-2.5 ms of CPU, most of it in
httpcore's connection-pool bookkeeping; the same `httpx.AsyncClient` over aiohttp costs about a
quarter of that (`bench.transport`, README "Benchmarks → Transport"). The code still calls httpx
(`httpx.AsyncClient`, `httpx.Response`, httpx's exceptions); only what moves the bytes changed.
The gateway drivers (`gateways/http.py`, `gateways/media.py`) and python-telegram-bot's requests
(`app.py`) all use `AiohttpTransport`.

`httpx-aiohttp` translates requests and responses. On top of it, this module makes the errors say
what httpx's own transport says, because the drivers decide on them whether a send may be retried:

    httpx.ConnectError          nothing left this machine: refused, unknown host, TLS handshake
    httpx.ConnectTimeout        nothing left: no connection within pool + connect timeout
    httpx.ReadTimeout           the request left; no answer within the read timeout
    httpx.RemoteProtocolError   the request left; the server closed without an answer, or
                                answered something that is not HTTP
    httpx.ReadError             the request left; the connection broke, or the body was cut short

(httpx-aiohttp 0.2.0 itself reports a server that closes after the request as `ConnectTimeout`,
which would make a send look unsent and be sent twice, and lets aiohttp's parse errors escape as
aiohttp exceptions.) Error texts keep scheme, host and port of a URL, never its path or query:
aiohttp quotes the whole URL, tokens included, in some of its messages.

Timeouts are httpx's, per request: aiohttp's `connect` counts the wait for a pool slot and the
connection together, so it gets pool + connect, and `sock_connect` gets connect alone (a TLS
handshake keeps its 5 s under python-telegram-bot's 1 s pool timeout). httpx's `write` timeout
has no aiohttp counterpart: a server that stops reading an upload is caught by the read timeout,
whose timer runs from the moment the request starts going out.

Like httpx's own transport, this one never follows redirects (httpx decides, and by default it
does not), never repeats a request by itself (aiohttp would repeat a GET, PUT or DELETE whose
connection dropped: the drivers decide what may be repeated), keeps no cookies of its own (httpx
keeps them) and leaves decompression to httpx.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport as _HttpxAiohttpTransport

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


class AiohttpTransport(_HttpxAiohttpTransport):
    """`httpx.AsyncClient(transport=AiohttpTransport(limits=...))`. `limits.max_connections`
    bounds the connections open at once (None: no bound); idle ones close after
    `limits.keepalive_expiry`. The aiohttp session opens at the first request, so the transport
    may be made outside the event loop, and opens again after `aclose()`."""

    def __init__(self, *, limits: httpx.Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits=limits)

    def get_client(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.limits.max_connections or 0,  # aiohttp: 0 = no bound
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
        )
        session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
        )
        session._retry_connection = False  # see the module docstring: no repeats of our own
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if isinstance(self.client, aiohttp.ClientSession) and self.client.closed:
            self.client = None  # closed by aclose(): python-telegram-bot reopens its clients
        extensions = request.extensions
        timeout = extensions.get("timeout", {})
        pool, connect = timeout.get("pool"), timeout.get("connect")
        # httpx-aiohttp gives aiohttp's `connect` (pool wait + connection) httpx's `pool`.
        request.extensions = {
            **extensions,
            "timeout": {**timeout, "pool": None if None in (pool, connect) else pool + connect},
        }
        try:
            response = await super().handle_async_request(request)
        except (httpx.TransportError, aiohttp.ClientError, TimeoutError) as exc:
            raise _translated(exc, request) from None
        finally:
            request.extensions = extensions
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Body(response.stream, request)
        return response


class _Body(httpx.AsyncByteStream):
    """The response body as httpx-aiohttp streams it, with errors translated the same way."""

    def __init__(self, stream: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except (httpx.TransportError, aiohttp.ClientError, TimeoutError) as exc:
            raise _translated(exc, self._request) from None

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        except (httpx.TransportError, aiohttp.ClientError, TimeoutError) as exc:
            raise _translated(exc, self._request) from None


def _translated(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx error httpx's own transport raises for what aiohttp reported (see the table in
    the module docstring); its text without the URL's path and query."""
    cause = exc.__cause__ if isinstance(exc, httpx.TransportError) and exc.__cause__ else exc
    kind: type[httpx.TransportError]
    if isinstance(cause, aiohttp.ClientConnectorError):  # DNS, refused, TLS: before sending
        kind = httpx.ConnectError
    elif isinstance(cause, aiohttp.ConnectionTimeoutError):  # no connection (or pool slot)
        kind = httpx.ConnectTimeout
    elif isinstance(cause, TimeoutError):  # aiohttp's SocketTimeoutError among them
        kind = httpx.ReadTimeout
    elif isinstance(cause, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        kind = httpx.RemoteProtocolError
    elif isinstance(cause, aiohttp.ClientPayloadError | aiohttp.ClientConnectionError):
        kind = httpx.ReadError
    elif isinstance(cause, aiohttp.ClientError):
        kind = httpx.TransportError  # something else went wrong after sending began
    else:  # httpx-aiohttp's own httpx error, not from aiohttp (UnsupportedProtocol, …)
        kind = type(exc) if isinstance(exc, httpx.TransportError) else httpx.TransportError
    return kind(_without_urls(str(cause) or type(cause).__name__, request))


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
