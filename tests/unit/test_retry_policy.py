"""The outbox's retry rules (`bot.services.retry_policy`): outages are waited out for
SEND_RETRY_FOR, the breaker's refusal costs no try, other errors get SEND_MAX_ATTEMPTS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.gateways.base import (
    BreakerOpenError,
    InvalidRequestError,
    NetworkError,
    RateLimitedError,
    UpstreamError,
)
from bot.services.retry_policy import RetryPolicy

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(backoff=2.0, max_wait=60.0, retry_for=3600.0, max_attempts=5)


def wait(at: datetime) -> float:
    return (at - NOW).total_seconds()


def test_an_outage_is_retried_far_beyond_max_attempts_until_retry_for() -> None:
    down = UpstreamError("HTTP 503", outage=True)
    retry = POLICY.next_try(down, 50, NOW - timedelta(minutes=30), NOW)
    assert retry is not None and retry.outage and retry.counted
    assert POLICY.next_try(down, 50, NOW - timedelta(seconds=3600), NOW) is None


def test_waits_grow_with_jitter_and_never_exceed_max_wait() -> None:
    refused = NetworkError("refused", request_sent=False)
    first = [wait(POLICY.next_try(refused, 1, NOW, NOW).at) for _ in range(200)]  # type: ignore[union-attr]
    assert min(first) >= 1.5 and max(first) <= 2.5
    late = [wait(POLICY.next_try(refused, 30, NOW, NOW).at) for _ in range(200)]  # type: ignore[union-attr]
    assert min(late) >= 45 and max(late) <= 60


def test_the_last_try_is_at_the_deadline() -> None:
    down = UpstreamError("HTTP 502", outage=True)
    retry = POLICY.next_try(down, 30, NOW - timedelta(seconds=3590), NOW)
    assert retry is not None and wait(retry.at) == 10


def test_the_breakers_refusal_is_no_try_and_waits_for_it_to_close() -> None:
    retry = POLICY.next_try(BreakerOpenError("open", retry_after=12.0), 3, NOW, NOW)
    assert retry is not None and retry.outage and not retry.counted
    assert 12 <= wait(retry.at) <= 13


def test_a_gateway_that_names_its_pause_is_obeyed() -> None:
    slow_down = RateLimitedError("429", retry_after=90.0)
    retry = POLICY.next_try(slow_down, 1, NOW, NOW)
    assert retry is not None and wait(retry.at) == 90


def test_other_repeatable_errors_get_max_attempts() -> None:
    odd = UpstreamError("not JSON")  # an answer the gateway should not give: no outage
    assert not odd.outage
    retry = POLICY.next_try(odd, 4, NOW, NOW)
    assert retry is not None and not retry.outage
    assert POLICY.next_try(odd, 5, NOW, NOW) is None
    assert POLICY.next_try(None, 5, NOW, NOW) is None  # Telegram did not hand the file over


def test_which_errors_are_outages() -> None:
    assert NetworkError("refused", request_sent=False).outage
    assert not NetworkError("no answer", request_sent=True).outage
    assert RateLimitedError("429").outage
    assert BreakerOpenError("open").outage
    assert not InvalidRequestError("bad number").outage
