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
