"""Tests of the wapp.im emulator itself, through real HTTP (httpx) against `FakeWappim`."""

from __future__ import annotations

import asyncio
import base64
import io
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import zxingcpp
from PIL import Image

from tests.fakes.wappim import LEGACY_TOKEN, FakeWappim, WappimTimeline

SPARE = {"crm": "TEST", "domain": "test", "md": "0"}
SPARE_KEYS = [
    "id",
    "instanceId",
    "token",
    "chat_id",
    "md",
    "chat_token",
    "chat_key",
    "apikey",
    "date_add",
    "date_trial",
    "date_pay",
    "date_subscription",
    "phone",
    "name",
    "platform",
    "status",
    "is_premium",
]


def fast(**overrides: Any) -> WappimTimeline:
    """A timeline of tenths of a second; a long first QR so that reads do not race a rotation."""
    values: dict[str, Any] = {
        "init_seconds": 0.05,
        "first_qr_seconds": 5.0,
        "rotate_seconds": 0.1,
        "max_qrs": 3,
        "pair_seconds": 0.05,
    }
    return WappimTimeline(**(values | overrides))


@pytest.fixture
def fake() -> Iterator[FakeWappim]:
    with FakeWappim(timeline=fast(), seed=1) as server:
        yield server


@pytest.fixture
async def client(fake: FakeWappim) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"X-Tasktest-Token": fake.token}
    async with httpx.AsyncClient(base_url=fake.url + "/", headers=headers, timeout=5) as http:
        yield http


class Chat:
    """One handed-out instance, with the calls a client makes on it."""

    def __init__(self, http: httpx.AsyncClient, spare: dict[str, Any]) -> None:
        self.http = http
        self.id: int = spare["id"]
        self.token: str = spare["token"]

    async def call(self, method: str, verb: str = "GET", **kwargs: Any) -> httpx.Response:
        params = {"token": self.token, **kwargs.pop("params", {})}
        return await self.http.request(verb, f"instance{self.id}/{method}", params=params, **kwargs)

    async def status(self, full: bool = True) -> dict[str, Any]:
        response = await self.call("status", params={"full": 1} if full else {})
        assert response.status_code == 200
        data: dict[str, Any] = response.json()
        return data

    async def wait_for(self, account_status: str) -> dict[str, Any]:
        """Poll status?full=1 (as the task says) until accountStatus is `account_status`."""
        async with asyncio.timeout(3):
            while True:
                data = await self.status()
                if data["accountStatus"] == account_status:
                    return data
                await asyncio.sleep(0.01)  # the client side of the API is polling

    async def send(self, **kwargs: Any) -> dict[str, Any]:
        response = await self.call("sendMessage", "POST", **kwargs)
        assert response.status_code == 200
        data: dict[str, Any] = response.json()
        return data


async def new_chat(http: httpx.AsyncClient) -> Chat:
    response = await http.get("chat/spare", params=SPARE)
    assert response.status_code == 200
    return Chat(http, response.json())


async def linked_chat(http: httpx.AsyncClient, fake: FakeWappim) -> Chat:
    chat = await new_chat(http)
    await chat.wait_for("got qr code")
    fake.scan(chat.id, name="Иван", number="79161234567")
    await chat.wait_for("authenticated")
    return chat


def decode_data_uri(uri: str) -> str:
    """The text of the QR in a `data:image/png;base64,…` URI, read the way the bot will."""
    head, _, payload = uri.partition(",")
    assert head == "data:image/png;base64"
    with Image.open(io.BytesIO(base64.b64decode(payload))) as image:
        assert 240 <= image.width <= 320  # realistic size, not a thumbnail
        found = zxingcpp.read_barcodes(image)
    assert len(found) == 1
    return found[0].text


# ---------------------------------------------------------------- chat/spare


async def test_spare_full_shape_has_the_17_keys_in_the_real_order(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    response = await client.get("chat/spare", params=SPARE)
    data = response.json()
    assert response.status_code == 200
    assert list(data) == SPARE_KEYS
    assert response.text.startswith('{"id":22,"instanceId":"2a01:4f8:c17:ac8:3::16","token":"')
    assert re.fullmatch(r"[A-Za-z0-9-]{16}", data["token"])
    assert re.fullmatch(r"[0-9a-f]{32}", data["chat_key"])
    assert data["chat_id"] == data["instanceId"]
    assert data["chat_token"] == data["token"]
    assert data["apikey"] == data["chat_key"]
    assert abs(data["date_add"] - time.time()) < 5
    assert data["date_trial"] is None or isinstance(data["date_trial"], int)
    assert (data["md"], data["date_pay"], data["status"], data["is_premium"]) == (0, 0, 0, 0)
    inst = fake.instance(22)
    assert (inst.assigned, inst.token, inst.crm, inst.domain) == (
        True,
        data["token"],
        "TEST",
        "test",
    )
    second = (await client.post("chat/spare", params=SPARE)).json()  # POST works too (S19)
    assert second["id"] == 23
    assert second["token"] != data["token"]


async def test_spare_short_shape(fake: FakeWappim, client: httpx.AsyncClient) -> None:
    fake.spare_shape = "short"
    data = (await client.get("chat/spare", params=SPARE)).json()
    assert list(data) == ["id", "token", "instanceId"]
    assert data["token"] == fake.instance(data["id"]).token


async def test_no_free_chats_until_the_pool_refills(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    ids = [(await client.get("chat/spare", params=SPARE)).json()["id"] for _ in range(3)]
    assert ids == [22, 23, 24]
    response = await client.get("chat/spare", params=SPARE)
    assert response.status_code == 200
    assert response.json() == {"error_code": 1, "error_text": "No free chats"}
    fake.set_free(1)
    assert fake.free_count() == 1
    assert (await client.get("chat/spare", params=SPARE)).json()["id"] == 25
    fake.wipe(23)  # the wipe hands 23 back to the pool
    fake.set_free(0)
    assert (await client.get("chat/spare", params=SPARE)).json()["error_code"] == 1
    fake.set_free(1)
    assert (await client.get("chat/spare", params=SPARE)).json()["id"] == 23


async def test_spare_requires_crm(client: httpx.AsyncClient) -> None:
    response = await client.get("chat/spare", params={"domain": "test"})
    assert response.status_code == 200
    assert response.json() == {"error_code": 2, "error_text": "crm is required"}


# ---------------------------------------------------------------- auth and errors


async def test_global_header_is_checked_first(fake: FakeWappim) -> None:
    wrong = {"error_code": 401, "error_text": "Wrong X-Tasktest-Token"}
    async with httpx.AsyncClient(base_url=fake.url + "/") as http:
        for headers in ({}, {"X-Tasktest-Token": "nope"}):
            response = await http.get("chat/spare", params=SPARE, headers=headers)
            assert (response.status_code, response.json()) == (401, wrong)
        response = await http.get("instance999/status", headers={"X-Tasktest-Token": "x"})
        assert (response.status_code, response.json()) == (401, wrong)
        legacy = {"X-Whatsapp-Token": LEGACY_TOKEN}
        assert (await http.get("chat/spare", params=SPARE, headers=legacy)).json()["id"] == 22
    recorded = fake.requests_to("chat/spare")
    assert [r.headers.get("x-tasktest-token") for r in recorded] == [None, "nope", None]
    assert recorded[-1].query == SPARE


async def test_instance_errors(client: httpx.AsyncClient) -> None:
    chat = await new_chat(client)
    response = await client.get("instance999/status", params={"token": chat.token})
    assert (response.status_code, response.json()) == (404, {"error": "Instance not found"})
    response = await client.get(f"instance{chat.id}/status", params={"token": "bad"})
    wrong_token = {"error": "Wrong token. Please provide token as a GET parameter."}
    assert (response.status_code, response.json()) == (401, wrong_token)
    response = await client.get(f"instance{chat.id}/status")
    assert response.status_code == 401
    response = await chat.call("getNUmberId")
    assert (response.status_code, response.json()) == (404, {"error": "Method not found"})


# ---------------------------------------------------------------- status and QR codes


async def test_status_goes_init_loading_got_qr_code(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    fake.timeline.init_seconds = 0.3
    chat = await new_chat(client)
    assert await chat.status(full=False) == {"accountStatus": "init", "state": "init"}
    assert await chat.status(full=False) == {"accountStatus": "init", "state": "init"}
    assert fake.instance(chat.id).status == "init"
    loading = await chat.status()  # the first status?full=1 wakes the instance
    assert (loading["accountStatus"], loading["state"]) == ("loading", "loading")
    assert loading["statusData"]["substatus"] == "loading"
    assert "qrCode" not in loading
    assert (await chat.call("qr_code")).text == ""
    assert fake.current_qr(chat.id) is None

    shown = await chat.wait_for("got qr code")
    assert list(shown)[:3] == ["accountStatus", "qrCode", "state"]
    assert shown["state"] == "got qr code"
    assert shown["statusData"]["substatus"] == "normal"
    assert decode_data_uri(shown["qrCode"]) == fake.current_qr(chat.id)
    raw = (await chat.call("status", params={"full": 1})).text
    assert re.search(r'"qrCode":"data:image/png;base64,[A-Za-z0-9+/=]+","state":"got qr code"', raw)
    without_full = await chat.status(full=False)
    assert without_full["accountStatus"] == "got qr code"
    assert "qrCode" not in without_full
    inst = fake.instance(chat.id)
    assert inst.status == "got qr code"
    assert len(inst.qrs) == 1
    assert re.fullmatch(
        r"1@[A-Za-z0-9+/]{86}==,[A-Za-z0-9+/]{43}=,[A-Za-z0-9+/]{22}==", inst.qrs[0]
    )


async def test_qr_code_method_returns_an_img_tag(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    fake.qr_style = "qr_code"
    chat = await new_chat(client)
    shown = await chat.wait_for("got qr code")
    assert "qrCode" not in shown
    response = await chat.call("qr_code")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    match = re.fullmatch(r'<img src="(data:image/png;base64,[^"]+)">', response.text)
    assert match is not None
    assert decode_data_uri(match[1]) == fake.current_qr(chat.id)


async def test_qr_rotates_then_expires_until_status_full_again(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    fake.timeline = fast(first_qr_seconds=0.3, rotate_seconds=0.3, max_qrs=3)
    chat = await new_chat(client)
    first = (await chat.wait_for("got qr code"))["qrCode"]
    await asyncio.sleep(0.35)
    second = (await chat.status())["qrCode"]
    assert second != first
    qrs = fake.instance(chat.id).qrs
    assert [decode_data_uri(first), decode_data_uri(second)] == qrs[:2]

    await asyncio.sleep(0.7)  # past 0.3 + 2 × 0.3: all three QRs used up
    expired = await chat.status(full=False)
    assert expired["accountStatus"] == "got qr code"
    assert expired["statusData"]["substatus"] == "expired"
    assert "qrCode" not in expired
    assert (await chat.call("qr_code")).text == ""
    assert fake.current_qr(chat.id) is None
    with pytest.raises(AssertionError, match="shows no QR"):
        fake.scan(chat.id)

    again = await chat.status()  # status?full=1 re-initialises: a new QR cycle
    assert again["accountStatus"] == "loading"
    fresh = await chat.wait_for("got qr code")
    assert decode_data_uri(fresh["qrCode"]) == fake.instance(chat.id).qrs[-1]
    assert fresh["qrCode"] not in (first, second)


async def test_expiry_method_restarts_the_qr_cycle(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    fake.timeline = fast(first_qr_seconds=0.3, max_qrs=1)
    chat = await new_chat(client)
    await chat.wait_for("got qr code")
    refused = (await chat.call("expiry", "POST")).json()
    assert refused["accountStatus"].startswith("Expiry request not sent")
    await asyncio.sleep(0.35)
    assert (await chat.status(full=False))["statusData"]["substatus"] == "expired"
    fake.timeline.first_qr_seconds = 5
    sent = (await chat.call("expiry", "POST")).json()
    assert sent == {"accountStatus": "Expiry request sent to WhatsApp"}
    assert (await chat.status())["statusData"]["substatus"] == "normal"
    assert fake.current_qr(chat.id) is not None


async def test_scan_pairs_then_authenticates(fake: FakeWappim, client: httpx.AsyncClient) -> None:
    fake.timeline.pair_seconds = 0.3
    chat = await new_chat(client)
    with pytest.raises(AssertionError, match="shows no QR"):
        fake.scan(chat.id)  # nothing to scan before status?full=1
    shown = await chat.wait_for("got qr code")
    with pytest.raises(AssertionError, match="not a QR it issued"):
        fake.scan(chat.id, qr="1@something,else,entirely")
    fake.scan(chat.id, name="Иван", number="79161234567", qr=decode_data_uri(shown["qrCode"]))
    pairing = await chat.status()
    assert (pairing["accountStatus"], pairing["state"]) == ("loading", "loading")
    assert pairing["statusData"]["substatus"] == "pairing"
    assert (await chat.call("me")).json() == {"id": "undefined", "number": "", "name": ""}
    linked = await chat.wait_for("authenticated")
    assert linked == {
        "accountStatus": "authenticated",
        "state": "CONNECTED",
        "statusData": {"substatus": "normal"},
    }
    assert (await chat.call("qr_code")).text == ""
    assert (await chat.call("me")).json() == {
        "id": "79161234567@c.us",
        "number": "79161234567",
        "name": "Иван",
        "pushname": "Иван",
    }
    inst = fake.instance(chat.id)
    assert (inst.status, inst.state, inst.name, inst.number) == (
        "authenticated",
        "CONNECTED",
        "Иван",
        "79161234567",
    )


# ---------------------------------------------------------------- sendMessage


async def test_send_message_accepts_form_json_multipart_and_query(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    chat = await linked_chat(client, fake)
    form = await chat.send(data={"phone": "89872745052", "body": "form 🙂", "sendSeen": "1"})
    assert form["sent"] is True
    assert form["message"] == "Sent to 79872745052@c.us"
    assert re.fullmatch(r"true_79872745052@c\.us_[0-9A-F]{20}", form["id"])
    assert form["queueNumber"] == 1
    as_json = await chat.send(json={"chatId": "4915216896607@c.us", "body": "json"})
    assert as_json["message"] == "Sent to 4915216896607@c.us"
    multipart = await chat.send(files={"phone": (None, "79872745052"), "body": (None, "multi")})
    assert multipart["sent"] is True
    query = await chat.send(params={"phone": "+7 (987) 274-50-52", "body": "query"})
    assert query["queueNumber"] == 4

    sent = fake.sent
    assert [(m.phone, m.chat_id, m.body) for m in sent] == [
        ("89872745052", "79872745052@c.us", "form 🙂"),
        ("4915216896607@c.us", "4915216896607@c.us", "json"),
        ("79872745052", "79872745052@c.us", "multi"),
        ("+7 (987) 274-50-52", "79872745052@c.us", "query"),
    ]
    assert sent[0].fields["sendSeen"] == "1"
    assert sent[0].message_id == form["id"]
    assert not any(m.queued_unauthorised for m in sent)
    assert fake.requests_to("sendMessage")[1].fields == {
        "chatId": "4915216896607@c.us",
        "body": "json",
    }


async def test_send_message_errors_string_sent_and_queueing(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    chat = await new_chat(client)
    no_body = await chat.send(data={"phone": "79872745052"})
    assert no_body == {"error_code": 3, "error_text": "body is required"}
    no_phone = await chat.send(data={"body": "hi"})
    assert no_phone["error_code"] == 4

    queued = await chat.send(data={"phone": "89872745052", "body": "too early"})
    assert queued["sent"] is True
    assert queued["message"] == (
        "Status of the account not equals authenticated. "
        "Message to  79872745052@c.us will be sent after successful auth."
    )
    assert fake.sent[-1].queued_unauthorised

    fake.sent_as = "string"
    await chat.wait_for("got qr code")
    fake.scan(chat.id)
    await chat.wait_for("authenticated")
    reply = await chat.send(data={"phone": "79872745052", "body": "now"})
    assert reply["sent"] == "true"
    assert not fake.sent[-1].queued_unauthorised


async def test_is_registered_user_is_a_bare_boolean(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    chat = await linked_chat(client, fake)
    yes = await chat.call("isRegisteredUser", params={"phone": "79872745052"})
    assert yes.text == "true"
    assert (await chat.call("isRegisteredUser", params={"phone": "12"})).json() is False


# ---------------------------------------------------------------- losing the instance


async def test_wipe_invalidates_the_token(fake: FakeWappim, client: httpx.AsyncClient) -> None:
    chat = await linked_chat(client, fake)
    fake.wipe(chat.id)
    response = await chat.call("status", params={"full": 1})
    assert response.status_code == 401
    assert response.json() == {"error": "Wrong token. Please provide token as a GET parameter."}
    inst = fake.instance(chat.id)
    assert (inst.assigned, inst.status, inst.name) == (False, "init", "")
    assert inst.old_tokens == [chat.token]
    again = (await client.get("chat/spare", params=SPARE)).json()
    assert again["id"] == chat.id
    assert again["token"] == inst.token != chat.token


async def test_logout_from_phone_and_logout_go_back_to_init(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    chat = await linked_chat(client, fake)
    fake.logout_from_phone(chat.id)
    assert await chat.status(full=False) == {"accountStatus": "init", "state": "init"}
    await chat.send(data={"phone": "79872745052", "body": "lost"})
    assert fake.sent[-1].queued_unauthorised
    assert (await chat.call("me")).json()["id"] == "undefined"

    await chat.wait_for("got qr code")  # status?full=1 brings a new QR
    fake.scan(chat.id)
    await chat.wait_for("authenticated")
    reply = (await chat.call("logout")).json()
    assert reply == {"accountStatus": "Logout request sent to WhatsApp"}
    assert (await chat.status(full=False))["accountStatus"] == "init"


async def test_remove_chat_releases_and_reboot_reloads(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    chat = await linked_chat(client, fake)
    assert (await chat.call("reboot")).json() == {"success": True}
    assert (await chat.status())["accountStatus"] == "loading"
    await chat.wait_for("authenticated")  # a reboot keeps the link
    assert (await chat.call("removeChat")).json() == {"success": True}
    inst = fake.instance(chat.id)
    assert (inst.assigned, inst.status, inst.token) == (False, "init", chat.token)
    assert (await client.get("chat/spare", params=SPARE)).json()["id"] == chat.id


# ---------------------------------------------------------------- messages (incoming)

MESSAGE_KEYS = [
    "id",
    "body",
    "type",
    "senderName",
    "fromMe",
    "author",
    "time",
    "chatId",
    "chatName",
    "messageNumber",
    "caption",
]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


async def poll(chat: Chat, **params: Any) -> dict[str, Any]:
    response = await chat.call("messages", params=params)
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    assert list(data) == ["messages", "lastMessageNumber"]
    return data


async def test_messages_have_chat_api_shape_and_an_exclusive_bound(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    chat = await linked_chat(client, fake)
    assert await poll(chat) == {"messages": [], "lastMessageNumber": 0}
    first = fake.receive(chat.id, phone="89001234567", body="привет 🙂", sender_name="Ivan")
    second = fake.receive(chat.id, phone="4915216896607", body="two", sender_name="Anna")
    assert re.fullmatch(r"false_79001234567@c\.us_[0-9A-F]{20}", first)

    reply = await poll(chat)
    messages = reply["messages"]
    assert reply["lastMessageNumber"] == 2
    assert [list(m) for m in messages] == [MESSAGE_KEYS, MESSAGE_KEYS]
    one = messages[0]
    assert one == {
        "id": first,
        "body": "привет 🙂",
        "type": "chat",
        "senderName": "Ivan",
        "fromMe": False,
        "author": "79001234567@c.us",
        "time": one["time"],
        "chatId": "79001234567@c.us",
        "chatName": "Ivan",
        "messageNumber": 1,
        "caption": None,
    }
    assert isinstance(one["time"], int) and abs(one["time"] - time.time()) < 5
    assert (messages[1]["id"], messages[1]["messageNumber"]) == (second, 2)

    assert await poll(chat, lastMessageNumber=2) == {"messages": [], "lastMessageNumber": 2}
    assert await poll(chat, lastMessageNumber=7) == {"messages": [], "lastMessageNumber": 7}
    after_one = await poll(chat, lastMessageNumber=1)
    assert [m["id"] for m in after_one["messages"]] == [second]
    assert (await poll(chat, lastMessageNumber="junk"))["lastMessageNumber"] == 2  # read as 0
    posted = await chat.call("messages", "POST", data={"lastMessageNumber": "1"})
    assert [m["id"] for m in posted.json()["messages"]] == [second]
    assert [m["id"] for m in fake.message_log(chat.id)] == [first, second]


async def test_inclusive_bound_gives_the_last_message_again(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    chat = await linked_chat(client, fake)
    fake.inclusive_bound = True
    ids = [fake.receive(chat.id, body=str(n)) for n in range(2)]
    reply = await poll(chat)
    assert ([m["id"] for m in reply["messages"]], reply["lastMessageNumber"]) == (ids, 2)
    again = await poll(chat, lastMessageNumber=reply["lastMessageNumber"])
    assert ([m["id"] for m in again["messages"]], again["lastMessageNumber"]) == (ids[1:], 2)


async def test_limit_pages_the_rest_into_the_next_poll(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    chat = await linked_chat(client, fake)
    ids = [fake.receive(chat.id, body=f"m{n}") for n in range(5)]
    page = await poll(chat, limit=2)
    assert ([m["id"] for m in page["messages"]], page["lastMessageNumber"]) == (ids[:2], 2)
    page = await poll(chat, limit=2, lastMessageNumber=2)
    assert ([m["id"] for m in page["messages"]], page["lastMessageNumber"]) == (ids[2:4], 4)
    page = await poll(chat, limit=2, lastMessageNumber=4)
    assert ([m["id"] for m in page["messages"]], page["lastMessageNumber"]) == (ids[4:], 5)
    assert len((await poll(chat, limit=0))["messages"]) == 5  # 0: no limit
    assert len((await poll(chat, limit=-3))["messages"]) == 5  # the default, 100
    more = [fake.receive(chat.id) for _ in range(101)]
    page = await poll(chat, lastMessageNumber=5)
    assert (len(page["messages"]), page["lastMessageNumber"]) == (100, 105)
    assert (await poll(chat, lastMessageNumber=105))["messages"][0]["id"] == more[-1]


async def test_group_and_from_me_messages(fake: FakeWappim, client: httpx.AsyncClient) -> None:
    chat = await linked_chat(client, fake)  # the account is Иван, 79161234567
    in_group = fake.receive(
        chat.id, phone="79005550000", sender_name="Olga", group=("120363041234567890", "Family")
    )
    mine = fake.receive(chat.id, phone="79001234567", body="from my phone", from_me=True)
    mine_in_group = fake.receive(chat.id, group=("120363041234567890@g.us", "Family"), from_me=True)
    group_message, my_message, my_group_message = (await poll(chat))["messages"]
    assert re.fullmatch(r"false_120363041234567890@g\.us_[0-9A-F]{20}_79005550000@c\.us", in_group)
    assert {k: group_message[k] for k in ("id", "chatId", "chatName", "author", "senderName")} == {
        "id": in_group,
        "chatId": "120363041234567890@g.us",
        "chatName": "Family",
        "author": "79005550000@c.us",
        "senderName": "Olga",
    }
    assert re.fullmatch(r"true_79001234567@c\.us_[0-9A-F]{20}", mine)
    assert my_message["fromMe"] is True
    assert (my_message["chatId"], my_message["author"]) == ("79001234567@c.us", "79161234567@c.us")
    assert (my_message["senderName"], my_message["chatName"]) == ("Иван", "79001234567")
    assert my_group_message["id"].startswith("true_120363041234567890@g.us_")
    assert my_group_message["id"] == mine_in_group
    assert my_group_message["author"] == "79161234567@c.us"


async def test_history_and_an_unlinked_instance_answer_too(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    chat = await new_chat(client)  # never linked: messages still answers, with what it holds
    assert await poll(chat) == {"messages": [], "lastMessageNumber": 0}
    old = fake.history(chat.id, ("a", "b"), age=7200)
    messages = (await poll(chat))["messages"]
    assert [m["id"] for m in messages] == old
    assert [m["time"] - int(time.time() - 7200) for m in messages] in ([0, 1], [-1, 0], [1, 2])
    assert messages[0]["author"] == "79001234567@c.us"


async def test_messages_log_goes_with_the_instance(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    chat = await linked_chat(client, fake)
    url_body = fake.receive(chat.id, type="image", file=(PNG, "a.png", "image/png"))
    assert url_body
    fake.wipe(chat.id)
    response = await chat.call("messages")
    assert response.status_code == 401
    assert response.json() == {"error": "Wrong token. Please provide token as a GET parameter."}
    again = await new_chat(client)  # the same instance, handed out afresh
    assert again.id == chat.id
    assert await poll(again) == {"messages": [], "lastMessageNumber": 0}
    fake.receive(again.id)
    assert (await poll(again))["messages"][0]["messageNumber"] == 1


async def test_media_is_served_by_the_emulator_on_its_own_origin(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    chat = await linked_chat(client, fake)
    fake.receive(
        chat.id,
        type="image",
        caption="look",
        file=(PNG, "photo 1/2.png", "image/png"),
    )
    fake.receive(chat.id, type="document", body="http://10.1.2.3/elsewhere.pdf")
    image, elsewhere = (await poll(chat))["messages"]
    assert (image["type"], image["caption"]) == ("image", "look")
    url = image["body"]
    assert fake.origin == fake.url.removesuffix("/v3")
    assert re.fullmatch(re.escape(fake.origin) + r"/files/[0-9a-f]{32}/photo%201%2F2\.png", url)
    assert elsewhere["body"] == "http://10.1.2.3/elsewhere.pdf"  # as given, never checked

    async with httpx.AsyncClient() as bare:  # no X-Tasktest-Token, no instance token
        response = await bare.get(url)
        assert response.status_code == 200
        assert response.content == PNG
        assert response.headers["content-type"] == "image/png"
        assert response.headers["content-length"] == str(len(PNG))

        fake.fail_next("/files/", status=503)
        assert (await bare.get(url)).status_code == 503
        assert (await bare.get(url)).status_code == 200
        assert len(fake.requests_to("/files/")) == 3

        assert fake.expire_files() == 1
        assert (await bare.get(url)).status_code == 404
        assert (await bare.get(fake.origin + "/files/nothing")).status_code == 404


# ---------------------------------------------------------------- sendFile


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


async def test_send_file_records_the_decoded_bytes(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    chat = await linked_chat(client, fake)
    reply = (
        await chat.call(
            "sendFile",
            "POST",
            json={
                "phone": "89872745052",
                "body": data_uri(PNG),
                "filename": "pic.png",
                "caption": "a picture",
                "quotedMsgId": "false_79872745052@c.us_ABC",
            },
        )
    ).json()
    assert reply["sent"] is True
    assert reply["message"] == "Sent to 79872745052@c.us"
    assert re.fullmatch(r"true_79872745052@c\.us_[0-9A-F]{20}", reply["id"])
    assert reply["queueNumber"] == 1
    sent = fake.sent_files[-1]
    assert (sent.chat_id, sent.filename, sent.mime, sent.data, sent.caption, sent.url) == (
        "79872745052@c.us",
        "pic.png",
        "image/png",
        PNG,
        "a picture",
        None,
    )
    assert sent.message_id == reply["id"]
    assert sent.fields["quotedMsgId"] == "false_79872745052@c.us_ABC"

    form = await chat.call(
        "sendFile",
        "POST",
        data={
            "chatId": "120363041234567890@g.us",
            "body": data_uri(b"%PDF-1", "application/pdf"),
            "filename": "a.pdf",
        },
    )
    assert form.json()["message"] == "Sent to 120363041234567890@g.us"
    by_url = await chat.call(
        "sendFile",
        "POST",
        data={"phone": "79872745052", "body": "https://example.com/a.jpg", "filename": "a.jpg"},
    )
    assert by_url.json()["sent"] is True
    group_file, url_file = fake.sent_files[1:]
    assert (group_file.chat_id, group_file.data, group_file.caption) == (
        "120363041234567890@g.us",
        b"%PDF-1",
        "",
    )
    assert (url_file.url, url_file.data, url_file.mime) == ("https://example.com/a.jpg", None, None)

    # What the client sends shows up in `messages` as fromMe, its file served like any other.
    echoed = (await poll(chat))["messages"]
    assert [(m["id"], m["type"], m["fromMe"]) for m in echoed] == [
        (reply["id"], "image", True),
        (form.json()["id"], "document", True),
        (by_url.json()["id"], "document", True),
    ]
    assert echoed[0]["caption"] == "a picture"
    assert (await client.get(echoed[0]["body"])).content == PNG
    assert echoed[2]["body"] == "https://example.com/a.jpg"
    fake.echo_sent = False
    await chat.send(data={"phone": "79872745052", "body": "quiet"})
    assert (await poll(chat, lastMessageNumber=3))["messages"] == []


async def test_send_file_takes_a_large_data_uri(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    chat = await linked_chat(client, fake)
    big = bytes(range(256)) * 12_000  # 3 MB: over aiohttp's 1 MiB default body size
    reply = await chat.call(
        "sendFile",
        "POST",
        json={"phone": "79872745052", "body": data_uri(big, "video/mp4"), "filename": "v.mp4"},
    )
    assert reply.json()["sent"] is True
    assert fake.sent_files[-1].data == big


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"phone": "79872745052", "filename": "a.png"}, 3),
        ({"body": data_uri(PNG), "filename": "a.png"}, 4),
        ({"phone": "79872745052", "body": data_uri(PNG)}, 6),
        ({"phone": "79872745052", "body": data_uri(PNG), "filename": "  "}, 6),
        ({"phone": "79872745052", "body": "data:image/png;base64,!!!", "filename": "a.png"}, 5),
        ({"phone": "79872745052", "body": "data:text/plain,hello", "filename": "a.txt"}, 5),
        ({"phone": "79872745052", "body": "ftp://example.com/a.png", "filename": "a.png"}, 5),
    ],
)
async def test_send_file_errors(
    fake: FakeWappim, client: httpx.AsyncClient, fields: dict[str, str], code: int
) -> None:
    chat = await linked_chat(client, fake)
    response = await chat.call("sendFile", "POST", data=fields)
    assert response.status_code == 200
    assert response.json()["error_code"] == code
    assert isinstance(response.json()["error_text"], str)
    assert fake.sent_files == []


async def test_send_file_before_the_link_is_queued(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    chat = await new_chat(client)
    reply = await chat.call(
        "sendFile",
        "POST",
        data={"phone": "79872745052", "body": data_uri(PNG), "filename": "a.png"},
    )
    assert reply.json()["message"].startswith("Status of the account not equals authenticated.")
    assert fake.sent_files[-1].queued_unauthorised
    assert fake.message_log(chat.id) == []  # nothing went out yet


async def test_send_message_to_a_group_with_a_quote(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    chat = await linked_chat(client, fake)
    quoted = fake.receive(chat.id, group=("120363041234567890", "Family"))
    reply = await chat.send(
        data={"chatId": "120363041234567890@g.us", "body": "answer", "quotedMsgId": quoted}
    )
    assert reply["message"] == "Sent to 120363041234567890@g.us"
    sent = fake.sent[-1]
    assert (sent.chat_id, sent.fields["quotedMsgId"]) == ("120363041234567890@g.us", quoted)
    echoed = fake.message_log(chat.id)[-1]
    assert (echoed["id"], echoed["chatName"], echoed["fromMe"]) == (reply["id"], "Family", True)


# ---------------------------------------------------------------- fault knobs


async def test_fail_next_answers_a_proxy_error_then_recovers(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    fake.fail_next("chat/spare", times=2)
    for _ in range(2):
        response = await client.get("chat/spare", params=SPARE)
        assert response.status_code == 500
        assert response.headers["content-type"] == "text/html"
        assert "502 Bad Gateway" in response.text
    assert fake.free_count() == 3  # a failed call hands nothing out
    fake.fail_next("/status", status=503, body=b"busy", content_type="text/plain")
    chat = await new_chat(client)
    response = await chat.call("status")
    assert (response.status_code, response.text) == (503, "busy")
    assert (await chat.status(full=False))["accountStatus"] == "init"
    assert len(fake.requests_to("chat/spare")) == 3


async def test_malformed_next_truncates_the_json(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    chat = await new_chat(client)
    fake.malformed_next("/status")
    response = await chat.call("status", params={"full": 1})
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert (await chat.status(full=False))["accountStatus"] == "init"  # nothing happened


async def test_drop_next_closes_the_connection(fake: FakeWappim, client: httpx.AsyncClient) -> None:
    fake.drop_next("sendMessage")
    chat = await linked_chat(client, fake)
    with pytest.raises(httpx.RemoteProtocolError):
        await chat.send(data={"phone": "79872745052", "body": "lost"})
    assert fake.sent == []
    assert (await chat.send(data={"phone": "79872745052", "body": "ok"}))["sent"] is True
    assert [m.body for m in fake.sent] == ["ok"]


async def test_delay_next_answers_late_but_normally(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    fake.delay_next("chat/spare", 0.3)
    started = time.monotonic()
    slow = await client.get("chat/spare", params=SPARE)
    assert time.monotonic() - started >= 0.3
    assert slow.json()["id"] == 22
    fake.delay_next("chat/spare", 5)
    with pytest.raises(httpx.ReadTimeout):
        await client.get("chat/spare", params=SPARE, timeout=0.1)
    started = time.monotonic()
    assert (await client.get("chat/spare", params=SPARE)).json()["id"] == 23
    assert time.monotonic() - started < 1  # other requests are not held up


async def test_unknown_paths_and_slashes(fake: FakeWappim, client: httpx.AsyncClient) -> None:
    assert (await client.get("nothing/here")).status_code == 404
    response = await client.get(fake.url + "//chat/spare/", params=SPARE)
    assert response.json()["id"] == 22


async def test_a_broken_request_gets_a_500_and_the_server_lives_on(
    fake: FakeWappim, client: httpx.AsyncClient
) -> None:
    chat = await new_chat(client)
    broken = {"Content-Type": "multipart/form-data"}  # no boundary: the body cannot be parsed
    response = await chat.call("sendMessage", "POST", content=b"body=x", headers=broken)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/plain")
    assert fake.requests_to("sendMessage")[0].headers["content-type"] == "multipart/form-data"
    assert (await chat.status(full=False))["accountStatus"] == "init"
