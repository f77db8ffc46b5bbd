"""`HciClient` end to end against `FakeHci` (seed 004), plus hostile replies through a mock
transport (anything odd is a `GatewayError`, never a traceback)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot.gateways.base import (
    AuthError,
    GatewayError,
    InvalidRequestError,
    MediaTooLargeError,
    NetworkError,
    NotFoundError,
    UnsafeUrlError,
    UpstreamError,
)
from bot.gateways.hci import HciClient, file_type
from bot.gateways.hci_replies import HciArea, HciContact, HciMessage, HciOperator
from tests.fakes.hci import (
    ATTACHMENT,
    CONTROLLER_PORT,
    MANAGER_NUMBER,
    FakeHci,
    HciMedia,
    TwoAreas,
)

CUSTOMER = "5511988887777"
OTHER_CUSTOMER = "5521977776666"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


@pytest.fixture
def fake() -> Iterator[FakeHci]:
    with FakeHci(seed=1) as server:
        yield server


@pytest.fixture
def desk(fake: FakeHci) -> TwoAreas:
    return fake.two_areas()


def make_client(
    fake: FakeHci, *, token: str | None = None, auth_header: str = "Authorization"
) -> HciClient:
    client = HciClient(
        fake.url,
        fake.token if token is None else token,
        auth_header=auth_header,
        manager_number=fake.manager_number,
        controller_port=fake.controller_port,
        timeout=5.0,
    )
    client.http.backoff = 0.001  # keep the transport's retries instant
    return client


@pytest.fixture
async def hci(fake: FakeHci) -> AsyncIterator[HciClient]:
    client = make_client(fake)
    try:
        yield client
    finally:
        await client.aclose()


# ---------------------------------------------------------------- auth and secrets


async def test_the_token_travels_as_a_bearer_token(
    fake: FakeHci, desk: TwoAreas, hci: HciClient
) -> None:
    assert (hci.manager_number, hci.controller_port) == (MANAGER_NUMBER, CONTROLLER_PORT)
    assert len(await hci.areas()) == 2
    [request] = fake.requests_to("api/area")
    assert request.headers["authorization"] == f"Bearer {fake.token}"


async def test_a_custom_auth_header_carries_the_bare_token() -> None:
    with FakeHci(auth_header="X-Api-Key", token="hci-custom-key-8d1e") as fake:
        fake.add_area("Geral")
        client = make_client(fake, auth_header="X-Api-Key")
        try:
            assert [a.name for a in await client.areas()] == ["Geral"]
        finally:
            await client.aclose()
        [request] = fake.requests
        assert request.headers["x-api-key"] == "hci-custom-key-8d1e"
        assert "authorization" not in request.headers


async def test_a_wrong_token_is_an_auth_error_and_never_logged(
    fake: FakeHci, desk: TwoAreas, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "hci-wrong-token-0c9a77"
    client = make_client(fake, token=wrong)
    try:
        with pytest.raises(AuthError) as caught:
            await client.contacts_in_area(desk.sales)
    finally:
        await client.aclose()
    assert "Unauthorized" in str(caught.value)
    assert len(fake.requests) == 1  # an AuthError is not repeated

    # A good client at work, errors included: the token shows up nowhere.
    good = make_client(fake)
    errors: list[GatewayError] = []
    try:
        fake.customer_writes(CUSTOMER, "Oi")
        await good.take(CUSTOMER, desk.ana)
        await good.send_text(desk.ana, CUSTOMER, "Olá")
        await good.messages(desk.ana, CUSTOMER)
        fake.fail_next("api/area", status=500, times=3)
        fake.refuse_next("contact/operator/my", f"echo {fake.token}")
        for call in (good.areas(), good.take(CUSTOMER, desk.bruno)):
            with pytest.raises(GatewayError) as failed:
                await call
            errors.append(failed.value)
    finally:
        await good.aclose()
    assert "***" in errors[1].detail  # HCI echoing the token is masked too
    for secret in (wrong, fake.token):
        assert secret not in caplog.text
        assert all(secret not in f"{e} {e.detail}" for e in [caught.value, *errors])


def test_the_line_must_be_configured(fake: FakeHci) -> None:
    for manager, port, missing in (("", "8080", "HCI_MANAGER_NUMBER"), ("5511", " ", "PORT")):
        with pytest.raises(ValueError, match=missing):
            HciClient(fake.url, fake.token, manager_number=manager, controller_port=port)


# ---------------------------------------------------------------- areas, operators, contacts


async def test_areas_and_their_operators(fake: FakeHci, desk: TwoAreas, hci: HciClient) -> None:
    assert await hci.areas() == [HciArea(desk.sales, "Vendas"), HciArea(desk.support, "Suporte")]
    assert await hci.area_operators(desk.support) == [
        HciOperator(desk.bruno, "Bruno"),
        HciOperator(desk.carla, "Carla"),
    ]
    [request] = fake.requests_with("POST", "api/area/operator")
    assert (request.path, request.body) == (
        f"/api/area/operator/{CONTROLLER_PORT}",
        {"idarea": desk.support},
    )
    with pytest.raises(NotFoundError, match="Area not found"):
        await hci.area_operators("99")
    with pytest.raises(InvalidRequestError):
        await hci.area_operators(" ")  # refused here, before any call
    assert len(fake.requests_with("POST", "api/area/operator")) == 2


async def test_a_waiting_contact_in_its_area(fake: FakeHci, desk: TwoAreas, hci: HciClient) -> None:
    assert await hci.contacts_in_area(desk.sales) == []
    fake.customer_writes(CUSTOMER, "Oi, quero um orçamento", name="Maria")

    [contact] = await hci.contacts_in_area(desk.sales)
    assert contact == HciContact(
        number=CUSTOMER,
        name="Maria",
        area=desk.sales,
        operator_id="",  # HCI's "0"
        protocol=fake.contact(CUSTOMER).protocol,
    )
    assert contact.waiting and contact.protocol.startswith("BR")
    assert await hci.contacts_in_area(desk.support) == []
    # The seed shows numbers as JSON numbers: that is what goes out.
    poll = fake.requests_with("POST", "contact/area")[-1]
    assert poll.body == {"number": int(MANAGER_NUMBER), "area": desk.support}

    assert await hci.contact("+55 (11) 98888-7777") == contact
    assert await hci.contact(OTHER_CUSTOMER) is None


async def test_numbers_as_strings_and_an_empty_waiting_operator() -> None:
    with FakeHci(numbers_as="string", waiting_operator="") as fake:
        area = fake.add_area("Geral")
        operator = fake.add_operator("Ana", area)
        fake.customer_writes(CUSTOMER, "Oi")
        client = make_client(fake)
        try:
            [contact] = await client.contacts_in_area(area)
            assert (contact.number, contact.operator_id, contact.waiting) == (CUSTOMER, "", True)
            [message] = await client.messages("", CUSTOMER)
            assert message.sender == CUSTOMER and message.from_customer(CUSTOMER)
            await client.take(CUSTOMER, operator)
            assert (await client.contact(CUSTOMER)) == HciContact(
                CUSTOMER, "Maria", area, operator, contact.protocol
            )
        finally:
            await client.aclose()
        # A contact nobody has: the chat is asked for with HCI's "nobody".
        assert fake.requests_with("POST", "chat/message")[0].body["operatorId"] == "0"


# ---------------------------------------------------------------- Take and transfers


async def test_take_gives_the_contact_to_the_operator(
    fake: FakeHci, desk: TwoAreas, hci: HciClient
) -> None:
    fake.customer_writes(CUSTOMER, "Oi")
    await hci.take(CUSTOMER, desk.ana)

    [contact] = await hci.contacts_in_area(desk.sales)
    assert (contact.operator_id, contact.waiting, contact.area) == (desk.ana, False, desk.sales)
    [request] = fake.requests_with("PUT", "contact/operator/my")
    assert request.body == {
        "number": int(MANAGER_NUMBER),
        "operatorId": desk.ana,
        "contactId": int(CUSTOMER),
    }
    with pytest.raises(NotFoundError, match="Operator not found"):
        await hci.take(CUSTOMER, "999")
    with pytest.raises(NotFoundError, match="Contact not found"):
        await hci.take(OTHER_CUSTOMER, desk.ana)

    fake.take_only_waiting = True
    with pytest.raises(InvalidRequestError, match="Contact already has an operator"):
        await hci.take(CUSTOMER, desk.carla)
    fake.error_style = "body"  # the same refusals with HTTP 200
    with pytest.raises(InvalidRequestError, match="already has an operator"):
        await hci.take(CUSTOMER, desk.carla)
    with pytest.raises(NotFoundError, match="Operator not found"):
        await hci.take(CUSTOMER, "999")
    assert fake.contact(CUSTOMER).operator_id == desk.ana
    assert [r.action for r in fake.routing] == ["take"]


async def test_transfer_to_an_operator_and_to_an_area(
    fake: FakeHci, desk: TwoAreas, hci: HciClient
) -> None:
    fake.customer_writes(CUSTOMER, "Oi")
    await hci.take(CUSTOMER, desk.ana)
    await hci.transfer_to_operator(CUSTOMER, desk.bruno)
    contact = await hci.contact(CUSTOMER)
    assert contact is not None
    assert (contact.operator_id, contact.area) == (desk.bruno, desk.sales)

    await hci.transfer_to_area(CUSTOMER, desk.support)
    assert await hci.contacts_in_area(desk.sales) == []
    [moved] = await hci.contacts_in_area(desk.support)
    assert (moved.area, moved.waiting) == (desk.support, True)
    assert [(r.action, r.target, r.previous_operator) for r in fake.routing] == [
        ("take", desk.ana, ""),
        ("transfer", desk.bruno, desk.ana),
        ("area", desk.support, desk.bruno),
    ]
    [move] = fake.requests_with("PUT", "contact/area")
    assert move.body == {
        "number": int(MANAGER_NUMBER),
        "area": desk.support,
        "contactNumber": int(CUSTOMER),
    }
    with pytest.raises(NotFoundError, match="Area not found"):
        await hci.transfer_to_area(CUSTOMER, "77")


# ---------------------------------------------------------------- messages


async def test_messages_are_keyed_by_id_or_by_position(
    fake: FakeHci, desk: TwoAreas, hci: HciClient
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    first = fake.customer_writes(CUSTOMER, "um")
    reply = fake.operator_writes(CUSTOMER, "dois", operator_id=desk.ana)
    third = fake.customer_writes(CUSTOMER, "", media=HciMedia("image", PNG, "image/png"))

    messages = await hci.messages(desk.ana, CUSTOMER)
    assert [(m.key, m.content, m.type, m.sender) for m in messages] == [
        (first, "um", "text", CUSTOMER),
        (reply, "dois", "text", desk.ana),
        (third, ATTACHMENT, "image", CUSTOMER),
    ]
    assert [m.from_customer(CUSTOMER) for m in messages] == [True, False, True]
    assert not messages[0].from_customer(OTHER_CUSTOMER)
    assert messages[0].url is None and messages[2].url == f"{fake.url}/files/{third}"
    assert all(m.at is not None and before < m.at <= datetime.now(UTC) for m in messages)

    fake.message_ids = False
    keys = [m.key for m in await hci.messages(desk.ana, CUSTOMER)]
    assert keys == ["#0", "#1", "#2"]

    with pytest.raises(NotFoundError, match="Chat not found"):
        await hci.messages(desk.ana, OTHER_CUSTOMER)


def test_from_customer_compares_digits() -> None:
    message = HciMessage("#0", "Oi", "text", CUSTOMER, None, None)
    assert message.from_customer(f"+{CUSTOMER}") and message.from_customer(CUSTOMER)
    assert not HciMessage("#1", "Oi", "text", "", None, None).from_customer("")
    assert not HciMessage("#2", "Oi", "text", "101", None, None).from_customer(CUSTOMER)


# ---------------------------------------------------------------- sending


async def test_send_text_goes_in_base64_and_in_plain_text(
    fake: FakeHci, desk: TwoAreas, hci: HciClient
) -> None:
    fake.customer_writes(CUSTOMER, "Oi")
    text = "Olá, Maria! Já vou ver 👋"
    message_id = await hci.send_text(desk.ana, CUSTOMER, text)

    [sent] = fake.sent
    assert base64.b64decode(sent.fields["content"]).decode() == text == sent.text
    assert sent.content2 == text
    assert (sent.route, sent.operator_id, sent.contact_number, sent.controller_port) == (
        "text",
        desk.ana,
        CUSTOMER,
        CONTROLLER_PORT,
    )
    assert message_id == sent.message_id
    [request] = fake.requests_with("POST", "send/operator")
    assert request.body["contactNumber"] == int(CUSTOMER)
    last = (await hci.messages(desk.ana, CUSTOMER))[-1]
    assert (last.key, last.content, last.sender) == (message_id, text, desk.ana)

    fake.message_ids = False
    assert await hci.send_text(desk.ana, CUSTOMER, "sem id") is None
    with pytest.raises(InvalidRequestError):
        await hci.send_text("", CUSTOMER, "nobody")  # refused here
    assert len(fake.sent) == 2


async def test_send_file_is_a_data_uri(fake: FakeHci, desk: TwoAreas, hci: HciClient) -> None:
    fake.customer_writes(CUSTOMER, "Manda a foto")
    message_id = await hci.send_file(desk.ana, CUSTOMER, PNG, "image/png", "foto.png")
    pdf = b"%PDF-1.4 fake"
    await hci.send_file(desk.ana, CUSTOMER, pdf, "application/pdf", "contrato.pdf")
    await hci.send_file(desk.ana, CUSTOMER, b"ID3", "application/octet-stream", "nota.mp3")

    photo, contract, voice = fake.sent
    assert (photo.route, photo.data, photo.mime, photo.type) == ("file", PNG, "image/png", "image")
    assert (photo.operator_id, photo.message_id) == (desk.ana, message_id)
    assert (contract.data, contract.type) == (pdf, "pdf")
    assert (voice.data, voice.type, voice.mime) == (b"ID3", "audio", "audio/mpeg")
    assert photo.fields["base64"].startswith("data:image/png;base64,")
    assert [file_type(m) for m in ("video/mp4", "text/plain", "")] == ["video", "pdf", "pdf"]


# ---------------------------------------------------------------- errors in words


async def test_a_refusal_is_an_invalid_request_with_hci_words(
    fake: FakeHci, desk: TwoAreas, hci: HciClient
) -> None:
    fake.customer_writes(CUSTOMER, "Oi")
    fake.refuse_next("PUT /api/user/contact/area", "Area is busy")
    with pytest.raises(InvalidRequestError, match="Area is busy") as caught:
        await hci.transfer_to_area(CUSTOMER, desk.support)
    assert type(caught.value) is InvalidRequestError
    assert "Traceback" not in str(caught.value)
    assert fake.contact(CUSTOMER).area == desk.sales

    fake.refuse_next("send/operator", "\n".join(["Refused"] * 500))  # clipped to one line
    with pytest.raises(InvalidRequestError) as long_words:
        await hci.send_text(desk.ana, CUSTOMER, "Oi")
    assert "\n" not in long_words.value.detail and len(long_words.value.detail) < 300


async def test_5xx_is_upstream_reads_are_retried_writes_never(
    fake: FakeHci, desk: TwoAreas, hci: HciClient
) -> None:
    fake.customer_writes(CUSTOMER, "Oi")
    fake.fail_next("contact/area", status=500)
    assert len(await hci.contacts_in_area(desk.sales)) == 1  # repeated once: a read
    fake.fail_next("api/area", status=500, body="oops", content_type="text/plain", times=3)
    with pytest.raises(UpstreamError, match="HTTP 500"):
        await hci.areas()
    assert len(fake.requests_with("GET", "api/area")) == 3

    fake.fail_next("contact/operator/my", status=502)
    with pytest.raises(UpstreamError):
        await hci.take(CUSTOMER, desk.ana)
    assert len(fake.requests_to("contact/operator/my")) == 1  # a write is never repeated
    assert fake.contact(CUSTOMER).waiting


async def test_a_body_that_is_not_json_is_upstream_or_ambiguous(
    fake: FakeHci, desk: TwoAreas, hci: HciClient
) -> None:
    fake.customer_writes(CUSTOMER, "Oi")
    fake.malformed_next("api/area")
    with pytest.raises(UpstreamError, match="not HCI's reply"):
        await hci.areas()
    fake.fail_next("chat/message", status=200, body="<html>maintenance</html>")
    with pytest.raises(UpstreamError, match="maintenance"):
        await hci.messages("", CUSTOMER)

    # After a write, an unreadable 200 means "it probably happened": never repeated blindly.
    fake.malformed_next("send/operator")
    with pytest.raises(NetworkError) as ambiguous:
        await hci.send_text(desk.ana, CUSTOMER, "Oi")
    assert ambiguous.value.request_sent


async def test_a_wrong_api_url_is_told_in_words() -> None:
    with FakeHci(base_path="/whatscenter") as fake:
        fake.add_area("Geral")
        root = fake.url.removesuffix("/whatscenter")
        client = HciClient(
            root, fake.token, manager_number=MANAGER_NUMBER, controller_port=CONTROLLER_PORT
        )
        right = make_client(fake)
        try:
            with pytest.raises(UpstreamError, match=f"Cannot GET /api/area/{CONTROLLER_PORT}"):
                await client.areas()
            assert [a.name for a in await right.areas()] == ["Geral"]
        finally:
            await client.aclose()
            await right.aclose()


HOSTILE_BODIES: tuple[bytes, ...] = (
    b"",
    b"null",
    b"[]",
    b'"ok"',
    b"{}",
    b'{"success": "yes", "data": []}',
    b'{"success": true}',
    b'{"success": true, "data": {"contacts": "none"}}',
    b'{"success": true, "data": [1, "x", null, {"idarea": {}}, {"id": 1e400}]}',
    b'{"success": false}',
    b'{"success": false, "data": {"error": [1, 2, {"deep": null}]}}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"success": true, "data": [{"id": 123' + b"4" * 5000 + b"}]}",
    b"\xff\xfe\x00garbage",
)


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
async def test_hostile_bodies_from_the_server_are_gateway_errors(
    fake: FakeHci, desk: TwoAreas, hci: HciClient, body: bytes
) -> None:
    fake.customer_writes(CUSTOMER, "Oi")
    calls: list[Callable[[], Awaitable[object]]] = [
        hci.areas,
        lambda: hci.area_operators(desk.sales),
        lambda: hci.contacts_in_area(desk.sales),
        lambda: hci.contact(CUSTOMER),
        lambda: hci.messages("", CUSTOMER),
        lambda: hci.take(CUSTOMER, desk.ana),
        lambda: hci.send_text(desk.ana, CUSTOMER, "Oi"),
    ]
    for call in calls:
        fake.fail_next("/api/", status=200, body=body, content_type="application/json")
        try:
            await call()
        except GatewayError as error:
            assert "Traceback" not in str(error)
    assert await hci.areas()  # the client still works


# ---------------------------------------------------------------- fuzzing the replies offline

_KEYS = st.sampled_from(
    [
        "success",
        "data",
        "idarea",
        "id",
        "_id",
        "operatorId",
        "name",
        "area",
        "protocol",
        "contacts",
        "messages",
        "content",
        "type",
        "from",
        "url",
        "createdAt",
        "contactNumber",
    ]
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["0", "", "http://127.0.0.1/x", "0001-01-01T00:00:00+01:00", "2024-13-01"])
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS | st.text(max_size=5), inner),
    max_leaves=20,
)
_REPLIES = st.one_of(
    st.builds(lambda s, d: json.dumps({"success": s, "data": d}).encode(), st.booleans(), _JSON),
    st.builds(lambda v: json.dumps(v).encode(), _JSON),
    st.binary(max_size=40),
)


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    status=st.sampled_from([200, 201, 204, 302, 400, 401, 403, 404, 409, 429, 500, 503]),
    reply=_REPLIES,
)
def test_any_reply_gives_a_result_or_a_gateway_error(status: int, reply: bytes) -> None:
    async def scenario() -> None:
        client = HciClient(
            "http://hci.invalid", "fuzz-token-1234", manager_number="5511", controller_port="8080"
        )
        client.http.backoff = 0.0
        client.http.breaker_threshold = 10**6  # every call below sees the reply itself
        await client.http.client.aclose()
        client.http.client = httpx.AsyncClient(
            base_url="http://hci.invalid/",
            transport=httpx.MockTransport(lambda request: httpx.Response(status, content=reply)),
        )
        calls: list[Callable[[], Awaitable[Any]]] = [
            client.areas,
            lambda: client.area_operators("1"),
            lambda: client.contacts_in_area("1"),
            lambda: client.contact(CUSTOMER),
            lambda: client.messages("", CUSTOMER),
            lambda: client.take(CUSTOMER, "101"),
            lambda: client.transfer_to_area(CUSTOMER, "2"),
            lambda: client.send_text("101", CUSTOMER, "Oi"),
            lambda: client.send_file("101", CUSTOMER, PNG, "image/png", "a.png"),
        ]
        try:
            for call in calls:
                try:
                    result = await call()
                except GatewayError as error:
                    assert error.detail and "fuzz-token-1234" not in error.detail
                else:
                    assert 200 <= status < 300
                    if isinstance(result, list):
                        assert all(
                            isinstance(item, HciArea | HciOperator | HciContact | HciMessage)
                            for item in result
                        )
        finally:
            await client.aclose()

    asyncio.run(scenario())


# ---------------------------------------------------------------- downloads


async def test_download_from_hci_and_never_from_another_local_port(
    fake: FakeHci, desk: TwoAreas, hci: HciClient
) -> None:
    fake.customer_writes(CUSTOMER, "", media=HciMedia("image", PNG, "image/png"))
    [message] = await hci.messages("", CUSTOMER)
    assert message.url is not None
    download = await hci.download(message.url, max_bytes=1024)
    assert (download.data, download.mime) == (PNG, "image/png")
    assert "authorization" not in fake.requests_to("/files/")[-1].headers  # no token sent
    with pytest.raises(MediaTooLargeError):
        await hci.download(message.url, max_bytes=10)

    with FakeHci() as elsewhere:
        elsewhere.add_area("Geral")
        other_id = elsewhere.customer_writes(CUSTOMER, "", media=HciMedia("pdf", b"%PDF", "x/y"))
        with pytest.raises(UnsafeUrlError):
            await hci.download(f"{elsewhere.url}/files/{other_id}", max_bytes=1024)
        assert elsewhere.requests_to("/files/") == []  # refused before any request
    with pytest.raises(UnsafeUrlError):
        await hci.download("file:///etc/passwd", max_bytes=1024)
