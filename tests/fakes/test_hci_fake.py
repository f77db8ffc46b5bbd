"""Tests of the HCI Whats Center emulator itself, through real HTTP (httpx) against `FakeHci`."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.hci import (
    AREA_CHANGED,
    ATTACHMENT,
    CONTROLLER_PORT,
    MANAGER_NUMBER,
    TAKEN,
    UNAUTHORIZED,
    FakeHci,
    HciMedia,
    TwoAreas,
)

CUSTOMER = "5511988887777"
OTHER_CUSTOMER = "5521977776666"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
def fake() -> Iterator[FakeHci]:
    with FakeHci(seed=1) as server:
        yield server


@pytest.fixture
def desk(fake: FakeHci) -> TwoAreas:
    return fake.two_areas()


@pytest.fixture
async def client(fake: FakeHci) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {fake.token}"}
    async with httpx.AsyncClient(base_url=fake.url, headers=headers, timeout=5) as http:
        yield http


async def ok(http: httpx.AsyncClient, verb: str, path: str, **body: Any) -> Any:
    """The `data` of a successful call (the bot appends `api/…` to the root)."""
    response = await http.request(verb, path, json=body or None)
    assert response.status_code == 200, response.text
    envelope = response.json()
    assert envelope["success"] is True, envelope
    return envelope["data"]


async def failure(http: httpx.AsyncClient, verb: str, path: str, status: int, **body: Any) -> Any:
    """The `data` of a `{"success": false}` reply with this status."""
    response = await http.request(verb, path, json=body or None)
    assert response.status_code == status, response.text
    envelope = response.json()
    assert envelope["success"] is False, envelope
    return envelope["data"]


async def take(http: httpx.AsyncClient, operator_id: str, contact: str = CUSTOMER) -> Any:
    body = {"number": MANAGER_NUMBER, "operatorId": operator_id, "contactId": contact}
    return await ok(http, "PUT", "api/user/contact/operator/my", **body)


async def area_contacts(http: httpx.AsyncClient, area: str) -> Any:
    return await ok(http, "POST", "api/user/contact/area", number=MANAGER_NUMBER, area=area)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# ---------------------------------------------------------------- auth


async def test_a_bearer_token_is_required(fake: FakeHci) -> None:
    async with httpx.AsyncClient(base_url=fake.url, timeout=5) as http:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": fake.token}):
            response = await http.get("api/user/", headers=headers)
            assert response.status_code == 401
            assert response.json() == UNAUTHORIZED
        response = await http.get("api/user/", headers={"Authorization": f"bearer {fake.token}"})
        assert response.status_code == 200
        # Auth comes before routing.
        assert (await http.get("api/nope")).status_code == 401


async def test_a_custom_auth_header_carries_the_bare_token() -> None:
    with FakeHci(auth_header="X-Api-Key", token="s3cret") as fake:
        async with httpx.AsyncClient(base_url=fake.url, timeout=5) as http:
            assert (await http.get("api/user/", headers={"X-Api-Key": "s3cret"})).status_code == 200
            bearer = {"Authorization": "Bearer s3cret"}
            assert (await http.get("api/user/", headers=bearer)).status_code == 401
            wrong = await http.get("api/user/", headers={"X-Api-Key": "Bearer s3cret"})
            assert (wrong.status_code, wrong.json()) == (401, UNAUTHORIZED)


# ---------------------------------------------------------------- managers, areas, operators


async def test_managers_are_listed_found_and_saved(client: httpx.AsyncClient) -> None:
    [manager] = await ok(client, "GET", "api/user/")
    assert manager == {
        "name": "HCI Whats Center",
        "email": "",
        "number": int(MANAGER_NUMBER),
        "controllerPort": CONTROLLER_PORT,
        "facebookId": "",
        "facebookToken": "",
        "contacts": [],
    }
    # A number as a JSON number or a string; Express's routing ignores case and a trailing slash.
    assert await ok(client, "POST", "api/user/", number=int(MANAGER_NUMBER)) == manager
    assert await ok(client, "POST", "API/User", number=MANAGER_NUMBER) == manager
    assert await failure(client, "POST", "api/user/", 404, number="1") == "User not found"

    body = {"name": "Filial", "controllerPort": "8081", "number": 5521900000000}
    saved = await ok(client, "POST", "api/user/save", **body)
    assert (saved["number"], saved["controllerPort"], saved["contacts"]) == (
        5521900000000,
        "8081",
        [],
    )
    assert await failure(client, "POST", "api/user/save", 409, **body) == "User already exists"
    assert len(await ok(client, "GET", "api/user")) == 2

    page = {"number": 5521900000000, "facebookId": "369258147", "facebookToken": "tok"}
    assert (await ok(client, "POST", "api/user/save/facebook", **page))["facebookId"] == "369258147"
    found = await ok(client, "POST", "api/user/facebook", facebookId="369258147")
    assert found["name"] == "Filial"


async def test_areas_and_their_operators(
    fake: FakeHci, desk: TwoAreas, client: httpx.AsyncClient
) -> None:
    areas = await ok(client, "GET", f"api/area/{CONTROLLER_PORT}")
    assert areas == [
        {"idarea": desk.sales, "name": "Vendas"},
        {"idarea": desk.support, "name": "Suporte"},
    ]
    assert [desk.sales, desk.support, desk.ana, desk.bruno] == ["1", "2", "101", "102"]

    path = f"api/area/operator/{CONTROLLER_PORT}"
    assert await ok(client, "POST", path, idarea=desk.sales) == [
        {"operatorId": desk.ana, "name": "Ana"},
        {"operatorId": desk.carla, "name": "Carla"},
    ]
    assert await ok(client, "POST", path, idarea=int(desk.support)) == [
        {"operatorId": desk.bruno, "name": "Bruno"},
        {"operatorId": desk.carla, "name": "Carla"},
    ]
    assert await failure(client, "POST", path, 404, idarea="99") == "Area not found"
    assert await failure(client, "POST", path, 400) == "idarea is required"
    assert await failure(client, "GET", "api/area/9999", 404) == "Controller not found"
    assert [a.name for a in fake.areas] == ["Vendas", "Suporte"]
    assert [o.areas for o in fake.operators][-1] == (desk.sales, desk.support)


# ---------------------------------------------------------------- the queue, Take and transfers


async def test_a_customer_message_makes_a_waiting_contact_visible(
    fake: FakeHci, desk: TwoAreas, client: httpx.AsyncClient
) -> None:
    assert await area_contacts(client, desk.sales) == []
    message_id = fake.customer_writes(CUSTOMER, "Oi, quero um orçamento", name="Maria")

    [contact] = await area_contacts(client, desk.sales)
    assert contact == {
        "id": int(CUSTOMER),
        "name": "Maria",
        "photo": "",
        "area": desk.sales,
        "operatorId": "0",
        "protocol": contact["protocol"],
        "sa": -100,
    }
    assert re.fullmatch(r"BR[0-9a-f]{14}", contact["protocol"])
    assert await area_contacts(client, desk.support) == []
    everyone = await ok(client, "POST", "api/user/contact/get", number=MANAGER_NUMBER)
    assert everyone == {"contacts": [contact]}

    [message] = await ok(client, "POST", "api/chat/message", operatorId="0", contactId=CUSTOMER)
    assert message == {
        "id": message_id,
        "content": "Oi, quero um orçamento",
        "type": "text",
        "from": int(CUSTOMER),
        "status": "wait",
        "createdAt": message["createdAt"],
    }
    assert ISO_MS.fullmatch(message["createdAt"])
    assert fake.contact(CUSTOMER).waiting and fake.contact(CUSTOMER).operator_id == ""

    # A second customer in another area; the first one's next message keeps its place.
    fake.customer_writes(OTHER_CUSTOMER, "Ajuda!", name="João", area=desk.support)
    fake.customer_writes(CUSTOMER, "Alô?", area=desk.support)
    assert [c["id"] for c in await area_contacts(client, desk.support)] == [int(OTHER_CUSTOMER)]
    assert [m.content for m in fake.chat(CUSTOMER).messages] == ["Oi, quero um orçamento", "Alô?"]


async def test_take_assigns_the_contact_and_its_chat(
    fake: FakeHci, desk: TwoAreas, client: httpx.AsyncClient
) -> None:
    fake.customer_writes(CUSTOMER, "Oi")
    assert await take(client, desk.ana) == TAKEN

    assert fake.contact(CUSTOMER).operator_id == desk.ana
    assert fake.chat(CUSTOMER).operator_id == desk.ana
    [contact] = await area_contacts(client, desk.sales)
    assert (contact["operatorId"], contact["area"]) == (desk.ana, desk.sales)
    [routing] = fake.routing
    assert (routing.action, routing.contact_number, routing.target) == ("take", CUSTOMER, desk.ana)
    assert routing.previous_operator == ""

    listing = "api/user/contact/operator"
    mine = await ok(client, "POST", listing, number=MANAGER_NUMBER, operatorId=desk.ana, area="")
    assert [c["id"] for c in mine["contacts"]] == [int(CUSTOMER)]
    fake.customer_writes(OTHER_CUSTOMER, "Oi")  # waiting in sales
    body = {"number": MANAGER_NUMBER, "operatorId": desk.bruno, "area": desk.sales}
    queue = await ok(client, "POST", listing, **body)
    assert [c["id"] for c in queue["contacts"]] == [int(OTHER_CUSTOMER)]

    body = {"number": MANAGER_NUMBER, "operatorId": "999", "contactId": CUSTOMER}
    path = "api/user/contact/operator/my"
    assert await failure(client, "PUT", path, 404, **body) == "Operator not found"
    body = {"number": MANAGER_NUMBER, "operatorId": desk.ana, "contactId": "123"}
    assert await failure(client, "PUT", path, 404, **body) == "Contact not found"


async def test_a_second_take_steals_unless_only_waiting_contacts_can_be_taken(
    fake: FakeHci, desk: TwoAreas, client: httpx.AsyncClient
) -> None:
    fake.customer_writes(CUSTOMER, "Oi")
    await take(client, desk.ana)
    await take(client, desk.carla)
    assert fake.contact(CUSTOMER).operator_id == desk.carla

    fake.take_only_waiting = True
    body = {"number": MANAGER_NUMBER, "operatorId": desk.ana, "contactId": CUSTOMER}
    path = "api/user/contact/operator/my"
    assert await failure(client, "PUT", path, 409, **body) == "Contact already has an operator"
    assert await take(client, desk.carla) == TAKEN  # taking one's own contact again is fine
    fake.error_style = "body"
    assert await failure(client, "PUT", path, 200, **body) == "Contact already has an operator"
    assert fake.contact(CUSTOMER).operator_id == desk.carla


async def test_transfer_to_an_operator_and_to_an_area(
    fake: FakeHci, desk: TwoAreas, client: httpx.AsyncClient
) -> None:
    fake.customer_writes(CUSTOMER, "Oi")
    await take(client, desk.ana)
    body = {"number": MANAGER_NUMBER, "operatorId": desk.bruno, "contactId": CUSTOMER}
    assert await ok(client, "PUT", "api/user/contact/operator", **body) == TAKEN
    assert fake.contact(CUSTOMER).operator_id == desk.bruno
    assert fake.contact(CUSTOMER).area == desk.sales  # a transfer to a person keeps the area

    move = {"number": MANAGER_NUMBER, "area": desk.support, "contactNumber": CUSTOMER}
    assert await ok(client, "PUT", "api/user/contact/area", **move) == AREA_CHANGED
    contact = fake.contact(CUSTOMER)
    assert (contact.area, contact.waiting, fake.chat(CUSTOMER).operator_id) == (
        desk.support,
        True,
        "",
    )
    [moved] = await area_contacts(client, desk.support)
    assert moved["operatorId"] == "0"
    assert [(r.action, r.target, r.previous_operator) for r in fake.routing] == [
        ("take", desk.ana, ""),
        ("transfer", desk.bruno, desk.ana),
        ("area", desk.support, desk.bruno),
    ]

    fake.area_change_keeps_operator = True
    await take(client, desk.bruno)
    move["area"] = desk.sales
    await ok(client, "PUT", "api/user/contact/area", **move)
    assert (fake.contact(CUSTOMER).area, fake.contact(CUSTOMER).operator_id) == (
        desk.sales,
        desk.bruno,
    )
    move["area"] = "77"
    assert await failure(client, "PUT", "api/user/contact/area", 404, **move) == "Area not found"


async def test_an_assignment_made_elsewhere(
    fake: FakeHci, desk: TwoAreas, client: httpx.AsyncClient
) -> None:
    fake.customer_writes(CUSTOMER, "Oi")
    fake.set_operator(CUSTOMER, desk.carla)
    assert (await area_contacts(client, desk.sales))[0]["operatorId"] == desk.carla
    fake.set_operator(CUSTOMER, "0")
    assert fake.contact(CUSTOMER).waiting and fake.routing == []


# ---------------------------------------------------------------- chats and messages


async def test_chat_messages_with_and_without_ids(
    fake: FakeHci, desk: TwoAreas, client: httpx.AsyncClient
) -> None:
    first = fake.customer_writes(CUSTOMER, "um")
    reply = fake.operator_writes(CUSTOMER, "dois", operator_id=desk.ana)
    third = fake.customer_writes(CUSTOMER, "três")
    assert len({first, reply, third}) == 3

    body = {"operatorId": desk.ana, "contactId": int(CUSTOMER)}
    messages = await ok(client, "POST", "api/chat/message", **body)
    assert [(m["id"], m["content"], m["from"]) for m in messages] == [
        (first, "um", int(CUSTOMER)),
        (reply, "dois", desk.ana),  # an operator's: `from` is the operator id, a string
        (third, "três", int(CUSTOMER)),
    ]

    fake.message_ids = False
    messages = await ok(client, "POST", "api/chat/message", **body)
    assert [m["content"] for m in messages] == ["um", "dois", "três"]
    assert all("id" not in m for m in messages)
    body["contactId"] = OTHER_CUSTOMER
    assert await failure(client, "POST", "api/chat/message", 404, **body) == "Chat not found"


async def test_contact_save_delete_and_the_chat_routes(
    fake: FakeHci, desk: TwoAreas, client: httpx.AsyncClient
) -> None:
    body = {
        "number": MANAGER_NUMBER,
        "name": "Pedro",
        "contactNumber": OTHER_CUSTOMER,
        "area": desk.support,
        "protocol": "BR848a795dsa684d",
    }
    assert await ok(client, "POST", "api/user/contact/save", **body) == {
        "id": int(OTHER_CUSTOMER),
        "name": "Pedro",
        "photo": "",
        "area": desk.support,
        "operatorId": "0",
        "protocol": "BR848a795dsa684d",
        "sa": -100,
    }
    body["area"] = "42"
    assert await failure(client, "POST", "api/user/contact/save", 404, **body) == "Area not found"

    assert await ok(client, "POST", "api/chat/new", contactNumber=OTHER_CUSTOMER) == {
        "contactId": int(OTHER_CUSTOMER),
        "operatorId": 0,
        "messages": [],
    }
    assert await ok(
        client, "PUT", "api/chat/operator", contactId=OTHER_CUSTOMER, operatorId=desk.bruno
    ) == {
        "contactNumber": int(OTHER_CUSTOMER),
        "operatorId": desk.bruno,
        "messages": [],
    }
    assert fake.chat(OTHER_CUSTOMER).operator_id == desk.bruno
    assert fake.contact(OTHER_CUSTOMER).waiting  # the chat route leaves the contact alone

    assert await ok(client, "DELETE", "api/chat/", contactId=OTHER_CUSTOMER) == "Chat deleted"
    assert not fake.has_chat(OTHER_CUSTOMER)
    gone = {"number": MANAGER_NUMBER, "contactNumber": OTHER_CUSTOMER}
    assert await ok(client, "DELETE", "api/user/contact/", **gone) == "Contact deleted"
    assert not fake.has_contact(OTHER_CUSTOMER)
    assert await failure(client, "DELETE", "api/user/contact", 404, **gone) == "Contact not found"


async def test_numbers_as_strings_and_an_empty_waiting_operator() -> None:
    with FakeHci(numbers_as="string", waiting_operator="") as fake:
        area = fake.add_area("Geral")
        fake.customer_writes(CUSTOMER, "Oi")
        headers = {"Authorization": f"Bearer {fake.token}"}
        async with httpx.AsyncClient(base_url=fake.url, headers=headers, timeout=5) as http:
            [contact] = await area_contacts(http, area)
            assert (contact["id"], contact["operatorId"]) == (CUSTOMER, "")
            [message] = await ok(
                http, "POST", "api/chat/message", operatorId="", contactId=CUSTOMER
            )
            assert message["from"] == CUSTOMER


# ---------------------------------------------------------------- sending


async def test_an_operator_text_is_sent_in_base64(
    fake: FakeHci, desk: TwoAreas, client: httpx.AsyncClient
) -> None:
    fake.customer_writes(CUSTOMER, "Oi")
    text = "Olá, Maria! Já vou ver 👋"
    path = f"api/chat/message/send/operator/{CONTROLLER_PORT}"
    body = {
        "content": b64(text),
        "content2": text,
        "operatorId": desk.ana,
        "contactNumber": CUSTOMER,
    }
    data = await ok(client, "POST", path, **body)
    assert (data["content"], data["type"], data["from"], data["status"]) == (
        text,
        "text",
        desk.ana,
        "wait",
    )

    [sent] = fake.sent
    assert (sent.route, sent.text, sent.content2) == ("text", text, text)
    assert (sent.operator_id, sent.contact_number, sent.controller_port) == (
        desk.ana,
        CUSTOMER,
        "8080",
    )
    assert sent.message_id == data["id"] == fake.chat(CUSTOMER).messages[-1].id
    assert fake.chat(CUSTOMER).messages[-1].sender == desk.ana

    assert (
        await failure(client, "POST", path, 400, **{**body, "content": text})
        == "content is not base64"
    )
    unknown = {**body, "contactNumber": OTHER_CUSTOMER}
    assert await failure(client, "POST", path, 404, **unknown) == "Contact not found"
    wrong_port = "api/chat/message/send/operator/9999"
    assert await failure(client, "POST", wrong_port, 404, **body) == "Controller not found"
    assert len(fake.sent) == 1


async def test_an_operator_file_is_a_data_uri(
    fake: FakeHci, desk: TwoAreas, client: httpx.AsyncClient
) -> None:
    fake.customer_writes(CUSTOMER, "Manda a foto")
    path = f"api/chat/message/send/operator/file/{CONTROLLER_PORT}"
    uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    body = {"contactNumber": CUSTOMER, "from": desk.ana, "base64": uri, "type": "image"}
    data = await ok(client, "POST", path, **body)
    assert (data["content"], data["type"], data["from"]) == (ATTACHMENT, "image", desk.ana)

    [sent] = fake.sent
    assert (sent.route, sent.mime, sent.data, sent.type) == ("file", "image/png", PNG, "image")
    assert (sent.operator_id, sent.contact_number) == (desk.ana, CUSTOMER)
    async with httpx.AsyncClient(timeout=5) as anonymous:  # media links need no token
        served = await anonymous.get(data["url"])
    assert (served.status_code, served.content, served.headers["content-type"]) == (
        200,
        PNG,
        "image/png",
    )

    bad = {**body, "base64": base64.b64encode(PNG).decode()}
    assert await failure(client, "POST", path, 400, **bad) == "base64 is not a data URI"
    assert await failure(client, "POST", path, 400, **{**body, "type": "sticker"}) == "Invalid type"


async def test_customer_media_is_served_at_its_url(
    fake: FakeHci, desk: TwoAreas, client: httpx.AsyncClient
) -> None:
    fake.customer_writes(CUSTOMER, "", media=HciMedia("image", PNG, "image/png"))
    fake.customer_writes(
        CUSTOMER, "o contrato", media=HciMedia("pdf", url="https://cdn.example/c.pdf")
    )
    photo, pdf = await ok(client, "POST", "api/chat/message", operatorId="0", contactId=CUSTOMER)
    assert (photo["type"], photo["content"], photo["from"]) == ("image", ATTACHMENT, int(CUSTOMER))
    assert (pdf["type"], pdf["content"], pdf["url"]) == (
        "pdf",
        "o contrato",
        "https://cdn.example/c.pdf",
    )
    assert (await client.get(photo["url"])).content == PNG


async def test_the_plain_send_route_records_what_it_got(
    fake: FakeHci, desk: TwoAreas, client: httpx.AsyncClient
) -> None:
    body = {
        "contactNumber": int(CUSTOMER),
        "content": "Bom dia",
        "type": "text",
        "from": int(MANAGER_NUMBER),
        "managerNumber": int(MANAGER_NUMBER),
    }
    data = await ok(client, "POST", "api/chat/message/send", **body)
    assert (data["content"], data["type"], data["from"], data["status"]) == (
        "Bom dia",
        "text",
        int(MANAGER_NUMBER),
        "wait",
    )
    [sent] = fake.sent
    assert (sent.route, sent.text, sent.contact_number) == ("send", "Bom dia", CUSTOMER)


# ---------------------------------------------------------------- errors and faults


async def test_error_shapes(
    fake: FakeHci, desk: TwoAreas, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = await client.post("api/user/contact/area", json={"area": desk.sales})
    assert (missing.status_code, missing.json()) == (
        400,
        {"success": False, "data": "number is required"},
    )

    for verb, path in (
        ("GET", "api/nope"),
        ("GET", "api/user/contact/area"),
        ("POST", "api/socket"),
    ):
        response = await client.request(verb, path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert f"<pre>Cannot {verb} /{path}</pre>" in response.text
    assert (await client.get("/api/user//")).status_code == 404  # `//` is not collapsed

    broken = await client.post(
        "api/user/", content=b'{"number": ', headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and "<pre>Bad Request</pre>" in broken.text

    fake.error_style = "body"
    assert await failure(client, "POST", "api/user/", 200, number="1") == "User not found"
    assert await failure(client, "POST", "api/user/", 200) == "number is required"

    def boom(fields: dict[str, str], port: str) -> Any:
        raise RuntimeError("kaput")

    monkeypatch.setattr(fake, "_list_areas", boom)
    crashed = await client.get(f"api/area/{CONTROLLER_PORT}")
    assert crashed.status_code == 500 and crashed.headers["content-type"].startswith("text/plain")
    assert "kaput" in crashed.text


async def test_refuse_next_answers_success_false_once_for_its_verb(
    fake: FakeHci, desk: TwoAreas, client: httpx.AsyncClient
) -> None:
    fake.customer_writes(CUSTOMER, "Oi")
    fake.refuse_next("PUT /api/user/contact/area", "Area is busy")
    assert len(await area_contacts(client, desk.sales)) == 1  # the poll, a POST, is untouched

    move = {"number": MANAGER_NUMBER, "area": desk.support, "contactNumber": CUSTOMER}
    assert await failure(client, "PUT", "api/user/contact/area", 200, **move) == "Area is busy"
    assert fake.contact(CUSTOMER).area == desk.sales
    assert await ok(client, "PUT", "api/user/contact/area", **move) == AREA_CHANGED
    assert len(fake.requests_with("PUT", "contact/area")) == 2

    # `$` ends the path: the transfer to an operator, not Take.
    fake.refuse_next("PUT /api/user/contact/operator$", status=500)
    assert await take(client, desk.bruno) == TAKEN
    body = {"number": MANAGER_NUMBER, "operatorId": desk.carla, "contactId": CUSTOMER}
    assert await failure(client, "PUT", "api/user/contact/operator", 500, **body) == "Refused"
    assert fake.contact(CUSTOMER).operator_id == desk.bruno


async def test_a_delayed_take_lands_after_its_client_has_gone(
    fake: FakeHci, desk: TwoAreas, client: httpx.AsyncClient
) -> None:
    fake.customer_writes(CUSTOMER, "Oi")
    fake.delay_next("contact/operator/my", 0.3)
    async with httpx.AsyncClient(base_url=fake.url, headers=client.headers, timeout=0.05) as doomed:
        with pytest.raises(httpx.ReadTimeout):
            await take(doomed, desk.ana)
    assert len(fake.requests_to("contact/operator/my")) == 1  # it was in flight
    assert fake.contact(CUSTOMER).waiting
    for _ in range(150):  # the delay is over after 0.3 s
        if not fake.contact(CUSTOMER).waiting:
            break
        await asyncio.sleep(0.02)
    assert fake.contact(CUSTOMER).operator_id == desk.ana


async def test_inherited_faults(fake: FakeHci, desk: TwoAreas, client: httpx.AsyncClient) -> None:
    fake.customer_writes(CUSTOMER, "Oi")
    fake.drop_next("contact/operator/my")
    with pytest.raises(httpx.RemoteProtocolError):
        await take(client, desk.ana)
    assert fake.contact(CUSTOMER).waiting  # a dropped Take never landed

    fake.fail_next("chat/message", status=502)
    response = await client.post(
        "api/chat/message", json={"operatorId": "0", "contactId": CUSTOMER}
    )
    assert response.status_code == 502 and "Bad Gateway" in response.text
    fake.malformed_next("area/")
    response = await client.get(f"api/area/{CONTROLLER_PORT}")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


async def test_a_root_with_a_path() -> None:
    with FakeHci(base_path="/whatscenter/") as fake:
        assert fake.url.endswith("/whatscenter")
        headers = {"Authorization": f"Bearer {fake.token}"}
        async with httpx.AsyncClient(base_url=fake.url, headers=headers, timeout=5) as http:
            assert len(await ok(http, "GET", "api/user/")) == 1
            outside = fake.url.removesuffix("/whatscenter") + "/api/user/"
            assert (await http.get(outside)).status_code == 404


async def test_a_form_body_is_read_too(fake: FakeHci, client: httpx.AsyncClient) -> None:
    response = await client.post("api/user/", data={"number": MANAGER_NUMBER})
    assert response.json()["data"]["number"] == int(MANAGER_NUMBER)
    assert fake.requests_with("POST", "api/user")[-1].fields == {"number": MANAGER_NUMBER}
