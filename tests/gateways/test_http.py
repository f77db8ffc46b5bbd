"""`GatewayHttp` over `bot.transport`: what every driver relies on, against a real local server.

Whether a failed call may be repeated depends on whether its request left this machine, so each
way a call can fail is tried on a raw server (`tests/fakes/raw_http.py`) and must come out as the
drivers expect: refused or no connection in time is "not sent" (and retried), anything after the
request went out is "sent" (and a send is never repeated, not by us and not by aiohttp). Then the
rest of what the drivers take from the shared client: timeouts (the long poll's longer one),
connection limits, retries and the breaker, multipart uploads, redirects returned unfollowed, and
no token in any error text or log line.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from email.parser import BytesParser
from email.policy import HTTP
from traceback import format_exception

import pytest

from bot.gateways.base import NetworkError, UpstreamError
from bot.gateways.http import MAX_CONNECTIONS, GatewayHttp
from bot.logs import setup_logging
from bot.metrics import REGISTRY
from tests.fakes.raw_http import Answer, AnswerKind, RawHttpServer, closed_port, unaccepting_port

MB = 1024 * 1024


@pytest.fixture
async def http(server: RawHttpServer) -> AsyncIterator[GatewayHttp]:
    client = GatewayHttp(server.url, name=unique_name(), timeout=0.5, backoff=0.01)
    yield client
    await client.aclose()


def unique_name() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def attempts(name: str, outcome: str, method: str = "send") -> float:
    labels = {"gateway": name, "method": method, "outcome": outcome}
    return REGISTRY.get_sample_value("bot_gateway_calls_total", labels) or 0.0


# --------------------------------------------------------------------------- left, or not


@pytest.mark.parametrize(
    ("kind", "method"),
    [
        ("late", "POST"),  # no answer within the read timeout
        ("close", "POST"),  # closed without an answer
        ("close", "PUT"),  # aiohttp would repeat these two by itself
        ("close", "DELETE"),
        ("cut", "POST"),  # the body stops short of its Content-Length
        ("garbage", "POST"),  # not HTTP
        ("reset", "POST"),  # connection reset after the request
    ],
)
async def test_a_call_whose_request_left_is_sent_and_never_repeated(
    server: RawHttpServer, http: GatewayHttp, kind: AnswerKind, method: str
) -> None:
    server.script(Answer(kind, "send", seconds=2.0))
    with pytest.raises(NetworkError) as caught:
        await http.request(method, "send", idempotent=False, data={"body": "hi"})
    assert caught.value.request_sent, f"{kind}: the gateway may have acted on it"
    await asyncio.sleep(0.1)  # a repeat, if any, would arrive by now
    assert len(server.requests_to("send")) == 1


async def test_an_upload_the_server_stops_taking_fails_as_sent_within_the_timeout(
    server: RawHttpServer, http: GatewayHttp
) -> None:
    """aiohttp has no write timeout: without the transport's own, this call would wait for ever.
    20 MB: more than the sockets' buffers hold, so the sending really stops."""
    server.script(Answer("unread", "sendFileByUpload"))
    started = time.monotonic()
    with pytest.raises(NetworkError) as caught:
        await http.request(
            "POST",
            "sendFileByUpload",
            idempotent=False,
            files={"file": ("video.mp4", b"v" * (20 * MB), "video/mp4")},
        )
    assert caught.value.request_sent
    assert time.monotonic() - started < 3.0  # the client's 0.5 s write timeout, and the copying
    assert len(server.requests_to("sendFileByUpload")) == 1


async def test_a_refused_connection_is_not_sent_and_is_retried() -> None:
    name = unique_name()
    http = GatewayHttp(f"http://127.0.0.1:{closed_port()}", name=name, backoff=0.01, retries=2)
    try:
        with pytest.raises(NetworkError) as caught:
            await http.request("POST", "send", idempotent=False, data={"body": "hi"})
    finally:
        await http.aclose()
    assert not caught.value.request_sent
    assert attempts(name, "network") == 3  # nothing left: repeating cannot send it twice


async def test_no_connection_within_the_connect_timeout_is_not_sent() -> None:
    name = unique_name()
    with unaccepting_port() as port:
        http = GatewayHttp(f"http://127.0.0.1:{port}", name=name, timeout=0.3, retries=0)
        started = time.monotonic()
        try:
            with pytest.raises(NetworkError) as caught:
                await http.request("POST", "send", idempotent=False)
        finally:
            await http.aclose()
    assert not caught.value.request_sent
    assert 0.25 < time.monotonic() - started < 2.0


# --------------------------------------------------------------------------- timeouts


async def test_the_client_timeout_bounds_a_call_and_a_long_poll_has_its_own(
    server: RawHttpServer, http: GatewayHttp
) -> None:
    server.script(Answer("late", "receive", seconds=1.0, times=2))
    started = time.monotonic()
    with pytest.raises(NetworkError):  # the client's 0.5 s
        await http.request("GET", "receive", idempotent=False)
    assert 0.4 < time.monotonic() - started < 0.95
    response = await http.request("GET", "receive", idempotent=False, http_timeout=3.0)
    assert response.status_code == 200


# --------------------------------------------------------------------------- limits


async def test_calls_beyond_the_connections_wait_their_turn_and_do_not_time_out(
    server: RawHttpServer,
) -> None:
    """800 calls of 0.3 s, 50 at a time: the last ones wait 4.5 s, longer than the client's
    timeouts (2 s, and 2 + 2 s for a pool slot and a connection): they wait in our semaphore,
    and their timeouts start when they go out. (Each call's own 0.3 s has 1.7 s of slack, for a
    loaded machine.)"""
    http = GatewayHttp(server.url, name=unique_name(), timeout=2.0, backoff=0.01)
    calls = 16 * MAX_CONNECTIONS
    server.script(Answer("late", "status", seconds=0.3, times=calls))
    try:
        replies = await asyncio.gather(
            *(http.request("GET", "status", idempotent=False) for _ in range(calls))
        )
    finally:
        await http.aclose()
    assert [r.status_code for r in replies] == [200] * calls
    assert server.peak_in_flight == MAX_CONNECTIONS
    assert server.peak_connections <= MAX_CONNECTIONS


# --------------------------------------------------------------------------- retries, breaker


async def test_a_read_is_retried_after_a_dropped_connection_and_a_5xx(
    server: RawHttpServer, http: GatewayHttp
) -> None:
    server.script(Answer("close", "status"), Answer("ok", "status", status=503))
    response = await http.request("GET", "status", idempotent=True)
    assert response.status_code == 200
    assert len(server.requests_to("status")) == 3


async def test_the_breaker_opens_after_five_failures_in_a_row(server: RawHttpServer) -> None:
    http = GatewayHttp(server.url, name=unique_name(), retries=0, breaker_cooldown=30)
    server.script(Answer("ok", "status", status=500, times=5))
    try:
        for _ in range(5):
            with pytest.raises(UpstreamError, match="HTTP 500"):
                await http.request("GET", "status", idempotent=True)
        started = time.monotonic()
        with pytest.raises(UpstreamError, match="breaker open"):
            await http.request("GET", "status", idempotent=True)
        assert time.monotonic() - started < 0.05
    finally:
        await http.aclose()
    assert len(server.requests_to("status")) == 5


# --------------------------------------------------------------------------- bodies, redirects


async def test_a_multipart_upload_arrives_whole(server: RawHttpServer, http: GatewayHttp) -> None:
    """Green-API's `sendFileByUpload`: the file and the text fields in one multipart body."""
    data = bytes(range(256)) * 2000  # 512 KB, every byte value
    response = await http.request(
        "POST",
        "sendFileByUpload",
        idempotent=False,
        data={"chatId": "79001234567@c.us", "caption": "фото"},
        files={"file": ("photo.png", data, "image/png")},
        http_timeout=5.0,
    )
    assert response.status_code == 200
    (request,) = server.requests_to("sendFileByUpload")
    assert request.headers["content-length"] == str(len(request.body))
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    parts = {part.get_param("name", header="content-disposition"): part for part in message.walk()}
    assert parts["file"].get_payload(decode=True) == data
    assert parts["file"].get_filename() == "photo.png"
    assert parts["file"].get_content_type() == "image/png"
    assert parts["chatId"].get_payload(decode=True) == b"79001234567@c.us"
    assert parts["caption"].get_payload(decode=True) == "фото".encode()


async def test_a_redirect_is_returned_not_followed(
    server: RawHttpServer, http: GatewayHttp
) -> None:
    server.script(Answer("redirect", "status", status=302, location=f"{server.url}/elsewhere"))
    response = await http.request("GET", "status", idempotent=True)
    assert response.status_code == 302
    await asyncio.sleep(0.1)
    assert server.requests_to("elsewhere") == []


# --------------------------------------------------------------------------- secrets


@pytest.fixture
def bot_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Everything logged, as the bot's logging (`setup_logging`) writes it, at DEBUG."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    loggers = [root, *(logging.getLogger(name) for name in ("httpx", "httpcore", "aiohttp"))]
    saved = root.handlers[:], [logger.level for logger in loggers]
    setup_logging("DEBUG")
    yield stream
    root.handlers[:] = saved[0]
    for logger, level in zip(loggers, saved[1], strict=True):
        logger.setLevel(level)


@pytest.mark.parametrize("kind", ["connect timeout", "refused", "late", "close", "garbage"])
async def test_no_token_in_error_texts_or_log_lines(
    server: RawHttpServer, bot_log: io.StringIO, kind: str
) -> None:
    """Tokens travel in paths and queries. These two are shaped like no token the log filter
    knows, so only the transport's own care keeps them out of the texts."""
    path_secret, query_secret = "pathsecret" + uuid.uuid4().hex, "querysecret" + uuid.uuid4().hex
    with unaccepting_port() as port:
        root = {
            "connect timeout": f"http://127.0.0.1:{port}",
            "refused": f"http://127.0.0.1:{closed_port()}",
        }.get(kind, server.url)
        if kind not in ("connect timeout", "refused"):
            server.script(Answer(kind, "status", seconds=2.0, times=2))  # type: ignore[arg-type]
        http = GatewayHttp(f"{root}/v3/{path_secret}", name=unique_name(), timeout=0.3, retries=1)
        try:
            with pytest.raises(NetworkError) as caught:
                await http.request("GET", "status", idempotent=True, params={"key": query_secret})
        finally:
            await http.aclose()
    logged = bot_log.getvalue()
    assert "status failed (network), retry 1" in logged  # the capture works
    traceback = "".join(format_exception(caught.value))  # what `log.exception` would print
    for text in (logged, traceback, str(caught.value)):
        assert path_secret not in text and query_secret not in text
