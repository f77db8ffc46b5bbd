"""Gateway faults on sendMessage and status: the user always learns the outcome, nothing is sent twice.

The bot runs in-process against the fakes, with SEND_MAX_ATTEMPTS=3, SEND_RETRY_BACKOFF=0.05,
SEND_RETRY_MAX_WAIT=0.2 and SEND_RETRY_FOR=2 (an outage is waited out for 2 s, not an hour).
GATEWAY_BREAKER_SECONDS is 1 (so recovery is observable). Two transport constants of `GatewayHttp`
have no setting, so they are shortened here by wrapping the class the registry builds (test-only):
the client timeout (15 s → 1 s, so a reply held 2 s is "no answer" without waiting 15 s) and its
own retry backoff (0.5 s → 0.02 s).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.gateways import registry
from bot.gateways.http import GatewayHttp
from bot.storage.models import MessageStatus, OutgoingMessage
from tests.conftest import USER, RunningBot, db, in_thread, make_settings, reply, wait_until
from tests.e2e.test_send import link
from tests.fakes.telegram import FakeMessage, FakeTelegram
from tests.fakes.wappim import FakeWappim
from tests.faults.ledger import ledger

CLIENT_TIMEOUT = 1.0
BREAKER_COOLDOWN = 1.0
RETRY_FOR = 2.0
PHONE = "89872745052"
PRETTY = "+7 987 274-50-52"


class QuickHttp(GatewayHttp):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("timeout", CLIENT_TIMEOUT)
        kwargs.setdefault("backoff", 0.02)
        super().__init__(*args, **kwargs)


@pytest.fixture
def quick_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "GatewayHttp", QuickHttp)


@pytest.fixture
def settings(
    quick_http: None,
    telegram: FakeTelegram,
    wappim: FakeWappim,
    database_url: str,
    tmp_path: Path,
) -> Settings:
    return make_settings(
        telegram,
        wappim,
        database_url,
        tmp_path,
        send_max_attempts=3,
        send_retry_backoff=0.05,
        send_retry_max_wait=0.2,
        send_retry_for=RETRY_FOR,
        gateway_breaker_seconds=BREAKER_COOLDOWN,
    )


async def send(telegram: FakeTelegram, text: str) -> FakeMessage:
    """/send `text`; returns the confirmation message: "Sending to…" when the first attempt
    failed, else the outcome itself (it comes once the gateway answered)."""
    return await reply(telegram, USER, f"/send {PHONE} {text}", timeout=15)


async def outcome(telegram: FakeTelegram, confirmation: FakeMessage, words: str) -> FakeMessage:
    """Wait until the confirmation itself is edited to say `words`."""
    return await in_thread(
        telegram.wait_for,
        lambda: words in (msg := telegram.message(USER, confirmation.message_id)).content and msg,
        15,
    )


def bodies(wappim: FakeWappim, text: str) -> int:
    return sum(1 for m in wappim.sent if m.body == text)


async def row(settings: Settings, text: str) -> OutgoingMessage:
    return await db(settings, lambda: OutgoingMessage.get(text=text))


# --- sendMessage faults


async def test_500_once_is_retried_and_delivered_once(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    await link(telegram, wappim)
    wappim.fail_next(
        "sendMessage", status=500, body="Internal Server Error", content_type="text/plain"
    )
    confirmation = await send(telegram, "five hundred once")
    done = await outcome(telegram, confirmation, f"Sent to {PRETTY}")
    assert done.edits >= 1
    assert len(wappim.requests_to("sendMessage")) == 2
    assert bodies(wappim, "five hundred once") == 1
    stored = await row(settings, "five hundred once")
    assert (stored.status, stored.attempts) == (MessageStatus.SENT, 2)
    figures = await ledger(settings, telegram, wappim, "five hundred once")
    assert (figures.accepted, figures.delivered) == (1, 1)


async def test_500_on_every_attempt_waits_for_the_gateway_then_fails_after_send_retry_for(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    await link(telegram, wappim)
    wappim.fail_next("sendMessage", status=500, times=1000)
    confirmation = await send(telegram, "always five hundred")
    assert confirmation.text == f"⏳ To {PRETTY}: waiting for wapp.im, will send when it is back."
    failed = await outcome(telegram, confirmation, f"Not sent to {PRETTY}")
    # Told once that it waits (no message per retry), then the same message says it failed.
    assert failed.edits == 1
    assert "wapp.im stayed unreachable for too long" in failed.content
    assert "Send again" in str(failed.buttons)
    tries = len(wappim.requests_to("sendMessage"))
    assert tries > settings.send_max_attempts  # an outage is not counted in attempts
    await asyncio.sleep(0.5)  # no try after the verdict
    assert len(wappim.requests_to("sendMessage")) == tries
    assert bodies(wappim, "always five hundred") == 0
    stored = await row(settings, "always five hundred")
    assert (stored.status, stored.error) == (MessageStatus.FAILED, "gateway_down")
    assert (stored.updated_at - stored.created_at).total_seconds() >= RETRY_FOR
    figures = await ledger(settings, telegram, wappim, "always five hundred")
    assert (figures.accepted, figures.failed_told) == (1, 1)
    assert max(m.message_id for m in telegram.messages(USER)) == confirmation.message_id


async def test_html_error_page_once_is_retried_and_delivered_once(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    await link(telegram, wappim)
    wappim.fail_next("sendMessage", status=502)  # a proxy's "502 Bad Gateway" HTML page
    confirmation = await send(telegram, "html page")
    await outcome(telegram, confirmation, f"Sent to {PRETTY}")
    assert len(wappim.requests_to("sendMessage")) == 2
    assert bodies(wappim, "html page") == 1
    figures = await ledger(settings, telegram, wappim, "html page")
    assert figures.delivered == 1


async def test_unreadable_success_is_ambiguous_and_never_resent(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    """A 200 with a truncated body: the gateway probably sent it, so the outbox's rule for an
    ambiguous outcome applies: one request, "don't know whether", no silent retry."""
    await link(telegram, wappim)
    wappim.malformed_next("sendMessage")
    confirmation = await send(telegram, "truncated json")
    await in_thread(
        telegram.wait_for,
        lambda: "don't know whether" in telegram.message(USER, confirmation.message_id).content,
        15,
    )
    await asyncio.sleep(0.3)
    assert len(wappim.requests_to("sendMessage")) == 1
    await ledger(settings, telegram, wappim, "truncated json")  # asserts the books balance


async def test_dropped_connection_is_not_retried_and_send_again_sends_once(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    await link(telegram, wappim)
    wappim.drop_next("sendMessage")
    confirmation = await send(telegram, "dropped")
    unsure = await outcome(telegram, confirmation, "don't know whether")
    assert "Send again" in str(unsure.buttons)
    await asyncio.sleep(0.3)
    assert len(wappim.requests_to("sendMessage")) == 1, "an ambiguous send is never retried"
    stored = await row(settings, "dropped")
    assert (stored.status, stored.error) == (MessageStatus.FAILED, "uncertain")
    figures = await ledger(settings, telegram, wappim, "dropped")
    assert (figures.accepted, figures.delivered, figures.failed_told, figures.lost) == (1, 0, 1, 0)

    data = unsure.button_data("Send again")
    telegram.press(USER, unsure.message_id, data)
    await outcome(telegram, confirmation, f"Sent to {PRETTY}")
    assert bodies(wappim, "dropped") == 1
    # A second tap on the (now removed) button must not send it again.
    telegram.press(USER, unsure.message_id, data, must_exist=False)
    await in_thread(telegram.wait_message, USER, "can no longer be sent again")
    await asyncio.sleep(0.3)
    assert bodies(wappim, "dropped") == 1
    figures = await ledger(settings, telegram, wappim, "dropped")
    assert figures.delivered == 1


async def test_slow_reply_within_the_client_timeout_is_delivered_once(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    await link(telegram, wappim)
    wappim.delay_next("sendMessage", CLIENT_TIMEOUT / 2)
    confirmation = await send(telegram, "slow but fine")
    await outcome(telegram, confirmation, f"Sent to {PRETTY}")
    assert len(wappim.requests_to("sendMessage")) == 1
    figures = await ledger(settings, telegram, wappim, "slow but fine")
    assert figures.delivered == 1


async def test_reply_slower_than_the_client_timeout_is_ambiguous_and_not_retried(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    await link(telegram, wappim)
    wappim.delay_next("sendMessage", CLIENT_TIMEOUT * 2)
    confirmation = await send(telegram, "too slow")
    unsure = await outcome(telegram, confirmation, "don't know whether")
    assert "Send again" in str(unsure.buttons)
    # The gateway finishes the held request after the bot gave up: it did go out, once.
    await wait_until(lambda: bodies(wappim, "too slow") == 1, 5)
    await asyncio.sleep(0.3)
    assert len(wappim.requests_to("sendMessage")) == 1
    figures = await ledger(settings, telegram, wappim, "too slow")
    assert (figures.accepted, figures.delivered) == (1, 1)


async def test_connection_refused_is_waited_out_then_failed_and_told(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    await link(telegram, wappim)
    wappim.stop()  # nothing listens on its port any more: connection refused
    confirmation = await send(telegram, "nobody home")
    assert "waiting for wapp.im" in (confirmation.text or "")
    failed = await outcome(telegram, confirmation, f"Not sent to {PRETTY}")
    assert "unreachable" in failed.content
    assert "Send again" in str(failed.buttons)
    stored = await row(settings, "nobody home")
    assert (stored.status, stored.error) == (MessageStatus.FAILED, "gateway_down")
    figures = await ledger(settings, telegram, wappim, "nobody home")
    assert (figures.accepted, figures.failed_told) == (1, 1)


async def test_all_faults_at_once_keep_the_books(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    """Six sends back to back while the gateway misbehaves in five ways: the ledger balances."""
    await link(telegram, wappim)
    # Faults are used in the order requests arrive, whichever message each request carries.
    wappim.fail_next("sendMessage", status=500)
    wappim.fail_next("sendMessage", status=503)
    wappim.drop_next("sendMessage")
    wappim.malformed_next("sendMessage")
    wappim.delay_next("sendMessage", CLIENT_TIMEOUT * 2)
    texts = [f"batch {n}" for n in range(6)]
    confirmations = [await send(telegram, text) for text in texts]
    await in_thread(
        telegram.wait_for,
        lambda: all(
            not telegram.message(USER, c.message_id).content.startswith("⏳") for c in confirmations
        ),
        15,
    )
    await asyncio.sleep(CLIENT_TIMEOUT)  # the held request completes at the gateway meanwhile
    figures = await ledger(settings, telegram, wappim, *texts)
    assert figures.accepted == len(texts)
    assert figures.failed_told >= 1  # at least the dropped one is "don't know"


# --- the line and the gateway as a whole


async def test_background_check_notices_a_wiped_line_without_any_send(
    quick_http: None,
    telegram: FakeTelegram,
    wappim: FakeWappim,
    database_url: str,
    tmp_path: Path,
) -> None:
    running = RunningBot(
        make_settings(telegram, wappim, database_url, tmp_path, link_check_interval=0.3), telegram
    )
    await running.start()
    try:
        instance = await link(telegram, wappim)
        wappim.wipe(instance)
        lost = await in_thread(telegram.wait_message, USER, "no longer linked", timeout=5)
        assert "Connect again" in str(lost.buttons)
        assert wappim.sent == []
        await asyncio.sleep(1.0)  # several more checks: the person is told once, not nagged
        told = [m for m in telegram.messages(USER) if "no longer linked" in m.content]
        assert len(told) == 1
        status = await reply(telegram, USER, "/status", "no longer linked")
        assert status.text
        telegram.press(USER, lost.message_id, lost.button_data("Connect again"))
        await in_thread(
            telegram.wait_message, USER, "Linked devices", photo=True, after=lost.message_id
        )
    finally:
        await running.stop()


async def test_breaker_answers_status_at_once_while_the_gateway_fails_then_recovers(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    await link(telegram, wappim)
    wappim.fail_next("status", status=500, times=6)  # two /status, three tries each
    for _ in range(2):
        answer = await reply(telegram, USER, "/status")
        assert "could not ask the gateway" in (answer.text or "")
        assert "having trouble" in (answer.text or "")
    polls = len(wappim.requests_to("/status"))
    started = time.monotonic()
    answer = await reply(telegram, USER, "/status")
    elapsed = time.monotonic() - started
    assert "having trouble" in (answer.text or ""), answer.text
    assert elapsed < 1.0, f"/status took {elapsed:.2f}s with the breaker open"
    assert len(wappim.requests_to("/status")) == polls, "an open breaker makes no request"
    await asyncio.sleep(BREAKER_COOLDOWN + 0.1)
    recovered = await reply(telegram, USER, "/status")
    assert "State: connected" in (recovered.text or ""), recovered.text
    confirmation = await send(telegram, "after the storm")
    await outcome(telegram, confirmation, f"Sent to {PRETTY}")


async def test_a_double_tap_on_send_again_sends_once(
    bot: RunningBot, telegram: FakeTelegram, wappim: FakeWappim, settings: Settings
) -> None:
    await link(telegram, wappim)
    wappim.drop_next("sendMessage")
    confirmation = await send(telegram, "double tap")
    unsure = await outcome(telegram, confirmation, "don't know whether")
    data = unsure.button_data("Send again")
    telegram.set_delay("answerCallbackQuery", 0.2)  # both taps reach the outbox together
    first = telegram.press(USER, unsure.message_id, data)
    second = telegram.press(USER, unsure.message_id, data)  # before the first is handled
    await in_thread(
        telegram.wait_for,
        lambda: {a["callback_query_id"] for a in telegram.callback_answers} >= {first, second},
        10,
    )
    await outcome(telegram, confirmation, f"Sent to {PRETTY}")
    await asyncio.sleep(0.5)
    assert bodies(wappim, "double tap") == 1
    await ledger(settings, telegram, wappim, "double tap")  # asserts the books balance
