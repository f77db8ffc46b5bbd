"""The contract every gateway driver keeps: one test body, run against each driver and its emulator.

What a driver must do to sit behind the bot: hand out (or accept) a line, walk it to AUTHORIZED
through the normalised states (with a readable QR on the way where the gateway has one), report
the account, send or say plainly that it cannot, and turn bad credentials and outages into the
typed errors that decide retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bot.gateways.base import (
    AuthError,
    ErrorKind,
    Gateway,
    GatewayError,
    Line,
    LineState,
    UnsupportedError,
)
from bot.gateways.greenapi import GreenApiGateway
from bot.gateways.http import GatewayHttp
from bot.gateways.itd import ItdGateway
from bot.gateways.wappim import WappimGateway
from bot.gateways.whinmovilla import WhinmovillaGateway
from tests.conftest import fast_timeline
from tests.fakes.greenapi import FakeGreenApi, GreenTimeline
from tests.fakes.itd import ITD_TOKEN, FakeItd
from tests.fakes.wappim import FakeWappim
from tests.fakes.whinmovilla import WHIN_TOKEN, FakeWhinmovilla


@dataclass
class Case:
    gateway: Gateway
    bad_gateway: Gateway  # the same driver with wrong credentials
    fake: Any
    credentials: dict[str, str] | None
    link: Callable[[Line], None]  # the phone scans (no-op where the line is pre-linked)
    has_qr: bool
    can_send: bool
    status_path: str  # what to break to make status fail


def _wappim() -> Case:
    fake = FakeWappim(timeline=fast_timeline(), seed=3)
    fake.start()

    def make(token: str) -> Gateway:
        http = GatewayHttp(
            fake.url, name="wapp.im", headers={"X-Tasktest-Token": token}, backoff=0.01
        )
        return WappimGateway(http, crm="TEST", domain="test")

    return Case(
        make("f62cdf1e83bc324ba23aee3b113c6249"),
        make("wrong"),
        fake,
        None,
        lambda line: fake.scan(int(line.instance_id)),
        True,
        True,
        "/status",
    )


def _greenapi() -> Case:
    fake = FakeGreenApi(
        timeline=GreenTimeline(create_seconds=0.05, start_seconds=0.05, qr_rotate_seconds=0.5)
    )
    fake.start()
    instance, token = fake.add_instance()
    creds = {"idInstance": str(instance), "apiTokenInstance": token, "apiUrl": fake.url}
    return Case(
        GreenApiGateway(fake.url, backoff=0.01),
        GreenApiGateway(fake.url, backoff=0.01),
        fake,
        creds,
        lambda line: fake.scan(int(line.instance_id)),
        True,
        True,
        "getStateInstance",
    )


def _itd() -> Case:
    fake = FakeItd()
    fake.start()
    return Case(
        ItdGateway(fake.url, ITD_TOKEN),
        ItdGateway(fake.url, "wrong-token"),
        fake,
        None,
        lambda line: None,
        False,
        True,
        "creditsWhatsapp",
    )


def _whinmovilla() -> Case:
    fake = FakeWhinmovilla()
    fake.start()
    return Case(
        WhinmovillaGateway(fake.url, WHIN_TOKEN),
        WhinmovillaGateway(fake.url, "wrong"),
        fake,
        None,
        lambda line: fake.scan(line.instance_id),
        True,
        False,
        "/slots",
    )


@pytest.fixture(
    params=[_wappim, _greenapi, _itd, _whinmovilla],
    ids=["wappim", "greenapi", "itd", "whinmovilla"],
)
async def case(request: pytest.FixtureRequest) -> AsyncIterator[Case]:
    built: Case = request.param()
    yield built
    await built.gateway.aclose()
    await built.bad_gateway.aclose()
    built.fake.stop()


async def _until(case: Case, line: Line, wanted: LineState, timeout: float = 5.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await case.gateway.status(line)
        if status.state is wanted:
            return status
        assert asyncio.get_running_loop().time() < deadline, (
            f"stuck in {status.state} ({status.raw})"
        )
        await asyncio.sleep(0.05)


async def _acquire(case: Case) -> Line:
    line = await case.gateway.acquire(case.credentials)
    await case.gateway.start(line)
    return line


async def test_line_walks_to_authorized_and_reports_the_account(case: Case) -> None:
    line = await _acquire(case)
    if case.has_qr:
        shown = await _until(case, line, LineState.AWAITING_QR)
        assert shown.qr is not None and (shown.qr.content or shown.qr.image)
        case.link(line)
    status = await _until(case, line, LineState.AUTHORIZED)
    assert status.state is LineState.AUTHORIZED
    account = await case.gateway.account(line)
    assert account.phone is None or account.phone.isdigit()


async def test_send_text_works_or_says_it_cannot(case: Case) -> None:
    line = await _acquire(case)
    if case.has_qr:
        await _until(case, line, LineState.AWAITING_QR)
        case.link(line)
    await _until(case, line, LineState.AUTHORIZED)
    sends = [
        case.gateway.send_text(line, "56987654321", "contract test"),
        case.gateway.send_link(line, "56987654321", "https://example.com/", caption="see"),
    ]
    for send in sends:
        if case.can_send:
            sent = await send
            assert sent.message_id is None or isinstance(sent.message_id, str)
        else:
            with pytest.raises(UnsupportedError):
                await send


async def test_bad_credentials_are_auth_errors(case: Case) -> None:
    credentials = dict(case.credentials or {})
    if credentials:
        credentials["apiTokenInstance"] = "wrongtoken123"
    with pytest.raises(AuthError):
        line = await case.bad_gateway.acquire(credentials or None)
        await case.bad_gateway.status(line)


async def test_an_outage_is_a_retriable_upstream_error(case: Case) -> None:
    line = await _acquire(case)
    case.fake.fail_next(case.status_path, status=503, times=10)
    with pytest.raises(GatewayError) as caught:
        await case.gateway.status(line)
    assert caught.value.kind is ErrorKind.UPSTREAM
    assert caught.value.retriable


async def test_release_twice_is_harmless(case: Case) -> None:
    line = await _acquire(case)
    for _ in range(2):
        try:
            await case.gateway.release(line)
        except GatewayError as exc:
            assert exc.kind in (
                ErrorKind.NOT_READY,
                ErrorKind.NOT_FOUND,
                ErrorKind.INVALID_REQUEST,
            ), exc
