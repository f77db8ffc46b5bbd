"""The real bot's Telegram calls travel over `bot.transport`: both of python-telegram-bot's
requests (its calls, and getUpdates alone on the other) with the pool sizes its builder would
give them, a QR photo's multipart upload included (the photo must decode to the gateway's QR)."""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

import httpx
import pytest

from bot import app
from bot.transport import AiohttpTransport
from tests.conftest import USER, RunningBot, assigned_instance, decode_qr, in_thread, reply
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim


class Recording(AiohttpTransport):
    """The transport, noting the Bot API method of each request it carries."""

    made: ClassVar[list[Recording]] = []

    def __init__(self, *, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        self.methods: list[str] = []
        Recording.made.append(self)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.methods.append(request.url.path.rsplit("/", 1)[-1])
        return await super().handle_async_request(request)


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> None:
    Recording.made = []
    monkeypatch.setattr(app, "AiohttpTransport", Recording)


async def test_every_bot_api_call_goes_over_the_transport(
    recording: None, bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    await reply(telegram, USER, "/connect", "WhatsApp")
    photo = await in_thread(telegram.wait_message, USER, "Linked devices", photo=True)
    assert decode_qr(photo.photo or b"") in wappim.instance(assigned_instance(wappim)).qrs

    by_pool = {t.limits.max_connections: t.methods for t in Recording.made}
    assert set(by_pool) == {app.TELEGRAM_CONNECTIONS, 1}
    assert set(by_pool[1]) == {"getUpdates"}
    assert {"getMe", "deleteWebhook", "sendMessage", "sendPhoto"} <= set(by_pool[256])
    carried = Counter(method for methods in by_pool.values() for method in methods)
    answered = Counter(call.method for call in telegram.calls)  # a pending long poll: not yet
    assert carried >= answered, "no Bot API call went around the transport"
