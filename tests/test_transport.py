"""`bot.transport` under python-telegram-bot, against a real local server: the per-call timeouts
PTB passes (a connect timeout longer than its pool timeout, and the write timeout of an upload,
included), redirects returned
unfollowed, no token in its error texts, and its client reopened after a shutdown. (The gateway
drivers' side is in `tests/gateways/test_http.py` and `test_media.py`; the bot's own requests
over it, end to end, in `tests/e2e/test_telegram_transport.py`.)"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from traceback import format_exception

import httpx
import pytest
from telegram import InputFile
from telegram.error import NetworkError, TimedOut
from telegram.request import HTTPXRequest, RequestData
from telegram.request._requestparameter import RequestParameter  # how PTB's Bot builds them

from bot.app import telegram_request
from bot.transport import AiohttpTransport
from tests.fakes.raw_http import Answer, RawHttpServer, closed_port, unaccepting_port

MB = 1024 * 1024


@pytest.fixture
async def ptb() -> AsyncIterator[HTTPXRequest]:
    request = telegram_request(4)
    await request.initialize()
    yield request
    await request.shutdown()


async def test_a_call_has_the_read_timeout_ptb_passes(
    server: RawHttpServer, ptb: HTTPXRequest
) -> None:
    server.script(Answer("late", "getUpdates", seconds=1.0, times=2))
    url = f"{server.url}/bot1:x/getUpdates"
    started = time.monotonic()
    with pytest.raises(TimedOut):
        await ptb.do_request(url, "POST", read_timeout=0.3)
    assert 0.25 < time.monotonic() - started < 0.95
    status, _ = await ptb.do_request(url, "POST", read_timeout=3.0)  # a long poll's
    assert status == 200


async def test_a_connection_has_its_connect_timeout_under_a_shorter_pool_timeout(
    ptb: HTTPXRequest,
) -> None:
    """PTB waits 1 s for a pool slot and 5 s for a connection (TLS included); aiohttp counts both
    in one `connect` timeout, so the transport must not give it the pool's alone."""
    with unaccepting_port() as port:
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await ptb.do_request(
                f"http://127.0.0.1:{port}/bot1:x/getMe",
                "POST",
                connect_timeout=0.6,
                pool_timeout=0.05,
            )
    assert 0.5 < time.monotonic() - started < 2.0


async def test_an_upload_has_the_write_timeout_ptb_passes(
    server: RawHttpServer, ptb: HTTPXRequest
) -> None:
    """A photo or file upload to a server that stops taking it fails within PTB's write timeout
    (its `media_write_timeout`, 20 s, unless a call passes another), not never."""
    server.script(Answer("unread", "sendDocument"))
    document = RequestParameter.from_input("document", InputFile(b"d" * (20 * MB), "a.bin"))
    started = time.monotonic()
    with pytest.raises(TimedOut):
        await ptb.do_request(
            f"{server.url}/bot1:x/sendDocument",
            "POST",
            RequestData([document]),
            write_timeout=0.3,
        )
    assert time.monotonic() - started < 3.0


async def test_a_redirect_reaches_ptb_unfollowed(server: RawHttpServer, ptb: HTTPXRequest) -> None:
    server.script(Answer("redirect", "getMe", status=302, location=f"{server.url}/elsewhere"))
    status, _ = await ptb.do_request(f"{server.url}/bot1:x/getMe", "POST")
    assert status == 302
    assert server.requests_to("elsewhere") == []


@pytest.mark.parametrize("kind", ["connect timeout", "refused", "close", "garbage", "cut"])
async def test_no_token_in_ptb_error_texts(
    server: RawHttpServer, ptb: HTTPXRequest, kind: str
) -> None:
    """PTB quotes httpx's error text in its own (`httpx.ConnectError: …`), and the bot logs it."""
    secret = uuid.uuid4().hex
    with unaccepting_port() as port:
        root = {
            "connect timeout": f"http://127.0.0.1:{port}",
            "refused": f"http://127.0.0.1:{closed_port()}",
        }.get(kind, server.url)
        if root == server.url:
            server.script(Answer(kind, "getMe"))  # type: ignore[arg-type]
        with pytest.raises(NetworkError) as caught:
            await ptb.do_request(
                f"{root}/bot123456:{secret}/getMe?t={secret}", "POST", connect_timeout=0.3
            )
    text = "".join(format_exception(caught.value))  # what `log.exception` would print
    assert secret not in text and secret not in str(caught.value)


async def test_the_client_reopens_after_a_shutdown(server: RawHttpServer) -> None:
    """PTB builds a new httpx client over the same transport when initialised again."""
    request = telegram_request(1)
    for _ in range(2):
        await request.initialize()
        status, _ = await request.do_request(f"{server.url}/bot1:x/getMe", "POST")
        assert status == 200
        await request.shutdown()


async def test_a_call_after_the_transport_closed_opens_nothing(server: RawHttpServer) -> None:
    """A request still on its way when the bot shuts down fails as one that never left, and
    leaves no session open behind it (it would be reported unclosed, and leak its sockets)."""
    transport = AiohttpTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get(f"{server.url}/status")).status_code == 200
    request = httpx.Request("GET", f"{server.url}/status")
    with pytest.raises(httpx.ConnectError):
        await transport.handle_async_request(request)
    assert transport._session is not None and transport._session.closed
