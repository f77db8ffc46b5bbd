"""Green-API two-way: the driver's `receive`/`acknowledge`, ticks, files both ways, quoting and the
webhook problem, against `FakeGreenApi`; the emulator's notification queue over raw HTTP; and
`parse_notification` on its own, including bodies no honest gateway would send.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whatsapp_api_client_python import API

from bot.gateways.base import (
    Delivery,
    DeliveryUpdate,
    Event,
    Inbound,
    InvalidRequestError,
    Line,
    LineState,
    MediaTooLargeError,
    MessageKind,
    NetworkError,
    OutgoingFile,
    Received,
    Reception,
    StateChange,
    UnsafeUrlError,
    UpstreamError,
)
from bot.gateways.greenapi import GreenApiGateway, chat_id, media_url_for
from bot.gateways.greenapi_notifications import parse_notification
from tests.fakes.greenapi import (
    PEER_NAME,
    PEER_PHONE,
    RECEIPT_NOT_A_NUMBER,
    FakeGreenApi,
    GreenTimeline,
)

PHONE = "79161234567"  # the linked account
PEER = PEER_PHONE  # who writes to it
GROUP = "120363043968066561@g.us"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def fast(**overrides: float) -> GreenTimeline:
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
    with FakeGreenApi(timeline=fast(), seed=5) as server:
        yield server


@pytest.fixture
async def gateway(fake: FakeGreenApi) -> AsyncIterator[GreenApiGateway]:
    driver = GreenApiGateway(fake.url, timeout=2.0, backoff=0.01, receive_timeout=0)
    yield driver
    await driver.aclose()


async def linked(fake: FakeGreenApi, gateway: GreenApiGateway) -> tuple[int, Line]:
    instance_id, token = fake.add_instance(phone=PHONE)
    line = await gateway.acquire({"idInstance": str(instance_id), "apiTokenInstance": token})
    return instance_id, line


async def take(gateway: GreenApiGateway, line: Line) -> tuple[Event, ...]:
    """One notification's events, acknowledged (as the bot does once they are handled)."""
    received = await gateway.receive(line, None)
    if received.ack is not None:
        await gateway.acknowledge(line, received.ack)
    return received.events


async def collect(
    gateway: GreenApiGateway,
    line: Line,
    done: Callable[[list[Event]], bool],
    timeout: float = 2.0,
) -> list[Event]:
    """Events of every notification until `done(events)`."""
    events: list[Event] = []
    async with asyncio.timeout(timeout):
        while not done(events):
            events.extend(await take(gateway, line))
            await asyncio.sleep(0.005)
    return events


async def only_inbound(gateway: GreenApiGateway, line: Line) -> Inbound:
    [event] = await take(gateway, line)
    assert isinstance(event, Inbound)
    return event


# ---------------------------------------------------------------- incoming messages


async def test_the_driver_polls(gateway: GreenApiGateway) -> None:
    assert gateway.reception is Reception.POLL


async def test_text_in_each_of_its_shapes(fake: FakeGreenApi, gateway: GreenApiGateway) -> None:
    instance_id, line = await linked(fake, gateway)
    fake.contacts[PEER] = "Ivan (work)"  # the name in the phone's address book wins
    plain = fake.receive_text(instance_id, text="привет", timestamp=1717000100)
    extended = fake.receive_text(instance_id, text="see https://example.com", extended=True)
    sent = await gateway.send_text(line, PEER, "question?")
    quoted = fake.receive_text(instance_id, text="answer", quoted_id=sent.message_id)

    first = await only_inbound(gateway, line)
    assert first == Inbound(
        id=plain,
        chat=PEER,
        sender=PEER,
        sender_name="Ivan (work)",
        kind=MessageKind.TEXT,
        text="привет",
        sent_at=datetime(2024, 5, 29, 16, 28, 20, tzinfo=UTC),
    )
    second = await only_inbound(gateway, line)
    assert (second.id, second.kind, second.text) == (
        extended,
        MessageKind.TEXT,
        "see https://example.com",
    )
    rest = await collect(gateway, line, lambda e: any(getattr(x, "id", "") == quoted for x in e))
    answer = next(e for e in rest if isinstance(e, Inbound) and e.id == quoted)
    assert (answer.kind, answer.text, answer.from_me) == (MessageKind.TEXT, "answer", False)


async def test_group_messages_answer_the_group(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    instance_id, line = await linked(fake, gateway)
    fake.receive_text(instance_id, text="hello all", group=(GROUP, "Family"), sender_name="Olga")
    message = await only_inbound(gateway, line)
    assert (message.chat, message.sender, message.group_name, message.sender_name) == (
        GROUP,
        PEER,
        "Family",
        "Olga",
    )
    assert message.is_group
    await gateway.send_text(line, message.chat, "hi group", quoted=message.id)
    assert (fake.sent[-1].chat_id, fake.sent[-1].quoted) == (GROUP, message.id)
    with pytest.raises(InvalidRequestError, match="phone number"):
        await gateway.pairing_code(line, GROUP)


@pytest.mark.parametrize(
    ("kind", "file_name", "mime", "expected"),
    [
        ("imageMessage", "photo.jpg", "image/jpeg", MessageKind.IMAGE),
        ("videoMessage", "clip.mp4", "video/mp4", MessageKind.VIDEO),
        ("documentMessage", "отчёт.pdf", "application/pdf", MessageKind.DOCUMENT),
        ("audioMessage", "note.ogg", "audio/ogg; codecs=opus", MessageKind.VOICE),
        ("audioMessage", "song.mp3", "audio/mpeg", MessageKind.AUDIO),
    ],
)
async def test_files_arrive_with_a_link_the_driver_can_download(
    fake: FakeGreenApi,
    gateway: GreenApiGateway,
    kind: str,
    file_name: str,
    mime: str,
    expected: MessageKind,
) -> None:
    instance_id, line = await linked(fake, gateway)
    message_id = fake.receive_file(
        instance_id, kind=kind, data=PNG, file_name=file_name, mime_type=mime, caption="look"
    )
    message = await only_inbound(gateway, line)
    assert (message.id, message.kind, message.text) == (message_id, expected, "look")
    assert (message.file_name, message.mime_type) == (file_name, mime)
    assert message.media_url is not None and message.media_url.startswith(fake.url + "/media/")
    download = await gateway.download(line, message.media_url, max_bytes=len(PNG))
    assert download.data == PNG
    assert download.name == file_name and download.mime == mime.split(";")[0]
    with pytest.raises(MediaTooLargeError):
        await gateway.download(line, message.media_url, max_bytes=len(PNG) - 1)


async def test_location_contact_call_and_other_types(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    instance_id, line = await linked(fake, gateway)
    fake.receive_location(instance_id, latitude=55.7539, longitude=37.6208, name="Red Square")
    fake.receive_location(instance_id, latitude=-33.5, longitude=-70, address="Santiago")
    fake.receive_contact(instance_id, display_name="Anna")
    fake.receive_other(instance_id, "pollMessage", {"pollMessageData": {"name": "?"}})
    fake.receive_other(
        instance_id, "stickerMessage", {"fileMessageData": {"mimeType": "image/webp"}}
    )
    call = fake.receive_call(instance_id)
    fake.receive_call(instance_id, status="missed", id_message=call)

    seen = [await take(gateway, line) for _ in range(7)]
    kinds = [(e.kind, e.details) for events in seen for e in events if isinstance(e, Inbound)]
    assert kinds == [
        (MessageKind.LOCATION, "55.7539,37.6208 Red Square"),
        (MessageKind.LOCATION, "-33.5,-70 Santiago"),
        (MessageKind.CONTACT, "Anna"),
        (MessageKind.OTHER, "pollMessage"),
        (MessageKind.STICKER, ""),
        (MessageKind.CALL, ""),
    ]
    assert seen[-1] == ()  # how the call ended: acknowledged, nothing to show
    assert fake.notifications(instance_id) == []


async def test_messages_written_on_the_phone_or_through_the_api_are_from_me(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    instance_id, line = await linked(fake, gateway)
    own = fake.phone_sent(instance_id, text="typed on the phone")
    message = await only_inbound(gateway, line)
    assert (message.id, message.from_me, message.chat, message.sender) == (own, True, PEER, PHONE)
    sent = await gateway.send_text(line, PEER, "through the API")
    events = await collect(gateway, line, lambda e: len(e) >= 1)
    assert isinstance(events[0], Inbound) and events[0].from_me
    assert (events[0].id, events[0].text) == (sent.message_id, "through the API")


# ---------------------------------------------------------------- the queue


async def test_the_head_repeats_until_acknowledged(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    instance_id, line = await linked(fake, gateway)
    first = fake.receive_text(instance_id, text="one")
    fake.receive_text(instance_id, text="two")
    once = await gateway.receive(line, None)
    again = await gateway.receive(line, None)
    assert once == again and once.ack is not None and once.cursor is None
    assert [e.id for e in once.events if isinstance(e, Inbound)] == [first]
    await gateway.acknowledge(line, once.ack)
    await gateway.acknowledge(line, once.ack)  # {"result": false} the second time: fine
    after = await gateway.receive(line, None)
    assert [e.text for e in after.events if isinstance(e, Inbound)] == ["two"]
    assert after.ack is not None and int(after.ack) == int(once.ack) + 1
    assert fake.instance(instance_id).deleted_receipts == [int(once.ack)]
    deletes = fake.requests_to("deleteNotification")
    assert [(r.method, r.path.rsplit("/", 1)[1]) for r in deletes] == [("DELETE", once.ack)] * 2
    with pytest.raises(InvalidRequestError):
        await gateway.acknowledge(line, "../qr")  # never reaches the URL


async def test_an_empty_queue_answers_at_once_and_a_held_poll_wakes_for_news(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    instance_id, line = await linked(fake, gateway)
    started = time.monotonic()
    assert await gateway.receive(line, None) == Received()
    assert time.monotonic() - started < 2.0  # (the driver asked for 0 s; Green would wait 5)
    assert fake.requests_to("receiveNotification")[0].query == {"receiveTimeout": "0"}

    waiting = GreenApiGateway(fake.url, timeout=2.0, receive_timeout=10)
    try:
        poll = asyncio.create_task(waiting.receive(line, None))
        await asyncio.sleep(0.2)
        assert not poll.done()
        started = time.monotonic()
        await asyncio.to_thread(fake.receive_text, instance_id, text="wake up")
        received = await asyncio.wait_for(poll, 5)
        assert time.monotonic() - started < 3.0  # (it would have waited 10 s)
        assert [e.text for e in received.events if isinstance(e, Inbound)] == ["wake up"]
    finally:
        await waiting.aclose()


async def test_a_webhook_url_stops_the_queue_and_is_the_reason(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    instance_id, line = await linked(fake, gateway)
    assert await gateway.receive_problem(line) is None
    fake.receive_text(instance_id, text="kept for later")
    fake.set_webhook_url(instance_id, "https://crm.example.com/green")
    assert await gateway.receive(line, None) == Received()
    assert await gateway.receive_problem(line) == "webhook_url"
    assert [r.api_method for r in fake.requests][-1] == "getsettings"
    fake.set_webhook_url(instance_id, "")
    message = await only_inbound(gateway, line)
    assert message.text == "kept for later"
    assert fake.requests_to("setSettings") == []  # the person's settings are never touched


# ---------------------------------------------------------------- ticks and the line's state


async def test_ticks_arrive_in_order(fake: FakeGreenApi, gateway: GreenApiGateway) -> None:
    _, line = await linked(fake, gateway)
    sent = await gateway.send_text(line, PEER, "tick tock")
    events = await collect(
        gateway,
        line,
        lambda e: any(isinstance(x, DeliveryUpdate) and x.delivery is Delivery.READ for x in e),
    )
    updates = [e for e in events if isinstance(e, DeliveryUpdate)]
    assert updates == [
        DeliveryUpdate(sent.message_id or "", Delivery.SENT),
        DeliveryUpdate(sent.message_id or "", Delivery.DELIVERED),
        DeliveryUpdate(sent.message_id or "", Delivery.READ),
    ]
    assert await take(gateway, line) == ()  # each status once


async def test_a_held_poll_gets_each_tick_when_it_happens(fake: FakeGreenApi) -> None:
    fake.timeline = fast(deliver_seconds=0.3, read_seconds=0.3)
    gateway = GreenApiGateway(fake.url, timeout=2.0, receive_timeout=5)
    try:
        _, line = await linked(fake, gateway)
        started = time.monotonic()
        sent = await gateway.send_text(line, PEER, "slow")
        arrivals: list[tuple[float, Event]] = []
        async with asyncio.timeout(3):
            while not any(getattr(e, "delivery", None) is Delivery.READ for _, e in arrivals):
                for event in await take(gateway, line):
                    arrivals.append((time.monotonic() - started, event))
        ticks = [(t, e.delivery) for t, e in arrivals if isinstance(e, DeliveryUpdate)]
        assert [d for _, d in ticks] == [Delivery.SENT, Delivery.DELIVERED, Delivery.READ]
        # Never before they happen (due 0.32 s and 0.62 s after the send), however busy the
        # machine; that a held poll wakes at once is checked over raw HTTP below.
        assert ticks[1][0] >= 0.3 and ticks[2][0] >= 0.6
        assert all(e.id == sent.message_id for _, e in arrivals if isinstance(e, Inbound))
    finally:
        await gateway.aclose()


async def test_failures_carry_greens_word(fake: FakeGreenApi, gateway: GreenApiGateway) -> None:
    fake.no_account.add("79000000000")
    instance_id, line = await linked(fake, gateway)
    fake.set_settings(instance_id, outgoingAPIMessageWebhook="no")
    nobody = await gateway.send_text(line, "79000000000", "anyone?")
    assert await collect(gateway, line, lambda e: len(e) >= 1) == [
        DeliveryUpdate(nobody.message_id or "", Delivery.FAILED, reason="noAccount")
    ]
    group = await gateway.send_text(line, GROUP, "left already")
    assert group.message_id is not None
    fake.set_message_status(group.message_id, "notInGroup")
    events = await collect(gateway, line, lambda e: e[-1:] != [] and e[-1].reason != "")
    assert events[-1] == DeliveryUpdate(group.message_id, Delivery.FAILED, reason="notInGroup")
    await asyncio.sleep(0.2)
    assert await take(gateway, line) == ()  # the forced word ended the walk

    # With outgoingWebhook off the ticks stop; failed and noAccount cannot be switched off (A.8).
    fake.set_settings(instance_id, outgoingWebhook="no")
    quiet = await gateway.send_text(line, PEER, "ticks off")
    again = await gateway.send_text(line, "79000000000", "still nobody")
    fake.set_message_status(quiet.message_id or "", "failed")
    events = await collect(gateway, line, lambda e: len(e) >= 2)
    assert sorted(events, key=lambda e: getattr(e, "reason", "")) == [
        DeliveryUpdate(quiet.message_id or "", Delivery.FAILED, reason="failed"),
        DeliveryUpdate(again.message_id or "", Delivery.FAILED, reason="noAccount"),
    ]
    await asyncio.sleep(0.2)
    assert await take(gateway, line) == ()


async def test_a_forced_status_ends_the_walk_even_before_sending(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    instance_id, token = fake.add_instance()
    line = await gateway.acquire({"idInstance": str(instance_id), "apiTokenInstance": token})
    await asyncio.sleep(0.2)  # created (0.05 s), then started (0.05 s)
    assert fake.state(instance_id) == "notAuthorized"
    sent = await gateway.send_text(line, PEER, "queued until linked")
    fake.set_message_status(sent.message_id or "", "failed")
    fake.scan(instance_id, phone=PHONE)
    await asyncio.sleep(0.2)
    bodies = [n.body for n in fake.notifications(instance_id)]
    assert [(b["typeWebhook"], b.get("status") or b.get("stateInstance")) for b in bodies] == [
        ("outgoingMessageStatus", "failed"),
        ("stateInstanceChanged", "authorized"),
    ]


async def test_the_line_state_is_pushed(fake: FakeGreenApi, gateway: GreenApiGateway) -> None:
    instance_id, line = await linked(fake, gateway)
    assert await take(gateway, line) == ()  # linked by add_instance: no news
    fake.set_state(instance_id, "yellowCard")
    await gateway.logout(line)
    changes = [await take(gateway, line), await take(gateway, line)]
    assert [(c.state, c.raw) for [c] in changes if isinstance(c, StateChange)] == [
        (LineState.RESTRICTED, "yellowCard"),
        # What the caller gets for a logout: Green's word, mapped as getStateInstance's is.
        (LineState.AWAITING_QR, "notAuthorized"),
    ]
    [logged_out] = changes[1]
    assert isinstance(logged_out, StateChange) and logged_out.at is not None
    assert abs(logged_out.at.timestamp() - time.time()) < 5
    fake.scan(instance_id, phone=PHONE)
    [linked_again] = await take(gateway, line)
    assert isinstance(linked_again, StateChange)
    assert (linked_again.state, linked_again.raw) == (LineState.AUTHORIZED, "authorized")


async def test_reboot_is_pushed_as_starting_then_back(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    instance_id, line = await linked(fake, gateway)
    await gateway.reboot(line)
    events = await collect(gateway, line, lambda e: len(e) >= 2)
    assert [(e.state, e.raw) for e in events if isinstance(e, StateChange)] == [
        (LineState.STARTING, "starting"),
        (LineState.AUTHORIZED, "authorized"),
    ]
    fake.set_settings(instance_id, stateWebhook="no")
    await gateway.logout(line)
    assert await take(gateway, line) == ()


# ---------------------------------------------------------------- sending: quotes and files


async def test_send_text_quotes_by_id(fake: FakeGreenApi, gateway: GreenApiGateway) -> None:
    instance_id, line = await linked(fake, gateway)
    incoming = fake.receive_text(instance_id, text="question")
    await gateway.send_text(line, PEER, "answer", quoted=incoming)
    await gateway.send_text(line, PEER, "no quote")
    quoting, plain = fake.sent
    assert quoting.fields == {
        "chatId": f"{PEER}@c.us",
        "message": "answer",
        "quotedMessageId": incoming,
    }
    assert quoting.quoted == incoming and plain.quoted is None
    assert "quotedMessageId" not in plain.fields


async def test_send_file_uploads_the_exact_bytes(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    instance_id, line = await linked(fake, gateway)
    data = PNG * 700  # over a megabyte: more than aiohttp takes as a plain body
    incoming = fake.receive_text(instance_id)
    file = OutgoingFile(data=data, name="photo.png", mime="image/png")
    sent = await gateway.send_file(line, PEER, file, caption="from Telegram", quoted=incoming)
    [record] = fake.sent
    assert (record.method, record.id_message, record.data) == (
        "sendFileByUpload",
        sent.message_id,
        data,
    )
    assert record.fields == {
        "chatId": f"{PEER}@c.us",
        "fileName": "photo.png",
        "caption": "from Telegram",
        "quotedMessageId": incoming,
    }
    assert record.upload is not None
    assert (record.upload.filename, record.upload.content_type) == ("photo.png", "image/png")
    [request] = fake.requests_to("sendFileByUpload")
    assert request.method == "POST"
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert record.url_file is not None and record.url_file.startswith(fake.url)
    async with httpx.AsyncClient() as http:
        assert (await http.get(record.url_file)).content == data
    [entry] = fake.instance(instance_id).outgoing
    assert entry.type_message == "imageMessage"

    with pytest.raises(InvalidRequestError, match="extension"):
        await gateway.send_file(line, PEER, OutgoingFile(data=b"x", name="photo", mime="image/png"))
    assert len(fake.requests_to("sendFileByUpload")) == 1


async def test_send_file_errors_are_typed_and_never_repeated(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    _, line = await linked(fake, gateway)
    file = OutgoingFile(data=b"%PDF-1.4", name="a.pdf", mime="application/pdf")
    fake.malformed_next("sendFileByUpload")
    with pytest.raises(NetworkError) as ambiguous:
        await gateway.send_file(line, PEER, file)
    assert ambiguous.value.request_sent  # an unreadable 200: maybe sent, so never repeated
    fake.fail_next("sendFileByUpload", status=503)
    with pytest.raises(UpstreamError) as outage:
        await gateway.send_file(line, PEER, file)
    assert line.token not in str(outage.value)
    assert len(fake.requests_to("sendFileByUpload")) == 2


@pytest.mark.parametrize(
    ("api_url", "media_url"),
    [
        ("https://7103.api.green-api.com", "https://7103.media.green-api.com"),
        ("https://api.green-api.com", "https://media.green-api.com"),
        ("https://api.greenapi.com", "https://media.greenapi.com"),
        ("https://7105.api.greenapi.com:8443", "https://7105.media.greenapi.com:8443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://api.example.com", "https://api.example.com"),
        ("https://green-api.com", "https://green-api.com"),
        ("https://api.green-api.com.evil.io", "https://api.green-api.com.evil.io"),
        ("https://x.api.other.green-api.com", "https://x.api.other.green-api.com"),
    ],
)
def test_media_url_for(api_url: str, media_url: str) -> None:
    assert media_url_for(api_url) == media_url


def test_chat_ids() -> None:
    assert chat_id("+7 900 123-45-67") == "79001234567@c.us"
    assert chat_id(GROUP) == GROUP and chat_id("79001234567-1596000000@g.us").endswith("@g.us")
    for bad in ("x@g.us", "1/2@g.us", "@g.us"):
        with pytest.raises(InvalidRequestError):
            chat_id(bad)


# ---------------------------------------------------------------- downloads: where from


async def test_a_private_address_off_the_gateway_is_never_fetched(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    instance_id, line = await linked(fake, gateway)
    with FakeGreenApi() as elsewhere:  # another service on this machine
        url = f"{elsewhere.url}/media/0123456789abcdef/secret.txt"
        fake.receive_file(
            instance_id, kind="documentMessage", data=b"", file_name="secret.txt", download_url=url
        )
        message = await only_inbound(gateway, line)
        assert message.media_url == url
        with pytest.raises(UnsafeUrlError):
            await gateway.download(line, url, max_bytes=10**6)
        for other in ("http://169.254.169.254/latest/meta-data", "file:///etc/passwd"):
            with pytest.raises(UnsafeUrlError):
                await gateway.download(line, other, max_bytes=10**6)
        assert elsewhere.requests == []


async def test_a_storage_name_that_resolves_to_loopback_is_refused(fake: FakeGreenApi) -> None:
    async def rebinding(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    gateway = GreenApiGateway(fake.url, timeout=2.0, resolver=rebinding)
    try:
        _, line = await linked(fake, gateway)
        with pytest.raises(UnsafeUrlError):
            await gateway.download(line, "https://storage.example/f.jpg", max_bytes=100)
    finally:
        await gateway.aclose()
    assert all(http.client.is_closed for http in gateway._clients.values())
    assert gateway._media.client.is_closed  # white-box: the fetcher is closed with the driver


# ---------------------------------------------------------------- hostile notifications


HOSTILE: list[Any] = [
    None,
    [],
    "incomingMessageReceived",
    {},
    {"typeWebhook": 42},
    {"typeWebhook": ["incomingMessageReceived"]},
    {"typeWebhook": "incomingMessageReceived"},
    {"typeWebhook": "incomingMessageReceived", "idMessage": "A", "senderData": "79001234567"},
    {
        "typeWebhook": "incomingMessageReceived",
        "idMessage": {"$": 1},
        "senderData": {"chatId": "79001234567@c.us"},
        "messageData": {"typeMessage": "textMessage"},
    },
    {
        "typeWebhook": "incomingMessageReceived",
        "idMessage": "B",
        "senderData": {"chatId": ["79001234567@c.us"], "sender": 79001234567},
        "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": 5}},
    },
    {
        "typeWebhook": "incomingMessageReceived",
        "idMessage": "C",
        "senderData": {"chatId": "status@broadcast", "sender": "x@lid"},
        "messageData": {"typeMessage": "imageMessage"},
    },
    {"typeWebhook": "outgoingMessageStatus", "idMessage": "D", "status": None},
    {"typeWebhook": "outgoingMessageStatus", "idMessage": 7, "status": "read"},
    {"typeWebhook": "outgoingMessageStatus", "idMessage": "E", "status": "exploded"},
    {"typeWebhook": "stateInstanceChanged", "stateInstance": {"x": 1}},
    {"typeWebhook": "incomingCall", "from": None, "idMessage": "F"},
    {"typeWebhook": "deviceInfo", "deviceData": {"platform": "android"}},
    {"typeWebhook": "quotaExceeded", "quotaData": {"method": "sendmessage"}},
    {"typeWebhook": "statusInstanceChanged", "statusInstance": "online"},
]


@pytest.mark.parametrize("body", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_notifications_give_nothing_and_are_acknowledged(
    fake: FakeGreenApi, gateway: GreenApiGateway, body: Any
) -> None:
    instance_id, line = await linked(fake, gateway)
    receipt = fake.push(instance_id, body)
    received = await gateway.receive(line, None)
    assert received == Received(events=(), ack=str(receipt))
    await gateway.acknowledge(line, str(receipt))
    assert fake.notifications(instance_id) == []


async def test_odd_but_usable_notifications_give_sane_events(
    fake: FakeGreenApi, gateway: GreenApiGateway
) -> None:
    instance_id, line = await linked(fake, gateway)
    huge = "x" * 1_000_000
    fake.push(
        instance_id,
        {
            "typeWebhook": "incomingMessageReceived",
            "idMessage": "G1",
            "timestamp": 10**30,
            "senderData": {
                "chatId": "79001234567:12@s.whatsapp.net",
                "sender": "79001234567:12@s.whatsapp.net",
                "senderName": "Eve\n\x00" + huge,
                "chatName": huge,
            },
            "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": huge}},
        },
    )
    fake.push(
        instance_id,
        {
            "typeWebhook": "incomingMessageReceived",
            "idMessage": "G2",
            "timestamp": "yesterday",
            "senderData": {"chatId": "101234567890123@lid", "sender": "79001234567@c.us"},
            "messageData": {"typeMessage": "brandNewMessage", "brandNewMessageData": [1, 2]},
        },
    )
    first = await only_inbound(gateway, line)
    assert (first.chat, first.sender, first.sent_at) == (PEER, PEER, None)
    assert first.sender_name is not None and first.sender_name.startswith("Eve ")
    assert len(first.sender_name) == 128 and "\n" not in first.sender_name
    assert len(first.text) == 65536
    second = await only_inbound(gateway, line)
    # An @lid chat id is no phone number: the answer goes to the sender's.
    assert (second.chat, second.kind, second.details) == (
        PEER,
        MessageKind.OTHER,
        "brandNewMessage",
    )


@pytest.mark.parametrize("envelope", ['{"body": {}}', '{"receiptId": true, "body": {}}', "[1]"])
async def test_a_reply_without_a_receipt_is_an_upstream_error(
    fake: FakeGreenApi, gateway: GreenApiGateway, envelope: str
) -> None:
    _, line = await linked(fake, gateway)
    fake.fail_next(
        "receiveNotification", status=200, body=envelope, content_type="application/json"
    )
    with pytest.raises(UpstreamError):
        await gateway.receive(line, None)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_WORDS = st.sampled_from(
    [
        "79001234567@c.us",
        "79001234567:3@c.us",
        "120363043968066561@g.us",
        "1@lid",
        "status@broadcast",
        "offer",
        "read",
        "noAccount",
        "notAuthorized",
        "textMessage",
        "imageMessage",
        "audioMessage",
        "locationMessage",
        "contactMessage",
    ]
)
_FIELD = _JSON | _WORDS
_NOTIFICATION = st.fixed_dictionaries(
    {
        "typeWebhook": st.sampled_from(
            [
                "incomingMessageReceived",
                "outgoingMessageReceived",
                "outgoingAPIMessageReceived",
                "outgoingMessageStatus",
                "stateInstanceChanged",
                "incomingCall",
                "deviceInfo",
            ]
        ),
    },
    optional={
        "idMessage": _FIELD,
        "timestamp": _FIELD,
        "status": _FIELD,
        "stateInstance": _FIELD,
        "from": _FIELD,
        "senderData": st.dictionaries(
            st.sampled_from(["chatId", "sender", "chatName", "senderName", "senderContactName"]),
            _FIELD,
        )
        | _JSON,
        "messageData": st.dictionaries(
            st.sampled_from(
                [
                    "typeMessage",
                    "textMessageData",
                    "extendedTextMessageData",
                    "fileMessageData",
                    "locationMessageData",
                    "contactMessageData",
                ]
            ),
            _FIELD
            | st.dictionaries(
                st.sampled_from(
                    [
                        "textMessage",
                        "text",
                        "downloadUrl",
                        "mimeType",
                        "caption",
                        "fileName",
                        "latitude",
                        "longitude",
                        "nameLocation",
                        "displayName",
                    ]
                ),
                _FIELD,
            ),
        )
        | _JSON,
    },
)


@settings(max_examples=400, deadline=None)
@given(_NOTIFICATION | _JSON)
def test_parse_notification_never_raises(body: Any) -> None:
    events = parse_notification(body)
    assert len(events) <= 1
    for event in events:
        if isinstance(event, Inbound):
            assert event.id and event.chat
            assert event.chat.endswith("@g.us") or event.chat.isdigit()
            assert event.sent_at is None or event.sent_at.tzinfo is UTC
        elif isinstance(event, DeliveryUpdate):
            assert event.message_id and (event.reason == "") == (
                event.delivery is not Delivery.FAILED
            )
        else:
            assert isinstance(event, StateChange) and event.raw


def test_parse_notification_reads_the_documented_example() -> None:
    body = {
        "typeWebhook": "incomingMessageReceived",
        "instanceData": {
            "idInstance": 1101000001,
            "wid": "79007654321@c.us",
            "typeInstance": "whatsapp",
        },
        "timestamp": 1717000100,
        "idMessage": "3A1F0C22B9D84E77",
        "senderData": {
            "chatId": "79001234567@c.us",
            "sender": "79001234567@c.us",
            "chatName": "Ivan",
            "senderName": "Ivan",
        },
        "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": "hi"}},
    }
    assert parse_notification(body) == [
        Inbound(
            id="3A1F0C22B9D84E77",
            chat=PEER,
            sender=PEER,
            sender_name=PEER_NAME,
            text="hi",
            sent_at=datetime.fromtimestamp(1717000100, tz=UTC),
        )
    ]
    status = {
        "typeWebhook": "outgoingMessageStatus",
        "chatId": "79001234567@c.us",
        "timestamp": 1717000000,
        "idMessage": "BAE5367A1C2B9F10",
        "status": "yellowCard",
        "sendByApi": True,
    }
    assert parse_notification(status) == [
        DeliveryUpdate("BAE5367A1C2B9F10", Delivery.FAILED, reason="yellowCard")
    ]
    state = {
        "typeWebhook": "stateInstanceChanged",
        "timestamp": 1717000000,
        "stateInstance": "blocked",
    }
    [change] = parse_notification(state)
    assert change == StateChange(
        LineState.BLOCKED, "blocked", at=datetime.fromtimestamp(1717000000, tz=UTC)
    )


# ---------------------------------------------------------------- the emulator over raw HTTP


async def test_emulator_queue_over_http(fake: FakeGreenApi) -> None:
    instance_id, token = fake.add_instance(phone=PHONE)
    base = f"/waInstance{instance_id}"
    async with httpx.AsyncClient(base_url=fake.url, timeout=5) as http:
        empty = await http.get(f"{base}/receiveNotification/{token}", params={"receiveTimeout": 0})
        assert (empty.status_code, empty.text, empty.headers["content-type"]) == (
            200,
            "null",
            "application/json; charset=utf-8",
        )
        message_id = fake.receive_text(instance_id, text="hi")
        head = (await http.get(f"{base}/ReceiveNotification/{token}")).json()
        body = head["body"]
        assert head["receiptId"] == 1 and body["typeWebhook"] == "incomingMessageReceived"
        assert body["instanceData"] == {
            "idInstance": instance_id,
            "wid": f"{PHONE}@c.us",
            "typeInstance": "whatsapp",
        }
        assert body["idMessage"] == message_id and isinstance(body["timestamp"], int)
        assert body["senderData"] == {
            "chatId": f"{PEER}@c.us",
            "chatName": PEER_NAME,
            "sender": f"{PEER}@c.us",
            "senderName": PEER_NAME,
            "senderContactName": "",
        }
        assert body["messageData"] == {
            "typeMessage": "textMessage",
            "textMessageData": {"textMessage": "hi"},
        }
        delete = f"{base}/deleteNotification/{token}"
        assert (await http.delete(f"{delete}/1")).json() == {"result": True}
        assert (await http.delete(f"{delete}/1")).json() == {"result": False}
        assert (await http.delete(f"{delete}/999")).json() == {"result": False}
        cases: list[tuple[str, str, int, str]] = [
            ("DELETE", f"{delete}/abc", 400, RECEIPT_NOT_A_NUMBER),
            ("DELETE", f"{delete}/", 400, RECEIPT_NOT_A_NUMBER),
            ("DELETE", delete, 400, RECEIPT_NOT_A_NUMBER),
            ("GET", f"{delete}/1", 404, "Not Found"),
            ("POST", f"{base}/receiveNotification/{token}", 404, "Not Found"),
            ("GET", f"{base}/receiveNotification/{token}/5", 404, "Not Found"),
            (
                "GET",
                f"{base}/receiveNotification/{token}?receiveTimeout=soon",
                400,
                "Bad Request Validation failed. Details: 'receiveTimeout' must be a number",
            ),
            ("GET", f"{base}/sendFileByUpload/{token}", 404, "Not Found"),
            ("GET", "/media/0123456789abcdef/none.jpg", 404, "Not Found"),
        ]
        for verb, path, status, text in cases:
            response = await http.request(verb, path)
            assert (response.status_code, response.text) == (status, text), path
        as_json = await http.post(
            f"{base}/sendFileByUpload/{token}", json={"chatId": f"{PEER}@c.us", "fileName": "a.jpg"}
        )
        assert as_json.text == "Bad Request Validation failed. Details: 'file' is required"
        upload = f"{base}/sendFileByUpload/{token}"
        for data, files, text in [
            ({"chatId": f"{PEER}@c.us"}, {"file": ("a", b"x", "image/png")}, "extension"),
            ({"chatId": f"{PEER}@c.us"}, {"file": ("a.png", b"", "image/png")}, "empty"),
            ({"chatId": "nobody"}, {"file": ("a.png", b"x", "image/png")}, "next formats"),
            ({"chatId": f"{PEER}@c.us", "x": "1"}, {"file": ("a.png", b"x", "image/png")}, "'x'"),
            (
                {"chatId": f"{PEER}@c.us", "file": "text"},
                {"other": ("a.png", b"x", "image/png")},
                "'other'",
            ),
        ]:
            refused = await http.post(upload, data=data, files=files)
            assert refused.status_code == 400 and text in refused.text, refused.text
        broken = await http.post(
            upload,
            content=b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nno end',
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
        assert (broken.status_code, broken.text) == (400, "bad request data")
        settings_body = (await http.get(f"{base}/getSettings/{token}")).json()
        assert settings_body["webhookUrl"] == "" and settings_body["stateWebhook"] == "yes"
        fake.set_webhook_url(instance_id, "https://hooks.example.com/x")
        assert (await http.get(f"{base}/getSettings/{token}")).json()["webhookUrl"] == (
            "https://hooks.example.com/x"
        )


async def test_emulator_switches_decide_what_is_queued(fake: FakeGreenApi) -> None:
    instance_id, _ = fake.add_instance(phone=PHONE)
    fake.set_settings(instance_id, incomingWebhook="no", outgoingMessageWebhook="no")
    fake.receive_text(instance_id)
    fake.phone_sent(instance_id)
    fake.receive_call(instance_id)
    assert fake.notifications(instance_id) == []
    fake.set_settings(instance_id, incomingWebhook="yes", incomingCallWebhook="no")
    fake.receive_call(instance_id)
    fake.receive_text(instance_id, text="now")
    assert [
        n.body["messageData"]["textMessageData"]["textMessage"]
        for n in fake.notifications(instance_id)
    ] == ["now"]
    with pytest.raises(AssertionError, match="getSettings has no"):
        fake.set_settings(instance_id, noSuchSwitch="yes")
    unlinked, _ = fake.add_instance()
    with pytest.raises(AssertionError, match="not linked"):
        fake.receive_text(unlinked)


async def test_a_held_poll_ends_when_the_emulator_stops() -> None:
    fake = FakeGreenApi(timeline=fast())
    fake.start()
    instance_id, token = fake.add_instance(phone=PHONE)
    url = f"{fake.url}/waInstance{instance_id}/receiveNotification/{token}"
    async with httpx.AsyncClient(timeout=10) as http:
        poll = asyncio.create_task(http.get(url, params={"receiveTimeout": 60}))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await asyncio.to_thread(fake.stop)
        response = await asyncio.wait_for(poll, 5)
    assert time.monotonic() - started < 3.0  # (it would have waited 60 s)
    assert response.text == "null"


async def test_a_poll_wakes_for_a_new_webhook_url_and_for_a_due_tick(fake: FakeGreenApi) -> None:
    instance_id, token = fake.add_instance(phone=PHONE)
    url = f"{fake.url}/waInstance{instance_id}/receiveNotification/{token}"
    async with httpx.AsyncClient(timeout=10) as http:
        poll = asyncio.create_task(http.get(url, params={"receiveTimeout": 30}))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(fake.set_webhook_url, instance_id, "https://x.example")
        assert (await asyncio.wait_for(poll, 5)).text == "null"
        fake.set_webhook_url(instance_id, "")
        fake.set_settings(instance_id, outgoingAPIMessageWebhook="no")
        gateway = GreenApiGateway(fake.url, timeout=2.0)
        try:
            line = Line(str(instance_id), token, {"api_url": fake.url})
            sent = await gateway.send_text(line, PEER, "hi")
        finally:
            await gateway.aclose()
        started = time.monotonic()
        first = (await http.get(url, params={"receiveTimeout": 30})).json()
        assert time.monotonic() - started < 3.0  # woke when `sent` fell due (0.02 s), not at 30 s
        assert (first["body"]["idMessage"], first["body"]["status"]) == (sent.message_id, "sent")
        assert first["body"]["sendByApi"] is True and first["body"]["chatId"] == f"{PEER}@c.us"


# ---------------------------------------------------------------- conformance: the vendor client


@pytest.fixture
def vendor_logs() -> Iterator[None]:
    """The vendor client adds a stderr handler per instance; take them off again."""
    logger = logging.getLogger("whatsapp-api-client-python")
    before = list(logger.handlers)
    yield
    for handler in logger.handlers[len(before) :]:
        logger.removeHandler(handler)


def test_official_client_receives_and_deletes(fake: FakeGreenApi, vendor_logs: None) -> None:
    """Green-API's own client (sync) on the queue, as a conformance probe."""
    instance_id, token = fake.add_instance(phone=PHONE)
    api = API.GreenAPI(str(instance_id), token, host=fake.url, media=fake.url)
    try:
        nothing = api.receiving.receiveNotification(0)
        assert (nothing.code, nothing.data) == (200, None)
        message_id = fake.receive_text(instance_id, text="hello")
        got = api.receiving.receiveNotification(0)
        assert got.code == 200 and got.data["body"]["idMessage"] == message_id
        deleted = api.receiving.deleteNotification(got.data["receiptId"])
        assert (deleted.code, deleted.data) == (200, {"result": True})
        assert fake.notifications(instance_id) == []
    finally:
        api.session.close()


async def test_official_async_client_uploads(
    fake: FakeGreenApi, tmp_path: Path, vendor_logs: None
) -> None:
    """The same client's upload (the sync variant leaves the file open): aiohttp's multipart."""
    instance_id, token = fake.add_instance(phone=PHONE)
    api = API.GreenAPI(str(instance_id), token, host=fake.url, media=fake.url)
    try:
        path = tmp_path / "picture.png"
        path.write_bytes(PNG)
        upload = await api.sending.sendFileByUploadAsync(f"{PEER}@c.us", str(path), caption="pic")
        assert upload.code == 200 and set(upload.data) == {"idMessage", "urlFile"}
        [record] = fake.sent
        assert (record.data, record.file_name, record.fields["caption"]) == (
            PNG,
            "picture.png",
            "pic",
        )
        async with httpx.AsyncClient() as http:
            assert (await http.get(upload.data["urlFile"])).content == PNG
    finally:
        api.session.close()
