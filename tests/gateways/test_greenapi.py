"""The Green-API driver against `FakeGreenApi` end to end, and Green-API's own Python client
(`whatsapp_api_client_python`) run against the same emulator as a conformance probe.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import zxingcpp
from PIL import Image
from whatsapp_api_client_python import API

from bot.gateways.base import (
    AuthError,
    Delivery,
    GatewayError,
    InvalidRequestError,
    Line,
    LineState,
    LineStatus,
    NetworkError,
    NotFoundError,
    NotReadyError,
    QuotaError,
    RateLimitedError,
    UpstreamError,
)
from bot.gateways.greenapi import GreenApiGateway, parse_credentials
from bot.gateways.greenapi_replies import STALE_AUTH_RAW
from bot.logs import RedactingFormatter
from tests.fakes.greenapi import DELETED, EXPIRED, FakeGreenApi, GreenTimeline
from tests.fakes.server import free_port

PHONE = "79161234567"
PEER = "79001234567"


def fast(**overrides: float) -> GreenTimeline:
    """Tenths of a second; a long QR life so that reads do not race a rotation."""
    values: dict[str, float] = {
        "create_seconds": 0.05,
        "start_seconds": 0.05,
        "qr_rotate_seconds": 5.0,
        "code_seconds": 5.0,
        "send_seconds": 0.02,
        "deliver_seconds": 0.04,
        "read_seconds": 0.04,
    }
    return GreenTimeline(**(values | overrides))


@pytest.fixture
def fake() -> Iterator[FakeGreenApi]:
    with FakeGreenApi(timeline=fast(), seed=1) as server:
        yield server


@pytest.fixture
async def gateway(fake: FakeGreenApi) -> AsyncIterator[GreenApiGateway]:
    driver = GreenApiGateway(fake.url, timeout=2.0, backoff=0.01)
    yield driver
    await driver.aclose()


def creds(instance_id: int, token: str, api_url: str | None = None) -> dict[str, str]:
    values = {"idInstance": str(instance_id), "apiTokenInstance": token}
    if api_url is not None:
        values["apiUrl"] = api_url
    return values


async def linked(fake: FakeGreenApi, gateway: GreenApiGateway) -> tuple[int, Line]:
    instance_id, token = fake.add_instance(phone=PHONE)
    return instance_id, await gateway.acquire(creds(instance_id, token))


async def warm(fake: FakeGreenApi, gateway: GreenApiGateway) -> None:
    """Open the host's pool first (its TLS set-up takes tens of ms) so that early phases are seen."""
    await gateway.acquire(creds(*fake.add_instance(phone=PEER)))


async def wait_for(gateway: GreenApiGateway, line: Line, state: LineState) -> LineStatus:
    async with asyncio.timeout(2):
        while True:
            status = await gateway.status(line)
            if status.state is state:
                return status
            await asyncio.sleep(0.01)


def decode_png_b64(message: str) -> str:
    with Image.open(io.BytesIO(base64.b64decode(message))) as image:
        assert 200 <= image.width <= 320  # about 256 px, as documented
        found = zxingcpp.read_barcodes(image)
    assert len(found) == 1
    return found[0].text


# ---------------------------------------------------------------- acquire


async def test_acquire_checks_the_credentials_once(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    instance_id, token = fake.add_instance()
    line = await gateway.acquire(creds(instance_id, f"  {token} ", api_url=fake.url + "/"))
    assert line == Line(str(instance_id), token, {"api_url": fake.url})
    assert token not in repr(line)
    assert [r.api_method for r in fake.requests] == ["getstateinstance"]
    # apiUrl is optional: the constructor's default host is used.
    assert (await gateway.acquire(creds(instance_id, token))).options == {"api_url": fake.url}


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"idInstance": "11010x", "apiTokenInstance": "a" * 50}, "digits"),
        ({"idInstance": "", "apiTokenInstance": "a" * 50}, "digits"),
        ({"idInstance": "1101000001", "apiTokenInstance": " "}, "empty"),
        ({"idInstance": "1101000001", "apiTokenInstance": "abc/def/ghi"}, "token"),
        ({"idInstance": "1", "apiTokenInstance": "a" * 50, "apiUrl": "ftp://x.y"}, "http"),
        ({"idInstance": "1", "apiTokenInstance": "a" * 50, "apiUrl": "https://h?x=1"}, "plain"),
        ({}, "digits"),
    ],
)
async def test_acquire_refuses_malformed_credentials_without_a_call(
    fake: FakeGreenApi, gateway: GreenApiGateway, values: dict[str, str], reason: str
) -> None:
    with pytest.raises(InvalidRequestError, match=reason):
        await gateway.acquire(values)
    assert fake.requests == []


async def test_acquire_with_wrong_token_or_id_is_an_auth_error(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    instance_id, token = fake.add_instance()
    with pytest.raises(AuthError, match="apiTokenInstance") as wrong_token:
        await gateway.acquire(creds(instance_id, "f" * 50))
    with pytest.raises(AuthError, match="wrong idInstance") as wrong_id:
        await gateway.acquire(creds(instance_id + 7, token))
    assert wrong_token.value.line_lost and not wrong_id.value.retriable
    assert token not in str(wrong_id.value) and "f" * 50 not in str(wrong_token.value)


async def test_a_bare_host_gets_https_and_the_default_url_is_checked(fake: FakeGreenApi) -> None:
    driver = GreenApiGateway("7105.API.greenapi.com/")
    assert driver.default_api_url == "https://7105.api.greenapi.com"
    with pytest.raises(InvalidRequestError):
        GreenApiGateway("mailto:someone@example.com")
    await driver.aclose()


# ---------------------------------------------------------------- states and QR


async def test_state_walk_shows_green_words_and_the_issued_qr(fake: FakeGreenApi) -> None:
    fake.timeline = fast(create_seconds=0.3, start_seconds=0.2)
    gateway = GreenApiGateway(fake.url, timeout=2.0)
    try:
        await warm(fake, gateway)
        instance_id, token = fake.add_instance()
        line = await gateway.acquire(creds(instance_id, token))
        assert await gateway.status(line) == LineStatus(LineState.PROVISIONING, raw="")
        assert await wait_for(gateway, line, LineState.STARTING) == LineStatus(
            LineState.STARTING, raw="starting"
        )
        waiting = await wait_for(gateway, line, LineState.AWAITING_QR)
        assert waiting.raw == "notAuthorized"
        assert waiting.qr is not None and waiting.qr.content is not None
        assert waiting.qr.content == fake.current_qr(instance_id)
        assert waiting.qr.content.startswith("2@") and waiting.qr.content.count(",") == 3

        fake.scan(instance_id, phone=PHONE, name="Иван", qr=waiting.qr.content)
        assert await gateway.status(line) == LineStatus(LineState.AUTHORIZED, raw="authorized")
        account = await gateway.account(line)
        assert (account.name, account.phone) == ("Иван", PHONE)
    finally:
        await gateway.aclose()


async def test_the_qr_rotates(fake: FakeGreenApi, gateway: GreenApiGateway) -> None:
    fake.timeline = fast(qr_rotate_seconds=0.15)
    instance_id, token = fake.add_instance()
    line = await gateway.acquire(creds(instance_id, token))
    first = (await wait_for(gateway, line, LineState.AWAITING_QR)).qr
    await asyncio.sleep(0.2)
    second = (await gateway.status(line)).qr
    assert first is not None and second is not None
    assert first.content is not None and second.content is not None
    assert second.fingerprint != first.fingerprint
    # Both were issued by the emulator, in that order (no equality with "now": it may rotate on).
    issued = fake.instance(instance_id).qrs
    assert issued.index(first.content) < issued.index(second.content)


async def test_stale_auth_needs_a_logout_before_a_qr(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    instance_id, line = await linked(fake, gateway)
    fake.set_stale_auth(instance_id)
    status = await gateway.status(line)
    assert status == LineStatus(LineState.AWAITING_QR, qr=None, raw=STALE_AUTH_RAW)
    with pytest.raises(NotReadyError):
        await gateway.pairing_code(line, PHONE)  # status false while stale
    await gateway.logout(line)
    status = await gateway.status(line)
    assert status.qr is not None and status.qr.content == fake.current_qr(instance_id)


async def test_already_logged_between_the_two_calls_is_authorized(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    _, line = await linked(fake, gateway)
    fake.fail_next(
        "getStateInstance",
        status=200,
        body='{"stateInstance":"notAuthorized"}',
        content_type="application/json",
    )
    assert (await gateway.status(line)).state is LineState.AUTHORIZED


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("yellowCard", LineState.RESTRICTED),
        ("blocked", LineState.BLOCKED),
        ("sleepMode", LineState.SLEEPING),
        ("suspended", LineState.RESTRICTED),
        ("starting", LineState.STARTING),
        ("somethingNew", LineState.UNKNOWN),
    ],
)
async def test_other_states_keep_greens_word(
    fake: FakeGreenApi, gateway: GreenApiGateway, word: str, state: LineState
) -> None:
    instance_id, line = await linked(fake, gateway)
    fake.set_state(instance_id, word)
    assert await gateway.status(line) == LineStatus(state, raw=word)


async def test_reboot_ends_a_yellow_card_and_logout_unlinks(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    instance_id, line = await linked(fake, gateway)
    fake.set_state(instance_id, "yellowCard")
    await gateway.reboot(line)
    assert (await gateway.status(line)).state is LineState.STARTING
    await wait_for(gateway, line, LineState.AUTHORIZED)
    await gateway.release(line)  # = logout: the person keeps the instance
    status = await gateway.status(line)
    assert status.state is LineState.AWAITING_QR and status.qr is not None
    assert (await gateway.account(line)).phone is None
    await gateway.release(line)  # again: harmless
    assert [r.method for r in fake.requests_to("logout")] == ["GET", "GET"]
    assert [r.method for r in fake.requests_to("reboot")] == ["GET"]


# ---------------------------------------------------------------- sending and delivery


async def test_send_text_then_delivery_walks_to_read(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    _, line = await linked(fake, gateway)
    sent = await gateway.send_text(line, "+7 900 123-45-67", "Привет из Telegram")
    assert sent.message_id is not None
    [record] = fake.sent
    assert (record.chat_id, record.message, record.id_message) == (
        f"{PEER}@c.us",
        "Привет из Telegram",
        sent.message_id,
    )
    seen = [await gateway.delivery(line, sent.message_id)]
    async with asyncio.timeout(1):
        while seen[-1] is not Delivery.READ:
            await asyncio.sleep(0.01)
            seen.append(await gateway.delivery(line, sent.message_id))
    assert seen[0] in (Delivery.QUEUED, Delivery.SENT)
    assert Delivery.DELIVERED in seen
    assert fake.requests_to("lastOutgoingMessages")[0].query == {"minutes": "1440"}
    with pytest.raises(NotFoundError):
        await gateway.delivery(line, "BAE5000000000000")


async def test_a_send_before_linking_stays_queued_until_the_scan(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    instance_id, token = fake.add_instance()
    line = await gateway.acquire(creds(instance_id, token))
    await wait_for(gateway, line, LineState.AWAITING_QR)
    sent = await gateway.send_text(line, PEER, "queued")
    assert sent.message_id is not None and fake.sent[0].queued
    await asyncio.sleep(0.1)
    assert await gateway.delivery(line, sent.message_id) is Delivery.QUEUED
    fake.scan(instance_id)
    await asyncio.sleep(0.15)
    assert await gateway.delivery(line, sent.message_id) is Delivery.READ


async def test_failed_deliveries(fake: FakeGreenApi, gateway: GreenApiGateway) -> None:
    fake.no_account.add("79000000000")
    _, line = await linked(fake, gateway)
    nobody = await gateway.send_text(line, "79000000000", "hello?")
    other = await gateway.send_text(line, PEER, "hello")
    assert nobody.message_id and other.message_id
    fake.set_message_status(other.message_id, "notInGroup")
    await asyncio.sleep(0.05)
    assert await gateway.delivery(line, nobody.message_id) is Delivery.FAILED
    assert await gateway.delivery(line, other.message_id) is Delivery.FAILED


async def test_send_media_names_the_file_from_the_url(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    _, line = await linked(fake, gateway)
    url = "https://cdn.example.com/files/%D1%84%D0%BE%D1%82%D0%BE.JPG?size=big"
    sent = await gateway.send_media(line, PEER, url, caption="look")
    await gateway.send_media(line, PEER, "https://cdn.example.com/get?id=1", filename="a.pdf")
    first, second = fake.sent
    assert first.id_message == sent.message_id and first.method == "sendFileByUrl"
    assert first.fields == {
        "chatId": f"{PEER}@c.us",
        "urlFile": url,
        "fileName": "фото.JPG",
        "caption": "look",
    }
    assert second.fields["fileName"] == "a.pdf" and "caption" not in second.fields
    journal = fake.instance(first.instance_id).outgoing
    assert [m.type_message for m in journal] == ["imageMessage", "documentMessage"]


@pytest.mark.parametrize(
    ("url", "filename", "reason"),
    [
        ("https://cdn.example.com/get?id=1", None, "file type"),
        ("https://cdn.example.com/photo.jpg", "photo", "extension"),
        ("file:///etc/passwd", "a.txt", "http"),
    ],
)
async def test_send_media_refuses_what_green_cannot_type(
    fake: FakeGreenApi, gateway: GreenApiGateway, url: str, filename: str | None, reason: str
) -> None:
    _, line = await linked(fake, gateway)
    with pytest.raises(InvalidRequestError, match=reason):
        await gateway.send_media(line, PEER, url, filename=filename)
    assert fake.requests_to("sendFileByUrl") == []


async def test_validation_errors_from_the_gateway(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    _, line = await linked(fake, gateway)
    with pytest.raises(InvalidRequestError, match="20000 characters"):
        await gateway.send_text(line, PEER, "x" * 20001)
    with pytest.raises(InvalidRequestError, match="must be one of the next formats"):
        await gateway.send_text(line, "0", "hi")
    with pytest.raises(InvalidRequestError, match="no digits"):
        await gateway.send_text(line, "+", "hi")  # refused before any call


# ---------------------------------------------------------------- pairing code


async def test_pairing_code_links_the_phone_it_was_asked_for(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    fake.timeline = fast(create_seconds=0.3)
    await warm(fake, gateway)
    instance_id, token = fake.add_instance()
    line = await gateway.acquire(creds(instance_id, token))
    with pytest.raises(NotReadyError, match="starting"):
        await gateway.pairing_code(line, PHONE)  # the instance is still coming up
    await wait_for(gateway, line, LineState.AWAITING_QR)
    code = await gateway.pairing_code(line, f"+{PHONE}")
    assert code == fake.current_code(instance_id) and len(code) == 8
    assert fake.requests_to("getAuthorizationCode")[-1].body == {"phoneNumber": int(PHONE)}
    fake.enter_code(instance_id, code)
    await wait_for(gateway, line, LineState.AUTHORIZED)
    assert (await gateway.account(line)).phone == PHONE
    with pytest.raises(NotReadyError, match="already linked"):
        await gateway.pairing_code(line, PHONE)


# ---------------------------------------------------------------- the error taxonomy


QUOTA_BODY = json.dumps(
    {
        "invokeStatus": {
            "method": "sendmessage",
            "used": 12,
            "total": 0,
            "status": "QUOTE_ALLOWED",
        },
        "correspondentsStatus": {
            "method": "correspondents",
            "used": 3,
            "total": 3,
            "status": "CORRESPONDENTS_QUOTE_EXCEEDED",
            "description": "Monthly quota has been exceeded. You can only send or receive "
            "messages from these numbers: 79001112233",
        },
    }
)


@pytest.mark.parametrize(
    ("status", "body", "error", "retriable"),
    [
        (400, "instance account not authorized", NotReadyError, False),
        (400, "instance in starting process try later", NotReadyError, False),
        (400, "instance is starting or not authorized", NotReadyError, False),
        (400, '{"message":"instance account not authorized"}', NotReadyError, False),
        (
            400,
            "Bad Request Validation failed. Details: 'x' is not allowed",
            InvalidRequestError,
            False,
        ),
        (400, "Unexpected token } in JSON at position 12", InvalidRequestError, False),
        (400, EXPIRED, QuotaError, False),
        (400, DELETED, NotFoundError, False),
        (401, "Unauthorized", AuthError, False),
        (403, "Forbidden", AuthError, False),
        (404, "Not Found", InvalidRequestError, False),
        (429, "Too Many Requests", RateLimitedError, True),
        (466, QUOTA_BODY, QuotaError, False),
        (499, "Client Closed Request", UpstreamError, True),
        (
            500,
            "File from url exceeded max upload size. Size: 120mb Limit: 100mb",
            UpstreamError,
            True,
        ),
        (502, "<html>502 Bad Gateway</html>", UpstreamError, True),
    ],
)
async def test_http_errors_map_to_the_taxonomy(
    fake: FakeGreenApi,
    gateway: GreenApiGateway,
    status: int,
    body: str,
    error: type[GatewayError],
    retriable: bool,
) -> None:
    _, line = await linked(fake, gateway)
    content_type = "application/json" if body.startswith("{") else "text/plain"
    fake.fail_next("sendMessage", status=status, body=body, content_type=content_type)
    with pytest.raises(error) as caught:
        await gateway.send_text(line, PEER, "hi")
    assert type(caught.value) is error and caught.value.retriable is retriable
    assert len(fake.requests_to("sendMessage")) == 1  # a send is never repeated by the driver
    assert line.token not in str(caught.value)
    if status == 466:
        assert "79001112233" not in str(caught.value)  # the quota text lists phone numbers
        assert "CORRESPONDENTS_QUOTE_EXCEEDED" in str(caught.value)


async def test_retry_after_comes_from_the_header_else_one_second(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    _, line = await linked(fake, gateway)
    fake.fail_next(
        "sendMessage", status=429, body="Too Many Requests", headers={"Retry-After": "3"}
    )
    with pytest.raises(RateLimitedError) as with_header:
        await gateway.send_text(line, PEER, "hi")
    assert with_header.value.retry_after == 3.0
    fake.rate_limits = True  # the emulator's own limiter: getStateInstance is 1/s
    await gateway.status(line)
    with pytest.raises(RateLimitedError) as limited:
        await gateway.status(line)
    assert limited.value.retry_after == 1.0


async def test_the_emulators_own_error_sources(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    fake.quota_correspondents = 1
    instance_id, line = await linked(fake, gateway)
    await gateway.send_text(line, PEER, "first correspondent")
    with pytest.raises(QuotaError, match="1/1"):
        await gateway.send_text(line, "79005550000", "a second one is over the plan")
    await gateway.send_text(line, PEER, "the first one still works")

    fake.expire(instance_id)
    with pytest.raises(QuotaError, match="expired"):
        await gateway.status(line)
    fake.expire(instance_id, False)
    fake.delete(instance_id)
    with pytest.raises(NotFoundError, match="deleted") as deleted:
        await gateway.status(line)
    assert deleted.value.line_lost


async def test_transport_failures(fake: FakeGreenApi, gateway: GreenApiGateway) -> None:
    _, line = await linked(fake, gateway)
    fake.drop_next("sendMessage")
    with pytest.raises(NetworkError) as dropped:
        await gateway.send_text(line, PEER, "hi")
    assert dropped.value.request_sent  # the message may have gone: not repeated
    fake.malformed_next("getStateInstance")
    with pytest.raises(UpstreamError, match="not JSON"):
        await gateway.status(line)
    fake.fail_next("getStateInstance", times=2)  # reads are retried by GatewayHttp
    assert (await gateway.status(line)).state is LineState.AUTHORIZED
    nowhere = Line(line.instance_id, line.token, {"api_url": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(NetworkError) as refused:
        await gateway.send_text(nowhere, PEER, "hi")
    assert not refused.value.request_sent


async def test_each_host_gets_its_own_client(fake: FakeGreenApi) -> None:
    # Both emulators are on 127.0.0.1 (the allowed GREEN_API_URL host), on different ports.
    gateway = GreenApiGateway(fake.url, timeout=2.0)
    with FakeGreenApi(timeline=fast(), seed=2) as other:
        try:
            here = await gateway.acquire(creds(*fake.add_instance(phone=PHONE), api_url=fake.url))
            there = await gateway.acquire(creds(*other.add_instance(phone=PEER), api_url=other.url))
            assert (await gateway.account(here)).phone == PHONE
            assert (await gateway.account(there)).phone == PEER
            clients = dict(gateway._clients)  # white-box: the pool per host, closed by aclose
            assert sorted(clients) == sorted([fake.url, other.url])
        finally:
            await gateway.aclose()
    assert all(http.client.is_closed for http in clients.values())


@pytest.mark.parametrize(
    "api_url",
    ["http://169.254.169.254", "https://internal.example.com", "https://green-api.com.evil.io"],
)
async def test_api_url_must_be_a_green_api_host(gateway: GreenApiGateway, api_url: str) -> None:
    with pytest.raises(InvalidRequestError, match="Green-API host"):
        await gateway.acquire(creds("1101000001", "a" * 40, api_url=api_url))
    assert parse_credentials(
        {"idInstance": "1", "apiTokenInstance": "a" * 40, "apiUrl": "7105.api.greenapi.com"},
        "https://api.green-api.com",
    ).options == {"api_url": "https://7105.api.greenapi.com"}


async def test_the_token_never_reaches_logs_or_error_texts(
    fake: FakeGreenApi, gateway: GreenApiGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the bot keeps httpx at WARNING; here it logs every URL
    logging.getLogger("httpx").setLevel(logging.INFO)
    try:
        instance_id, token = fake.add_instance(phone=PHONE)
        errors: list[GatewayError] = []
        line = await gateway.acquire(creds(instance_id, token))
        # (Fewer than 5 transport failures in a row: GatewayHttp's breaker stays closed.)
        fake.fail_next("getStateInstance", times=3)  # a read: tried 3 times, path in the detail
        fake.malformed_next("getStateInstance")
        fake.drop_next("sendMessage")
        fake.fail_next("sendMessage", status=400, body=f"echo {token}", content_type="text/plain")
        for call in (
            gateway.status(line),
            gateway.status(line),
            gateway.send_text(line, PEER, "hi"),
            gateway.send_text(line, PEER, "hi"),
            gateway.acquire(creds(instance_id, token[::-1])),
            gateway.acquire(creds(instance_id + 1, token)),
        ):
            try:
                await call
            except GatewayError as exc:
                errors.append(exc)
    finally:
        logging.getLogger("httpx").setLevel(logging.NOTSET)
    expected: list[type[GatewayError]] = [
        UpstreamError,
        UpstreamError,
        NetworkError,
        InvalidRequestError,
        AuthError,
        AuthError,
    ]
    assert [type(e) for e in errors] == expected
    for error in errors:
        text = "".join(traceback.format_exception(error))
        assert token not in text and token[::-1] not in text, text
    assert any(r.name == "httpx" and "waInstance" in r.getMessage() for r in caplog.records)
    formatter = RedactingFormatter("%(name)s %(message)s")
    for record in caplog.records:
        assert token not in formatter.format(record)
        if record.name.startswith("bot.gateways.greenapi"):
            assert token not in record.getMessage()


# ---------------------------------------------------------------- the emulator over raw HTTP


async def test_emulator_routing_and_plain_text_errors(fake: FakeGreenApi) -> None:
    instance_id, token = fake.add_instance(phone=PHONE)
    base = f"/waInstance{instance_id}"
    async with httpx.AsyncClient(base_url=fake.url, timeout=5) as http:
        for name in ("getStateInstance", "GetStateInstance", "GETSTATEINSTANCE"):
            response = await http.get(f"{base}/{name}/{token}")
            assert response.json() == {"stateInstance": "authorized"}
        cases: list[tuple[str, str, Any, int, str]] = [
            ("POST", f"{base}/getStateInstance/{token}", None, 404, "Not Found"),
            ("GET", f"{base}/sendMessage/{token}", None, 404, "Not Found"),
            ("GET", f"{base}/noSuchMethod/{token}", None, 404, "Not Found"),
            ("GET", f"/waInstance{instance_id + 1}/qr/{token}", None, 403, "Forbidden"),
            ("GET", f"{base}/qr/{'0' * 50}", None, 401, "Unauthorized"),
            ("GET", f"/waInstanceabc/qr/{token}", None, 400, "Parameter idInstance not an integer"),
            ("GET", f"{base}/qr/", None, 400, "Parameter apiTokenInstance not define"),
            ("POST", f"{base}/sendMessage/{token}", b'{"chatId":}', 400, "Unexpected token }"),
            ("POST", f"{base}/sendMessage/{token}", b"[1]", 400, "bad request data"),
        ]
        for verb, path, content, status, text in cases:
            response = await http.request(verb, path, content=content)
            assert (response.status_code, response.headers["content-type"]) == (
                status,
                "text/plain; charset=utf-8",
            ), path
            assert response.text.startswith(text), response.text
        response = await http.post(
            f"{base}/sendMessage/{token}", json={"chatId": f"{PEER}@c.us", "message": "x", "y": 1}
        )
        assert response.text == "Bad Request Validation failed. Details: 'y' is not allowed"


# ---------------------------------------------------------------- conformance: the vendor client


@pytest.fixture
def vendor_logs() -> Iterator[None]:
    """The vendor client adds a stderr handler per instance; take them off again."""
    logger = logging.getLogger("whatsapp-api-client-python")
    before = list(logger.handlers)
    yield
    for handler in logger.handlers[len(before) :]:
        logger.removeHandler(handler)


def test_official_client_conformance(fake: FakeGreenApi, vendor_logs: None) -> None:
    """Every call our driver makes, through Green-API's own (synchronous, requests) client.

    A plain `def` test: pytest runs it without an event loop, and the emulator answers from its
    own thread, so the blocking client needs no wrapping.
    """
    fake.timeline = fast(create_seconds=0.3, start_seconds=0.3)
    instance_id, token = fake.add_instance()
    api = API.GreenAPI(str(instance_id), token, host=fake.url)
    try:
        first = api.account.getStateInstance()
        assert (first.code, first.data) == (200, None)  # `null`: still being created
        deadline = time.monotonic() + 2
        while (state := api.account.getStateInstance()).data != {"stateInstance": "notAuthorized"}:
            assert state.code == 200 and time.monotonic() < deadline
            time.sleep(0.01)

        qr = api.account.qr()
        assert qr.code == 200 and qr.data["type"] == "qrCode"
        assert decode_png_b64(qr.data["message"]) == fake.current_qr(instance_id)

        code = api.account.getAuthorizationCode(int(PHONE))
        assert code.code == 200 and code.data["status"] is True
        assert isinstance(code.data["code"], str) and len(code.data["code"]) == 8
        fake.enter_code(instance_id, code.data["code"])

        assert api.account.getStateInstance().data == {"stateInstance": "authorized"}
        already = api.account.qr()
        assert already.data == {
            "type": "alreadyLogged",
            "message": "instance account already authorized",
        }
        settings = api.account.getWaSettings()
        assert settings.code == 200
        assert settings.data["phone"] == PHONE and settings.data["stateInstance"] == "authorized"
        assert {"avatar", "deviceId", "chatId"} <= set(settings.data)

        text = api.sending.sendMessage(f"{PEER}@c.us", "hello")
        assert text.code == 200 and isinstance(text.data["idMessage"], str)
        media = api.sending.sendFileByUrl(
            f"{PEER}@c.us", "https://example.com/p.png", "p.png", caption="pic"
        )
        assert media.code == 200 and isinstance(media.data["idMessage"], str)
        for journal in (api.journals.lastOutgoingMessages(), api.journals.lastOutgoingMessages(5)):
            assert journal.code == 200 and isinstance(journal.data, list)
            assert [e["idMessage"] for e in journal.data] == [
                media.data["idMessage"],
                text.data["idMessage"],
            ]
            assert all(
                {"idMessage", "statusMessage", "timestamp", "typeMessage", "chatId"} <= set(e)
                for e in journal.data
            )

        reboot = api.account.reboot()
        assert (reboot.code, reboot.data) == (200, {"isReboot": True})
        assert api.account.getStateInstance().data == {"stateInstance": "starting"}
        logout = api.account.logout()
        assert (logout.code, logout.data) == (200, {"isLogout": True})

        bad = API.GreenAPI(str(instance_id), "0" * 50, host=fake.url)
        try:
            refused = bad.account.getStateInstance()
            assert (refused.code, refused.error, refused.data) == (401, "Unauthorized", None)
        finally:
            bad.session.close()
    finally:
        api.session.close()
    assert {r.headers.get("user-agent") for r in fake.requests} == {"GREEN-API_SDK_PY/1.0"}


async def test_official_async_client_conformance(fake: FakeGreenApi, vendor_logs: None) -> None:
    """The same client's aiohttp variants (they share the URLs and verbs)."""
    instance_id, token = fake.add_instance(phone=PHONE)
    api = API.GreenAPI(str(instance_id), token, host=fake.url)
    try:
        state = await api.account.getStateInstanceAsync()
        assert (state.code, state.data) == (200, {"stateInstance": "authorized"})
        assert (await api.account.qrAsync()).data["type"] == "alreadyLogged"
        assert (await api.account.getWaSettingsAsync()).data["phone"] == PHONE
        sent = await api.sending.sendMessageAsync(f"{PEER}@c.us", "hello")
        media = await api.sending.sendFileByUrlAsync(
            f"{PEER}@c.us", "https://example.com/a.pdf", "a.pdf"
        )
        assert sent.code == media.code == 200
        # This variant sends `{}` as a JSON body on a GET; the emulator ignores GET bodies.
        journal = await api.journals.lastOutgoingMessagesAsync()
        assert journal.code == 200 and len(journal.data) == 2
        assert (await api.account.rebootAsync()).data == {"isReboot": True}
        assert (await api.account.logoutAsync()).data == {"isLogout": True}
        code = await api.account.getAuthorizationCodeAsync(int(PHONE))
        assert code.code == 200 and code.data["status"] is True
    finally:
        api.session.close()


async def test_a_call_after_aclose_opens_no_client(fake: FakeGreenApi) -> None:
    """A task finishing while the bot stops: its call fails as one that never left, and makes
    no new client (nobody would close it)."""
    gateway = GreenApiGateway(fake.url, timeout=2.0)
    _, line = await linked(fake, gateway)
    await gateway.status(line)
    await gateway.aclose()
    with pytest.raises(NetworkError) as caught:
        await gateway.status(line)
    assert not caught.value.request_sent
    assert not gateway._clients
