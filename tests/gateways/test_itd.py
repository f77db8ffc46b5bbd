"""`ItdGateway` end to end against `FakeItd` (seed 002), plus the emulator's own contract."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from bot.gateways.base import (
    Account,
    AuthError,
    Delivery,
    Enrolment,
    ErrorKind,
    InvalidRequestError,
    Line,
    LineState,
    NetworkError,
    NotFoundError,
    QuotaError,
    UpstreamError,
)
from bot.gateways.http import auth_headers
from bot.gateways.itd import ItdGateway, split_phone
from bot.gateways.itd_replies import parse_credits
from bot.logs import secrets
from tests.fakes.itd import (
    BAD_CONTENT_TYPE,
    BAD_PARAMETERS,
    MESSAGE_NOT_FOUND,
    MISSING_KEY,
    NO_MESSAGES,
    NOT_CREDITS,
    UNAUTHORIZED,
    FakeItd,
    ItdTimeline,
)

LINE = Line(instance_id="itd", token="")
# Long enough that nothing moves on its own; tests move messages with `fake.age`.
SLOW = ItdTimeline(sent_seconds=10.0, delivered_seconds=20.0, read_seconds=30.0)


@pytest.fixture
def fake() -> Iterator[FakeItd]:
    with FakeItd(credits=5, timeline=SLOW) as server:
        yield server


def make_gateway(
    fake: FakeItd, token: str | None = None, auth_header: str = "Authorization"
) -> ItdGateway:
    gateway = ItdGateway(fake.url, fake.token if token is None else token, auth_header=auth_header)
    gateway.http.backoff = 0.001  # keep the transport's retries instant
    return gateway


@pytest.fixture
async def gateway(fake: FakeItd) -> AsyncIterator[ItdGateway]:
    gateway = make_gateway(fake)
    try:
        yield gateway
    finally:
        await gateway.aclose()


# ---------------------------------------------------------------- the line


async def test_acquire_checks_the_token_and_returns_the_operator_line(
    fake: FakeItd, gateway: ItdGateway
) -> None:
    assert (ItdGateway.name, ItdGateway.title, ItdGateway.enrolment) == (
        "itd",
        "ITD Chile",
        Enrolment.OPERATOR,
    )
    line = await gateway.acquire()
    assert line == LINE and line.token == ""
    [call] = fake.requests
    assert (call.method, call.path) == ("POST", "/api/v2/whatsapp/creditsWhatsapp")
    assert call.headers["authorization"] == f"Bearer {fake.token}"
    assert call.content_type.startswith("application/json")


async def test_wrong_token_is_an_auth_error_without_retry(fake: FakeItd) -> None:
    gateway = make_gateway(fake, token="not-the-token")
    empty = make_gateway(fake, token="")
    try:
        with pytest.raises(AuthError) as caught:
            await gateway.acquire()
        assert "UNAUTHORIZED" in caught.value.detail
        with pytest.raises(AuthError):
            await empty.acquire()
        with pytest.raises(AuthError):
            await gateway.send_text(LINE, "56912345678", "hola")
        with pytest.raises(AuthError):
            await gateway.status(LINE)
    finally:
        await gateway.aclose()
        await empty.aclose()
    assert len(fake.requests) == 4
    assert fake.sent == []


@pytest.mark.parametrize("driver_header", ["X-Api-Token", "x-api-token"])
async def test_a_configured_header_carries_the_bare_token(driver_header: str) -> None:
    with FakeItd(auth_header="X-Api-Token") as fake:
        gateway = make_gateway(fake, auth_header=driver_header)
        try:
            assert (await gateway.status(LINE)).state is LineState.AUTHORIZED
        finally:
            await gateway.aclose()
        [call] = fake.requests
        assert call.headers["x-api-token"] == fake.token
        assert "authorization" not in call.headers


def test_auth_header_shapes() -> None:
    assert auth_headers("abc") == {"Authorization": "Bearer abc"}
    assert auth_headers("Bearer abc", "AUTHORIZATION") == {"Authorization": "Bearer abc"}
    assert auth_headers("abc", "X-Token") == {"X-Token": "abc"}
    assert auth_headers(" ") == {} == auth_headers("", "X-Token")


def test_the_token_is_registered_for_redaction(fake: FakeItd) -> None:
    token = "itd-secret-token-for-redaction-0042"
    gateway = ItdGateway(fake.url, token)
    assert token not in secrets.redact(f"Authorization: Bearer {token}")
    asyncio.run(gateway.aclose())


async def test_status_follows_the_credits(fake: FakeItd, gateway: ItdGateway) -> None:
    status = await gateway.status(LINE)
    assert (status.state, status.raw, status.qr) == (LineState.AUTHORIZED, "OK", None)
    assert await gateway.details(LINE) == {"credits": "5"}
    fake.credits_as = "string"  # the seed types `data` as String
    assert await gateway.details(LINE) == {"credits": "5"}
    fake.set_credits(0)
    status = await gateway.status(LINE)
    assert (status.state, status.raw) == (LineState.RESTRICTED, "NO CREDITS")
    assert await gateway.details(LINE) == {"credits": "0"}


def test_parse_credits_is_tolerant() -> None:
    assert [parse_credits(v) for v in (100, "100", " 7 ", 3.0, "2.0")] == [100, 100, 7, 3, 2]
    assert [parse_credits(v) for v in (None, "", "many", True, [1])] == [None] * 5


async def test_lifecycle_calls_are_no_ops(fake: FakeItd, gateway: ItdGateway) -> None:
    await gateway.start(LINE)
    await gateway.logout(LINE)
    await gateway.release(LINE)
    assert await gateway.account(LINE) == Account(name=None, phone=None)
    assert fake.requests == []


# ---------------------------------------------------------------- sending


@pytest.mark.parametrize(
    ("digits", "prefijo", "national"),
    [
        ("56912345678", "56", "912345678"),  # Chile mobile
        ("34666123456", "34", "666123456"),
        ("4915216896607", "49", "15216896607"),
        ("390612345678", "39", "0612345678"),  # Italy keeps its leading 0
        ("12025550123", "1", "2025550123"),
    ],
)
async def test_send_text_splits_the_number(
    fake: FakeItd, gateway: ItdGateway, digits: str, prefijo: str, national: str
) -> None:
    sent = await gateway.send_text(LINE, digits, "Hola ñandú")
    [message] = fake.sent
    assert sent.message_id == message.uuid
    assert (message.content_type, message.content) == ("TEXT", "Hola ñandú")
    assert (message.prefijo, message.phone, message.international) == (prefijo, national, digits)
    assert fake.credits == 4
    [call] = fake.requests
    assert call.content_type.startswith("application/json")
    assert set(call.fields) == {"content_type", "content", "phone", "prefijo"}


def test_split_phone_refuses_numbers_without_a_country_code() -> None:
    assert split_phone("+56 9 1234 5678") == ("56", "912345678")
    for bad in ("", "999123456", "0"):
        with pytest.raises(InvalidRequestError):
            split_phone(bad)


async def test_a_bad_number_is_refused_before_any_call(fake: FakeItd, gateway: ItdGateway) -> None:
    with pytest.raises(InvalidRequestError):
        await gateway.send_text(LINE, "999123456", "hola")
    assert fake.requests == []


@pytest.mark.parametrize(
    ("url", "filename", "content_type"),
    [
        ("https://cdn.example/a/photo.JPG", None, "IMAGE"),
        ("https://cdn.example/pic.webp?sig=1#x", None, "IMAGE"),
        ("https://cdn.example/report.pdf", None, "FILE"),
        ("https://cdn.example/download?id=7", "scan.png", "IMAGE"),
        ("https://cdn.example/image.png", "notes.txt", "FILE"),
        ("https://cdn.example/", None, "FILE"),
    ],
)
async def test_send_media_picks_image_or_file(
    fake: FakeItd, gateway: ItdGateway, url: str, filename: str | None, content_type: str
) -> None:
    sent = await gateway.send_media(LINE, "56912345678", url, caption="Boletín", filename=filename)
    [message] = fake.sent
    assert (message.content_type, message.content, message.caption) == (
        content_type,
        url,
        "Boletín",
    )
    assert (message.prefijo, message.phone) == ("56", "912345678")
    assert sent.message_id == message.uuid


async def test_empty_text_is_a_bad_request(fake: FakeItd, gateway: ItdGateway) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await gateway.send_text(LINE, "56912345678", "")
    assert "BAD PARAMETERS" in caught.value.detail
    assert fake.credits == 5


async def test_no_credits_is_a_quota_error_and_never_retried(
    fake: FakeItd, gateway: ItdGateway
) -> None:
    fake.set_credits(0)
    with pytest.raises(QuotaError) as caught:
        await gateway.send_text(LINE, "56912345678", "hola")
    assert caught.value.kind is ErrorKind.QUOTA and not caught.value.retriable
    assert "NOT_CREDITS" in caught.value.detail
    assert len(fake.requests_to("sendWhatsapp")) == 1
    assert fake.sent == []


async def test_a_send_reply_without_uuid_is_not_an_error(
    fake: FakeItd, gateway: ItdGateway
) -> None:
    fake.fail_next(
        "sendWhatsapp",
        status=200,
        body='{"statusApi":"OK","code":200}',
        content_type="application/json",
    )
    sent = await gateway.send_text(LINE, "56912345678", "hola")
    assert sent.message_id is None


async def test_an_error_envelope_inside_http_200_is_read(
    fake: FakeItd, gateway: ItdGateway
) -> None:
    fake.fail_next(
        "sendWhatsapp",
        status=200,
        body='{"message":"NOT ENOUGH CREDITS","statusApi":"NOT_CREDITS","code":502}',
        content_type="application/json",
    )
    with pytest.raises(QuotaError):
        await gateway.send_text(LINE, "56912345678", "hola")


# ---------------------------------------------------------------- delivery


async def test_delivery_follows_the_message(fake: FakeItd, gateway: ItdGateway) -> None:
    key = (await gateway.send_text(LINE, "56912345678", "hola")).message_id
    assert key is not None
    assert await gateway.delivery(LINE, key) is Delivery.QUEUED
    fake.age(key, 10.0)
    assert await gateway.delivery(LINE, key) is Delivery.SENT
    fake.age(key, 10.0)
    assert fake.status_of(key)["status"] == "SENT"  # ITD has no DELIVERED word: delivered_at
    assert await gateway.delivery(LINE, key) is Delivery.DELIVERED
    fake.age(key, 10.0)
    assert await gateway.delivery(LINE, key) is Delivery.READ
    assert fake.requests_to("statusWhatsappByKey")[-1].fields == {"key": key}


async def test_delivery_progresses_on_its_own() -> None:
    timeline = ItdTimeline(sent_seconds=0.15, delivered_seconds=0.3, read_seconds=0.45)
    with FakeItd(timeline=timeline) as fake:
        gateway = make_gateway(fake)
        try:
            key = (await gateway.send_text(LINE, "56912345678", "hola")).message_id
            assert key is not None
            seen: list[Delivery] = []
            async with asyncio.timeout(2):
                while not seen or seen[-1] is not Delivery.READ:
                    state = await gateway.delivery(LINE, key)
                    if not seen or seen[-1] is not state:
                        seen.append(state)
                    await asyncio.sleep(0.02)
        finally:
            await gateway.aclose()
    order = [Delivery.QUEUED, Delivery.SENT, Delivery.DELIVERED, Delivery.READ]
    assert seen == sorted(seen, key=order.index)
    assert seen[0] is Delivery.QUEUED and seen[-1] is Delivery.READ


async def test_an_unknown_key_is_not_found_and_never_retried(
    fake: FakeItd, gateway: ItdGateway
) -> None:
    with pytest.raises(NotFoundError) as caught:
        await gateway.delivery(LINE, "d225bf9b-187c-4fca-a12f-94be83168129")
    assert "INVALID_MESSAGE" in caught.value.detail and not caught.value.retriable
    assert len(fake.requests_to("statusWhatsappByKey")) == 1


# ---------------------------------------------------------------- transport faults


async def test_415_is_an_invalid_request(fake: FakeItd, gateway: ItdGateway) -> None:
    fake.fail_next("sendWhatsapp", status=415, body=b"", content_type="text/plain")
    with pytest.raises(InvalidRequestError) as caught:
        await gateway.send_text(LINE, "56912345678", "hola")
    assert "415" in caught.value.detail


async def test_a_5xx_on_send_is_upstream_and_not_repeated(
    fake: FakeItd, gateway: ItdGateway
) -> None:
    fake.fail_next("sendWhatsapp", status=500)
    with pytest.raises(UpstreamError):
        await gateway.send_text(LINE, "56912345678", "hola")
    assert len(fake.requests_to("sendWhatsapp")) == 1


async def test_a_5xx_on_a_read_is_retried(fake: FakeItd, gateway: ItdGateway) -> None:
    fake.fail_next("creditsWhatsapp", status=500)
    assert (await gateway.status(LINE)).state is LineState.AUTHORIZED
    assert len(fake.requests_to("creditsWhatsapp")) == 2
    fake.fail_next("creditsWhatsapp", status=504, times=3)
    with pytest.raises(UpstreamError):
        await gateway.status(LINE)
    assert len(fake.requests_to("creditsWhatsapp")) == 5  # 1 + 2 retries


async def test_a_proxy_502_page_is_upstream_without_retry(
    fake: FakeItd, gateway: ItdGateway
) -> None:
    fake.fail_next("creditsWhatsapp", status=502)  # HTML, not ITD's envelope
    with pytest.raises(UpstreamError) as caught:
        await gateway.status(LINE)
    assert "502" in caught.value.detail
    assert len(fake.requests_to("creditsWhatsapp")) == 1


async def test_malformed_and_dropped_replies(fake: FakeItd, gateway: ItdGateway) -> None:
    fake.malformed_next("creditsWhatsapp", times=3)
    with pytest.raises(UpstreamError):
        await gateway.status(LINE)
    fake.drop_next("sendWhatsapp")
    with pytest.raises(NetworkError) as caught:
        await gateway.send_text(LINE, "56912345678", "hola")
    assert caught.value.request_sent
    assert len(fake.requests_to("sendWhatsapp")) == 1  # may have been sent: never repeated


async def test_a_slow_reply_times_out(fake: FakeItd) -> None:
    gateway = ItdGateway(fake.url, fake.token, timeout=0.1)
    gateway.http.retries = 0
    fake.delay_next("creditsWhatsapp", 0.5)
    try:
        with pytest.raises(NetworkError):
            await gateway.status(LINE)
    finally:
        await gateway.aclose()


# ---------------------------------------------------------------- the emulator itself


@pytest.fixture
async def raw(fake: FakeItd) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {fake.token}"}
    async with httpx.AsyncClient(base_url=fake.url + "/", headers=headers, timeout=5) as http:
        yield http


async def test_fake_envelopes_are_the_seeds(fake: FakeItd, raw: httpx.AsyncClient) -> None:
    response = await raw.post("creditsWhatsapp", headers={"Authorization": "Bearer nope"}, json={})
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
    response = await raw.post("sendWhatsapp", json={"content_type": "AUDIO", "phone": "1"})
    assert (response.status_code, response.json()) == (400, BAD_CONTENT_TYPE)
    response = await raw.post("sendWhatsapp", json={"content_type": "TEXT", "content": "x"})
    assert (response.status_code, response.json()) == (400, BAD_PARAMETERS)
    response = await raw.post("statusWhatsappByKey", json={})
    assert (response.status_code, response.json()) == (400, MISSING_KEY)
    response = await raw.post("statusWhatsappByKey", json={"key": ""})
    assert (response.status_code, response.json()) == (400, BAD_PARAMETERS)
    response = await raw.post("statusWhatsappByKey", json={"key": "nope"})
    assert (response.status_code, response.json()) == (503, MESSAGE_NOT_FOUND)
    fake.set_credits(0)
    response = await raw.post(
        "sendWhatsapp", json={"content_type": "TEXT", "content": "x", "phone": "912345678"}
    )
    assert (response.status_code, response.json()) == (502, NOT_CREDITS)
    assert response.text.startswith('{"message":"NOT ENOUGH CREDITS","statusApi"')


async def test_fake_post_without_json_content_type_is_415_empty(raw: httpx.AsyncClient) -> None:
    response = await raw.post("creditsWhatsapp", content=b"{}")
    assert (response.status_code, response.content) == (415, b"")
    response = await raw.post("sendWhatsapp", data={"content_type": "TEXT"})
    assert (response.status_code, response.content) == (415, b"")


async def test_fake_accepts_get_with_query_parameters(
    fake: FakeItd, raw: httpx.AsyncClient
) -> None:
    response = await raw.get("creditsWhatsapp")
    assert response.json() == {"statusApi": "OK", "code": 200, "data": 5}
    params = {"content_type": "TEXT", "content": "hola", "phone": "912345678", "prefijo": "56"}
    sent = (await raw.get("sendWhatsapp", params=params)).json()
    assert list(sent) == ["uuid", "statusApi", "code"]
    data = (await raw.get("statusWhatsappByKey", params={"key": sent["uuid"]})).json()["data"]
    assert data == {
        "sent_at": None,
        "status": "MESSAGE QUEUED",
        "delivered_at": None,
        "credit_usage": 1,
    }
    fake.age(sent["uuid"], 30.0)
    data = (await raw.get("statusWhatsappByKey", params={"key": sent["uuid"]})).json()["data"]
    assert data["status"] == "READ"
    assert len(data["sent_at"]) == len("2020-04-16 10:26:13.0")


async def test_fake_unknown_method_and_verb(raw: httpx.AsyncClient) -> None:
    assert (await raw.post("receivedWhatsapp", json={})).status_code == 404  # keep "recieved"
    assert (await raw.delete("creditsWhatsapp")).status_code == 405


async def test_fake_received_messages(fake: FakeItd, raw: httpx.AsyncClient) -> None:
    today = time.strftime("%d%m%Y")
    query = {"senderPhone": "56987654321", "sendAt": today, "top": 1}
    response = await raw.post("recievedWhatsapp", json=query)
    assert (response.status_code, response.json()) == (503, NO_MESSAGES)
    fake.receive("56987654321", "primero")
    fake.receive("56987654321", "segundo")
    data = (await raw.post("recievedWhatsapp", json=query)).json()["data"]
    assert [(m["content"], m["accountPhone"], m["direction"]) for m in data] == [
        ("segundo", "56123456789", 0)
    ]
    response = await raw.post("recievedWhatsapp", json={**query, "sendAt": "2024"})
    assert response.json()["message"].startswith("Parámetro sendAt es necesario")
    response = await raw.post("recievedWhatsapp", json={"sendAt": today, "top": 1})
    assert response.json()["message"] == "Parámetro senderPhone es necesario."
