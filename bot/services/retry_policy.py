"""When a send that failed is tried again, and when it is given up: the outbox's retry rules.

- An outage (the gateway surely did not act: connection refused, 5xx, 429, or the breaker's own
  refusal) is waited out: tries with exponential backoff and jitter, at most `max_wait` apart,
  until `retry_for` seconds after the message was accepted; only then does it fail.
- The breaker's refusal is no try at all: the message waits for the breaker to close, and its
  backoff does not grow.
- Other errors worth repeating (an answer the gateway should not give, Telegram not handing a
  file over) get `max_attempts` tries.
- An ambiguous outcome (the request left, no answer came) is never repeated: the sender asks the
  person instead. That rule is the sender's, not this module's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.gateways.base import BreakerOpenError, GatewayError


@dataclass(frozen=True)
class Retry:
    at: datetime  # when to try again
    outage: bool  # it waits for the gateway to come back (the person is told so, once)
    counted: bool  # the failure was a try (False: the breaker refused it without a request)


class RetryPolicy:
    def __init__(
        self, *, backoff: float, max_wait: float, retry_for: float, max_attempts: int
    ) -> None:
        self.backoff = backoff  # seconds before the second try; doubles with each try
        self.max_wait = max_wait
        self.retry_for = timedelta(seconds=retry_for)
        self.max_attempts = max_attempts

    def next_try(
        self, error: GatewayError | None, tries: int, accepted_at: datetime, now: datetime
    ) -> Retry | None:
        """The next try after `error` (None: Telegram did not hand over the file), the message
        having had `tries` tries so far; None when it is to fail now."""
        if error is not None and error.outage:
            deadline = accepted_at + self.retry_for
            if now >= deadline:
                return None
            if isinstance(error, BreakerOpenError):
                # Spread over a second: the whole queue must not hit the gateway at one instant.
                wait = (error.retry_after or 0.0) + random.random()
                return Retry(min(now + timedelta(seconds=wait), deadline), True, False)
            return Retry(min(now + self._wait(error, tries), deadline), True, True)
        if tries >= self.max_attempts:
            return None
        return Retry(now + self._wait(error, tries), False, True)

    def _wait(self, error: GatewayError | None, tries: int) -> timedelta:
        wait = min(self.backoff * 2 ** max(tries - 1, 0), self.max_wait)
        wait = min(wait * (0.75 + random.random() / 2), self.max_wait)
        # A gateway that names its own pause (Retry-After) is obeyed, even beyond max_wait.
        return timedelta(seconds=max(wait, (error.retry_after or 0.0) if error else 0.0))
