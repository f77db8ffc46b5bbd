"""The wapp.im driver two ways, against the emulator: polling `messages` with a cursor, quoting,
`sendFile` with the bytes as a data URI, and downloading the files of incoming messages safely."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from bot.gateways.base import (
    AuthError,
    Inbound,
    InvalidRequestError,
    Line,
    LineState,
    MediaTooLargeError,
    MessageKind,
    NetworkError,
    NotFoundError,
    OutgoingFile,
    Reception,
    UnsafeUrlError,
    UpstreamError,
)
from bot.gateways.http import GatewayHttp
from bot.gateways.wappim import WappimGateway
from tests.fakes.server import BackgroundServer
from tests.fakes.wappim import FakeWappim, WappimTimeline

GROUP = "120363041234567890@g.us"
PHOTO = bytes(range(256)) * 40  # every byte value: nothing may be re-encoded on the way
MB = 1024 * 1024


@pytest.fixture
def fake() -> Iterator[FakeWappim]:
    timeline = WappimTimeline(
        init_seconds=0.05, first_qr_seconds=10, rotate_seconds=10, max_qrs=3, pair_seconds=0.05
    )
    with FakeWappim(timeline=timeline, seed=11) as server:
        yield server


@pytest.fixture
async def gateway(fake: FakeWappim) -> AsyncIterator[WappimGateway]:
    http = GatewayHttp(
        fake.url, name="wapp.im", headers={"X-Tasktest-Token": fake.token}, backoff=0.01
    )
    driver = WappimGateway(http, crm="TEST", domain="test")
    yield driver
    await driver.aclose()


async def _until(gateway: WappimGateway, line: Line, wanted: LineState) -> None:
    """Poll the line's status, as the bot does, until it is `wanted`."""
    async with asyncio.timeout(5):
        while True:
            if (await gateway.status(line)).state is wanted:
                return
            await asyncio.sleep(0.02)


@pytest.fixture
async def line(fake: FakeWappim, gateway: WappimGateway) -> Line:
    """A linked line: the account is Иван, 79161234567."""
    acquired = await gateway.acquire()
    await gateway.start(acquired)
    await _until(gateway, acquired, LineState.AWAITING_QR)
    fake.scan(int(acquired.instance_id), name="Иван", number="79161234567")
    await _until(gateway, acquired, LineState.AUTHORIZED)
    return acquired


@pytest.fixture
def elsewhere() -> Iterator[tuple[str, list[str]]]:
    """Another server on 127.0.0.1 (not the gateway's origin): its URL and the paths it was asked."""
    asked: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.Response(body=b"internal secrets", content_type="image/png")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    server = BackgroundServer(app)
    server.start()
    yield server.url, asked
    server.stop()


def instance(line: Line) -> int:
    return int(line.instance_id)


# ---------------------------------------------------------------- receive


async def test_wappim_is_polled(gateway: WappimGateway) -> None:
    assert gateway.reception is Reception.POLL


async def test_receive_text_then_nothing_new(
    fake: FakeWappim, gateway: WappimGateway, line: Line
) -> None:
    first = await gateway.receive(line, None)
    assert (first.events, first.cursor, first.ack) == ((), "0", None)
    assert "lastMessageNumber" not in fake.requests_to("/messages")[-1].query

    message_id = fake.receive(
        instance(line), phone="79001234567", body="привет", sender_name="Oleg"
    )
    received = await gateway.receive(line, first.cursor)
    assert fake.requests_to("/messages")[-1].query["lastMessageNumber"] == "0"
    assert received.cursor == "1"
    (event,) = received.events
    assert isinstance(event, Inbound)
    assert event == Inbound(
        id=message_id,
        chat="79001234567",
        sender="79001234567",
        sender_name="Oleg",
        kind=MessageKind.TEXT,
        text="привет",
        sent_at=event.sent_at,
    )
    assert event.sent_at is not None
    assert abs(event.sent_at - datetime.now(UTC)) < timedelta(seconds=5)

    quiet = await gateway.receive(line, received.cursor)
    assert (quiet.events, quiet.cursor) == ((), "1")


async def test_receive_a_group_message(
    fake: FakeWappim, gateway: WappimGateway, line: Line
) -> None:
    fake.receive(
        instance(line),
        phone="79005550000",
        sender_name="Olga",
        body="hi all",
        group=("120363041234567890", "Family"),
    )
    (event,) = (await gateway.receive(line, None)).events
    assert isinstance(event, Inbound)
    assert (event.chat, event.sender, event.sender_name, event.group_name, event.text) == (
        GROUP,
        "79005550000",
        "Olga",
        "Family",
        "hi all",
    )
    assert event.is_group


async def test_from_me_covers_the_phone_and_what_the_bot_sent(
    fake: FakeWappim, gateway: WappimGateway, line: Line
) -> None:
    on_phone = fake.receive(instance(line), phone="79001234567", body="typed", from_me=True)
    sent = await gateway.send_text(line, "79001234567", "from the bot")
    events = (await gateway.receive(line, None)).events
    assert [(e.id, e.from_me, e.sender) for e in events if isinstance(e, Inbound)] == [
        (on_phone, True, "79161234567"),
        (sent.message_id, True, "79161234567"),
    ]


async def test_receive_media_and_download_it(
    fake: FakeWappim, gateway: WappimGateway, line: Line
) -> None:
    fake.receive(
        instance(line), type="image", caption="look", file=(PHOTO, "photo.jpg", "image/jpeg")
    )
    fake.receive(instance(line), type="ptt", file=(b"OggS voice", "voice.ogg", "audio/ogg"))
    image, voice = (await gateway.receive(line, None)).events
    assert isinstance(image, Inbound) and isinstance(voice, Inbound)
    assert (image.kind, image.text, voice.kind, voice.text) == (
        MessageKind.IMAGE,
        "look",
        MessageKind.VOICE,
        "",
    )
    assert image.media_url is not None and image.media_url.startswith(fake.origin + "/files/")
    download = await gateway.download(line, image.media_url, max_bytes=20 * MB)
    assert (download.data, download.mime, download.name) == (PHOTO, "image/jpeg", "photo.jpg")
    assert voice.media_url is not None
    assert (await gateway.download(line, voice.media_url, max_bytes=MB)).data == b"OggS voice"
    # The gateway's own files need neither the gateway header nor the instance token.
    fetched = fake.requests_to("/files/")
    assert len(fetched) == 2
    assert all("x-tasktest-token" not in r.headers and not r.query for r in fetched)


async def test_the_cursor_pages_through_a_backlog(
    fake: FakeWappim, gateway: WappimGateway, line: Line
) -> None:
    ids = [fake.receive(instance(line), body=f"m{n}") for n in range(130)]  # the page is 100
    cursor: str | None = None
    seen: list[str] = []
    for expected_cursor, expected_count in (("100", 100), ("130", 30), ("130", 0)):
        received = await gateway.receive(line, cursor)
        assert (received.cursor, len(received.events)) == (expected_cursor, expected_count)
        seen += [e.id for e in received.events if isinstance(e, Inbound)]
        cursor = received.cursor
    assert seen == ids


async def test_an_inclusive_bound_gives_a_message_twice(
    fake: FakeWappim, gateway: WappimGateway, line: Line
) -> None:
    fake.inclusive_bound = True
    message_id = fake.receive(instance(line))
    first = await gateway.receive(line, None)
    again = await gateway.receive(line, first.cursor)
    # The driver passes the cursor back as it came; de-duplicating by id is the caller's job.
    assert [e.id for e in first.events if isinstance(e, Inbound)] == [message_id]
    assert [e.id for e in again.events if isinstance(e, Inbound)] == [message_id]
    assert first.cursor == again.cursor == "1"


async def test_receive_on_a_wiped_line_is_an_auth_error(
    fake: FakeWappim, gateway: WappimGateway, line: Line
) -> None:
    fake.wipe(instance(line))
    with pytest.raises(AuthError) as caught:
        await gateway.receive(line, "3")
    assert caught.value.line_lost
    assert line.token not in str(caught.value)


async def test_receive_outages_are_retriable(
    fake: FakeWappim, gateway: WappimGateway, line: Line
) -> None:
    fake.fail_next("/messages", status=502, times=3)  # the first try and both retries
    with pytest.raises(UpstreamError) as caught:
        await gateway.receive(line, "0")
    assert caught.value.retriable
    fake.malformed_next("/messages")
    with pytest.raises(UpstreamError):
        await gateway.receive(line, "0")
    fake.fail_next("/messages", times=1)  # one blip: a poll is a read, retried at once
    assert (await gateway.receive(line, "0")).cursor == "0"


# ---------------------------------------------------------------- send


async def test_send_text_quotes_and_addresses_groups(
    fake: FakeWappim, gateway: WappimGateway, line: Line
) -> None:
    quoted = fake.receive(instance(line), group=("120363041234567890", "Family"))
    sent = await gateway.send_text(line, GROUP, "answer", quoted=quoted)
    record = fake.sent[-1]
    assert (record.chat_id, record.body, record.message_id) == (GROUP, "answer", sent.message_id)
    assert record.fields["chatId"] == GROUP
    assert "phone" not in record.fields
    assert record.fields["quotedMsgId"] == quoted

    await gateway.send_text(line, "79001234567", "plain")
    assert fake.sent[-1].fields == {"token": line.token, "phone": "79001234567", "body": "plain"}


async def test_send_file_delivers_the_exact_bytes(
    fake: FakeWappim, gateway: WappimGateway, line: Line
) -> None:
    file = OutgoingFile(data=PHOTO, name="photo.jpg", mime="image/jpeg")
    sent = await gateway.send_file(
        line, "79001234567", file, caption="for you", quoted="false_79001234567@c.us_AB"
    )
    record = fake.sent_files[-1]
    assert (record.chat_id, record.filename, record.mime, record.data, record.caption) == (
        "79001234567@c.us",
        "photo.jpg",
        "image/jpeg",
        PHOTO,
        "for you",
    )
    assert record.message_id == sent.message_id
    assert record.fields["quotedMsgId"] == "false_79001234567@c.us_AB"
    assert fake.requests_to("sendFile")[-1].headers["content-type"] == "application/json"

    await gateway.send_file(line, GROUP, OutgoingFile(data=b"%PDF-1.7", name="a.pdf", mime="x"))
    record = fake.sent_files[-1]
    assert (record.chat_id, record.mime, record.data) == (
        GROUP,
        "application/octet-stream",
        b"%PDF-1.7",
    )
    assert not {"caption", "quotedMsgId", "phone"} & set(record.fields)


async def test_send_file_refused_or_unreadable(
    fake: FakeWappim, gateway: WappimGateway, line: Line
) -> None:
    nameless = OutgoingFile(data=b"x", name="", mime="text/plain")
    with pytest.raises(InvalidRequestError, match="filename is required"):
        await gateway.send_file(line, "79001234567", nameless)
    fake.fail_next("sendFile", status=200, body="<html>ok</html>")
    file = OutgoingFile(data=b"x", name="a.txt", mime="text/plain")
    with pytest.raises(NetworkError) as caught:
        await gateway.send_file(line, "79001234567", file)
    assert caught.value.request_sent  # maybe sent: never repeated on its own
    assert len(fake.requests_to("sendFile")) == 2


# ---------------------------------------------------------------- download


async def test_download_refuses_another_local_server(
    fake: FakeWappim,
    gateway: WappimGateway,
    line: Line,
    elsewhere: tuple[str, list[str]],
) -> None:
    url, asked = elsewhere
    fake.receive(instance(line), type="image", body=f"{url}/files/photo.jpg")
    (event,) = (await gateway.receive(line, None)).events
    assert isinstance(event, Inbound) and event.media_url == f"{url}/files/photo.jpg"
    for target in (event.media_url, "http://169.254.169.254/latest/meta-data/", "file:///etc/x"):
        with pytest.raises(UnsafeUrlError):
            await gateway.download(line, target, max_bytes=MB)
    assert asked == []


async def test_download_of_an_expired_file_is_not_found(
    fake: FakeWappim, gateway: WappimGateway, line: Line
) -> None:
    fake.receive(instance(line), type="document", file=(b"%PDF", "a.pdf", "application/pdf"))
    (event,) = (await gateway.receive(line, None)).events
    assert isinstance(event, Inbound) and event.media_url is not None
    fake.expire_files()
    with pytest.raises(NotFoundError):
        await gateway.download(line, event.media_url, max_bytes=MB)


async def test_download_failing_upstream_is_retriable(
    fake: FakeWappim, gateway: WappimGateway, line: Line
) -> None:
    fake.receive(instance(line), type="video", file=(b"mp4", "v.mp4", "video/mp4"))
    (event,) = (await gateway.receive(line, None)).events
    assert isinstance(event, Inbound) and event.media_url is not None
    fake.fail_next("/files/", status=500)
    with pytest.raises(UpstreamError) as caught:
        await gateway.download(line, event.media_url, max_bytes=MB)
    assert caught.value.retriable
    assert (await gateway.download(line, event.media_url, max_bytes=MB)).data == b"mp4"


async def test_download_over_the_limit_is_too_large(
    fake: FakeWappim, gateway: WappimGateway, line: Line
) -> None:
    fake.receive(instance(line), type="video", file=(b"v" * 2048, "v.mp4", "video/mp4"))
    (event,) = (await gateway.receive(line, None)).events
    assert isinstance(event, Inbound) and event.media_url is not None
    with pytest.raises(MediaTooLargeError):
        await gateway.download(line, event.media_url, max_bytes=2047)
    assert len((await gateway.download(line, event.media_url, max_bytes=2048)).data) == 2048
