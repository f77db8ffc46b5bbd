"""ITD two-way: the driver's `parse_push`, `send_file` and `download`, and `FakeItd`'s webhooks.

The pushes are caught by `Receiver`, a stand-in for the bot's HTTP server: it serves
`/hooks/itd/<secret>/<hook>` the way the bot does (the body goes to `parse_push`; 200 with the
events, 400 for an InvalidRequestError) and serves files the way the bot serves them under
PUBLIC_URL, on a 127.0.0.1 port of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.gateways.base import (
    Delivery,
    DeliveryUpdate,
    Inbound,
    InvalidRequestError,
    Line,
    MediaTooLargeError,
    MessageKind,
    OutgoingFile,
    Reception,
    UnsafeUrlError,
    UnsupportedError,
)
from bot.gateways.itd import ItdGateway
from bot.gateways.itd_push import parse_push
from tests.conftest import wait_until
from tests.fakes.itd import FakeItd, ItdTimeline
from tests.fakes.server import BackgroundServer, free_port

LINE = Line(instance_id="itd", token="")
SECRET = "s3cr3t-hook-path"
# Nothing moves on its own; tests move messages with `fake.age`.
SLOW = ItdTimeline(sent_seconds=10.0, delivered_seconds=20.0, read_seconds=30.0)
FAST = ItdTimeline(sent_seconds=0.05, delivered_seconds=0.1, read_seconds=0.15)
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"

# The seed's own example of the reception push (gateways.md B.3), word for word.
SEED_INCOMING: dict[str, Any] = {
    "uuid": "2a7907d9-612e-401b-bc54-ce1eab3dce3a",
    "accountPhone": "56932028245",
    "senderPhone": "56936858019",
    "content": "hola desde la web",
    "sendAt": 1582637824000,
    "messageType": "chat",
    "caption": "",
    "url": "http://content.itdchile.cl/files/1/(copia)_image.jpg",
    "title": "probando titulo",
    "description": "probando descripcion",
    "lng": "-70.554323",
    "lat": "-33.4036893",
    "direction": 1,
}
SEED_STATUS = {"sent_at": "26/12/2019 16:07", "status": "READ", "uuid": "f927f0fb-649f-45eb"}


# ---------------------------------------------------------------- a stand-in for the bot's server


@dataclass(frozen=True)
class Hit:
    method: str
    path: str
    content_type: str
    body: bytes
    answer: int


class Receiver:
    """Records every request; hooks answer 200/400 by `parse_push` (or the next of `answers`)."""

    def __init__(self) -> None:
        self._hits: list[Hit] = []
        self._events: list[Any] = []
        self.answers: list[int] = []  # forced statuses for the next hook calls, in turn
        self.files: dict[str, tuple[bytes, str]] = {}  # path → (bytes, mime)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = BackgroundServer(app)
        self.url = self._server.url
        self.incoming = f"{self.url}/hooks/itd/{SECRET}/incoming"
        self.status = f"{self.url}/hooks/itd/{SECRET}/status"

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    @property
    def hits(self) -> list[Hit]:
        return self._server.call(lambda: list(self._hits))

    def hooks(self, hook: str) -> list[Hit]:
        return [h for h in self.hits if h.path.endswith(f"/{hook}")]

    @property
    def events(self) -> list[Any]:
        return self._server.call(lambda: list(self._events))

    def serve(self, name: str, data: bytes, mime: str) -> str:
        path = f"/media/{name}"
        self._server.call(lambda: self.files.__setitem__(path, (data, mime)))
        return self.url + path

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        response = self._answer(request, body)
        self._hits.append(
            Hit(request.method, request.path, request.content_type, body, response.status)
        )
        return response

    def _answer(self, request: web.Request, body: bytes) -> web.Response:
        if request.path in self.files:
            data, mime = self.files[request.path]
            return web.Response(body=data, headers={"Content-Type": mime})
        match = re.fullmatch(rf"/hooks/itd/{SECRET}/(\w+)", request.path)
        if match is None or request.method != "POST":
            return web.Response(status=404)
        if self.answers:
            return web.Response(status=self.answers.pop(0))
        try:
            self._events.extend(parse_push(match.group(1), body))
        except InvalidRequestError:
            return web.Response(status=400, text="bad body")
        return web.Response(text="ok")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.stop()


def make_fake(receiver: Receiver | None, timeline: ItdTimeline = SLOW, **kw: Any) -> FakeItd:
    return FakeItd(
        timeline=timeline,
        incoming_hook_url=receiver.incoming if receiver else None,
        status_hook_url=receiver.status if receiver else None,
        push_retry_seconds=0.01,
        push_timeout=2.0,
        **kw,
    )


@pytest.fixture
def fake(receiver: Receiver) -> Iterator[FakeItd]:
    with make_fake(receiver) as server:
        yield server


@pytest.fixture
async def gateway(fake: FakeItd) -> AsyncIterator[ItdGateway]:
    gateway = ItdGateway(fake.url, fake.token)
    gateway.http.backoff = 0.001
    try:
        yield gateway
    finally:
        await gateway.aclose()


def inbound(body: Any) -> Inbound:
    [event] = parse_push("incoming", body)
    assert isinstance(event, Inbound)
    return event


def update(body: Any) -> DeliveryUpdate:
    [event] = parse_push("status", body)
    assert isinstance(event, DeliveryUpdate)
    return event


# ---------------------------------------------------------------- parse_push: incoming


def test_the_driver_is_push_and_sends_files_by_url() -> None:
    assert ItdGateway.reception is Reception.PUSH
    assert ItdGateway.files_by_url is True


def test_the_seeds_example_is_read() -> None:
    message = inbound(SEED_INCOMING)
    assert message == Inbound(
        id="2a7907d9-612e-401b-bc54-ce1eab3dce3a",
        chat="56936858019",
        sender="56936858019",
        kind=MessageKind.TEXT,
        text="hola desde la web",
        sent_at=datetime(2020, 2, 25, 13, 37, 4, tzinfo=UTC),
        from_me=True,  # the seed's example is an outbound one (direction 1)
    )
    assert not message.is_group
    # str and bytes bodies are decoded, as the server may hand them over undecoded
    assert (
        inbound(json.dumps(SEED_INCOMING)) == message == inbound(json.dumps(SEED_INCOMING).encode())
    )


def test_a_text_from_a_contact() -> None:
    body = {
        **SEED_INCOMING,
        "direction": 0,
        "senderName": "  Ana\n  María ",
        "senderPhone": "+56 9 3685 8019",
    }
    message = inbound(body)
    assert (message.chat, message.sender, message.sender_name) == (
        "56936858019",
        "56936858019",
        "Ana María",
    )
    assert not message.from_me
    assert inbound({**body, "direction": "1"}).from_me
    assert not inbound({**body, "direction": True}).from_me


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("image", MessageKind.IMAGE),
        ("video", MessageKind.VIDEO),
        ("document", MessageKind.DOCUMENT),
        ("audio", MessageKind.AUDIO),
        ("ptt", MessageKind.VOICE),
        ("sticker", MessageKind.STICKER),
        ("IMAGE", MessageKind.IMAGE),
    ],
)
def test_media_records(word: str, kind: MessageKind) -> None:
    body = {
        **SEED_INCOMING,
        "direction": 0,
        "messageType": word,
        "content": "",
        "caption": "mira esto",
        "url": "https://content.itdchile.cl/files/1/informe%20final.pdf",
        "mimetype": "Application/PDF; charset=binary",
        "thumb": "/9j/4AAQ",
    }
    message = inbound(body)
    assert message.kind is kind and message.kind.has_file == (kind is not MessageKind.STICKER)
    assert (message.text, message.media_url) == ("mira esto", body["url"])
    assert (message.file_name, message.mime_type) == ("informe final.pdf", "application/pdf")
    assert inbound({**body, "caption": "", "content": "texto"}).text == "texto"
    assert inbound({**body, "url": "file:///etc/passwd"}).media_url is None
    assert inbound({**body, "url": 42}).media_url is None
    assert inbound({**body, "mimetype": "<script>"}).mime_type is None


def test_a_location() -> None:
    body = {
        **SEED_INCOMING,
        "direction": 0,
        "messageType": "location",
        "content": "",
        "location_name": "Plaza de Armas",
    }
    message = inbound(body)
    assert message.kind is MessageKind.LOCATION and message.media_url is None
    assert message.details == "-33.4036893,-70.554323 Plaza de Armas"
    assert (
        inbound({**body, "lat": -33.5, "lng": -70.25, "location_name": None}).details
        == "-33.5,-70.25"
    )
    assert inbound({**body, "lat": "north", "lng": "nan"}).details == "Plaza de Armas"
    assert inbound({**body, "lat": "95", "lng": "0"}).details == "Plaza de Armas"


def test_an_unknown_type_is_other_with_its_word() -> None:
    message = inbound({**SEED_INCOMING, "messageType": "vcard", "content": "BEGIN:VCARD"})
    assert (message.kind, message.details, message.text) == (
        MessageKind.OTHER,
        "vcard",
        "BEGIN:VCARD",
    )
    assert inbound({**SEED_INCOMING, "messageType": None}).kind is MessageKind.TEXT


def test_a_group_message() -> None:
    body = {
        **SEED_INCOMING,
        "senderType": "group",
        "senderPhone": "56936858019-1582637707",
        "senderName": "Vecinos",
    }
    message = inbound(body)
    assert message.is_group
    assert (message.chat, message.sender, message.group_name, message.sender_name) == (
        "56936858019-1582637707@g.us",
        "",
        "Vecinos",
        None,
    )
    by_suffix = {**body, "senderType": "user", "senderPhone": "120363025246125486@g.us"}
    assert inbound(by_suffix).chat == "120363025246125486@g.us"
    with pytest.raises(InvalidRequestError):
        inbound({**body, "senderPhone": "@g.us"})


def test_ids_and_times() -> None:
    by_key = {**SEED_INCOMING, "uuid": "", "whatsappKey": "true_569@c.us_3EB0"}
    assert inbound(by_key).id == "true_569@c.us_3EB0"
    for missing in ({"uuid": ""}, {"uuid": None}, {"uuid": {"a": 1}}, {"uuid": "x" * 500}):
        with pytest.raises(InvalidRequestError):
            inbound({**SEED_INCOMING, **missing})
    seconds = inbound({**SEED_INCOMING, "sendAt": 1582637824})
    assert seconds.sent_at == datetime(2020, 2, 25, 13, 37, 4, tzinfo=UTC)
    assert inbound({**SEED_INCOMING, "sendAt": "1582637824000"}).sent_at == seconds.sent_at
    fallback = inbound({**SEED_INCOMING, "sendAt": None, "createdAt": 1582637707000})
    assert fallback.sent_at == datetime(2020, 2, 25, 13, 35, 7, tzinfo=UTC)
    for bad in ("ayer", -5, 1e300, float("inf"), True, [1]):
        assert inbound({**SEED_INCOMING, "sendAt": bad}).sent_at is None


def test_a_list_of_records_is_read_in_order() -> None:
    second = {**SEED_INCOMING, "uuid": "b", "content": "dos"}
    events = parse_push("incoming", [SEED_INCOMING, second])
    assert [e.text for e in events if isinstance(e, Inbound)] == ["hola desde la web", "dos"]
    assert parse_push("incoming", []) == []


# ---------------------------------------------------------------- parse_push: status


@pytest.mark.parametrize(
    ("status", "delivery", "reason"),
    [
        ("READ", Delivery.READ, ""),
        ("SENT", Delivery.SENT, ""),
        ("MESSAGE QUEUED", Delivery.QUEUED, ""),
        ("message_queued", Delivery.QUEUED, ""),
        ("DELIVERED", Delivery.DELIVERED, ""),
        ("FAILED", Delivery.FAILED, "FAILED"),
        ("ERROR SENDING", Delivery.FAILED, "ERROR SENDING"),
        ("SOMETHING NEW", Delivery.SENT, ""),  # sent_at is there: it went out
        (3, Delivery.READ, ""),
        ("2", Delivery.DELIVERED, ""),
        (1, Delivery.SENT, ""),
        (0, Delivery.QUEUED, ""),
        (-1, Delivery.FAILED, "-1"),
        (4, Delivery.READ, ""),
        (77, Delivery.SENT, ""),
    ],
)
def test_status_words_and_numbers(status: object, delivery: Delivery, reason: str) -> None:
    assert update({**SEED_STATUS, "status": status}) == DeliveryUpdate(
        message_id="f927f0fb-649f-45eb", delivery=delivery, reason=reason
    )


def test_the_seeds_status_example() -> None:
    assert update(SEED_STATUS).delivery is Delivery.READ
    assert update({"uuid": "k", "status": "NUEVO"}).delivery is Delivery.QUEUED  # no sent_at
    events = parse_push("status", [SEED_STATUS, {**SEED_STATUS, "status": "SENT"}])
    assert [e.delivery for e in events if isinstance(e, DeliveryUpdate)] == [
        Delivery.READ,
        Delivery.SENT,
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"sent_at": "26/12/2019 16:07", "status": "READ"},
        {"uuid": "", "status": "READ"},
        {"uuid": "k"},
        {"uuid": "k", "status": ""},
        {"uuid": "k", "status": None},
        {"uuid": "k", "status": True},
        {"uuid": "k", "status": ["READ"]},
        {"uuid": "k", "status": 3.5},
        {"uuid": ["k"], "status": "READ"},
    ],
)
def test_a_status_without_uuid_or_status_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError):
        parse_push("status", body)


# ---------------------------------------------------------------- parse_push: hostile bodies


@pytest.mark.parametrize(
    "body",
    [
        None,
        42,
        "null",
        "not json",
        b"\xff\xfe\x00",
        "[" * 100_000,
        "1" * 5000,
        ["a"],
        [SEED_INCOMING, 7],
        [SEED_INCOMING] * 101,
        {},
        {"uuid": 10**5000},
        {**SEED_INCOMING, "senderPhone": ""},
        {**SEED_INCOMING, "senderPhone": "1" * 40},
        {**SEED_INCOMING, "senderPhone": {"$ne": 1}},
    ],
)
def test_hostile_incoming_bodies_are_invalid_requests(body: object) -> None:
    with pytest.raises(InvalidRequestError):
        parse_push("incoming", body)


def test_unknown_hooks_are_refused() -> None:
    for hook in ("", "Incoming", "state", "../status"):
        with pytest.raises(InvalidRequestError):
            parse_push(hook, SEED_STATUS)


def test_huge_fields_are_cut() -> None:
    huge = "ñ" * 5_000_000
    message = inbound({**SEED_INCOMING, "content": huge, "senderName": huge, "url": huge})
    assert (len(message.text), len(message.sender_name or "")) == (65536, 128)
    assert message.media_url is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    *SEED_INCOMING,
    "senderName",
    "senderType",
    "whatsappKey",
    "mimetype",
    "location_name",
    "status",
    "sent_at",
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hook=st.sampled_from(["incoming", "status"]),
    values=st.dictionaries(st.sampled_from(FIELDS), JSON),
    base=st.booleans(),
)
def test_any_json_gives_events_or_an_invalid_request(
    hook: str, values: dict[str, Any], base: bool
) -> None:
    start = SEED_INCOMING if hook == "incoming" else SEED_STATUS
    body = {**start, **values} if base else values
    try:
        events = parse_push(hook, body)
    except InvalidRequestError:
        return
    [event] = events
    assert isinstance(event, Inbound if hook == "incoming" else DeliveryUpdate)


# ---------------------------------------------------------------- the emulator's reception push


async def test_a_received_text_is_pushed_with_the_seeds_shape(
    fake: FakeItd, receiver: Receiver
) -> None:
    key = fake.receive("56987654321", "hola", sender_name="Ana", at=1582637824.0)
    [hit] = await wait_until(lambda: receiver.hooks("incoming"))
    assert (hit.method, hit.content_type, hit.answer) == ("POST", "application/json", 200)
    body = json.loads(hit.body)
    assert list(body) == [
        "uuid",
        "accountPhone",
        "senderPhone",
        "senderName",
        "senderType",
        "content",
        "sendAt",
        "messageType",
        "caption",
        "url",
        "title",
        "description",
        "lng",
        "lat",
        "direction",
    ]
    assert body["uuid"] == key and body["sendAt"] == 1582637824000
    assert (body["accountPhone"], body["senderPhone"], body["senderName"]) == (
        "56123456789",
        "56987654321",
        "Ana",
    )
    assert (body["messageType"], body["senderType"], body["direction"]) == ("chat", "user", 0)
    assert receiver.events == [
        Inbound(
            id=key,
            chat="56987654321",
            sender="56987654321",
            sender_name="Ana",
            text="hola",
            sent_at=datetime(2020, 2, 25, 13, 37, 4, tzinfo=UTC),
        )
    ]
    [push] = await wait_until(lambda: fake.pushes)  # recorded once the answer came
    assert (push.kind, push.url, push.status, push.attempt, push.ok) == (
        "incoming",
        receiver.incoming,
        200,
        1,
        True,
    )
    assert push.body == body


async def test_a_received_file_is_served_by_the_fake_and_downloaded_by_the_driver(
    fake: FakeItd, receiver: Receiver, gateway: ItdGateway
) -> None:
    key = fake.receive("56987654321", file=(JPEG, "foto 1.jpg", "image/jpeg"), caption="¡mira!")
    await wait_until(lambda: receiver.events)
    body = json.loads(receiver.hooks("incoming")[0].body)
    assert (body["messageType"], body["mimetype"], body["caption"], body["content"]) == (
        "image",
        "image/jpeg",
        "¡mira!",
        "",
    )
    assert body["url"] == fake.file_url(key) and body["url"].startswith(
        fake.url.removesuffix("/api/v2/whatsapp") + "/files/"
    )
    [message] = receiver.events
    assert (message.kind, message.text, message.media_url, message.file_name) == (
        MessageKind.IMAGE,
        "¡mira!",
        body["url"],
        "foto 1.jpg",
    )
    download = await gateway.download(LINE, message.media_url, max_bytes=1_000_000)
    assert (download.data, download.mime, download.name) == (JPEG, "image/jpeg", "foto 1.jpg")
    [get] = fake.requests_to("/files/")
    assert get.method == "GET" and "authorization" not in get.headers  # the JWT stays home
    with pytest.raises(MediaTooLargeError):
        await gateway.download(LINE, message.media_url, max_bytes=100)


@pytest.mark.parametrize(
    ("mime", "word", "kind"),
    [
        ("video/mp4", "video", MessageKind.VIDEO),
        ("audio/mpeg", "audio", MessageKind.AUDIO),
        ("application/pdf", "document", MessageKind.DOCUMENT),
    ],
)
async def test_the_file_kind_follows_its_mime(
    fake: FakeItd, receiver: Receiver, mime: str, word: str, kind: MessageKind
) -> None:
    fake.receive("56987654321", file=(b"data", "x.bin", mime))
    fake.receive("56987654321", file=(b"ogg", "nota.ogg", "audio/ogg"), message_type="ptt")
    events = await wait_until(lambda: len(receiver.events) == 2 and receiver.events)
    assert [json.loads(h.body)["messageType"] for h in receiver.hooks("incoming")] == [word, "ptt"]
    assert [e.kind for e in events] == [kind, MessageKind.VOICE]


async def test_a_received_location_group_and_own_message(fake: FakeItd, receiver: Receiver) -> None:
    fake.receive("56987654321", lat=-33.4378, lng=-70.6504, location_name="La Moneda")
    fake.receive("56987654321", "hola grupo", group="56987654321-1582637707", sender_name="Vecinos")
    fake.receive("56987654321", "escrito en el teléfono", from_me=True)
    events = await wait_until(lambda: len(receiver.events) == 3 and receiver.events)
    bodies = [json.loads(h.body) for h in receiver.hooks("incoming")]
    assert (bodies[0]["messageType"], bodies[0]["lat"], bodies[0]["location_name"]) == (
        "location",
        "-33.4378",
        "La Moneda",
    )
    assert (bodies[1]["senderType"], bodies[1]["senderPhone"]) == (
        "group",
        "56987654321-1582637707",
    )
    assert bodies[2]["direction"] == 1
    location, group, own = events
    assert (location.kind, location.details) == (
        MessageKind.LOCATION,
        "-33.4378,-70.6504 La Moneda",
    )
    assert (group.chat, group.group_name, group.text) == (
        "56987654321-1582637707@g.us",
        "Vecinos",
        "hola grupo",
    )
    assert own.from_me and own.chat == "56987654321"


async def test_without_a_hook_url_nothing_is_pushed(receiver: Receiver) -> None:
    with make_fake(None, timeline=FAST) as fake:
        fake.receive("56987654321", "antes")
        gateway = ItdGateway(fake.url, fake.token)
        try:
            key = str((await gateway.send_text(LINE, "56912345678", "hola")).message_id)
            await wait_until(lambda: fake.status_of(key)["status"] == "READ")
        finally:
            await gateway.aclose()
        fake.status_hook_url = receiver.status  # configured later: the past is not pushed
        fake.incoming_hook_url = receiver.incoming
        fake.age(key, 60.0)
        fake.receive("56987654321", "ahora sí")
        # Queued behind any status push the past could have left: once it is recorded, so is
        # every push before it.
        fake.push_raw("status", "marker", retry=False)
        await wait_until(lambda: fake.pushes_of("incoming") and fake.pushes_of("status"))
        assert [p.body for p in fake.pushes_of("status")] == ["marker"]
        assert len(fake.pushes_of("incoming")) == 1
    assert [e.text for e in receiver.events] == ["ahora sí"]


# ---------------------------------------------------------------- the emulator's status push


async def test_status_changes_are_pushed_in_order_once_each(receiver: Receiver) -> None:
    with make_fake(receiver, timeline=FAST) as fake:
        gateway = ItdGateway(fake.url, fake.token)
        try:
            key = (await gateway.send_text(LINE, "56912345678", "hola")).message_id
            await wait_until(lambda: len(receiver.hooks("status")) == 2)
        finally:
            await gateway.aclose()
        await wait_until(lambda: fake.status_of(str(key))["delivered_at"])
        bodies = [json.loads(h.body) for h in receiver.hooks("status")]
    assert [(b["status"], b["uuid"]) for b in bodies] == [("SENT", key), ("READ", key)]
    assert all(list(b) == ["sent_at", "status", "uuid"] for b in bodies)
    assert all(re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", b["sent_at"]) for b in bodies)
    assert receiver.events == [
        DeliveryUpdate(message_id=str(key), delivery=Delivery.SENT),
        DeliveryUpdate(message_id=str(key), delivery=Delivery.READ),
    ]


async def test_message_queued_is_pushed_when_asked(receiver: Receiver) -> None:
    timeline = ItdTimeline(
        sent_seconds=0.05, delivered_seconds=0.1, read_seconds=None, push_queued=True
    )
    with make_fake(receiver, timeline=timeline) as fake:
        gateway = ItdGateway(fake.url, fake.token)
        try:
            await gateway.send_text(LINE, "56912345678", "hola")
            await wait_until(lambda: len(receiver.hooks("status")) == 2)
        finally:
            await gateway.aclose()
        words = [json.loads(h.body)["status"] for h in receiver.hooks("status")]
    assert words == ["MESSAGE QUEUED", "SENT"]  # never read: no READ


async def test_age_pushes_what_it_passes(
    fake: FakeItd, receiver: Receiver, gateway: ItdGateway
) -> None:
    key = str((await gateway.send_text(LINE, "56912345678", "hola")).message_id)
    fake.age(key, 30.0)
    await wait_until(lambda: len(receiver.hooks("status")) == 2)
    fake.age(key, 30.0)
    fake.receive("56987654321", "after")  # the next push: nothing more came before it
    await wait_until(lambda: receiver.hooks("incoming"))
    assert [json.loads(h.body)["status"] for h in receiver.hooks("status")] == ["SENT", "READ"]


async def test_a_failed_push_is_retried_and_order_is_kept(
    fake: FakeItd, receiver: Receiver
) -> None:
    receiver.answers = [503, 500]
    first = fake.receive("56987654321", "uno")
    second = fake.receive("56987654321", "dos")
    await wait_until(lambda: len(receiver.events) == 2 and len(fake.pushes) == 4)
    assert [e.id for e in receiver.events] == [first, second]
    assert [
        (p.body["uuid"], p.status, p.attempt) for p in fake.pushes if isinstance(p.body, dict)
    ] == [
        (first, 503, 1),
        (first, 500, 2),
        (first, 200, 3),
        (second, 200, 1),
    ]


async def test_an_unreachable_hook_is_tried_push_attempts_times(receiver: Receiver) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hooks/itd/x/incoming"
    with make_fake(None, push_attempts=3) as fake:
        fake.incoming_hook_url = dead
        fake.receive("56987654321", "uno")
        fake.incoming_hook_url = receiver.incoming
        fake.receive("56987654321", "dos")
        await wait_until(lambda: receiver.events and len(fake.pushes) == 4)
        pushes = fake.pushes
    assert [(p.url, p.status, p.attempt) for p in pushes] == [
        (dead, None, 1),
        (dead, None, 2),
        (dead, None, 3),
        (receiver.incoming, 200, 1),
    ]
    assert all(p.error for p in pushes[:3]) and pushes[3].error is None
    assert [e.text for e in receiver.events] == ["dos"]


async def test_push_raw_sends_hostile_bodies_as_they_are(fake: FakeItd, receiver: Receiver) -> None:
    fake.push_raw("incoming", "not json", retry=False)
    fake.push_raw("status", b"\xff\x00", content_type="text/plain", retry=False)
    fake.push_raw("status", {"uuid": "k", "status": 3})
    fake.push_raw("incoming", [SEED_INCOMING], url=receiver.incoming)
    # The fake records a push once it has the answer, after the receiver's hit: wait for both.
    await wait_until(lambda: len(receiver.hits) == 4 and len(fake.pushes) == 4)
    raw = {h.body: (h.content_type, h.answer) for h in receiver.hits}
    assert raw[b"not json"] == ("application/json", 400)
    assert raw[b"\xff\x00"] == ("text/plain", 400)
    assert raw[b'{"uuid":"k","status":3}'] == ("application/json", 200)
    assert sorted(p.attempt for p in fake.pushes) == [1, 1, 1, 1]  # retry=False: one try
    assert DeliveryUpdate(message_id="k", delivery=Delivery.READ) in receiver.events
    with make_fake(None) as bare, pytest.raises(AssertionError):
        bare.push_raw("status", {})


# ---------------------------------------------------------------- send_file: ITD fetches the URL


@pytest.mark.parametrize(
    ("name", "mime", "content_type"),
    [
        ("photo.jpg", "image/jpeg", "IMAGE"),
        ("no-extension", "image/png", "IMAGE"),
        ("scan.png", "application/octet-stream", "IMAGE"),  # the extension rule
        ("informe.pdf", "application/pdf", "FILE"),
        ("voice.ogg", "audio/ogg", "FILE"),
    ],
)
async def test_send_file_sends_the_url_and_itd_fetches_the_bytes(
    fake: FakeItd, receiver: Receiver, gateway: ItdGateway, name: str, mime: str, content_type: str
) -> None:
    url = receiver.serve(name, JPEG, mime)
    file = OutgoingFile(data=JPEG, name=name, mime=mime, url=url)
    sent = await gateway.send_file(LINE, "56912345678", file, caption="para ti")
    [message] = fake.sent
    assert sent.message_id == message.uuid
    assert (message.content_type, message.content, message.caption) == (
        content_type,
        url,
        "para ti",
    )
    assert (message.prefijo, message.phone) == ("56", "912345678")
    await wait_until(lambda: fake.message(message.uuid).fetch_done)
    fetched = fake.message(message.uuid)
    assert (fetched.fetched, fetched.fetch_status, fetched.fetch_error) == (JPEG, 200, None)
    assert fetched.fetch_content_type == mime
    assert [(h.method, h.path) for h in receiver.hits] == [("GET", f"/media/{name}")]


async def test_send_file_without_a_url_is_unsupported(fake: FakeItd, gateway: ItdGateway) -> None:
    with pytest.raises(UnsupportedError) as caught:
        await gateway.send_file(
            LINE, "56912345678", OutgoingFile(data=JPEG, name="a.jpg", mime="image/jpeg")
        )
    assert "PUBLIC_URL" in caught.value.detail
    assert fake.requests == []


async def test_a_failed_fetch_is_recorded(
    fake: FakeItd, receiver: Receiver, gateway: ItdGateway
) -> None:
    missing = OutgoingFile(
        data=b"x", name="gone.pdf", mime="application/pdf", url=f"{receiver.url}/media/gone.pdf"
    )
    dead = OutgoingFile(
        data=b"x", name="a.pdf", mime="application/pdf", url=f"http://127.0.0.1:{free_port()}/a.pdf"
    )
    link = await gateway.send_link(LINE, "56912345678", f"{receiver.url}/page")
    first = str((await gateway.send_file(LINE, "56912345678", missing)).message_id)
    second = str((await gateway.send_file(LINE, "56912345678", dead)).message_id)
    await wait_until(lambda: fake.message(first).fetch_done and fake.message(second).fetch_done)
    gone, refused = fake.message(first), fake.message(second)
    assert (gone.fetch_status, gone.fetched, gone.fetch_error) == (404, None, None)
    assert (refused.fetch_status, refused.fetched) == (None, None) and refused.fetch_error
    assert not fake.message(str(link.message_id)).fetch_done  # LINK is never fetched
    assert fake.status_of(first)["status"] == "MESSAGE QUEUED"  # the timeline goes on regardless


async def test_a_group_is_refused_before_any_call(fake: FakeItd, gateway: ItdGateway) -> None:
    with pytest.raises(UnsupportedError):
        await gateway.send_text(LINE, "120363025246125486@g.us", "hola")
    assert fake.requests == []


# ---------------------------------------------------------------- download: only ITD's origin is trusted


async def test_a_private_url_off_the_gateways_origin_is_never_fetched(
    receiver: Receiver, gateway: ItdGateway
) -> None:
    url = receiver.serve("secret.jpg", JPEG, "image/jpeg")
    for unsafe in (url, "file:///etc/passwd", "http://169.254.169.254/latest/meta-data/"):
        with pytest.raises(UnsafeUrlError):
            await gateway.download(LINE, unsafe, max_bytes=1_000_000)
    assert receiver.hits == []
