"""`WhinmovillaGateway` end to end against `FakeWhinmovilla` (seed 003), plus the emulator itself."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest

from bot.gateways.base import (
    Account,
    AuthError,
    Enrolment,
    InvalidRequestError,
    Line,
    LineState,
    NoFreeLinesError,
    NotFoundError,
    UnsupportedError,
    UpstreamError,
)
from bot.gateways.whinmovilla import (
    LINE_KEYS,
    SLOT_KEYS,
    STATUS_KEYS,
    WhinmovillaGateway,
    parse_pairs,
    parse_qr,
)
from bot.logs import secrets
from bot.metrics import REGISTRY
from tests.fakes.whinmovilla import DEFAULT_LINE, FakeWhinmovilla, WhinmovillaTimeline

SHAPES = ["pairs", "records", "object"]
FORMATS = ["content", "b64content", "png_b64", "data_uri"]


@pytest.fixture
def fake() -> Iterator[FakeWhinmovilla]:
    timeline = WhinmovillaTimeline(qr_rotate_seconds=5.0)
    with FakeWhinmovilla(slots=3, timeline=timeline, seed=7) as server:
        yield server


def make_gateway(fake: FakeWhinmovilla, token: str | None = None) -> WhinmovillaGateway:
    gateway = WhinmovillaGateway(fake.url, fake.token if token is None else token)
    gateway.http.backoff = 0.001  # keep the transport's retries instant
    return gateway


@pytest.fixture
async def gateway(fake: FakeWhinmovilla) -> AsyncIterator[WhinmovillaGateway]:
    gateway = make_gateway(fake)
    try:
        yield gateway
    finally:
        await gateway.aclose()


async def linked(fake: FakeWhinmovilla, gateway: WhinmovillaGateway, phone: str) -> Line:
    """Acquire a slot, show its QR, and scan it with `phone`."""
    line = await gateway.acquire()
    await gateway.start(line)
    status = await gateway.status(line)
    assert status.qr is not None
    fake.scan(line.instance_id, phone, qr=status.qr.content)
    assert (await gateway.status(line)).state is LineState.AUTHORIZED
    return line


# ---------------------------------------------------------------- acquire


@pytest.mark.parametrize("shape", SHAPES)
async def test_acquire_takes_the_first_available_slot(
    fake: FakeWhinmovilla, gateway: WhinmovillaGateway, shape: Any
) -> None:
    assert (WhinmovillaGateway.name, WhinmovillaGateway.enrolment) == (
        "whinmovilla",
        Enrolment.SPARE,
    )
    fake.list_shape = shape
    first, second, _ = fake.slot_ids
    fake.bind(first, "34600000001")
    line = await gateway.acquire()
    assert line == Line(instance_id=second, token="")
    assert re.fullmatch(r"[A-Za-z0-9]{8}", line.instance_id)
    [call] = fake.requests
    assert (call.method, call.path) == ("GET", "/slots/available")
    assert call.headers["authorization"] == f"Bearer {fake.token}"


async def test_acquire_does_not_hand_the_same_slot_out_twice(
    fake: FakeWhinmovilla, gateway: WhinmovillaGateway
) -> None:
    lines = [await gateway.acquire() for _ in range(3)]
    assert [line.instance_id for line in lines] == fake.slot_ids
    with pytest.raises(NoFreeLinesError):
        await gateway.acquire()
    await gateway.release(lines[1])  # nothing bound: no /kill, but the hold is gone
    assert fake.requests_to("/kill") == []
    assert (await gateway.acquire()).instance_id == lines[1].instance_id


async def test_no_available_slot_is_no_free_lines(
    fake: FakeWhinmovilla, gateway: WhinmovillaGateway
) -> None:
    for n, slot in enumerate(fake.slot_ids):
        fake.bind(slot, f"3460000000{n}")
    with pytest.raises(NoFreeLinesError):
        await gateway.acquire()


# ---------------------------------------------------------------- QR and linking


@pytest.mark.parametrize("qr_format", FORMATS)
async def test_the_qr_decodes_to_the_emulators_content(
    fake: FakeWhinmovilla, gateway: WhinmovillaGateway, qr_format: Any
) -> None:
    fake.qr_format = qr_format
    line = await gateway.acquire()
    status = await gateway.status(line)
    assert (status.state, status.raw) == (LineState.AWAITING_QR, "available")
    assert status.qr is not None and status.qr.image is None
    assert status.qr.content == fake.current_qr(line.instance_id)
    assert (status.qr.content or "").startswith("2@")


async def test_enroll_is_called_again_only_when_the_qr_is_old() -> None:
    with FakeWhinmovilla(timeline=WhinmovillaTimeline(qr_rotate_seconds=0.3)) as fake:
        gateway = make_gateway(fake)
        gateway.qr_refresh_seconds = 0.3
        try:
            line = await gateway.acquire()
            first = await gateway.status(line)
            again = await gateway.status(line)
            assert again.qr == first.qr
            assert len(fake.requests_to("/enroll/")) == 1
            await asyncio.sleep(0.32)
            rotated = await gateway.status(line)
            assert len(fake.requests_to("/enroll/")) == 2
            assert rotated.qr is not None and first.qr is not None
            assert rotated.qr.content != first.qr.content
            assert rotated.qr.content == fake.current_qr(line.instance_id)
        finally:
            await gateway.aclose()


async def test_concurrent_polls_share_one_enroll(
    fake: FakeWhinmovilla, gateway: WhinmovillaGateway
) -> None:
    line = await gateway.acquire()
    fake.delay_next("/enroll/", 0.05)
    statuses = await asyncio.gather(*(gateway.status(line) for _ in range(3)))
    assert len({s.qr for s in statuses}) == 1
    assert len(fake.requests_to("/enroll/")) == 1


@pytest.mark.parametrize("shape", SHAPES)
async def test_scan_links_the_slot(
    fake: FakeWhinmovilla, gateway: WhinmovillaGateway, shape: Any
) -> None:
    fake.list_shape = shape
    line = await linked(fake, gateway, "34666123456")
    status = await gateway.status(line)
    assert (status.state, status.raw, status.qr) == (LineState.AUTHORIZED, "active", None)
    assert await gateway.account(line) == Account(name=None, phone="34666123456")
    assert await gateway.details(line) == {"slot": line.instance_id}
    assert fake.slot(line.instance_id).status == "active"


async def test_pairing_takes_a_moment() -> None:
    timeline = WhinmovillaTimeline(qr_rotate_seconds=5.0, pair_seconds=0.2)
    with FakeWhinmovilla(timeline=timeline) as fake:
        gateway = make_gateway(fake)
        try:
            line = await gateway.acquire()
            await gateway.status(line)
            fake.scan(line.instance_id)
            assert (await gateway.status(line)).state is LineState.AWAITING_QR
            await asyncio.sleep(0.21)
            assert (await gateway.status(line)).state is LineState.AUTHORIZED
        finally:
            await gateway.aclose()


# ---------------------------------------------------------------- sleep, resume, kill


async def test_pause_and_resume(fake: FakeWhinmovilla, gateway: WhinmovillaGateway) -> None:
    line = await linked(fake, gateway, DEFAULT_LINE)
    await gateway.pause(line)
    assert fake.slot(line.instance_id).status == "sleeping"
    status = await gateway.status(line)
    assert (status.state, status.raw) == (LineState.SLEEPING, "sleeping")
    with pytest.raises(InvalidRequestError) as caught:
        await gateway.pause(line)  # already asleep: 422 with the gateway's text
    assert "is not active" in caught.value.detail
    await gateway.resume(line)
    assert (await gateway.status(line)).state is LineState.AUTHORIZED
    with pytest.raises(InvalidRequestError) as caught:
        await gateway.resume(line)
    assert "is not sleeping" in caught.value.detail
    assert [r.path for r in fake.requests_to("id/")] == [
        f"/sleepid/{line.instance_id}",
        f"/sleepid/{line.instance_id}",
        f"/resumeid/{line.instance_id}",
        f"/resumeid/{line.instance_id}",
    ]


async def test_logout_kills_the_line(fake: FakeWhinmovilla, gateway: WhinmovillaGateway) -> None:
    line = await linked(fake, gateway, "34666123456")
    await gateway.logout(line)
    assert fake.killed == ["34666123456"]
    assert [r.path for r in fake.requests_to("/kill/")] == ["/kill/34666123456"]
    assert fake.slot(line.instance_id).status == "available"
    enrolls = len(fake.requests_to("/enroll/"))
    status = await gateway.status(line)
    assert (status.state, status.qr) == (LineState.LOGGED_OUT, None)
    assert len(fake.requests_to("/enroll/")) == enrolls  # nobody else's QR was rotated
    await gateway.release(line)  # nothing bound any more: nothing to kill
    assert len(fake.requests_to("/kill/")) == 1
    assert await gateway.account(line) == Account(name=None, phone=None)


async def test_a_fresh_start_shows_a_qr_again(
    fake: FakeWhinmovilla, gateway: WhinmovillaGateway
) -> None:
    line = await linked(fake, gateway, "34666123456")
    fake.unlink_from_phone(line.instance_id)
    assert (await gateway.status(line)).state is LineState.LOGGED_OUT
    await gateway.start(line)
    status = await gateway.status(line)
    assert status.state is LineState.AWAITING_QR
    assert status.qr is not None and status.qr.content == fake.current_qr(line.instance_id)


async def test_the_line_enrolled_elsewhere_leaves_the_first_slot(
    fake: FakeWhinmovilla, gateway: WhinmovillaGateway
) -> None:
    first = await linked(fake, gateway, "34666123456")
    second = await linked(fake, gateway, "34666123456")
    assert first.instance_id != second.instance_id
    assert (await gateway.status(first)).state is LineState.LOGGED_OUT
    assert await gateway.account(second) == Account(name=None, phone="34666123456")
    assert fake.slot(first.instance_id).line == ""


async def test_release_of_a_linked_slot_kills_it(
    fake: FakeWhinmovilla, gateway: WhinmovillaGateway
) -> None:
    line = await linked(fake, gateway, "34666123456")
    await gateway.logout(line)
    await gateway.release(line)
    assert fake.killed == ["34666123456"]
    assert (await gateway.acquire()).instance_id == line.instance_id  # hold dropped


# ---------------------------------------------------------------- sending


async def test_sending_is_unsupported(fake: FakeWhinmovilla, gateway: WhinmovillaGateway) -> None:
    line = await linked(fake, gateway, DEFAULT_LINE)
    before = len(fake.requests)
    with pytest.raises(UnsupportedError) as caught:
        await gateway.send_text(line, "34911222333", "hola")
    assert caught.value.detail == "whinmovilla documents no send endpoint"
    with pytest.raises(UnsupportedError):
        await gateway.send_media(line, "34911222333", "https://x.example/a.png")
    with pytest.raises(UnsupportedError):
        await gateway.delivery(line, "anything")
    assert len(fake.requests) == before


# ---------------------------------------------------------------- errors


async def test_bad_tokens_are_auth_errors(fake: FakeWhinmovilla) -> None:
    for token in ("wrong-token", ""):  # 403 and 401
        gateway = make_gateway(fake, token=token)
        try:
            with pytest.raises(AuthError):
                await gateway.acquire()
        finally:
            await gateway.aclose()
    assert len(fake.requests) == 2  # never retried


def test_the_token_is_registered_for_redaction(fake: FakeWhinmovilla) -> None:
    token = "whin-secret-token-for-redaction-0042"
    gateway = WhinmovillaGateway(fake.url, token)
    assert token not in secrets.redact(f"Authorization: Bearer {token}")
    asyncio.run(gateway.aclose())


async def test_an_unknown_slot_is_not_found(
    fake: FakeWhinmovilla, gateway: WhinmovillaGateway
) -> None:
    with pytest.raises(NotFoundError):
        await gateway.status(Line(instance_id="ZZZZ9999", token=""))
    line = await gateway.acquire()
    fake.fail_next("/enroll/", status=404, body="Slot not found", content_type="text/plain")
    with pytest.raises(NotFoundError) as caught:
        await gateway.status(line)
    assert "Slot not found" in caught.value.detail


async def test_422_text_is_an_invalid_request(
    fake: FakeWhinmovilla, gateway: WhinmovillaGateway
) -> None:
    line = await gateway.acquire()
    with pytest.raises(InvalidRequestError) as caught:
        await gateway.pause(line)  # no line bound yet
    assert caught.value.detail.endswith(f"Slot {line.instance_id} has no line")


async def test_5xx_reads_are_retried_then_upstream(
    fake: FakeWhinmovilla, gateway: WhinmovillaGateway
) -> None:
    fake.fail_next("/slots/available", status=502)
    assert (await gateway.acquire()).instance_id == fake.slot_ids[0]
    assert len(fake.requests_to("/slots/available")) == 2
    fake.fail_next("/slots", status=500, times=3)
    with pytest.raises(UpstreamError):
        await gateway.status(Line(instance_id=fake.slot_ids[0], token=""))
    fake.malformed_next("/slots", times=3)
    with pytest.raises(UpstreamError):
        await gateway.status(Line(instance_id=fake.slot_ids[0], token=""))


async def test_a_5xx_on_kill_is_not_repeated(
    fake: FakeWhinmovilla, gateway: WhinmovillaGateway
) -> None:
    line = await linked(fake, gateway, DEFAULT_LINE)
    fake.fail_next("/kill/", status=503)
    with pytest.raises(UpstreamError):
        await gateway.logout(line)
    assert len(fake.requests_to("/kill/")) == 1
    assert fake.slot(line.instance_id).status == "active"


# ---------------------------------------------------------------- parsing helpers


@pytest.mark.parametrize(
    "body",
    [
        [{"aaaa1111": "available"}, {"bbbb2222": "active"}],
        [{"slotid": "aaaa1111", "status": "available"}, {"SlotId": "bbbb2222", "state": "active"}],
        {"aaaa1111": "available", "bbbb2222": "active"},
        {"slots": [{"aaaa1111": "available"}, {"bbbb2222": "active"}]},
        [{"aaaa1111": "available", "bbbb2222": "active"}],
    ],
)
def test_parse_pairs_reads_every_shape(body: Any) -> None:
    pairs = parse_pairs(body, SLOT_KEYS, STATUS_KEYS)
    assert pairs == [("aaaa1111", "available"), ("bbbb2222", "active")]


def test_parse_pairs_edge_cases() -> None:
    assert parse_pairs(["aaaa1111", "bbbb2222"], SLOT_KEYS, STATUS_KEYS) == [
        ("aaaa1111", None),
        ("bbbb2222", None),
    ]
    lines = [{"slot": "aaaa1111", "line": 34666123456}, {"slot": "bbbb2222", "line": None}]
    assert parse_pairs(lines, SLOT_KEYS, LINE_KEYS) == [
        ("aaaa1111", "34666123456"),
        ("bbbb2222", None),
    ]
    assert parse_pairs(None, SLOT_KEYS, STATUS_KEYS) == []
    assert parse_pairs("OK", SLOT_KEYS, STATUS_KEYS) == []


def test_parse_qr_rule() -> None:
    content = "2@AbC+/x=,Zm9v,YmFy,YmF6"
    assert parse_qr(content) is not None
    assert parse_qr(content).content == content  # type: ignore[union-attr]
    b64 = base64.b64encode(content.encode()).decode()
    assert parse_qr(b64).content == content  # type: ignore[union-attr]
    assert parse_qr("   ") is None
    assert parse_qr("opaque-text").content == "opaque-text"  # type: ignore[union-attr]


# ---------------------------------------------------------------- the emulator itself


@pytest.fixture
async def raw(fake: FakeWhinmovilla) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {fake.token}"}
    async with httpx.AsyncClient(base_url=fake.url + "/", headers=headers, timeout=5) as http:
        yield http


async def test_fake_lists(fake: FakeWhinmovilla, raw: httpx.AsyncClient) -> None:
    a, b, c = fake.slot_ids
    fake.bind(a, "34600000001")
    fake.bind(b, "34600000002", status="sleeping")
    assert (await raw.get("slots")).json() == [{a: "active"}, {b: "sleeping"}, {c: "available"}]
    assert (await raw.get("slots/sleeping")).json() == [{b: "sleeping"}]
    response = await raw.get("slots/busy")
    assert (response.status_code, response.text) == (422, "Invalid status: busy")
    assert (await raw.get("slots2lines")).json() == [
        {a: "34600000001"},
        {b: "34600000002"},
        {c: None},
    ]
    assert (await raw.get("lines2slots")).json() == [{"34600000001": a}, {"34600000002": b}]
    fake.list_shape = "records"
    assert (await raw.get("lines2slots")).json()[0] == {"line": "34600000001", "slotid": a}
    fake.list_shape = "object"
    assert (await raw.get("slots/active")).json() == {a: "active"}


async def test_fake_actions_by_line(fake: FakeWhinmovilla, raw: httpx.AsyncClient) -> None:
    a = fake.slot_ids[0]
    fake.bind(a, "34600000001")
    for path, status, text in [
        ("sleep/34600000001", 200, "OK"),
        ("sleep/34600000001", 422, "Line 34600000001 is not active"),
        ("resume/34600000001", 200, "OK"),
        ("resume/34600000001", 422, "Line 34600000001 is not sleeping"),
        ("sleep/34699999999", 422, "Line 34699999999 not found"),
        ("kill/34699999999", 422, "Line 34699999999 not found"),
        (f"enroll/{a}", 422, f"Slot {a} is not available"),
        ("enroll/nothere1", 404, "Slot not found"),
        ("kill/34600000001", 200, "OK"),
    ]:
        response = await raw.get(path)
        assert (path, response.status_code, response.text) == (path, status, text)
    assert fake.slot(a).status == "available" and fake.killed == ["34600000001"]


async def test_fake_routes_and_auth(fake: FakeWhinmovilla, raw: httpx.AsyncClient) -> None:
    response = await raw.post("slots")
    assert (response.status_code, response.text) == (404, "Cannot POST /slots")
    assert (await raw.get("nothing")).status_code == 404
    assert (await raw.get("slots", headers={"Authorization": "Bearer x"})).status_code == 403
    assert (await raw.get("slots", headers={"Authorization": ""})).status_code == 401


async def test_fake_scan_needs_a_shown_qr(fake: FakeWhinmovilla, raw: httpx.AsyncClient) -> None:
    a = fake.slot_ids[0]
    with pytest.raises(AssertionError):
        fake.scan(a)
    qr = (await raw.get(f"enroll/{a}")).json()["qr"]
    with pytest.raises(AssertionError):
        fake.scan(a, qr="2@not,issued")
    fake.scan(a, "34600000009", qr=qr)
    assert (fake.slot(a).status, fake.slot(a).line) == ("active", "34600000009")


async def test_the_metrics_never_name_a_slot(
    fake: FakeWhinmovilla, gateway: WhinmovillaGateway
) -> None:
    fake.add_slot("qwertyui")  # letters only: nothing marks it as an id
    await gateway.status(Line(instance_id="qwertyui", token=""))
    exposed = generate_latest(REGISTRY).decode()
    assert 'gateway="whinmovilla",method="enroll"' in exposed
    assert "qwertyui" not in exposed
